"""Tuning records: append/read, torn lines, resume after a crash, concurrent appenders, best/pick,
and confirmation rounds (the interleaved re-timing that outranks lucky single timings)."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch

import gnncc
from gnncc.codegen.target import Target
from gnncc.graph import Graph
from gnncc.tune import Database, Tuner, best_config, op_task, select_config
from gnncc.tune.cost_model import CostModel
from gnncc.tune.database import config_id, make_record, model_path_for
from gnncc.tune.features import FEATURE_VERSION
from gnncc.tune.measure import MeasureResult

CPU = Target("cpu")
pytestmark = pytest.mark.usefixtures("knob_only_features")  # the loop and the log, not TIR


def small_graph(seed: int = 0) -> Graph:
    g = torch.Generator().manual_seed(seed)
    return Graph(torch.randint(0, 50, (2, 300), generator=g), 50)


def true_ms(config: dict) -> float:
    """Deterministic times: smaller feat_tile is faster."""
    return 0.01 * config["feat_tile"] + 0.001 * config["parallel"]


def lucky(config: dict) -> bool:
    """Configs whose single search timing is a lucky one, far below their true time."""
    return config["col_parts"] == 32


class FakeMeasurer:
    """Times without processes: the search sees ``true_ms`` except for ``lucky`` configs, which it
    times at 0.6x; interleaved re-timing sees the truth. ``run_s`` is what each run reports."""

    def __init__(self, run_s: float = 0.0) -> None:
        self.measured: list[dict] = []
        self.remeasured: list[list[dict]] = []
        self.run_s = run_s

    def measure_each(self, task, configs):
        for c in configs:
            self.measured.append(c)
            yield MeasureResult(c, true_ms(c) * (0.6 if lucky(c) else 1.0), None, run_s=self.run_s)

    def measure(self, task, configs):
        return list(self.measure_each(task, configs))

    def remeasure(self, task, configs, passes):
        self.remeasured.append(configs)
        return [MeasureResult(c, true_ms(c), None, samples=[true_ms(c)] * passes) for c in configs]


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
    Tuner(db, FakeMeasurer(), batch_size=3, confirm=0).tune([task], trials=6)
    lines = db.path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 6
    db.path.write_bytes(b"".join(lines[:5]) + lines[5][: len(lines[5]) // 2])  # killed while writing the last
    measurer = FakeMeasurer()
    with pytest.warns(UserWarning, match="torn or corrupt"):
        result = Tuner(Database(db.path), measurer, batch_size=3, confirm=0).tune([task], trials=6)[0]
    assert len(measurer.measured) == 1  # only the lost record is measured again
    assert result.trials == 6 and result.failures == 0 and result.best_ms is not None
    with pytest.warns(UserWarning):
        assert len({config_id(r["config"]) for r in Database(db.path).for_key(task.key)}) == 6


class KilledMeasurer(FakeMeasurer):
    """A tuner killed (^C) while timing the ``after``-th candidate of the run."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def measure_each(self, task, configs):
        for r in super().measure_each(task, configs):
            if len(self.measured) > self.after:
                raise KeyboardInterrupt
            yield r


def test_a_kill_mid_batch_keeps_the_candidates_timed_before_it(tmp_path):
    task = op_task("spmm", small_graph(), 16, CPU)
    db = Database(tmp_path / "r.jsonl")
    with pytest.raises(KeyboardInterrupt):
        Tuner(db, KilledMeasurer(after=5), batch_size=8, confirm=0).tune([task], trials=8)
    assert len(db.search_records(task.key)) == 5  # the first batch's first 5, recorded as they were timed
    measurer = FakeMeasurer()
    result = Tuner(Database(db.path), measurer, batch_size=8, confirm=0).tune([task], trials=8)[0]
    assert len(measurer.measured) == 3 and result.trials == 8  # only what the kill lost


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


def lucky_task():
    """A task and a config (``lucky``) that is close to the fastest, and timed at 0.6x by the search."""
    task = op_task("spmm", small_graph(), 16, CPU)
    lucky_config = task.space.validate({**task.space.default, "feat_tile": 4, "col_parts": 32})
    return task, lucky_config


def measured_earlier(db, task, configs):
    """Search records of ``configs`` as ``FakeMeasurer`` times them, as a run before this one left them."""
    for config in configs:
        ms = FakeMeasurer().measure(task, [config])[0].ms
        db.append(make_record(task.key, task.name, task.family, CPU, task.graph, config, ms, None, {},
                              FEATURE_VERSION))


def test_confirmation_outranks_a_lucky_single_timing(tmp_path):
    task, lucky_config = lucky_task()
    faster = task.space.validate({**task.space.default, "feat_tile": 4, "parallel": False})
    assert true_ms(faster) < true_ms(lucky_config) and 0.6 * true_ms(lucky_config) < true_ms(faster)
    db = Database(tmp_path / "r.jsonl")
    measured_earlier(db, task, [lucky_config, faster])
    assert db.best(task.key)["config"] == lucky_config  # by the single timings, the lucky one looks fastest
    measurer = FakeMeasurer()
    result = Tuner(db, measurer, batch_size=4, confirm=3, confirm_passes=2).tune([task], trials=8)[0]
    assert len(measurer.measured) == 6 and len(measurer.remeasured) == 1
    timed = measurer.remeasured[0]
    assert {config_id(c) for c in (lucky_config, faster, task.space.default)} <= {config_id(c) for c in timed}
    assert len(timed) <= 4  # at most the 3 best and the default
    assert result.best_config != lucky_config and result.best_ms == min(map(true_ms, timed))
    assert result.confirmed[0] == (result.best_config, result.best_ms) and result.phase == "done"
    assert result.default_ms == true_ms(task.space.default)
    round_records = db.confirmation_round(task.key)
    assert len(round_records) == len(timed)
    assert all(r["round_size"] == len(timed) and len(r["samples"]) == 2 for r in round_records)
    assert db.best(task.key)["config"] == result.best_config == best_config(task.node, task.graph, CPU,
                                                                            db.path, task.index_dtype)
    ranked = [r["config"] for r in db.ranked(task.key)]
    assert ranked[: len(timed)] == [c for c, _ in result.confirmed]  # the round first, at its interleaved times
    assert len(ranked) == len({config_id(c) for c in ranked}) == 8  # one entry per config
    assert db.is_confirmed(task.key) and len(db.search_records(task.key)) == 8
    # resumed with the same budget: nothing is measured or re-timed again, and the round still decides
    again = FakeMeasurer()
    resumed = Tuner(Database(db.path), again, batch_size=4, confirm=3).tune([task], trials=8)[0]
    assert again.measured == [] and again.remeasured == []
    assert resumed.trials == 8 and resumed.best_config == result.best_config and resumed.best_ms == result.best_ms


def test_a_round_cut_short_is_ignored_and_redone(tmp_path):
    task, lucky_config = lucky_task()
    db = Database(tmp_path / "r.jsonl")
    measured_earlier(db, task, [lucky_config])
    Tuner(db, FakeMeasurer(), batch_size=4, confirm=3).tune([task], trials=8)
    lines = db.path.read_bytes().splitlines(keepends=True)
    db.path.write_bytes(b"".join(lines[:-2]))  # killed while appending the round: two of its records lost
    cut = Database(db.path)
    assert cut.confirmation_round(task.key) == [] and not cut.is_confirmed(task.key)
    assert cut.best(task.key)["config"] == lucky_config  # without a round, the single timings decide
    again = FakeMeasurer()
    result = Tuner(cut, again, batch_size=4, confirm=3).tune([task], trials=8)[0]
    assert again.measured == [] and len(again.remeasured) == 1  # the search is complete; the round is redone
    assert cut.is_confirmed(task.key) and result.best_ms == min(map(true_ms, again.remeasured[0]))
    # more trials later: the new search records make the round stale until it is redone
    Tuner(cut, FakeMeasurer(), batch_size=4, confirm=0).tune([task], trials=12)
    assert not cut.is_confirmed(task.key) and cut.best(task.key)["config"] == result.best_config
    # the next round re-times the last round's winner too, whatever its search timing
    third = FakeMeasurer()
    Tuner(cut, third, batch_size=4, confirm=1).tune([task], trials=12)
    assert third.measured == [] and result.best_config in third.remeasured[0] and cut.is_confirmed(task.key)


def test_a_time_budget_leaves_the_round_its_time(tmp_path):
    task, _ = lucky_task()
    db = Database(tmp_path / "r.jsonl")
    measurer = FakeMeasurer(run_s=60.0)  # a round of these would take minutes: no second batch fits in 30 s
    result = Tuner(db, measurer, batch_size=4, confirm=3).tune([task], seconds=30)[0]
    assert len(measurer.measured) == 4 and len(measurer.remeasured) == 1 and result.confirmed


class FakeClock:
    """Stands in for the tuner's ``time`` module: a measurement takes ``per_candidate`` seconds."""

    def __init__(self, per_candidate: float) -> None:
        self.now = 0.0
        self.per_candidate = per_candidate

    def monotonic(self) -> float:
        return self.now


class TimedMeasurer(FakeMeasurer):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.batches: list[int] = []

    def measure_each(self, task, configs):
        self.clock.now += self.clock.per_candidate * len(configs)
        self.batches.append(len(configs))
        return super().measure_each(task, configs)


def test_a_time_budget_sizes_the_last_batch_to_end_in_time(tmp_path, monkeypatch):
    clock = FakeClock(per_candidate=10.0)
    monkeypatch.setattr("gnncc.tune.tuner.time", clock)
    measurer = TimedMeasurer(clock)
    Tuner(Database(tmp_path / "r.jsonl"), measurer, batch_size=8, confirm=3).tune([lucky_task()[0]], seconds=100)
    assert measurer.batches == [8, 2] and clock.now == 100.0 and len(measurer.remeasured) == 1


def test_confirmation_settings_are_checked(tmp_path):
    with pytest.raises(ValueError, match="confirm_passes"):
        Tuner(Database(tmp_path / "r.jsonl"), FakeMeasurer(), confirm_passes=0)


def test_the_cost_model_trains_only_on_this_versions_records(tmp_path, monkeypatch):
    """Another gnncc version's kernels are other code: their times are not labels for this one's."""
    task = op_task("spmm", small_graph(), 16, CPU)
    db = Database(tmp_path / "r.jsonl")
    Tuner(db, FakeMeasurer(), batch_size=4, confirm=0).tune([task], trials=4)
    assert len(db.training_set("spmm", "cpu", FEATURE_VERSION)) == 4
    assert {r["gnncc"] for r in db.records()} == {gnncc.__version__}
    monkeypatch.setattr(gnncc, "__version__", "99.0.0")  # an upgrade: the old records stay, untrained on
    assert db.training_set("spmm", "cpu", FEATURE_VERSION) == [] and len(db.records()) == 4
