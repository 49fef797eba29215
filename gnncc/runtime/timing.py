"""Wall-clock timing of a callable on CPU or CUDA (median of repeats, after warm-up), and of
several callables interleaved, so that a shared machine's slow drift hits them all alike."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator

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


def interleaved(count: int, passes: int) -> Iterator[int]:
    """Indices ``0..count-1`` once per pass, pass ``p`` starting at ``p % count``: no item is always
    timed first (after a cold cache) or always right after the same neighbour."""
    for p in range(passes):
        for j in range(count):
            yield (p + j) % count


def interleaved_ms(fns: dict[str, Callable[[], object]], device: torch.device | str = "cpu", passes: int = 3,
                   **timing: float) -> dict[str, float]:
    """Median over ``passes`` interleaved passes of each ``measure_ms(fn, device, **timing)``, by name."""
    if passes < 1:
        raise ValueError(f"passes must be >= 1, got {passes}")
    names = list(fns)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in interleaved(len(names), passes):
        samples[names[i]].append(measure_ms(fns[names[i]], device, **timing))
    return {name: statistics.median(s) for name, s in samples.items()}
