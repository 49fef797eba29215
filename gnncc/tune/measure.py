"""Builder and runner: candidates are compiled and timed in worker processes, never in the tuner.

As in TVM: builders (one per core) compile candidates in parallel into shared libraries,
then one runner loads each library, runs it on the task's operands, checks the result
against the interpreter and times it (one at a time, so timings do not compete for cores).
Workers are persistent ``spawn`` processes (TVM and torch are imported once per worker, not
per candidate). A worker that crashes (segfault, abort) or exceeds its timeout is killed
and restarted, and the candidate is recorded as failed; the tuner carries on.

``remeasure`` times a few candidates again, interleaved (every pass runs each once, in a
rotated order), so slow drift of a shared machine hits them all alike: the confirmation
that ranks the search's best by more than one lucky timing.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import statistics
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gnncc.runtime.timing import interleaved
from gnncc.tune.task import TuneTask

TOLERANCE = 1e-4  # relative error (max |out - ref| / max |ref|) a candidate must meet
# (config, out) -> None, called in the runner after a candidate's checked run: a test hook to inject
# faults (abort, hang, corrupt ``out``) into chosen candidates. Must be picklable (module level).
FaultHook = Callable[[dict[str, Any], torch.Tensor], None]


@dataclass
class MeasureResult:
    config: dict[str, Any]
    ms: float | None  # None: the candidate failed
    error: str | None = None
    build_s: float = 0.0
    tir: dict[str, float] | None = None  # TIR features of the built kernel (None when the build failed)
    run_s: float = 0.0  # wall seconds of the runner's request (load, check, time)
    samples: list[float] | None = None  # ``remeasure``: the time of each interleaved pass (ms is their median)


class WorkerError(Exception):
    """A request failed in the worker (an exception, a crash or a timeout)."""


# ---- worker side ----------------------------------------------------------------------------
_PAYLOADS: dict[str, dict[str, Any]] = {}


def _payload(path: str) -> dict[str, Any]:
    """The task saved at ``path``, loaded once per worker; the node is rebuilt from op and operands."""
    if path not in _PAYLOADS:
        from gnncc.tune.task import standalone_node

        data = torch.load(path, weights_only=False)
        data["node"] = standalone_node(data["op"], data["attrs"], data["operands"])
        _PAYLOADS[path] = data
    return _PAYLOADS[path]


def _warmup() -> int:
    """Import the heavy modules once, before any candidate is timed against a timeout."""
    import gnncc.codegen  # noqa: F401  (imports TVM)

    return os.getpid()


def _build(payload_path: str, config: dict[str, Any], out_dir: str) -> dict[str, Any]:
    """Compile one candidate; returns the library path and its functions' operand layout."""
    from gnncc.codegen import build_kernel
    from gnncc.tune.features import tir_features_of

    task = _payload(payload_path)
    start = time.perf_counter()
    kernel = build_kernel(task["node"], task["target"], config, index_dtype=task["index_dtype"])
    lib_path = os.path.join(out_dir, f"k{os.getpid()}_{time.monotonic_ns()}.so")
    kernel._lib.export_library(lib_path)  # Kernel has no public export of its executable yet
    return {"lib": lib_path, "binding": kernel.binding, "seconds": time.perf_counter() - start,
            "tir": tir_features_of([c.func for c in kernel.calls])}


def _run(payload_path: str, built: dict[str, Any], config: dict[str, Any], repeat: int, min_seconds: float,
         max_seconds: float, hook: FaultHook | None) -> float:
    """Load (TVM runtime only), check against the reference, then time one candidate (median ms)."""
    import tvm_ffi

    from gnncc.check import relative_error
    from gnncc.ir.adjacency import Adjacency
    from gnncc.runtime.binding import RuntimeKernel
    from gnncc.runtime.timing import measure_ms

    task = _payload(payload_path)
    device = task["target"].device
    binding = built["binding"]
    lib = tvm_ffi.load_module(built["lib"])
    kernel = RuntimeKernel(binding, [lib[name] for name, _ in binding.calls])
    operands = [o.to(device) if isinstance(o, Adjacency) else o.to(device).contiguous() for o in task["operands"]]
    ref = task["reference"]
    out = torch.full(ref.shape, float("nan"), dtype=ref.dtype, device=device) if ref.is_floating_point() \
        else torch.zeros(ref.shape, dtype=ref.dtype, device=device)
    run = kernel.bind(operands, out)
    run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    if hook is not None:
        hook(config, out)
    err = relative_error(out, ref)
    if not err <= TOLERANCE:
        raise WorkerError(f"wrong result: relative error {err:.2e} > {TOLERANCE:.0e}")
    return measure_ms(run, device, warmup=3, repeat=repeat, min_seconds=min_seconds, max_seconds=max_seconds)


def _serve(conn: Any) -> None:
    """Worker loop: run ``(fn, args)`` requests until the pipe closes or ``None`` arrives."""
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        fn, args = request
        try:
            reply = ("ok", fn(*args))
        except Exception as e:  # reported to the tuner, which records the candidate as failed
            last = traceback.format_exception_only(type(e), e)[-1].strip()
            reply = ("error", last[:2000])
        conn.send(reply)


# ---- tuner side -----------------------------------------------------------------------------
class Worker:
    """A persistent ``spawn`` process serving requests with a timeout; killed and restarted on hang or crash."""

    def __init__(self, warmup_timeout: float = 300.0) -> None:
        self._ctx = mp.get_context("spawn")
        self._warmup_timeout = warmup_timeout
        self._proc: Any = None
        self._conn: Any = None
        self.restarts = 0

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_serve, args=(child,), daemon=True, name="gnncc-tune-worker")
        self._proc.start()
        child.close()
        self._conn = parent
        self._request(_warmup, (), self._warmup_timeout)

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float) -> Any:
        """``fn(*args)`` in the worker; raises ``WorkerError`` on an exception, crash or timeout."""
        if self._proc is None or not self._proc.is_alive():
            if self._proc is not None:
                self.restarts += 1
            self._start()
        return self._request(fn, args, timeout)

    def _request(self, fn: Callable[..., Any], args: tuple, timeout: float) -> Any:
        try:
            self._conn.send((fn, args))
            if not self._conn.poll(timeout):
                self.kill()
                raise WorkerError(f"timed out after {timeout:g} s (worker killed)")
            status, value = self._conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError) as e:
            code = self._reap()
            raise WorkerError(f"worker crashed (exit code {code})") from e
        if status == "error":
            raise WorkerError(value)
        return value

    def _reap(self) -> int | None:
        self._proc.join(5)
        if self._proc.is_alive():
            self.kill()
        return self._proc.exitcode

    def kill(self) -> None:
        """Kill this worker's process (only the one this object started)."""
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)

    def close(self) -> None:
        if self._proc is not None and self._proc.is_alive():
            try:
                self._conn.send(None)
                self._proc.join(5)
            except OSError:
                pass
            self.kill()
        if self._conn is not None:
            self._conn.close()


class Measurer:
    """Builds a batch of candidates in parallel, then runs and checks them one by one.

    Each run is timed ``repeat`` times and at least ``min_seconds``, but for at most
    ``max_seconds`` once 3 timings are in (``measure_ms``): a slow candidate costs a second,
    not 30 of its runs.

    ``hook`` (tests only) runs in the runner after each candidate's checked run; see ``FaultHook``.
    """

    def __init__(self, builders: int | None = None, build_timeout: float = 120.0, run_timeout: float = 60.0,
                 repeat: int = 30, min_seconds: float = 0.05, max_seconds: float = 1.0,
                 hook: FaultHook | None = None) -> None:
        self.build_timeout = build_timeout
        self.run_timeout = run_timeout
        self.repeat = repeat
        self.min_seconds = min_seconds
        self.max_seconds = max_seconds
        self.hook = hook
        self._builders = [Worker() for _ in range(max(1, builders or (os.cpu_count() or 1)))]
        self._runner = Worker()
        self._dir = tempfile.TemporaryDirectory(prefix="gnncc-tune-")
        self._payloads: dict[str, str] = {}

    def _payload_path(self, task: TuneTask) -> str:
        if task.key not in self._payloads:
            path = os.path.join(self._dir.name, f"task{len(self._payloads)}.pt")
            torch.save(task.payload(), path)
            self._payloads[task.key] = path
        return self._payloads[task.key]

    def measure(self, task: TuneTask, configs: list[dict[str, Any]]) -> list[MeasureResult]:
        """One result per config, in order; failures have ``ms=None`` and an ``error``."""
        return list(self.measure_each(task, configs))

    def measure_each(self, task: TuneTask, configs: list[dict[str, Any]]) -> Iterator[MeasureResult]:
        """``measure``, yielding each result as soon as its run is done (in order), so that a
        caller can record it before the next run: a kill mid-batch loses at most one timing."""
        path = self._payload_path(task)
        built = self._build_all(path, configs)
        try:
            for config, b in zip(configs, built):
                if isinstance(b, str):
                    yield MeasureResult(config, None, b)
                    continue
                start = time.perf_counter()
                ms: float | None = None
                error = None
                try:
                    ms = float(self._run_one(path, b, config))
                except WorkerError as e:
                    error = f"run failed: {e}"
                yield MeasureResult(config, ms, error, b["seconds"], b["tir"], time.perf_counter() - start)
        finally:
            self._remove(built)

    def remeasure(self, task: TuneTask, configs: list[dict[str, Any]], passes: int = 3) -> list[MeasureResult]:
        """Each config timed once per pass, the passes interleaved (pass ``i`` starts at config ``i``);
        ``ms`` is the median over passes. A config that fails once is failed (``ms=None``)."""
        path = self._payload_path(task)
        built = self._build_all(path, configs)
        samples: list[list[float]] = [[] for _ in configs]
        errors: list[str | None] = [b if isinstance(b, str) else None for b in built]
        try:
            for i in interleaved(len(configs), passes):
                if errors[i] is not None:
                    continue
                try:
                    samples[i].append(float(self._run_one(path, built[i], configs[i])))
                except WorkerError as e:
                    errors[i] = f"run failed: {e}"
        finally:
            self._remove(built)
        return [MeasureResult(c, None, err) if err is not None else
                MeasureResult(c, statistics.median(s), None, b["seconds"], b["tir"], samples=s)
                for c, b, s, err in zip(configs, built, samples, errors)]

    def _build_all(self, path: str, configs: list[dict[str, Any]]) -> list[dict[str, Any] | str]:
        """Compile ``configs`` in parallel on the builders: a library each, or why its build failed."""
        free: queue.Queue[Worker] = queue.Queue()
        for w in self._builders:
            free.put(w)

        def build(config: dict[str, Any]) -> dict[str, Any] | str:
            worker = free.get()
            try:
                return worker.call(_build, path, config, self._dir.name, timeout=self.build_timeout)
            except WorkerError as e:
                return f"build failed: {e}"
            finally:
                free.put(worker)

        with ThreadPoolExecutor(len(self._builders)) as pool:
            return list(pool.map(build, configs))

    def _run_one(self, path: str, built: dict[str, Any], config: dict[str, Any]) -> float:
        return self._runner.call(_run, path, built, config, self.repeat, self.min_seconds, self.max_seconds,
                                 self.hook, timeout=self.run_timeout)

    @staticmethod
    def _remove(built: list[dict[str, Any] | str]) -> None:
        for b in built:
            if not isinstance(b, str):
                Path(b["lib"]).unlink(missing_ok=True)

    def close(self) -> None:
        for w in [*self._builders, self._runner]:
            w.close()
        self._dir.cleanup()

    def __enter__(self) -> Measurer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
