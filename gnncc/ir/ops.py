"""The op set of the GNN IR, with attribute schemas and shape/dtype inference.

Every op is registered once in ``OPS``. An op belongs to a *family*; codegen
has one kernel template per family (all unary activations share one
elementwise template, for instance).

Edge-indexed semantics, for an adjacency ``A`` with edges ``e = (src[e], dst[e])``
grouped by destination:

- ``gather(x, A, end)``: ``out[e] = x[src[e]]`` (``end="src"``) or ``x[dst[e]]``.
- ``scatter(m, A, reduce)``: ``out[v] = reduce_{e: dst[e]=v} m[e]``; rows without
  edges are 0 (PyG's convention for sum, mean and max).
- ``spmm(A, x[, w], reduce)``: ``out[v] = reduce_{e: dst[e]=v} w[e] * x[src[e]]``; ``w``
  is ``[nnz]`` or ``[nnz, H]`` (one weight per head for ``x`` of ``[N, H, C]``).
- ``sddmm(A, a, b, op)``: ``op="add"``: ``out[e] = a[src[e]] + b[dst[e]]``;
  ``op="dot"``: ``out[e] = sum_k a[src[e], ..., k] * b[dst[e], ..., k]``.
- ``edge_softmax(A, s)``: softmax of ``s`` over the in-edges of each destination.

Fused ops, formed by passes (never by frontends):

- ``fused_spmm(A, x[, w], *epilogue_operands, reduce, epilogue, x_cols)``: ``spmm`` whose aggregated
  rows go through the ``epilogue`` steps (bias, activation, scaling, residual) before being stored;
  with ``x_cols = (start, stop)`` it aggregates only those columns of ``x``.
- ``attention_spmm(A, ...)``: GAT/GATv2 attention in one kernel: per-edge scores, leaky_relu,
  an online softmax per destination and the weighted sum of source rows, heads concatenated or
  averaged, optionally followed by an epilogue; no ``[E, H]`` or ``[E, H, C]`` tensor exists.
- ``fused_matmul(x, W, *epilogue_operands, epilogue)``: ``matmul`` whose ``[M, N]`` result goes
  through the ``epilogue`` steps before being stored (a Linear's bias and activation).
- ``spmm_matmul(A, x[, w], *epilogue_operands, W, reduce, weighted, epilogue, tile_rows)``:
  ``fused_spmm(...) @ W`` as one kernel (tile-graph scheduling): ``tile_rows`` aggregated rows stay
  in on-chip memory (CUDA shared memory, a CPU cache-resident tile) and are transformed there, so
  the ``[N, F]`` aggregate never goes to DRAM.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gnncc.errors import IRError
from gnncc.ir.types import AdjType, Dim, IRType, TensorType

FLOAT = "float32"

# Scalar expression of each unary activation; shared by the interpreter's docs
# and by the elementwise kernel template.
UNARY_OPS = (
    "relu", "leaky_relu", "elu", "sigmoid", "tanh", "exp", "log", "neg", "abs",
    "rsqrt_or_zero", "softplus", "gelu", "silu", "sqrt", "step", "square",
)
BINARY_OPS = ("add", "sub", "mul", "div", "maximum", "minimum")
REDUCE_KINDS = ("sum", "mean", "max")


@dataclass(frozen=True)
class OpDef:
    """Schema of one op: its family, operand count and attribute defaults."""

    name: str
    family: str
    infer: Callable[[list[IRType], dict[str, Any]], IRType]
    num_inputs: int | None  # None: variadic (at least one)
    attrs: dict[str, Any] = field(default_factory=dict)  # attr name -> default (REQUIRED if none)


REQUIRED = object()
OPS: dict[str, OpDef] = {}


def _register(op_name: str, family: str, num_inputs: int | None, infer, **attrs) -> None:
    OPS[op_name] = OpDef(op_name, family, infer, num_inputs, dict(attrs))


def _fail(op: str, msg: str) -> IRError:
    return IRError(f"{op}: {msg}")


def _tensor(op: str, t: IRType, what: str) -> TensorType:
    if not isinstance(t, TensorType):
        raise _fail(op, f"{what} must be a tensor, got {t}")
    return t


def _adj(op: str, t: IRType, what: str = "adjacency") -> AdjType:
    if not isinstance(t, AdjType):
        raise _fail(op, f"{what} must be an adjacency, got {t}")
    return t


def _float(op: str, t: TensorType, what: str) -> None:
    if t.dtype != FLOAT:
        raise _fail(op, f"{what} must be float32, got {t}")


def _same_dim(a: Dim, b: Dim) -> bool:
    return a == b or isinstance(a, str) or isinstance(b, str)


def _axis(op: str, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise _fail(op, f"axis {axis} out of range for rank {rank}")
    return axis % rank


def broadcast_shapes(op: str, a: tuple[Dim, ...], b: tuple[Dim, ...]) -> tuple[Dim, ...]:
    """NumPy broadcasting of two shapes (trailing dimensions aligned)."""
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    out: list[Dim] = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise _fail(op, f"shapes {list(a)} and {list(b)} do not broadcast")
    return tuple(out)


# --- sources ---------------------------------------------------------------

def _infer_given(types, attrs):
    return attrs["type"]


_register("input", "source", 0, _infer_given, name=REQUIRED, type=REQUIRED)
_register("const", "source", 0, _infer_given, name=REQUIRED, type=REQUIRED)
_register("graph.adj", "source", 0, _infer_given, type=REQUIRED)


# --- graph-only ops (folded per graph) --------------------------------------

def _self_loops_infer(name):
    def infer(types, attrs):
        a = _adj(name, types[0])
        if a.num_src != a.num_dst:
            raise _fail(name, f"needs a square adjacency, got {a}")
        return AdjType(a.num_src, a.num_dst, attrs["nnz_symbol"])

    return infer


def _infer_edge_full(types, attrs):
    a = _adj("graph.edge_full", types[0])
    return TensorType((a.nnz,), FLOAT)


def _infer_degree(types, attrs):
    a = _adj("graph.degree", types[0])
    if attrs["end"] not in ("src", "dst"):
        raise _fail("graph.degree", f"end must be 'src' or 'dst', got {attrs['end']!r}")
    if len(types) not in (1, 2):
        raise _fail("graph.degree", f"expects (adj[, edge weights]), got {len(types)} operands")
    if len(types) == 2:
        w = _tensor("graph.degree", types[1], "edge weights")
        if w.rank != 1 or not _same_dim(w.shape[0], a.nnz):
            raise _fail("graph.degree", f"edge weights {w} must be [{a.nnz}]")
    return TensorType((a.num_src if attrs["end"] == "src" else a.num_dst,), FLOAT)


def _infer_edge_attr(types, attrs):
    a = _adj("graph.edge_attr", types[0])
    width, dtype = attrs["width"], attrs["dtype"]
    if width is not None and (not isinstance(width, int) or width < 1):
        raise _fail("graph.edge_attr", f"width must be None (edge weights [E]) or a positive int, got {width!r}")
    if dtype not in (FLOAT, "int64") or dtype == "int64" and width is not None:
        raise _fail("graph.edge_attr", f"dtype must be {FLOAT} (edge data) or int64 (edge types [E]), got "
                                       f"{dtype!r} with width {width!r}")
    return TensorType((a.nnz,) if width is None else (a.nnz, width), dtype)


RELATION_SPLITS = ("src", "dst", "both")


def _infer_relation_adj(types, attrs):
    op = "graph.relation_adj"
    a = _adj(op, types[0])
    t = _tensor(op, types[1], "edge types")
    if t.rank != 1 or t.dtype != "int64" or not _same_dim(t.shape[0], a.nnz):
        raise _fail(op, f"edge types {t} must be i64[{a.nnz}], one relation per edge of {a}")
    total, first, count, split = attrs["num_relations"], attrs["first"], attrs["count"], attrs["split"]
    if count is None and all(isinstance(v, int) for v in (total, first)):
        count = total - first
    if any(isinstance(v, bool) or not isinstance(v, int) for v in (total, first, count)) \
            or not (total >= 1 and count >= 1 and 0 <= first and first + count <= total):
        raise _fail(op, f"relations [first, first + count) = [{first}, {first}+{count}) must lie in "
                        f"[0, num_relations={total})")
    if split not in RELATION_SPLITS:
        raise _fail(op, f"split must be one of {RELATION_SPLITS}, got {split!r}")
    if split == "src" and count == total:  # every edge, in the same order: edge tensors of ``adj`` still apply
        return AdjType(a.num_src * count, a.num_dst, a.nnz)
    if not isinstance(attrs["nnz_symbol"], str):
        raise _fail(op, f"split {split!r} of relations [{first}, {first + count}) keeps or orders the edges "
                        "differently and needs an nnz_symbol")
    return AdjType(a.num_src * (1 if split == "dst" else count), a.num_dst * (1 if split == "src" else count),
                   attrs["nnz_symbol"])


def _infer_relation_degree(types, attrs):
    a = _adj("graph.relation_degree", types[0])
    r = attrs["num_relations"]
    if isinstance(r, bool) or not isinstance(r, int) or r < 1 or a.num_src % r:
        raise _fail("graph.relation_degree", f"num_relations {r!r} must be a positive int dividing the "
                                             f"sources of {a} (a relation_adj split on its sources)")
    return TensorType((a.nnz,), FLOAT)


_LOOP_FILLS = ("mean", "sum", "max", "min")


def _infer_loop_values(types, attrs):
    values = _tensor("graph.self_loop_values", types[0], "values")
    adj = _adj("graph.self_loop_values", types[1])
    looped = _adj("graph.self_loop_values", types[2], "adjacency with self-loops")
    fill = attrs["fill"]
    if isinstance(fill, str) and fill not in _LOOP_FILLS or isinstance(fill, bool) or not isinstance(
            fill, (str, int, float)):
        raise _fail("graph.self_loop_values", f"fill must be a number or one of {_LOOP_FILLS}, got {fill!r}")
    if values.rank == 0 or not _same_dim(values.shape[0], adj.nnz):
        raise _fail("graph.self_loop_values", f"values {values} do not have one row per edge of {adj}")
    if attrs["reuse_existing"] and attrs["keep_existing"]:
        raise _fail("graph.self_loop_values", "reuse_existing replaces existing loops; keep_existing keeps them")
    return TensorType((looped.nnz, *values.shape[1:]), values.dtype)


def _infer_loop_free_values(types, attrs):
    values = _tensor("graph.loop_free_values", types[0], "values")
    adj = _adj("graph.loop_free_values", types[1])
    loop_free = _adj("graph.loop_free_values", types[2], "adjacency without self-loops")
    if values.rank == 0 or not _same_dim(values.shape[0], adj.nnz):
        raise _fail("graph.loop_free_values", f"values {values} do not have one row per edge of {adj}")
    return TensorType((loop_free.nnz, *values.shape[1:]), values.dtype)


_register("graph.add_self_loops", "graph", 1, _self_loops_infer("graph.add_self_loops"), nnz_symbol=REQUIRED,
          keep_existing=False)
_register("graph.remove_self_loops", "graph", 1, _self_loops_infer("graph.remove_self_loops"), nnz_symbol=REQUIRED)
_register("graph.edge_full", "graph", 1, _infer_edge_full, value=1.0)
# the graph's own edge data (``Graph.edge_attr``), in the order of the graph's adjacency
_register("graph.edge_attr", "graph", 1, _infer_edge_attr, width=None, dtype=FLOAT)
# inputs (adj, edge types): the edges of the ``count`` relations from ``first`` (all by default), relation
# r as edges between the node copies u * C + (r - first) -> v * C + (r - first) of a graph C = count times as
# large, on the side(s) ``split`` names (see Adjacency.relation_split); ``src`` over all relations keeps
# the edges and their order, anything else needs a new nnz symbol. Types outside [0, num_relations) fail.
_register("graph.relation_adj", "graph", 2, _infer_relation_adj, num_relations=REQUIRED, split=REQUIRED,
          first=0, count=None, nnz_symbol=None)
# input: a relation_adj split on its sources; per edge, the in-edges of its destination with its relation
# (source id mod num_relations): RGCN's mean as a weight 1 / |N_r(i)|
_register("graph.relation_degree", "graph", 1, _infer_relation_degree, num_relations=REQUIRED)
# edge values carried onto graph.add_self_loops(adj): inputs (values, adj, looped); see
# Adjacency.self_loop_values
_register("graph.self_loop_values", "graph", 3, _infer_loop_values, fill=REQUIRED, reuse_existing=False,
          keep_existing=False)
# edge values carried onto graph.remove_self_loops(adj): inputs (values, adj, loop_free)
_register("graph.loop_free_values", "graph", 3, _infer_loop_free_values)
# with a second operand, edge weights [nnz], the weighted degree
_register("graph.degree", "graph", None, _infer_degree, end="dst")


# --- message passing --------------------------------------------------------

def _infer_gather(types, attrs):
    x = _tensor("gather", types[0], "x")
    a = _adj("gather", types[1])
    end = attrs["end"]
    if end not in ("src", "dst"):
        raise _fail("gather", f"end must be 'src' or 'dst', got {end!r}")
    n = a.num_src if end == "src" else a.num_dst
    if x.rank == 0 or not _same_dim(x.shape[0], n):
        raise _fail("gather", f"x {x} has no leading dimension of {n} {end} nodes")
    return TensorType((a.nnz, *x.shape[1:]), x.dtype)


def _check_reduce(op, reduce):
    if reduce not in REDUCE_KINDS:
        raise _fail(op, f"reduce must be one of {REDUCE_KINDS}, got {reduce!r}")


def _infer_scatter(types, attrs):
    m = _tensor("scatter", types[0], "messages")
    a = _adj("scatter", types[1])
    _check_reduce("scatter", attrs["reduce"])
    if m.rank == 0 or not _same_dim(m.shape[0], a.nnz):
        raise _fail("scatter", f"messages {m} must have a leading dimension of nnz={a.nnz}")
    return TensorType((a.num_dst, *m.shape[1:]), m.dtype)


def _infer_spmm(types, attrs):
    a = _adj("spmm", types[0])
    x = _tensor("spmm", types[1], "x")
    _float("spmm", x, "x")
    _check_reduce("spmm", attrs["reduce"])
    if x.rank not in (2, 3) or not _same_dim(x.shape[0], a.num_src):
        raise _fail("spmm", f"x {x} must be [{a.num_src}, F] or [{a.num_src}, H, C]")
    if len(types) == 3:
        w = _tensor("spmm", types[2], "edge values")
        want = (a.nnz,) if x.rank == 2 else (a.nnz, x.shape[1])
        if w.rank != len(want) or not all(_same_dim(p, q) for p, q in zip(w.shape, want)):
            raise _fail("spmm", f"edge values {w} must be [{', '.join(map(str, want))}] for x {x}")
    return TensorType((a.num_dst, *x.shape[1:]), FLOAT)


def _infer_sddmm(types, attrs):
    a = _adj("sddmm", types[0])
    u = _tensor("sddmm", types[1], "source operand")
    v = _tensor("sddmm", types[2], "destination operand")
    if u.shape[1:] != v.shape[1:] or u.rank not in (1, 2, 3):
        raise _fail("sddmm", f"operands {u} and {v} must agree beyond the node dimension")
    if not _same_dim(u.shape[0], a.num_src) or not _same_dim(v.shape[0], a.num_dst):
        raise _fail("sddmm", f"operands {u}, {v} do not match {a}")
    op = attrs["op"]
    if op in ("add", "mul"):
        return TensorType((a.nnz, *u.shape[1:]), FLOAT)
    if op == "dot":
        if u.rank < 2:
            raise _fail("sddmm", "op 'dot' needs operands with a feature dimension")
        return TensorType((a.nnz, *u.shape[1:-1]), FLOAT)
    raise _fail("sddmm", f"op must be 'add', 'mul' or 'dot', got {op!r}")


def _infer_edge_softmax(types, attrs):
    a = _adj("edge_softmax", types[0])
    s = _tensor("edge_softmax", types[1], "scores")
    if s.rank not in (1, 2) or not _same_dim(s.shape[0], a.nnz):
        raise _fail("edge_softmax", f"scores {s} must be [nnz] or [nnz, H] with nnz={a.nnz}")
    return s


_register("gather", "gather", 2, _infer_gather, end=REQUIRED)
_register("scatter", "scatter", 2, _infer_scatter, reduce="sum")
_register("spmm", "spmm", None, _infer_spmm, reduce="sum")
_register("sddmm", "sddmm", 3, _infer_sddmm, op=REQUIRED)
_register("edge_softmax", "edge_softmax", 2, _infer_edge_softmax)


# --- dense ------------------------------------------------------------------

def _infer_matmul(types, attrs):
    x = _tensor("matmul", types[0], "x")
    w = _tensor("matmul", types[1], "weight")
    if x.rank != 2 or w.rank != 2 or not _same_dim(x.shape[1], w.shape[0]):
        raise _fail("matmul", f"cannot multiply {x} by {w}: need [M, K] x [K, N]")
    return TensorType((x.shape[0], w.shape[1]), FLOAT)


def _infer_unary(types, attrs):
    x = _tensor("unary", types[0], "x")
    return TensorType(x.shape, x.dtype)


def _binary_infer(name):
    def infer(types, attrs):
        a = _tensor(name, types[0], "lhs")
        b = _tensor(name, types[1], "rhs")
        if a.dtype != b.dtype:
            raise _fail(name, f"dtypes differ: {a} vs {b}")
        return TensorType(broadcast_shapes(name, a.shape, b.shape), a.dtype)
    return infer


def _infer_reshape(types, attrs):
    """Like torch: at most one -1, resolved from the element count (or carried through
    a symbolic leading dimension, e.g. ``[E, H] -> [-1, H, 1]``)."""
    x = _tensor("reshape", types[0], "x")
    shape = [int(d) if not isinstance(d, str) else d for d in attrs["shape"]]
    if shape.count(-1) > 1 or any(isinstance(d, int) and d < -1 for d in shape):
        raise _fail("reshape", f"invalid target shape {shape}")
    known = 1
    for d in shape:
        if d != -1:
            if not isinstance(d, int):
                raise _fail("reshape", f"target shape {shape} must use -1, not a symbol")
            known *= d
    if x.is_concrete:
        total = x.numel()
        if -1 in shape:
            if known == 0 or total % known:
                raise _fail("reshape", f"cannot reshape {x} to {shape}")
            shape[shape.index(-1)] = total // known
        if TensorType(tuple(shape)).numel() != total:
            raise _fail("reshape", f"cannot reshape {x} to {shape}")
        return TensorType(tuple(shape), x.dtype)
    rest = TensorType(x.shape[1:])
    if -1 not in shape or not rest.is_concrete or rest.numel() != known:
        raise _fail("reshape", f"cannot reshape {x} to {shape}: use -1 for its symbolic leading dimension")
    shape[shape.index(-1)] = x.shape[0]
    return TensorType(tuple(shape), x.dtype)


def _infer_concat(types, attrs):
    ts = [_tensor("concat", t, f"operand {i}") for i, t in enumerate(types)]
    rank = ts[0].rank
    axis = _axis("concat", attrs["axis"], rank)
    for t in ts[1:]:
        if t.rank != rank or any(
            i != axis and not _same_dim(p, q) for i, (p, q) in enumerate(zip(t.shape, ts[0].shape))
        ):
            raise _fail("concat", f"operands {', '.join(map(str, ts))} disagree off axis {axis}")
    total = 0
    for t in ts:
        if not isinstance(t.shape[axis], int):
            raise _fail("concat", "symbolic concat axis")
        total += t.shape[axis]
    shape = list(ts[0].shape)
    shape[axis] = total
    return TensorType(tuple(shape), ts[0].dtype)


def _infer_reduce(types, attrs):
    x = _tensor("reduce", types[0], "x")
    axis = _axis("reduce", attrs["axis"], x.rank)
    return TensorType(tuple(d for i, d in enumerate(x.shape) if i != axis), x.dtype)


def _infer_reduce_dot(types, attrs):
    x = _tensor("reduce_dot", types[0], "x")
    w = _tensor("reduce_dot", types[1], "weight")
    _float("reduce_dot", x, "x")
    padded = (1,) * (x.rank - w.rank) + tuple(w.shape)
    if x.dtype != w.dtype or w.rank > x.rank or not all(_same_dim(d, 1) or _same_dim(d, e)
                                                        for d, e in zip(padded, x.shape)):
        raise _fail("reduce_dot", f"weight {w} must broadcast to x {x}")
    return _infer_reduce(types[:1], attrs)


def _infer_rowwise(types, attrs):
    x = _tensor("rowwise", types[0], "x")
    _float("rowwise", x, "x")
    if x.rank == 0:
        raise _fail("rowwise", "needs at least one dimension")
    return x


_register("matmul", "matmul", 2, _infer_matmul)
# Only leaky_relu (negative slope) and elu (scale of the negative part) take a parameter.
_UNARY_ALPHA = {"leaky_relu": 0.01, "elu": 1.0}
for _name in UNARY_OPS:
    _register(_name, "elementwise", 1, _infer_unary,
              **({"alpha": _UNARY_ALPHA[_name]} if _name in _UNARY_ALPHA else {}))
for _name in BINARY_OPS:
    _register(_name, "elementwise", 2, _binary_infer(_name))
_register("reshape", "reshape", 1, _infer_reshape, shape=REQUIRED)
_register("concat", "concat", None, _infer_concat, axis=-1)
for _kind in REDUCE_KINDS:
    _register(f"reduce_{_kind}", "reduce", 1, _infer_reduce, axis=-1)
# reduce_dot(x, w): sum over ``axis`` of x * w, w broadcast to x (GAT's per-head attention
# projections, formed by passes/fuse_dot.py so that the product never exists)
_register("reduce_dot", "reduce", 2, _infer_reduce_dot, axis=-1)
# Row-wise ops act on the last axis.
_register("softmax", "rowwise", 1, _infer_rowwise)
_register("log_softmax", "rowwise", 1, _infer_rowwise)
_register("l2_normalize", "rowwise", 1, _infer_rowwise, eps=1e-12)


# --- fused aggregation (formed by passes, never by frontends) -----------------
#
# An *epilogue* is a list of steps applied to each aggregated row before it is stored, so
# bias, activation, normalisation and residual adds need no separate kernel or buffer.
# A step is a unary op (``"relu"``, ``"leaky_relu[0.2]"``: alpha in brackets) or a binary
# op with the running value on the left and the next extra operand on the right, with the
# operand's broadcast kind in brackets: ``scalar`` ``[1, 1]``, ``feat`` ``[1, W]`` (per
# feature, e.g. a bias), ``row`` ``[N, 1]`` (per node, e.g. a degree scale) or ``node``
# ``[N, W]`` (e.g. a residual), for an output of ``[N, W]``. ``node@C`` reads columns ``C..C+W`` of a
# wider ``[N, S]`` operand (one output of several that a merged matmul wrote side by side).

EPILOGUE_KINDS = ("scalar", "feat", "row", "node")


@dataclass(frozen=True)
class EpilogueStep:
    """One parsed epilogue step: ``op`` with ``alpha`` (unary) or operand ``kind`` (binary)."""

    op: str
    alpha: float | None = None
    kind: str | None = None
    col: int | None = None  # ``node@col``: the first of the operand's columns that the step reads

    def __str__(self) -> str:
        if self.kind is not None:
            return f"{self.op}[{self.kind}{'' if self.col is None else f'@{self.col}'}]"
        return self.op if self.alpha is None else f"{self.op}[{self.alpha!r}]"


def parse_epilogue(steps: list[str] | tuple[str, ...]) -> list[EpilogueStep]:
    """Parse the ``epilogue`` attribute (see the grammar above)."""
    out = []
    for text in steps:
        op, _, arg = str(text).partition("[")
        arg = arg.removesuffix("]")
        kind, at, col = arg.partition("@")
        if op in BINARY_OPS and kind == "node" and at and col.isdigit():
            out.append(EpilogueStep(op, kind=kind, col=int(col)))
        elif op in BINARY_OPS and arg in EPILOGUE_KINDS:
            out.append(EpilogueStep(op, kind=arg))
        elif op in UNARY_OPS and not arg:
            out.append(EpilogueStep(op, alpha=_UNARY_ALPHA.get(op)))
        elif op in _UNARY_ALPHA and arg:
            try:
                out.append(EpilogueStep(op, alpha=float(arg)))
            except ValueError:
                raise IRError(f"epilogue step {text!r}: alpha must be a number") from None
        else:
            raise IRError(f"epilogue step {text!r} is not 'unary', 'unary[alpha]', "
                          f"'binary[{'|'.join(EPILOGUE_KINDS)}]' or 'binary[node@COLUMN]'")
    return out


def epilogue_operand_shape(kind: str, rows: Dim, width: Dim) -> tuple[Dim, Dim]:
    """The 2-D shape an epilogue operand of ``kind`` has for an ``[rows, width]`` output."""
    return {"scalar": (1, 1), "feat": (1, width), "row": (rows, 1), "node": (rows, width)}[kind]


def _check_epilogue(op: str, attrs: dict[str, Any], operands: list[IRType], rows: Dim, width: Dim) -> None:
    steps = [s for s in parse_epilogue(attrs["epilogue"]) if s.kind is not None]
    if len(steps) != len(operands):
        raise _fail(op, f"epilogue {list(attrs['epilogue'])} takes {len(steps)} operand(s), got {len(operands)}")
    for i, (step, t) in enumerate(zip(steps, operands)):
        t = _tensor(op, t, f"epilogue operand {i}")
        _float(op, t, f"epilogue operand {i}")
        want = epilogue_operand_shape(step.kind, rows, width)
        if step.col is not None:  # node@col: columns col..col+width of a wider operand
            if t.rank == 2 and _same_dim(t.shape[0], rows) and isinstance(t.shape[1], int) \
                    and isinstance(width, int) and step.col + width <= t.shape[1]:
                continue
            raise _fail(op, f"epilogue operand {i} (node@{step.col}) {t} must be [{rows}, S] with "
                            f"S >= {step.col} + {width}")
        if t.rank != 2 or not all(_same_dim(p, q) for p, q in zip(t.shape, want)):
            raise _fail(op, f"epilogue operand {i} ({step.kind}) {t} must be [{want[0]}, {want[1]}]")


def window_type(x: TensorType, cols: tuple[int, ...] | list[int]) -> TensorType:
    """``x`` of ``[N, S]`` seen through ``x_cols = (start, stop)``: ``[N, stop - start]`` (no window:
    ``x`` itself)."""
    if not cols:
        return x
    if len(cols) != 2 or x.rank != 2 or not isinstance(x.shape[1], int) \
            or not 0 <= cols[0] < cols[1] <= x.shape[1]:
        raise _fail("fused_spmm", f"x_cols {list(cols)} must be [start, stop) within the columns of x {x}")
    return TensorType((x.shape[0], cols[1] - cols[0]), x.dtype)


def fused_spmm_epilogue_start(attrs: dict[str, Any]) -> int:
    """Where ``fused_spmm``'s (and ``spmm_matmul``'s) epilogue operands start: after (adj, x[, edge values]
    [, destination rows])."""
    return 2 + int(bool(attrs["weighted"])) + int(bool(attrs.get("dst_op")))


def _check_message(op: str, attrs: dict[str, Any]) -> None:
    """``edge_op`` (how edge values meet a source row), ``dst_op`` (how a destination-row operand meets the
    message) and ``message_act`` (an activation of the message)."""
    if attrs.get("edge_op", "mul") not in ("mul", "add"):
        raise _fail(op, f"edge_op must be 'mul' or 'add', got {attrs['edge_op']!r}")
    if attrs.get("edge_op") == "add" and not attrs["weighted"]:
        raise _fail(op, "edge_op 'add' needs edge values (weighted=True)")
    if attrs.get("dst_op", "") not in ("", "sub"):
        raise _fail(op, f"dst_op must be '' (no destination-row operand) or 'sub', got {attrs['dst_op']!r}")
    act = attrs.get("message_act", "")
    if act and parse_epilogue([act])[0].kind is not None:  # one step per string; a binary one has a kind
        raise _fail(op, f"message_act must be a unary step such as 'relu' or 'leaky_relu[0.2]', got {act!r}")


def _infer_fused_spmm(types, attrs):
    n_agg = fused_spmm_epilogue_start(attrs)
    if len(types) < n_agg:
        raise _fail("fused_spmm", f"expects (adj, x{', edge_values' if attrs['weighted'] else ''}"
                                  f"{', destination_rows' if attrs.get('dst_op') else ''}, epilogue operands...)")
    _check_message("fused_spmm", attrs)
    x = window_type(_tensor("fused_spmm", types[1], "x"), attrs.get("x_cols", ()))
    if attrs.get("edge_op") == "add":  # message x[src] + w[e]: one value per edge and feature
        a, w = _adj("fused_spmm", types[0]), _tensor("fused_spmm", types[2], "edge values")
        if x.rank != 2 or w.rank != 2 or not _same_dim(w.shape[0], a.nnz) or not _same_dim(w.shape[1], x.shape[1]):
            raise _fail("fused_spmm", f"edge values {w} must be [{a.nnz}, F] for x {x} with edge_op 'add'")
        out = _infer_spmm([types[0], x], attrs)
    else:
        out = _infer_spmm([types[0], x, *types[2:2 + int(bool(attrs["weighted"]))]], attrs)
    if out.rank != 2:
        raise _fail("fused_spmm", f"needs x of [N, F], got {types[1]}")
    if attrs.get("dst_op"):  # message (x[src] edge_op w[e]) - d[dst]: one row per destination, as wide as out
        d = _tensor("fused_spmm", types[n_agg - 1], "destination rows")
        _float("fused_spmm", d, "destination rows")
        if d.rank != 2 or not all(_same_dim(p, q) for p, q in zip(d.shape, out.shape)):
            raise _fail("fused_spmm", f"destination rows {d} must be [{out.shape[0]}, {out.shape[1]}] (one row per "
                                      f"destination node, as wide as the aggregate) with dst_op {attrs['dst_op']!r}")
    _check_epilogue("fused_spmm", attrs, types[n_agg:], *out.shape)
    return out


def attention_epilogue_start(attrs: dict[str, Any]) -> int:
    """Where ``attention_spmm``'s epilogue operands start: after (adj, x, p, q[, edge_bias])."""
    return 5 if attrs.get("edge_bias") else 4


def _infer_attention_spmm(types, attrs):
    op = "attention_spmm"
    start = attention_epilogue_start(attrs)
    if len(types) < start:
        raise _fail(op, f"expects (adj, x, p, q{', bias' if start == 5 else ''}, epilogue operands...)")
    a = _adj(op, types[0])
    x, p, q = (_tensor(op, t, w) for t, w in zip(types[1:4], ("x", "p", "q")))
    if x.rank != 3 or not _same_dim(x.shape[0], a.num_src):
        raise _fail(op, f"x {x} must be [{a.num_src}, H, C]")
    heads = x.shape[1:]
    if attrs["score"] == "gat":  # s[e, h] = p[src, h] + q[dst, h]
        want_p, want_q = (a.num_src, heads[0]), (a.num_dst, heads[0])
    elif attrs["score"] == "gatv2":  # s[e, h] = sum_c q[0, h, c] * leaky_relu(x[src, h, c] + p[dst, h, c])
        want_p, want_q = (a.num_dst, *heads), (1, *heads)
    elif attrs["score"] == "dot":  # s[e, h] = scale * sum_c p[src, h, c] * q[dst, h, c] (no leaky_relu)
        want_p, want_q = (a.num_src, *heads), (a.num_dst, *heads)
    else:
        raise _fail(op, f"score must be 'gat', 'gatv2' or 'dot', got {attrs['score']!r}")
    for t, want, what in ((p, want_p, "p"), (q, want_q, "q")):
        if t.rank != len(want) or not all(_same_dim(m, w) for m, w in zip(t.shape, want)):
            raise _fail(op, f"{what} {t} must be [{', '.join(map(str, want))}] for score {attrs['score']!r}")
    if attrs["heads"] not in ("concat", "mean"):
        raise _fail(op, f"heads must be 'concat' or 'mean', got {attrs['heads']!r}")
    if start == 5:  # an edge term added to each score (GAT), or to each channel before leaky_relu (GATv2)
        want = {"gat": (a.nnz, heads[0]), "gatv2": (a.nnz, *heads)}.get(attrs["score"])
        bias = _tensor(op, types[4], "edge bias")
        if want is None:
            raise _fail(op, "an edge bias is supported for score 'gat' and 'gatv2' only")
        if bias.rank != len(want) or not all(_same_dim(m, w) for m, w in zip(bias.shape, want)):
            raise _fail(op, f"edge bias {bias} must be [{', '.join(map(str, want))}] for score {attrs['score']!r}")
    width = heads[0] * heads[1] if attrs["heads"] == "concat" else heads[1]
    _check_epilogue(op, attrs, types[start:], a.num_dst, width)
    return TensorType((a.num_dst, width), FLOAT)


def _infer_fused_matmul(types, attrs):
    if len(types) < 2:
        raise _fail("fused_matmul", "expects (x, weight, epilogue operands...)")
    out = _infer_matmul(types[:2], attrs)
    _check_epilogue("fused_matmul", attrs, types[2:], *out.shape)
    return out


# fused_matmul is matmul with an epilogue (the matmul template).
_register("fused_matmul", "matmul", None, _infer_fused_matmul, epilogue=())
# fused_spmm is spmm with an epilogue (the aggregate template); attention_spmm has a template of its own.
# ``x_cols=(start, stop)`` aggregates only those columns of x (a merged matmul's output; see
# ``passes/merge_matmuls.py``).
# ``edge_op`` says how edge values meet the source row (``mul``: scaled; ``add``: ``x[src] + w[e]``, w of
# ``[nnz, F]``) and ``message_act`` is an activation of each message before the reduction (GINE's
# ``relu(x_j + e_ji)``; see ``passes/fuse_messages.py``). ``dst_op="sub"`` takes one more operand after the
# edge values, ``d`` of ``[num_dst, F]``, and makes each message ``(x[src] edge_op w[e]) - d[dst]``: PNA's
# two-pass variance ``mean((x_j - mu_i)^2)`` (see ``passes/destination_terms.py``).
_register("fused_spmm", "spmm", None, _infer_fused_spmm, reduce="sum", weighted=False, epilogue=(), x_cols=(),
          edge_op="mul", message_act="", dst_op="")
def _infer_spmm_matmul(types, attrs):
    op = "spmm_matmul"
    if len(types) < 3:
        raise _fail(op, "expects (adj, x[, edge_values], epilogue operands..., weight)")
    agg = _infer_fused_spmm(types[:-1], attrs)
    w = _tensor(op, types[-1], "weight")
    if w.rank != 2 or not _same_dim(agg.shape[1], w.shape[0]):
        raise _fail(op, f"cannot multiply the aggregate {agg} by {w}: need [N, K] x [K, M]")
    if not isinstance(attrs["tile_rows"], int) or attrs["tile_rows"] < 1:
        raise _fail(op, f"tile_rows must be a positive int, got {attrs['tile_rows']!r}")
    return TensorType((agg.shape[0], w.shape[1]), FLOAT)


# spmm_matmul: an aggregation and the dense transform after it, one kernel (see passes/tile_graph.py).
_register("spmm_matmul", "spmm_matmul", None, _infer_spmm_matmul, reduce="sum", weighted=False, epilogue=(),
          tile_rows=REQUIRED, edge_op="mul", message_act="")
_register("attention_spmm", "attention", None, _infer_attention_spmm, score=REQUIRED, negative_slope=0.2,
          heads="concat", epilogue=(), scale=1.0, edge_bias=False)


def get_op(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise IRError(f"unknown op {name!r}; known ops: {', '.join(sorted(OPS))}") from None


def complete_attrs(op: OpDef, attrs: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and reject unknown or missing attributes."""
    unknown = set(attrs) - set(op.attrs)
    if unknown:
        raise IRError(f"{op.name}: unknown attribute(s) {sorted(unknown)}")
    out = {}
    for key, default in op.attrs.items():
        if key in attrs:
            out[key] = attrs[key]
        elif default is REQUIRED:
            raise IRError(f"{op.name}: missing attribute {key!r}")
        else:
            out[key] = default
    return out


def infer_type(name: str, types: list[IRType], attrs: dict[str, Any]) -> IRType:
    op = get_op(name)
    if op.num_inputs is not None and len(types) != op.num_inputs:
        raise IRError(f"{name}: expects {op.num_inputs} operand(s), got {len(types)}")
    if op.num_inputs is None and not types:
        raise IRError(f"{name}: expects at least one operand")
    if name == "spmm" and len(types) not in (2, 3):
        raise IRError(f"spmm: expects (adj, x) or (adj, x, edge_values), got {len(types)} operands")
    return op.infer(types, attrs)

