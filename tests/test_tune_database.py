"""Tuning records: append/read, torn lines, resume after a crash, concurrent appenders, best/pick."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from gnncc.codegen.target import Target
from gnncc.graph import Graph
from gnncc.tune import Database, Tuner, best_config, op_task, select_config
from gnncc.tune.cost_model import CostModel
from gnncc.tune.database import config_id, model_path_for
from gnncc.tune.measure import MeasureResult

CPU = Target("cpu")


def small_graph(seed: int = 0) -> Graph:
    g = torch.Generator().manual_seed(seed)
    return Graph(torch.randint(0, 50, (2, 300), generator=g), 50)


class FakeMeasurer:
    """Deterministic times without processes: smaller feat_tile is faster."""

    def __init__(self) -> None:
        self.measured: list[dict] = []

    def measure(self, task, configs):
        self.measured += configs
        return [MeasureResult(c, 0.01 * c["feat_tile"] + 0.001 * c["parallel"], None) for c in configs]


def record(i: int, key: str = "k", ms: float | None = 1.0) -> dict:
    return {"key": key, "config": {"feat_tile": i}, "ms": ms, "pad": "x" * 5000}


def test_append_read_and_torn_last_line(tmp_path):
    db = Database(tmp_path / "logs" / "r.jsonl")
    assert db.records() == []
    for i in range(3):
        db.append(record(i, ms=3.0 - i))
    assert [r["config"]["feat_tile"] for r in db.records()] == [0, 1, 2]
    assert db.best("k")["config"] == {"feat_tile": 2}
    with open(db.path, "ab") as f:  # a writer killed mid-line
        f.write(json.dumps(record(9)).encode()[:100])
    with pytest.warns(UserWarning, match="torn or corrupt"):
        assert len(db.records()) == 3
    db.append(record(4))  # starts on a fresh line: the torn fragment stays alone
    with pytest.warns(UserWarning, match="r.jsonl:4"):
        assert [r["config"]["feat_tile"] for r in db.records()] == [0, 1, 2, 4]


def test_resume_after_crash_mid_write(tmp_path):
    task = op_task("spmm", small_graph(), 16, CPU)
    db = Database(tmp_path / "r.jsonl")
    Tuner(db, FakeMeasurer(), batch_size=3).tune([task], trials=6)
    lines = db.path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 6
    db.path.write_bytes(b"".join(lines[:5]) + lines[5][: len(lines[5]) // 2])  # killed while writing the last
    measurer = FakeMeasurer()
    with pytest.warns(UserWarning, match="torn or corrupt"):
        result = Tuner(Database(db.path), measurer, batch_size=3).tune([task], trials=6)[0]
    assert len(measurer.measured) == 1  # only the lost record is measured again
    assert result.trials == 6 and result.failures == 0 and result.best_ms is not None
    with pytest.warns(UserWarning):
        assert len({config_id(r["config"]) for r in Database(db.path).for_key(task.key)}) == 6


def test_two_processes_append_concurrently(tmp_path):
    path = tmp_path / "r.jsonl"
    code = textwrap.dedent(f"""
        import sys
        from gnncc.tune.database import Database
        db = Database({str(path)!r})
        for i in range(150):
            db.append({{"key": sys.argv[1], "config": {{"i": i}}, "ms": 1.0, "pad": "y" * 9000}})
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, name]) for name in ("a", "b")]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    lines = path.read_text().splitlines()
    assert len(lines) == 300
    recs = [json.loads(line) for line in lines]  # no torn or interleaved line
    for name in ("a", "b"):
        assert sorted(r["config"]["i"] for r in recs if r["key"] == name) == list(range(150))


def test_best_and_pick_config(tmp_path):
    log = tmp_path / "r.jsonl"
    task = op_task("spmm", small_graph(), 16, CPU)
    other = op_task("spmm", small_graph(seed=1), 16, CPU)
    assert best_config(task.node, task.graph, CPU, log, task.index_dtype) is None
    config, source = select_config(task.node, task.graph, CPU, log, task.index_dtype)
    assert source == "default" and config == task.space.default
    Tuner(Database(log), FakeMeasurer(), batch_size=8).tune([task], trials=8)
    best = best_config(task.node, task.graph, CPU, log, task.index_dtype)
    assert best is not None and best["feat_tile"] == min(
        r["config"]["feat_tile"] for r in Database(log).for_key(task.key))
    assert select_config(task.node, task.graph, CPU, log, task.index_dtype) == (best, "tuned")
    # another graph has no record: the cost model trained on the first graph picks
    assert best_config(other.node, other.graph, CPU, log, other.index_dtype) is None
    assert CostModel.load(model_path_for(log)).trained("spmm/cpu")
    picked, source = select_config(other.node, other.graph, CPU, log, other.index_dtype)
    assert source == "model" and other.space.validate(picked) == picked
