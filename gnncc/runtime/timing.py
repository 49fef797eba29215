"""Wall-clock timing of a callable on CPU or CUDA (median of repeats, after warm-up)."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import torch


def measure_ms(fn: Callable[[], object], device: torch.device | str = "cpu", warmup: int = 3,
               repeat: int = 20, min_seconds: float = 0.0, max_seconds: float = math.inf) -> float:
    """Median milliseconds of ``fn()``; CUDA work is synchronised around each call.

    Times at least ``repeat`` calls and ``min_seconds``, unless ``max_seconds`` of timing have
    passed after 3 calls: a slow candidate in a search is known slow without 20 runs of it. Warm-up
    stops early the same way, after a quarter of ``max_seconds``.
    """
    cuda = torch.device(device).type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    start_all = time.perf_counter()
    for _ in range(warmup):
        fn()
        sync()
        if time.perf_counter() - start_all >= max_seconds / 4:
            break
    times = []
    start_all = time.perf_counter()
    while len(times) < repeat or time.perf_counter() - start_all < min_seconds:
        if len(times) >= 3 and time.perf_counter() - start_all >= max_seconds:
            break
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)
