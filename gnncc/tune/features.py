"""Features of one (kernel, graph, schedule config) for the cost model.

Five groups, all plain floats keyed by name so records stay readable and models can be
retrained from logs alone:

- ``knob.*``: the schedule config itself (booleans as 0/1);
- ``graph.*``: size and in-degree shape of the graph (log sizes, mean/CV/skew of the
  degree, the log2 degree histogram as fractions) — what lets a model transfer to new graphs;
- ``op.*``: what the kernel computes (row width, heads, dtype and index bytes, operand count);
- ``tir.*``: the generated TIR before compilation (loop kinds, vector width, threads per
  block, local accumulator size, elements and bytes loaded per iteration of the data-dependent
  (edge) loop);
- ``mem.*``: the node rows a kernel gathers against the device's last-level cache (L3 of the
  CPU, L2 of the GPU), whole and per column-partition pass. Whether the rows fit is what
  decides if partitioning pays, and no graph or op feature alone says it on another device.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

from tvm.tirx import ForKind

from gnncc.codegen.schedule import Space
from gnncc.codegen.spec import KernelSpec
from gnncc.codegen.target import Target
from gnncc.graph import DegreeStats, Graph

FEATURE_VERSION = 3  # bump when names or meanings change: records of other versions are not trained on
HIST_BUCKETS = 12  # degree buckets [0], [1], [2,3], ... [1024, inf)
_DTYPE_BYTES = {"float32": 4, "float64": 8, "float16": 2, "int32": 4, "int64": 8, "bool": 1}
_TIR_NAMES = (
    "loops_parallel", "loops_vectorized", "loops_serial", "loops_unrolled", "loops_dynamic", "branches",
    "vector_width", "threads_per_block", "local_elems", "stores", "loads",
    "elems_per_dynamic_iter", "bytes_per_dynamic_iter", "funcs",
)


def graph_features(graph: Graph, nnz: int) -> dict[str, float]:
    """Size and in-degree distribution of ``graph``; ``nnz`` is the edges the kernel walks."""
    return degree_features(graph.in_degree, graph.num_nodes, nnz)


def degree_features(d: DegreeStats, num_nodes: int, nnz: int) -> dict[str, float]:
    """``graph_features`` from degree statistics (also for synthetic degree sequences)."""
    mean = max(d.mean, 1e-9)
    hist = list(d.histogram[: HIST_BUCKETS - 1]) + [sum(d.histogram[HIST_BUCKETS - 1:])]
    hist += [0] * (HIST_BUCKETS - len(hist))
    n = max(num_nodes, 1)
    feats = {
        "graph.log_nodes": math.log2(n),
        "graph.log_nnz": math.log2(max(nnz, 1)),
        "graph.avg_degree": nnz / n,
        "graph.degree_cv": d.std / mean,
        "graph.degree_skew": d.max / mean,
        "graph.zero_frac": d.zero / n,
    }
    feats.update({f"graph.hist{i}": c / n for i, c in enumerate(hist)})
    return feats


@cache
def last_level_cache_bytes(kind: str) -> int | None:
    """The size of the device's last-level cache: the GPU's L2, or the CPU's largest data cache."""
    if kind == "cuda":
        import torch

        return int(torch.cuda.get_device_properties(0).L2_cache_size) if torch.cuda.is_available() else None
    return cpu_cache_bytes(Path("/sys/devices/system/cpu/cpu0/cache"))


def cpu_cache_bytes(cache_dir: Path) -> int | None:
    """The largest data or unified cache listed in a sysfs ``cpuN/cache`` directory (None: none readable)."""
    sizes = []
    for index in cache_dir.glob("index*"):
        try:
            if (index / "type").read_text().strip() == "Instruction":
                continue
            text = (index / "size").read_text().strip().upper()
        except OSError:
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            sizes.append(int(digits) * scale)
    return max(sizes, default=None)


PARTITION_KNOB = "col_parts"  # the knob that splits the gathered rows into that many passes


def memory_features(rows_bytes: float, cache_bytes: int | None, config: dict[str, Any]) -> dict[str, float]:
    """log2 of the gathered rows (``rows_bytes``) over the cache, whole and per partition pass."""
    if not cache_bytes:
        return {}
    ratio = max(rows_bytes, 1.0) / cache_bytes
    return {
        "mem.log_cache": math.log2(cache_bytes),
        "mem.log_rows_over_cache": math.log2(ratio),
        "mem.log_pass_rows_over_cache": math.log2(ratio / max(1, int(config.get(PARTITION_KNOB, 0)))),
    }


def knob_features(space: Space, config: dict[str, Any]) -> dict[str, float]:
    return {f"knob.{k}": float(config[k]) for k in sorted(space.knobs)}


def op_features(spec: KernelSpec) -> dict[str, float]:
    widths = [t.width for t in spec.tensors] + [spec.output.width]
    heads = max((t.shape[1] for t in spec.tensors if len(t.shape) == 3), default=1)
    return {
        "op.width": float(max(widths)),
        "op.log_width": math.log2(max(max(widths), 1)),
        "op.out_width": float(spec.output.width),
        "op.heads": float(heads),
        "op.dtype_bytes": float(_DTYPE_BYTES.get(spec.output.dtype, 4)),
        "op.index_bytes": float(_DTYPE_BYTES.get(spec.index_dtype or "", 0)),
        "op.operands": float(len(spec.inputs)),
    }


def _static(expr: Any) -> int | None:
    value = getattr(expr, "value", None)
    return int(value) if isinstance(value, int) and type(expr).__name__ == "IntImm" else None


_LOADS = ("BufferLoad", "TensorLoad")
_EXPR_FIELDS = ("a", "b", "value", "args", "condition", "true_value", "false_value", "indices")


def _children(e: Any) -> list[Any]:
    out = []
    for name in _EXPR_FIELDS:
        child = getattr(e, name, None)
        if child is None or isinstance(child, (int, float, str)):
            continue
        out.extend(child if name in ("args", "indices") else [child])
    return out


def _reads_memory(e: Any) -> bool:
    """Whether an expression loads from a buffer (a loop bound read from ``indptr``)."""
    return type(e).__name__ in _LOADS or any(_reads_memory(c) for c in _children(e))


class _TirStats:
    """One walk over a PrimFunc body collecting the ``tir.*`` counts."""

    def __init__(self) -> None:
        self.c = dict.fromkeys(_TIR_NAMES, 0.0)

    def stmt(self, s: Any, mult: int, in_dynamic: bool, threads: int) -> None:
        kind = type(s).__name__
        if kind == "For":
            extent = _static(s.extent)
            if s.thread_binding is not None:
                if extent is not None and s.thread_binding.thread_tag.startswith("threadIdx"):
                    threads *= extent
                    self.c["threads_per_block"] = max(self.c["threads_per_block"], threads)
                self.stmt(s.body, mult, in_dynamic, threads)
                return
            if extent == 1:  # one iteration is no loop (templates emit them for a vector width of 1)
                self.stmt(s.body, mult, in_dynamic, threads)
                return
            k = ForKind(int(s.kind)).name
            self.c[{"PARALLEL": "loops_parallel", "VECTORIZED": "loops_vectorized",
                    "UNROLLED": "loops_unrolled"}.get(k, "loops_serial")] += 1
            if k == "VECTORIZED" and extent is not None:
                self.c["vector_width"] = max(self.c["vector_width"], extent)
            if _reads_memory(s.extent) or _reads_memory(s.min):  # a CSR edge loop: count per iteration
                self.c["loops_dynamic"] += 1
                self.stmt(s.body, 1, True, threads)
            else:
                self.stmt(s.body, mult * (extent or 1), in_dynamic, threads)
        elif kind == "SeqStmt":
            for x in s.seq:
                self.stmt(x, mult, in_dynamic, threads)
        elif kind == "IfThenElse":
            self.c["branches"] += 1
            self.expr(s.condition, mult, in_dynamic)
            self.stmt(s.then_case, mult, in_dynamic, threads)
            if s.else_case is not None:
                self.stmt(s.else_case, mult, in_dynamic, threads)
        elif kind == "AllocBuffer":
            size = math.prod(_static(d) or 1 for d in s.buffer.shape)
            self.c["local_elems"] += size
        elif kind == "BufferStore":
            self.c["stores"] += 1
            self.expr(s.value, mult, in_dynamic)
        else:  # Bind, LetStmt, AttrStmt, DeclBuffer, Evaluate, ...
            value, body = getattr(s, "value", None), getattr(s, "body", None)
            if value is not None:
                self.expr(value, mult, in_dynamic)
            if body is not None:
                self.stmt(body, mult, in_dynamic, threads)

    def expr(self, e: Any, mult: int, in_dynamic: bool) -> None:
        if e is None or isinstance(e, (int, float, str)):
            return
        if type(e).__name__ in _LOADS:
            self.c["loads"] += 1
            if in_dynamic:
                buffer = getattr(e, "buffer", None) or e.source
                self.c["elems_per_dynamic_iter"] += mult
                self.c["bytes_per_dynamic_iter"] += mult * _DTYPE_BYTES.get(str(buffer.dtype), 4)
            for i in e.indices:
                self.expr(i, mult, in_dynamic)
            return
        for c in _children(e):
            self.expr(c, mult, in_dynamic)


def tir_features_of(funcs: list[Any]) -> dict[str, float]:
    """Counts over a kernel's PrimFuncs (a build worker reads them off the kernel it compiled)."""
    stats = _TirStats()
    for func in funcs:
        stats.stmt(func.body, 1, False, 1)
    stats.c["funcs"] = float(len(funcs))
    return {f"tir.{k}": float(v) for k, v in stats.c.items()}


# (spec, target kind, config) -> tir features: a template build costs 50-600 ms, so each is made once per process
_TIR_CACHE: dict[tuple[str, str, str], dict[str, float]] = {}


def _tir_key(spec: KernelSpec, config: dict[str, Any], target: Target) -> tuple[str, str, str]:
    return repr(spec), target.kind, repr(sorted(config.items()))


def remember_tir(spec: KernelSpec, config: dict[str, Any], target: Target, feats: dict[str, float]) -> None:
    """Store TIR features computed elsewhere (by the builder that compiled the kernel)."""
    _TIR_CACHE[_tir_key(spec, config, target)] = feats


def tir_features(spec: KernelSpec, config: dict[str, Any], target: Target) -> dict[str, float]:
    """TIR counts for ``config``, from the family template's PrimFuncs (built, not compiled; cached)."""
    key = _tir_key(spec, config, target)
    if key not in _TIR_CACHE:
        from gnncc.codegen.templates import TEMPLATES

        calls = TEMPLATES[spec.family].build(spec, "tune_probe", target.is_cuda, config)
        _TIR_CACHE[key] = tir_features_of([c.func for c in calls])
    return _TIR_CACHE[key]


class Featurizer:
    """Features of configs of one task (graph and op features computed once)."""

    def __init__(self, spec: KernelSpec, space: Space, graph: Graph, nnz: int, target: Target) -> None:
        self.spec, self.space, self.target = spec, space, target
        self.fixed = {**graph_features(graph, nnz), **op_features(spec)}  # the same for every config
        # one node-feature matrix of the widest row: what a sparse kernel gathers by source
        self._rows_bytes = graph.num_nodes * self.fixed["op.width"] * self.fixed["op.dtype_bytes"]
        self._cache = last_level_cache_bytes(target.kind)

    def __call__(self, config: dict[str, Any]) -> dict[str, float]:
        tir = tir_features(self.spec, config, self.target)
        return {**knob_features(self.space, config), **self.fixed, **tir,
                **memory_features(self._rows_bytes, self._cache, config)}
