"""Tuning records: append-only JSON lines, one measured candidate per line.

A record's ``key`` is the sha256 of everything that changes the result (as Triton's cache
keys): the kernel spec (op, attributes, shapes, dtypes, index dtype), the graph signature,
the target key, the device, and the gnncc and TVM versions. Appends take an exclusive
``flock`` and write each line with one ``write``, so concurrent tuners lose nothing; a line
torn by a killed process is skipped with a warning when read (and the next append starts on
a fresh line). Re-reading a log is how a tuner resumes: configs already recorded are skipped.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
import warnings
from functools import cache
from pathlib import Path
from typing import Any

from gnncc.codegen.spec import KernelSpec
from gnncc.codegen.target import Target
from gnncc.graph import Graph

DEFAULT_LOG_DIR = Path(__file__).resolve().parents[2] / "tuning_logs"
DEFAULT_LOG_NAME = "records.jsonl"
MODEL_NAME = "cost_model.json"


def default_log_path() -> Path:
    """``$GNNCC_TUNING_LOG``, else ``tuning_logs/records.jsonl`` in the checkout."""
    return Path(os.environ.get("GNNCC_TUNING_LOG", DEFAULT_LOG_DIR / DEFAULT_LOG_NAME))


def model_path_for(log_path: str | Path) -> Path:
    """The cost model lives next to its log: ``<log dir>/cost_model.json``."""
    return Path(log_path).parent / MODEL_NAME


def config_id(config: dict[str, Any]) -> str:
    """Canonical text of a config (records and search compare configs by it)."""
    return json.dumps(config, sort_keys=True)


@cache
def device_name(target_kind: str) -> str:
    """The device a target runs on: the GPU name, or the CPU model and thread count."""
    if target_kind == "cuda":
        import torch

        return torch.cuda.get_device_name() if torch.cuda.is_available() else "cuda:unknown"
    model = "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = os.environ.get("TVM_NUM_THREADS") or str(os.cpu_count() or 1)
    return f"{model} x{threads}"


def task_key(spec: KernelSpec, graph: Graph, target: Target) -> str:
    """sha256 of everything a measurement depends on."""
    import tvm

    from gnncc import __version__

    payload = {
        "spec": repr(spec), "graph": graph.signature, "target": target.key(),
        "device": device_name(target.kind), "gnncc": __version__, "tvm": tvm.__version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def make_record(key: str, task_name: str, family: str, target: Target, graph: Graph, config: dict[str, Any],
                ms: float | None, error: str | None, features: dict[str, float], feature_version: int) -> dict:
    """One log line. ``ms`` is None for a failed candidate (``error`` says why)."""
    return {
        "key": key, "task": task_name, "family": family, "kind": target.kind, "target": target.key(),
        "device": device_name(target.kind), "graph": graph.signature, "config": config,
        "ms": ms, "error": error, "features": features, "feature_version": feature_version,
        "time": round(time.time(), 3),
    }


class Database:
    """The records in one JSON-lines file (created on the first append)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_log_path()
        self._cache: tuple[tuple[int, int], list[dict]] | None = None

    def append(self, record: dict[str, Any]) -> None:
        """Add one record atomically with respect to other appenders (flock, one write)."""
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a torn line from a killed writer: end it, keep ours whole
            written = os.write(fd, line)
            while written < len(line):  # a short write (full disk, signal) completes here, still locked
                written += os.write(fd, line[written:])
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def records(self) -> list[dict[str, Any]]:
        """Every readable record, in log order; torn or corrupt lines are skipped with a warning."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return []
        stamp = (st.st_mtime_ns, st.st_size)
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        out = []
        with open(self.path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                try:
                    rec = json.loads(raw)
                    if not isinstance(rec, dict) or "key" not in rec or "config" not in rec:
                        raise ValueError("not a tuning record")
                except ValueError:
                    warnings.warn(f"{self.path}:{lineno}: skipping a torn or corrupt tuning record "
                                  f"({raw[:60]!r}...)", stacklevel=2)
                    continue
                out.append(rec)
        self._cache = (stamp, out)
        return out

    def for_key(self, key: str) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["key"] == key]

    def best(self, key: str) -> dict[str, Any] | None:
        """The fastest successful record of ``key``."""
        ok = [r for r in self.for_key(key) if r.get("ms") is not None]
        return min(ok, key=lambda r: r["ms"]) if ok else None

    def training_set(self, family: str, kind: str, feature_version: int) -> list[dict[str, Any]]:
        """Successful records of ``family`` on target kind ``kind`` (all graphs: the model transfers)."""
        return [r for r in self.records() if r.get("family") == family and r.get("kind") == kind
                and r.get("ms") is not None and r.get("feature_version") == feature_version]
