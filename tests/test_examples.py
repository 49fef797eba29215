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
