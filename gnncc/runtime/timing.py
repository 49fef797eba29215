"""Wall-clock timing of a callable on CPU or CUDA (median of repeats, after warm-up)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def measure_ms(fn: Callable[[], object], device: torch.device | str = "cpu", warmup: int = 3,
               repeat: int = 20, min_seconds: float = 0.0) -> float:
    """Median milliseconds of ``fn()``; CUDA work is synchronised around each call."""
    cuda = torch.device(device).type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    start_all = time.perf_counter()
    while len(times) < repeat or time.perf_counter() - start_all < min_seconds:
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)
