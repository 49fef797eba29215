"""The examples in examples/ run as documented."""

import runpy
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_quickstart_runs(capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["quickstart.py", "cpu"])
    runpy.run_path(str(EXAMPLES / "quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "optimised IR" in out
    err = float(out.rsplit("relative error vs PyG:", 1)[1].split()[0])
    assert err < 1e-4


def _run_compared(name: str, capsys, monkeypatch) -> str:
    """Run an example whose ``== `` lines report a relative error against PyG; check three of them."""
    monkeypatch.setattr("sys.argv", [name])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    out = capsys.readouterr().out
    errors = [float(line.split("relative error vs PyG ", 1)[1].split(",")[0]) for line in out.splitlines()
              if line.startswith("== ")]
    assert len(errors) == 3 and max(errors) < 1e-4, out
    return out


def test_more_layers_runs(capsys, monkeypatch):
    out = _run_compared("more_layers.py", capsys, monkeypatch)
    for shown in ("moved in front of", "summed first: one spmm", "dot attention", "node products gathered at"):
        assert shown in out, shown


def test_edge_features_runs(capsys, monkeypatch):
    out = _run_compared("edge_features.py", capsys, monkeypatch)
    assert "graph.edge_attr 1->0" in out and "graph.self_loop_values 1->0" in out, out


def test_relations_runs(capsys, monkeypatch):
    out = _run_compared("relations.py", capsys, monkeypatch)
    assert "49 relations" in out and "relation_adj" in out, out
