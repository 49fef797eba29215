"""Building blocks shared by the kernel templates: loop skeletons and scalar expressions.

A skeleton owns the parallelisation (CPU thread pool / CUDA grid) and calls a family's body
macro for each unit of work, so every family is written once for both targets.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import tvm
import tvm.script
from tvm.script import tirx as T
from tvm.script.parser.core.parser import ScriptMacro

from gnncc.ir.ops import EpilogueStep, epilogue_operand_shape, parse_epilogue


def _find_parser(self: ScriptMacro) -> Any:
    """``ScriptMacro._find_parser_def`` without ``inspect.getouterframes``, which reads source lines and
    resolves the module of every outer frame on each macro expansion (most of a kernel's build time)."""
    frame = inspect.currentframe()
    while frame is not None:
        parser = frame.f_globals.get(ScriptMacro.parser_object_name)
        if parser is not None:
            return parser
        frame = frame.f_back
    raise RuntimeError(f"{ScriptMacro.parser_object_name} not available")


ScriptMacro._find_parser_def = _find_parser

FP32 = "float32"
# Byte alignment the kernels assume of every buffer: element alignment only, so torch views and
# slices are safe to pass (TVM would otherwise assume 64 and emit aligned vector loads).
ALIGN = 4


@dataclass(frozen=True)
class Call:
    """One PrimFunc of a kernel and which flattened operands (inputs..., output) it takes, in order."""

    name: str
    func: Any  # tvm.tirx.PrimFunc
    args: tuple[int, ...]


def scratch_scope(cuda: bool) -> str:
    """Storage scope of a thread's small scratch arrays (accumulators, running statistics).

    "local" (registers) on CUDA. On CPU "global": TVM's ``LowerTVMBuiltin`` keeps small *global*
    allocations on the stack, where LLVM promotes them to registers, but turns "local" ones into
    heap workspaces (``TVMBackendAllocWorkspace``) that it cannot, so every accumulator update
    was a store and the next step's load waited on it.
    """
    return "local" if cuda else "global"


def ceildiv(a: int, b: int) -> int:
    return -(-a // b)


def size_var(index_dtype: str) -> Callable[[], Any]:
    """Constructor of a symbolic size of the graph's index dtype (``T.int32()``/``T.int64()``)."""
    return T.int64 if index_dtype == "int64" else T.int32


# Destination rows per thread-pool task on CPU. One task per row made every row's loop a separate
# closure call, which LLVM could not optimise across: measured 4.7x slower per thread (SpMM, PubMed, F=32).
CPU_ROWS_PER_TASK = 64


# The lane mask of a CPU "warp" (one thread, no shuffles).
NO_MASK = tvm.tirx.const(0, "uint32")


def row_mask(ty, lanes: int):
    """The warp lanes of row slot ``ty`` of ``lanes`` threads (threadIdx.x fastest): the mask its warp
    shuffles name. Exact, unlike ``__activemask()``, which does not promise the row's lanes have
    reconverged."""
    if lanes >= 32:
        return tvm.tirx.const(0xFFFFFFFF, "uint32")
    return tvm.tirx.const((1 << lanes) - 1, "uint32") << T.Cast("uint32", (ty * lanes) % 32)


def sparse_rows(cuda: bool, config: dict[str, Any]):
    """Skeleton over CSR destination rows: ``rows(n, work, body)`` calls ``body(v, lane, mask)``.

    On CUDA a block runs ``rows_per_block`` rows (threadIdx.y), each shared by ``lanes`` threads
    (threadIdx.x; ``mask`` their lanes in the warp, see ``row_mask``). On CPU rows go to the thread pool, ``lanes=1``,
    unless ``work`` (edges x features, known at run time) is under ``serial_below``, where waking
    the pool costs more than it saves.
    """
    if cuda:
        rpb, lanes = config["rows_per_block"], config["lanes"]

        @T.macro
        def rows(r_n, r_work, r_body):
            for bx in T.thread_binding((r_n + rpb - 1) // rpb, thread="blockIdx.x"):
                for ty in T.thread_binding(rpb, thread="threadIdx.y"):
                    for tx in T.thread_binding(lanes, thread="threadIdx.x"):
                        if bx * rpb + ty < r_n:
                            r_body(bx * rpb + ty, tx, row_mask(ty, lanes))

        return rows
    grain = config["serial_below"] if config["parallel"] else -1
    chunk = CPU_ROWS_PER_TASK

    @T.macro
    def parallel_rows(r_n, r_body):
        for c in T.parallel((r_n + chunk - 1) // chunk):
            for i in T.serial(chunk):
                if c * chunk + i < r_n:
                    r_body(c * chunk + i, 0, NO_MASK)

    @T.macro
    def rows(r_n, r_work, r_body):
        if grain == 0:
            parallel_rows(r_n, r_body)
        elif grain < 0:
            for v in T.serial(r_n):
                r_body(v, 0, NO_MASK)
        elif r_work >= T.int64(grain):
            parallel_rows(r_n, r_body)
        else:
            for v in T.serial(r_n):
                r_body(v, 0, NO_MASK)

    return rows


def sequence(steps: Sequence[Any]) -> Any:
    """One macro ``(a, b, c)`` running ``steps`` (macros of the same three parameters) in order."""
    head, *rest = steps
    if not rest:
        return head
    tail = sequence(rest)

    @T.macro
    def both(a, b, c):
        head(a, b, c)
        tail(a, b, c)

    return both


def bucket_units(cuda: bool, config: dict[str, Any]):
    """Skeleton over work units stored bucket by bucket (ELL buckets of a degree-bucketed layout):
    ``run(bucket_ptr, total, work, bodies)`` is a macro calling ``bodies[b](i, lane, mask)`` for the
    ``i``-th unit of bucket ``b`` (bucket ``b`` holds units ``bucket_ptr[b]:bucket_ptr[b+1]`` of ``total``).

    CUDA: all buckets in one launch; blocks are dealt to the buckets in order, each bucket starting on a
    block of its own, so every block runs one bucket's (fixed-width) body. CPU: one pass per bucket,
    each split across the thread pool like ``sparse_rows``.
    """
    rows = sparse_rows(cuda, config)

    def run(bucket_ptr, total, r_work, bodies):
        counts = [bucket_ptr[b + 1] - bucket_ptr[b] for b in range(len(bodies))]
        if not cuda:
            def on_cpu(body, count):
                @T.macro
                def step(a, b, c):
                    rows(count, r_work, body)

                return step

            everything = sequence([on_cpu(body, count) for body, count in zip(bodies, counts)])

            @T.macro
            def run_cpu():
                everything(0, 0, 0)

            return run_cpu
        rpb, lanes = config["rows_per_block"], config["lanes"]
        starts = [0]
        for count in counts:
            starts.append(starts[-1] + (count + rpb - 1) // rpb)

        def on_gpu(body, count, first, last):
            @T.macro
            def step(bx, ty, tx):
                if bx >= first:
                    if bx < last:
                        if (bx - first) * rpb + ty < count:
                            body((bx - first) * rpb + ty, tx, row_mask(ty, lanes))

            return step

        dispatch = sequence([on_gpu(body, count, starts[b], starts[b + 1])
                              for b, (body, count) in enumerate(zip(bodies, counts))])

        @T.macro
        def run_gpu():
            # at most ceil(total / rpb) + (one partial block per bucket) blocks have work
            for bx in T.thread_binding((total + rpb - 1) // rpb + len(bodies), thread="blockIdx.x"):
                for ty in T.thread_binding(rpb, thread="threadIdx.y"):
                    for tx in T.thread_binding(lanes, thread="threadIdx.x"):
                        dispatch(bx, ty, tx)

        return run_gpu

    return run


def feature_tiles(unit: Any, width: int, feat_tile: int) -> Any:
    """``body(i, lane, mask)`` calling the macro ``unit(i, lane, mask, f0, extent)`` for each tile of at most
    ``feat_tile`` of ``width`` features (a shorter last one): one pass over a row's edges per tile."""
    tile = min(feat_tile, width)
    n_full, rem = divmod(width, tile)

    @T.macro
    def body(i, lane, mask):
        for ft in range(n_full):
            unit(i, lane, mask, ft * tile, tile)
        if rem > 0:
            unit(i, lane, mask, n_full * tile, rem)

    return body


def work(edges, per_edge: int):
    """Edges x per-edge items, in int64 (the run-time size of a sparse kernel's job)."""
    return T.Cast("int64", edges) * T.int64(per_edge)


def lane_guard(lanes: int, j, lane, extent: int):
    """Bounds check of a thread's ``j``-th lane-strided item (statically true when lanes divide extent)."""
    return True if extent % lanes == 0 else j * lanes + lane < extent


def shape_token(t) -> str:
    """``16x7`` for a ``[16, 7]`` tensor, ``s`` for a scalar."""
    return "x".join(str(d) for d in t.shape) or "s"


def lane_loop(cuda: bool, vectorize: bool):
    """Loop kind over one thread's share of a feature tile."""
    if cuda:
        return T.unroll
    return T.vectorized if vectorize else T.serial


# Bytes a software prefetch brings in: one cache line.
CACHE_LINE = 64
# Lines of a row prefetched at most: the hardware's stream prefetcher follows a long row once its first
# lines are read, and prefetching all 32 lines of SDDMM's 2 KiB rows (F=512) made it 15-30% slower.
PREFETCH_LINES = 8


def halving_sum(parts: int):
    """Macro ``(acc, q)`` adding ``acc[q, 0:parts]`` (a power of two) into ``acc[q, 0]`` in log2(parts)
    vector adds, each half as wide as the last; a serial sum would be ``parts`` dependent adds."""
    if parts == 1:
        @T.macro
        def done(acc, q):
            T.evaluate(0)

        return done
    half = parts // 2
    rest = halving_sum(half)

    @T.macro
    def step(acc, q):
        for p in T.vectorized(half):
            acc[q, p] = acc[q, p] + acc[q, p + half]
        rest(acc, q)

    return step


def gather_prefetch(cuda: bool, config: dict[str, Any], dtype: str, at_least: int = 1):
    """Macro ``(rows, row_at, e, last, f0, extent)`` that asks the CPU for the source row a walk will
    gather ``distance`` positions after ``e``: the cache lines of ``rows[row_at(p), f0:f0 + extent]``
    with ``p = min(e + distance, last)``, or (CUDA, or ``prefetch`` 0) nothing.

    The gathered row indices are data, so no hardware prefetcher sees them coming, and the
    out-of-order core alone keeps only a few row misses in flight: on ogbn_arxiv's random rows the
    kernels waited on one miss after another. ``prefetch`` is how far ahead in bytes of rows;
    ``distance`` is that over the tile's row bytes; under ``at_least`` positions (a walk that takes
    several edges at once passes their count: it loads those itself) there is no prefetch. A prefetch
    never faults, and ``last`` keeps the index load inside the positions.
    """
    ahead = 0 if cuda else config.get("prefetch", 0)
    elem_bytes = tvm.DataType(dtype).bits // 8

    def distance(extent: int) -> int:
        return ahead // (extent * elem_bytes)

    step = CACHE_LINE // elem_bytes

    def lines(extent: int) -> int:
        # offsets min(l * step, extent - 1): a line's worth apart, and the tile's last element when it
        # ends mid-line (a row need not start on a line); at most PREFETCH_LINES of them; none when
        # the distance would not reach past the edges the walk loads itself
        if distance(extent) < at_least:
            return 0
        return min(PREFETCH_LINES, ceildiv(extent, step) + int(extent % step != 0))

    if not ahead:
        @T.macro
        def off(rows, row_at, e, last, f0, extent):
            T.evaluate(0)

        return off

    @T.macro
    def fetch(rows, row_at, e, last, f0, extent):
        for ln in T.unroll(lines(extent)):
            T.evaluate(T.call_llvm_intrin(
                "void", "llvm.prefetch.p0",
                T.address_of(rows[row_at(T.min(e + distance(extent), last)), f0 + T.min(ln * step, extent - 1)]),
                T.uint32(0), T.uint32(3), T.uint32(1)))  # read, keep in all cache levels, data

    return fetch


def flat(cuda: bool, config: dict[str, Any], total: int):
    """Skeleton over ``total`` independent items (a static count): ``loop(body)`` calls ``body(i)``.

    CUDA: one item per thread. CPU: the thread pool splits packets of ``vector`` items, each a
    vectorised loop (serially when ``total`` is under ``serial_below``); the remainder runs after.
    """
    if cuda:
        threads = config["threads"]
        blocks = max(1, ceildiv(total, threads))

        @T.macro
        def loop(l_body):
            for bx in T.thread_binding(blocks, thread="blockIdx.x"):
                for tx in T.thread_binding(threads, thread="threadIdx.x"):
                    if bx * threads + tx < total:
                        l_body(bx * threads + tx)

        return loop
    outer = T.parallel if config["parallel"] and total >= config["serial_below"] else T.serial
    vec = config.get("vector", 1)
    inner = T.vectorized if vec > 1 else T.serial
    packets, rest = divmod(total, vec)

    @T.macro
    def loop(l_body):
        for p in outer(packets):
            for k in inner(vec):
                l_body(p * vec + k)
        if rest > 0:
            for k in T.serial(rest):
                l_body(packets * vec + k)

    return loop


def _f(value: float) -> Any:
    return tvm.tirx.const(value, FP32)


def is_nan(x):
    """Whether float32 ``x`` is NaN, from its bits (exponent all ones, mantissa not zero).

    ``T.isnan`` is a call TVM cannot vectorise: a vectorised loop holding one (a relu, a max)
    was scalarised whole. ``x != x`` would vectorise, but TVM's simplifier folds it to false.
    Other float widths keep ``T.isnan``; integers are never NaN.
    """
    dtype = str(x.ty)
    if dtype == FP32:
        return T.reinterpret("int32", x) & 0x7FFFFFFF > 0x7F800000
    if dtype.startswith(("float", "bfloat")):
        return T.isnan(x)
    return tvm.tirx.const(False, "bool")


def nan_max(a, b):
    """``torch.maximum``: NaN when either operand is NaN (``T.max`` lowers to a compare that drops it)."""
    return T.Select(T.Or(is_nan(a), a > b), a, b)


def nan_min(a, b):
    """``torch.minimum``, NaN-propagating like ``nan_max``."""
    return T.Select(T.Or(is_nan(a), a < b), a, b)


# Cephes' expf: exp(x) = 2^n * exp(r), r = x - n ln2 in [-ln2/2, ln2/2], ln2 split in two for precision
_LOG2E = 1.44269504088896341
_LN2_HI, _LN2_LO = 0.693359375, -2.12194440e-4
_EXP_POLY = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)
_EXP_MIN, _EXP_MAX = -87.33654475, 88.72283905  # below: under FLT_MIN, 0; above: over FLT_MAX, inf


def fast_exp(x):
    """``exp(x)`` in float32 arithmetic that LLVM vectorises (Cephes' ``expf``, about 1 ulp).

    ``T.exp`` lowers to a call of libm's ``expf`` per element on CPU, which no vector loop can
    contain: in the attention kernel the calls took most of the time. NaN stays NaN, results under
    ``FLT_MIN`` flush to 0 and over ``FLT_MAX`` give inf. For CPU kernels; CUDA's ``expf`` is fast.
    """
    xc = T.max(T.min(x, _f(_EXP_MAX)), _f(_EXP_MIN))
    n = T.floor(xc * _f(_LOG2E) + _f(0.5))
    r = xc - n * _f(_LN2_HI) - n * _f(_LN2_LO)
    poly = _f(_EXP_POLY[0])
    for coef in _EXP_POLY[1:]:
        poly = poly * r + _f(coef)
    er = poly * r * r + r + _f(1.0)
    # 2^n from its exponent bits; n = 128 (x near _EXP_MAX) has none, so it is 2^127 * 2
    ni = T.Cast("int32", n)
    two_n = T.reinterpret(FP32, T.shift_left(T.min(ni, 127) + 127, 23))
    y = er * two_n * T.Select(ni > 127, _f(2.0), _f(1.0))
    y = T.Select(x < _f(_EXP_MIN), _f(0.0), T.Select(x > _f(_EXP_MAX), _f(float("inf")), y))
    return T.Select(is_nan(x), x, y)


def exp_of(cuda: bool) -> Callable[[Any], Any]:
    """The target's ``exp``: CUDA's ``expf``, or ``fast_exp`` on CPU."""
    return T.exp if cuda else fast_exp


def _sigmoid(x, exp):
    return _f(1.0) / (_f(1.0) + exp(-x))


# elementwise activations as rules of (x, alpha, exp), ``exp`` the target's (see ``unary``)
_UNARY_RULES: dict[str, Callable[[Any, float, Callable[[Any], Any]], Any]] = {
    "relu": lambda x, a, exp: nan_max(x, _f(0.0)),  # relu(NaN) = NaN, as torch
    "leaky_relu": lambda x, a, exp: T.Select(x > _f(0.0), x, x * _f(a)),
    "elu": lambda x, a, exp: T.Select(x > _f(0.0), x, _f(a) * (exp(x) - _f(1.0))),
    "sigmoid": lambda x, a, exp: _sigmoid(x, exp),
    "tanh": lambda x, a, exp: T.tanh(x),
    "exp": lambda x, a, exp: exp(x),
    "log": lambda x, a, exp: T.log(x),
    "neg": lambda x, a, exp: -x,
    "abs": lambda x, a, exp: T.abs(x),
    "rsqrt_or_zero": lambda x, a, exp: T.Select(x > _f(0.0), T.rsqrt(T.max(x, _f(1e-38))), _f(0.0)),
    # torch's default threshold: linear above 20
    "softplus": lambda x, a, exp: T.Select(x > _f(20.0), x, T.log1p(exp(x))),
    "gelu": lambda x, a, exp: _f(0.5) * x * (_f(1.0) + T.erf(x * _f(0.7071067811865476))),
    "silu": lambda x, a, exp: x * _sigmoid(x, exp),
    "sqrt": lambda x, a, exp: T.sqrt(x),
    "square": lambda x, a, exp: x * x,
    "step": lambda x, a, exp: T.Select(x > _f(0.0), _f(1.0), _f(0.0)),  # 1 where x > 0, else 0 (NaN too)
}
UNARY_NAMES = frozenset(_UNARY_RULES)


def unary(op: str, cuda: bool) -> Callable[[Any, float], Any]:
    """Activation ``op`` as ``f(x, alpha)`` for a CUDA or CPU kernel."""
    rule, exp = _UNARY_RULES[op], exp_of(cuda)
    return lambda x, a: rule(x, a, exp)


BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "maximum": nan_max,
    "minimum": nan_min,
}


@dataclass(frozen=True)
class Reducer:
    """A reduction as three scalar rules; ``finish(acc, count, dtype)`` sees the number of reduced items."""

    init: Callable[[str], Any]
    combine: Callable[[Any, Any], Any]
    finish: Callable[[Any, Any, str], Any]


def _count(n):
    return T.Cast(FP32, n)


REDUCERS = {
    "sum": Reducer(lambda dt: tvm.tirx.const(0, dt), lambda a, b: a + b, lambda acc, n, dt: acc),
    "mean": Reducer(
        lambda dt: tvm.tirx.const(0, dt), lambda a, b: a + b,
        lambda acc, n, dt: acc / T.max(_count(n), _f(1.0)),
    ),
    # rows with nothing to reduce give 0 (PyG's convention); NaN and -inf propagate as scatter_reduce amax
    "max": Reducer(
        lambda dt: tvm.tirx.const(float("-inf"), dt) if dt.startswith("float") else tvm.tirx.min_value(dt), nan_max,
        lambda acc, n, dt: T.Select(n > 0, acc, tvm.tirx.const(0, dt)),
    ),
}


def kernel_func(name: str, buffers: Sequence[tuple[str, tuple[int | str, ...], str]], sizes: Sequence[str],
                size_dtype: str, launch: Callable[..., Any],
                workspace: Sequence[tuple[str, tuple[int | str, ...], str]] = ()) -> Any:
    """A PrimFunc taking one buffer per entry of ``buffers`` (``(name, shape, dtype)``, in order).

    The signature is generated, so one template can build variants with any number of operands
    (epilogue operands of fused ops). Shape entries are ints or expressions over ``sizes``, the
    symbolic sizes (of ``size_dtype``) that the buffers share. ``workspace`` buffers (same form) are
    allocated inside the function (global memory: TVM's workspace pool on the device).
    ``launch(*buffers, *workspace)`` returns the macro that makes the function's body.
    """
    lines = [
        "@T.prim_func",
        f"def kernel({', '.join(f'a_{b}: T.handle' for b, _, _ in buffers)}):",
        f"    T.func_attr({{'global_symbol': {name!r}, 'tir.noalias': True}})",
        *(f"    {s} = size()" for s in sizes),
        *(f"    {b} = T.match_buffer(a_{b}, ({''.join(f'{d}, ' for d in shape)}), {dtype!r}, align={ALIGN})"
          for b, shape, dtype in buffers),
        *(f"    {b} = T.alloc_buffer(({''.join(f'{d}, ' for d in shape)}), {dtype!r})"
          for b, shape, dtype in workspace),
        f"    launch({', '.join(b for b, _, _ in [*buffers, *workspace])})()",
    ]
    return tvm.script.from_source("\n".join(lines), extra_vars={"T": T, "size": size_var(size_dtype),
                                                                 "launch": launch})


def spec_epilogue(spec: Any) -> list[EpilogueStep]:
    """The parsed ``epilogue`` attribute of a kernel spec (none for ops without one)."""
    return parse_epilogue(dict(spec.attrs).get("epilogue", ()))


def epilogue_buffers(steps: Sequence[EpilogueStep], width: int, operands: Sequence[Any] = (),
                     rows: int | str = "n") -> list[tuple[str, tuple[int | str, ...], str]]:
    """Kernel parameters of a fused op's epilogue operands, for an output of ``[rows, width]``
    (``rows`` a size name of a sparse kernel's signature, or a dense kernel's number).

    ``operands`` (their ``TensorSpec``s) is needed only for ``node@col`` steps, whose operand is
    wider than the output."""
    binary = [s for s in steps if s.kind is not None]

    def shape(i: int, step: EpilogueStep) -> tuple[int | str, ...]:
        if step.col is not None:
            return (rows, operands[i].width)
        return epilogue_operand_shape(step.kind, rows, width)

    return [(f"epi{i}", shape(i, st), FP32) for i, st in enumerate(binary)]


def epilogue(steps: Sequence[EpilogueStep], operands: Sequence[Any], cuda: bool) -> Callable[[Any, Any, Any], Any]:
    """``apply(value, v, f)``: the epilogue steps applied to output element ``(v, f)``'s value."""

    def apply(value, v, f):
        rest = iter(operands)
        for s in steps:
            if s.kind is None:
                value = unary(s.op, cuda)(value, s.alpha or 0.0)
            else:
                row = 0 if s.kind in ("scalar", "feat") else v
                col = 0 if s.kind in ("scalar", "row") else f + (s.col or 0)
                value = BINARY[s.op](value, next(rest)[row, col])
        return value

    return apply


def epilogue_tokens(steps: Sequence[EpilogueStep]) -> list[str]:
    """Kernel-name tokens of an epilogue, e.g. ``["add_f", "relu"]`` (C identifiers)."""
    return [f"{s.op}_{s.kind[0]}{'' if s.col is None else s.col}" if s.kind else s.op for s in steps]
