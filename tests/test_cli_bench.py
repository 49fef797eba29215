"""``gnncc bench``: the JSON record of a CPU SpMM case on Cora."""

import json

import torch

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
    assert record["timing"] == {"repeat": 5, "passes": 3, "max_seconds": 2.0}


def test_bench_rejects_bad_timing_options(tmp_path, capsys):
    for option, value in (("--passes", "0"), ("--repeat", "0"), ("--max-seconds", "0")):
        assert main(["bench", "--op", "spmm", "--graph", "cora", "--feat", "8", option, value]) != 0
        assert option in capsys.readouterr().err


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
        assert r["pyg_compile_ms"] is None  # only with --pyg-compile
        # CPU peaks too: PyG's at least its output; gnncc's at least what its executor holds
        out_mib = 2708 * 7 * 4 / 2**20
        assert r["pyg_peak_mib"] >= out_mib and r["gnncc_peak_mib"] >= r["gnncc_planned_mib"] + out_mib
    assert "gcn" in capsys.readouterr().out


def test_bench_edge_data_models_get_random_edge_data(tmp_path, capsys):
    """The zoo's edge-data models are benchmarked as called with edge weights / features."""
    out = tmp_path / "edge_models.json"
    assert main(["bench", "--model", "gcn_weighted", "gine", "gat_edge", "--graph", "cora", "--repeat", "1",
                 "--passes", "1", "--json", str(out)]) == 0
    records = json.loads(out.read_text())
    assert [r["model"] for r in records] == ["gcn_weighted", "gine", "gat_edge"]
    for r in records:
        assert r["relative_error"] < 1e-4 and r["gnncc_ms"] > 0 and r["pyg_ms"] > 0


def test_bench_models_profile_prints_and_records_each_kernel(tmp_path, capsys):
    out = tmp_path / "models.json"
    assert main(["bench", "--model", "gin", "--graph", "cora", "--repeat", "2", "--profile", "--json", str(out)]) == 0
    (record,) = json.loads(out.read_text())
    steps = record["kernel_profile"]["steps"]
    assert len(steps) == record["kernels"] and all(s["ms"] > 0 for s in steps)
    assert steps[0]["kernel"] == "matmul_2708x1433x16" and steps[-1]["shape"] == [2708, 16]
    printed = capsys.readouterr().out
    assert "fused_matmul_2708x16x16_add_f_relu" in printed and "a whole call" in printed


def test_call_peak_counts_what_is_alive_at_once():
    from gnncc.cli.bench import _call_peak_mib

    def two_then_one():
        a = torch.ones(2**20)  # 4 MiB
        b = torch.ones(2**20)
        del a
        c = torch.ones(2**20)  # a's memory is free again: the peak stays 8 MiB
        return b, c

    assert 8 <= _call_peak_mib(two_then_one, torch.device("cpu")) < 8.1


def test_a_failing_case_is_reported_and_the_others_are_kept(tmp_path, capsys):
    out = tmp_path / "out.json"
    assert main(["bench", "--op", "spmm", "--graph", "no_such_graph", "cora", "--feat", "8", "--repeat", "2",
                 "--passes", "1", "--log", str(tmp_path / "empty.jsonl"), "--json", str(out)]) == 1
    err = capsys.readouterr().err
    assert "spmm on no_such_graph F=8: graph 'no_such_graph' not found" in err
    assert "1 of 2 case(s) failed" in err
    assert [r["graph"] for r in json.loads(out.read_text())] == ["cora"]


def test_bench_appnp_with_the_torch_compile_baseline(tmp_path, capsys, monkeypatch):
    """--pyg-compile adds a PyG-under-torch.compile column (here torch.compile is stubbed: inductor
    takes minutes on 2 cores); a baseline that fails to compile is left out with a note."""
    out = tmp_path / "appnp.json"
    compiled = []
    monkeypatch.setattr("torch.compile", lambda model: compiled.append(model) or model)
    assert main(["bench", "--model", "appnp", "--graph", "cora", "--repeat", "2", "--passes", "1",
                 "--pyg-compile", "--json", str(out)]) == 0
    (r,) = json.loads(out.read_text())
    assert len(compiled) == 1 and r["model"] == "appnp" and r["relative_error"] < 1e-4
    assert r["pyg_compile_ms"] > 0 and r["best_pyg"] in ("pyg", "pyg_sparse", "pyg_compile")
    fastest = min(r[f"{b}_ms"] for b in ("pyg", "pyg_sparse", "pyg_compile") if r[f"{b}_ms"] is not None)
    assert r[f"{r['best_pyg']}_ms"] == fastest and abs(r["speedup_vs_best_pyg"] - fastest / r["gnncc_ms"]) < 1e-9

    def broken(model):
        raise RuntimeError("inductor: no C++ compiler")

    monkeypatch.setattr("torch.compile", broken)
    assert main(["bench", "--model", "gcn", "--graph", "cora", "--repeat", "2", "--passes", "1",
                 "--pyg-compile", "--json", str(out)]) == 0
    (r,) = json.loads(out.read_text())
    assert r["pyg_compile_ms"] is None and r["speedup_vs_pyg_compile"] is None
    assert "pyg_compile for gcn failed, left out: inductor: no C++ compiler" in capsys.readouterr().err


def test_bench_without_times_each_pass_off_and_pna_is_checked_against_float64(tmp_path, capsys):
    """``--without PASS`` adds an A/B column per pass; PNA, whose PyG float32 answer is itself off (its
    variance cancels digits), is checked against the model in float64."""
    out = tmp_path / "ab.json"
    assert main(["bench", "--model", "pna", "--graph", "cora", "--hidden", "8", "--repeat", "1", "--passes", "1",
                 "--without", "factor_destination_terms", "distribute_transforms", "--json", str(out)]) == 0
    (record,) = json.loads(out.read_text())
    assert record["hidden"] == 8 and record["relative_error"] < 1e-4
    assert set(record["without"]) == {"factor_destination_terms", "distribute_transforms"}
    for ab in record["without"].values():
        assert ab["ms"] > 0 and ab["planned_mib"] > 0
    assert "without factor_destination_terms:" in capsys.readouterr().out


def test_bench_rgcn_runs_on_random_edge_types(tmp_path):
    """The zoo's RGCN reads edge types: a graph without them gets seeded random relations."""
    out = tmp_path / "rgcn.json"
    assert main(["bench", "--model", "rgcn", "--graph", "cora", "--repeat", "1", "--passes", "1",
                 "--json", str(out)]) == 0
    (record,) = json.loads(out.read_text())
    assert record["model"] == "rgcn" and record["relative_error"] < 1e-4 and record["gnncc_ms"] > 0


def test_bench_without_an_unknown_pass_names_the_passes(capsys):
    assert main(["bench", "--model", "gcn", "--graph", "cora", "--without", "fuse_everything"]) != 0
    err = capsys.readouterr().err
    assert "fuse_everything" in err and "fuse_attention" in err
