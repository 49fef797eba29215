"""Tuning records: append-only JSON lines, one measured candidate per line.

A record's ``key`` is the sha256 of everything that changes the result (as Triton's cache
keys): the kernel spec (op, attributes, shapes, dtypes, index dtype), the graph signature,
the target key, the device, and the gnncc and TVM versions. Appends take an exclusive
``flock`` and write each line with one ``write``, so concurrent tuners lose nothing; a line
torn by a killed process is skipped with a warning when read (and the next append starts on
a fresh line). Re-reading a log is how a tuner resumes: configs already recorded are skipped.

Two phases of records share a key. Search records (no ``phase``) hold one timing per
candidate, as the search took it; on a noisy machine the fastest of many such timings is
often a lucky one. A confirmation round (``phase: "confirm"``) re-times the search's best
few, interleaved, and names its size, so a round cut short by a killed tuner is ignored.
The latest complete round decides which config is best; configs it did not re-time rank
after it, by their search timings.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from gnncc.codegen.spec import KernelSpec
from gnncc.codegen.target import Target
from gnncc.graph import Graph

DEFAULT_LOG_DIR = Path(__file__).resolve().parents[2] / "tuning_logs"
DEFAULT_LOG_NAME = "records.jsonl"
MODEL_NAME = "cost_model.json"
CONFIRM = "confirm"  # the ``phase`` of a confirmation record


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
        "spec": repr(spec), "graph": graph.structure_signature, "target": target.key(),
        "device": device_name(target.kind), "gnncc": __version__, "tvm": tvm.__version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Confirmation:
    """What marks a record as part of confirmation round ``round_id`` of ``size`` configs."""

    round_id: str
    size: int
    samples: list[float]  # the config's time in each interleaved pass; ``ms`` is their median

    @staticmethod
    def new_round_id() -> str:
        return f"{time.time_ns():x}-{os.getpid()}"


def make_record(key: str, task_name: str, family: str, target: Target, graph: Graph, config: dict[str, Any],
                ms: float | None, error: str | None, features: dict[str, float], feature_version: int,
                confirmation: Confirmation | None = None) -> dict:
    """One log line. ``ms`` is None for a failed candidate (``error`` says why)."""
    from gnncc import __version__

    record = {
        "key": key, "task": task_name, "family": family, "kind": target.kind, "target": target.key(),
        "device": device_name(target.kind), "gnncc": __version__, "graph": graph.structure_signature, "config": config,
        "ms": ms, "error": error, "features": features, "feature_version": feature_version,
        "time": round(time.time(), 3),
    }
    if confirmation is not None:
        record.update(phase=CONFIRM, round=confirmation.round_id, round_size=confirmation.size,
                      samples=confirmation.samples)
    return record


def is_confirmation(record: dict[str, Any]) -> bool:
    return record.get("phase") == CONFIRM


class Database:
    """The records in one JSON-lines file (created on the first append)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_log_path()
        self._cache: tuple[tuple[int, int], list[dict]] | None = None
        self._by_key: dict[str, list[dict]] = {}  # the cached records by key, in log order

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
            self._cache, self._by_key = None, {}
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
        self._by_key = {}
        for rec in out:
            self._by_key.setdefault(rec["key"], []).append(rec)
        return out

    def for_key(self, key: str) -> list[dict[str, Any]]:
        """The records of ``key``, in log order (indexed once per read of the log, not scanned per call)."""
        self.records()
        return list(self._by_key.get(key, ()))

    def search_records(self, key: str) -> list[dict[str, Any]]:
        """The search's records of ``key`` (one per measured candidate: what trials count)."""
        return [r for r in self.for_key(key) if not is_confirmation(r)]

    def _latest_round(self, key: str) -> tuple[int, list[dict[str, Any]]]:
        """(log position of its first record, records) of ``key``'s latest complete confirmation round."""
        rounds: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for i, r in enumerate(self.for_key(key)):
            if is_confirmation(r):
                rounds.setdefault(str(r.get("round")), []).append((i, r))
        complete = [recs for recs in rounds.values() if len(recs) >= int(recs[0][1].get("round_size", 0))]
        if not complete:
            return -1, []
        latest = max(complete, key=lambda recs: recs[-1][0])
        return latest[0][0], [r for _, r in latest]

    def confirmation_round(self, key: str) -> list[dict[str, Any]]:
        """The records of the latest complete confirmation round of ``key`` (empty: none yet)."""
        return self._latest_round(key)[1]

    def is_confirmed(self, key: str) -> bool:
        """Whether a complete confirmation round comes after every search record of ``key`` in the log."""
        start, latest = self._latest_round(key)
        return bool(latest) and all(is_confirmation(r) for r in self.for_key(key)[start:])

    def ranked(self, key: str) -> list[dict[str, Any]]:
        """Successful records of ``key``, best first, one per config: the latest confirmation round's
        (by their interleaved times), then every other config by its fastest search timing."""
        latest = self.confirmation_round(key)
        out = sorted((r for r in latest if r.get("ms") is not None), key=lambda r: r["ms"])
        seen = {config_id(r["config"]) for r in latest}
        for r in sorted((r for r in self.search_records(key) if r.get("ms") is not None), key=lambda r: r["ms"]):
            if config_id(r["config"]) not in seen:
                seen.add(config_id(r["config"]))
                out.append(r)
        return out

    def best(self, key: str) -> dict[str, Any] | None:
        """The best successful record of ``key`` (see ``ranked``)."""
        ranked = self.ranked(key)
        return ranked[0] if ranked else None

    def training_set(self, family: str, kind: str, feature_version: int) -> list[dict[str, Any]]:
        """Successful records of ``family`` on target kind ``kind`` (all graphs: the model transfers),
        made by this gnncc version: another version's kernels are other code, so its times are not
        labels for this one's (as its records are not this one's results: the key holds the version).

        Confirmation records are included: their times are the better labels."""
        from gnncc import __version__

        return [r for r in self.records() if r.get("family") == family and r.get("kind") == kind
                and r.get("ms") is not None and r.get("feature_version") == feature_version
                and r.get("gnncc") == __version__]
