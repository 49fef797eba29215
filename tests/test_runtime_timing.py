"""``measure_ms``: repeats, the minimum time, and the cap that keeps a slow candidate cheap."""

import time

from gnncc.runtime.timing import measure_ms


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
