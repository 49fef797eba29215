"""``measure_ms``: repeats, the minimum time, and the cap that keeps a slow candidate cheap; and
the interleaved passes that time several functions alike on a drifting machine."""

import time

import pytest

from gnncc.runtime.timing import interleaved, interleaved_ms, measure_ms


class Sleeper:
    """A callable that sleeps ``seconds`` and counts its calls."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        time.sleep(self.seconds)


def test_repeats_and_minimum_time():
    fast = Sleeper(0.0)
    measure_ms(fast, warmup=2, repeat=5)
    assert fast.calls == 7
    steady = Sleeper(0.01)
    ms = measure_ms(steady, warmup=0, repeat=3, min_seconds=0.1)
    assert steady.calls >= 9 and 9 <= ms < 100


def test_max_seconds_caps_a_slow_function_after_three_timings():
    slow = Sleeper(0.1)
    ms = measure_ms(slow, warmup=3, repeat=30, max_seconds=0.2)
    assert slow.calls == 1 + 3  # one warm-up (a quarter of the cap is spent), three timed calls
    assert 100 <= ms < 1000


def test_interleaved_passes_rotate_the_order():
    assert list(interleaved(3, 3)) == [0, 1, 2, 1, 2, 0, 2, 0, 1]
    assert list(interleaved(1, 2)) == [0, 0]


def test_interleaved_ms_times_each_function_once_per_pass_and_takes_the_median():
    order: list[str] = []
    durations = {"a": iter([0.02, 0.05, 0.02]), "b": iter([0.0, 0.0, 0.0])}

    def timed(name: str):
        def fn() -> None:
            order.append(name)
            time.sleep(next(durations[name]))
        return fn

    times = interleaved_ms({"a": timed("a"), "b": timed("b")}, passes=3, warmup=0, repeat=1)
    assert order == ["a", "b", "b", "a", "a", "b"]
    assert 20 <= times["a"] < 50 and times["b"] < 20  # a's slow pass (50 ms) is not its median


def test_interleaved_ms_rejects_zero_passes():
    with pytest.raises(ValueError, match="passes"):
        interleaved_ms({"a": lambda: None}, passes=0)
