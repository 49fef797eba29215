"""Failure isolation: candidates that crash, hang, compute wrong results or fail to build are
recorded as failed in worker processes, and the tuner carries on."""

import os
import time

import torch

from gnncc.codegen.target import Target
from gnncc.graph import Graph
from gnncc.tune import Database, Measurer, Tuner, TuneTask
from gnncc.tune.task import standalone_node

CPU = Target("cpu")
ABORT = {"parallel": False, "serial_below": 0}
HANG = {"parallel": False, "serial_below": 65536}
WRONG = {"parallel": True, "serial_below": 0}


def inject_faults(config, out):
    """Runs in the runner process (pickled by reference): one config aborts, one hangs, one is wrong."""
    if config == ABORT:
        os.abort()
    if config == HANG:
        time.sleep(600)
    if config == WRONG:
        out.add_(1.0)


def edge_softmax_task() -> TuneTask:
    """edge_softmax has an 8-point CPU space: a tuner with 8 trials measures every point."""
    g = torch.Generator().manual_seed(0)
    graph = Graph(torch.randint(0, 100, (2, 600), generator=g), 100)
    operands = [graph.csc, torch.randn(graph.num_edges, generator=g)]
    return TuneTask(standalone_node("edge_softmax", {}, operands), operands, graph, CPU, "int32")


def test_failed_candidates_are_recorded_and_the_tuner_continues(tmp_path):
    task = edge_softmax_task()
    assert len(list(task.space.points())) == 8
    db = Database(tmp_path / "r.jsonl")
    with Measurer(builders=1, run_timeout=8, hook=inject_faults, repeat=5, min_seconds=0.0) as m:
        bad_build = m.measure(task, [{"parallel": True, "serial_below": 3}])  # not in the space: build fails
        assert bad_build[0].ms is None and "build failed" in bad_build[0].error
        result = Tuner(db, m, batch_size=8, confirm=2).tune([task], trials=8)[0]
        good = result.best_config
        again = m.remeasure(task, [WRONG, good], passes=3)  # interleaved: a failing config fails alone
    assert "wrong result" in again[0].error and again[0].ms is None
    assert len(again[1].samples) == 3 and again[1].ms == sorted(again[1].samples)[1] and again[1].error is None
    assert result.trials == 8 and result.failures == 3
    round_records = db.confirmation_round(task.key)  # the 2 best and the default (unless it is one), re-timed
    assert task.space.default in [r["config"] for r in round_records] and len(round_records) in (2, 3)
    assert all(r["ms"] is not None for r in round_records)
    assert result.best_config == min(round_records, key=lambda r: r["ms"])["config"]
    errors = {tuple(sorted(r["config"].items())): r["error"] for r in db.search_records(task.key)}
    assert "crashed" in errors[tuple(sorted(ABORT.items()))]
    assert "timed out" in errors[tuple(sorted(HANG.items()))]
    assert "wrong result" in errors[tuple(sorted(WRONG.items()))]
    ok = [r for r in db.search_records(task.key) if r["ms"] is not None]
    assert len(ok) == 5 and all(r["ms"] > 0 and r["error"] is None for r in ok)
    assert result.best_config not in (ABORT, HANG, WRONG)
