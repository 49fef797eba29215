"""``gnncc bench``: the JSON record of a CPU SpMM case on Cora."""

import json

from gnncc.cli.main import main

FIELDS = ("graph", "op", "feat", "target", "device", "gnncc_ms", "torch_sparse_ms", "pyg_ms", "floor_ms", "schedule")


def test_bench_spmm_cora_json(tmp_path, capsys):
    out = tmp_path / "out.json"
    assert main(["bench", "--op", "spmm", "--graph", "cora", "--feat", "32", "--target", "cpu", "--repeat", "5",
                 "--log", str(tmp_path / "empty.jsonl"), "--json", str(out)]) == 0
    assert "cora" in capsys.readouterr().out
    (record,) = json.loads(out.read_text())
    for field in FIELDS:
        assert field in record
    assert record["graph"] == "cora" and record["op"] == "spmm" and record["feat"] == 32
    assert record["target"].startswith("llvm") and record["schedule_source"] == "default"
    for field in ("gnncc_ms", "gnncc_default_ms", "torch_sparse_ms", "pyg_ms", "pyg_sparse_ms", "floor_ms"):
        assert record[field] > 0
    assert record["nnz"] == 10858 and record["schedule"]["feat_tile"] > 0


def test_bench_sddmm(tmp_path):
    out = tmp_path / "sddmm.json"
    assert main(["bench", "--op", "sddmm", "--graph", "cora", "--feat", "8", "--repeat", "3",
                 "--log", str(tmp_path / "empty.jsonl"), "--json", str(out)]) == 0
    (record,) = json.loads(out.read_text())
    assert record["op"] == "sddmm" and record["torch_sparse_ms"] > 0


def test_bench_models_checks_against_pyg_and_writes_json(tmp_path, capsys):
    out = tmp_path / "models.json"
    assert main(["bench", "--model", "gcn", "gat", "--graph", "cora", "--repeat", "2", "--json", str(out)]) == 0
    records = json.loads(out.read_text())
    assert [r["model"] for r in records] == ["gcn", "gat"]
    for r in records:
        assert r["relative_error"] < 1e-4 and r["gnncc_ms"] > 0 and r["pyg_ms"] > 0
        assert r["graph"] == "cora" and r["feat"] == 1433 and not r["synthetic_features"]
    assert "gcn" in capsys.readouterr().out
