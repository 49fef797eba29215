"""Take what is the same on all of a node's in-edges out of its aggregation.

PNA's message, once its first Linear is hoisted to the nodes, is ``x_j W_s + x_i W_d + b``: a
source row, a destination row and a bias, each written to an ``[E, F]`` tensor by an SDDMM and an
add, then read by four aggregators (mean, min, max, and the mean of squares for std). Over the
in-edges of node ``i`` the destination row and the bias do not change, so with ``m = R + K[dst]``
(``R``: the source rows and any other per-edge term; ``K``: the destination rows and broadcast rows)

- ``sum(m) = sum(R) + deg_i K``; ``mean(m) = mean(R) + has_i K``; ``max(m) = max(R) + has_i K``;
- ``sum|mean(m * m) = sum|mean(R * R) + 2 K sum|mean(R) + (deg_i|has_i) K^2``;
- ``mean(m * m) - mean(m)^2 = mean((R - mean(R))^2)``: a variance does not see ``K`` at all, and is
  computed in two passes (the mean aggregation, then the mean of squared deviations from it);

with ``deg_i`` the in-degree and ``has_i`` 1 on a node with in-edges, else 0 (a node without any
aggregates to 0). Both are graph-only: they join the graph program, so ``gnncc.load`` recomputes
them per graph. When ``R`` is source rows alone, ``R``'s aggregation is an SpMM of an ``[N, F]``
tensor and no edge tensor is left; a per-edge term in ``R`` (an encoded edge feature) stays, and
``fuse_edge_messages`` then fuses ``gather + term`` (and for a variance ``square(gather + term - mu[dst])``)
into the aggregation. The identities are exact; the variance form is also the better conditioned one:
neither ``K`` nor the digits that a node's ``R`` share enter a cancellation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gnncc.ir.function import Builder, Function, Node, Value
from gnncc.ir.types import AdjType, TensorType
from gnncc.passes.dce import dead_code_elimination
from gnncc.passes.edge_terms import ALL_EDGES, EDGE_LEAF, EdgeTerm, EdgeTermReader
from gnncc.passes.fold import derive_graph_constant
from gnncc.passes.manager import PassContext, register_pass, rewrite

NAME = "factor_destination_terms"
_REDUCES = ("sum", "mean", "max")


@dataclass(frozen=True)
class _Split:
    """``messages = sum(source) + sum(destination)`` over ``adj``: source rows gathered at ``src`` and per-edge
    leaves; destination rows gathered at ``dst`` and rows broadcast to every edge."""

    adj: Value
    source: tuple[EdgeTerm, ...]
    destination: tuple[EdgeTerm, ...]


def _split(fn: Function, ctx: PassContext, messages: Value, adj: Value) -> _Split | None:
    t, a = messages.type, adj.type
    if not ctx.is_graph_constant(adj):
        return None  # the weights are derived from the graph program (see derive_graph_constant)
    if not (isinstance(t, TensorType) and t.rank == 2 and t.dtype == "float32" and t.is_concrete
            and isinstance(a, AdjType) and a.is_concrete and t.shape[0] == a.nnz):
        return None
    reader = EdgeTermReader(fn, ctx, broadcast_rows=True, edge_leaves=True)
    terms = reader.terms(messages)
    if terms is None or reader.adj not in (None, adj):
        return None
    if any(term.col != 0 or term.rows.type.shape[-1] != t.shape[1] for term in terms):
        return None
    scales: dict[tuple[Value, str], float] = {}  # like terms summed: x_i - x_i is no term
    for term in terms:
        scales[term.rows, term.end] = scales.get((term.rows, term.end), 0.0) + term.scale
    terms = [EdgeTerm(rows, end, 0, scale) for (rows, end), scale in scales.items() if scale != 0.0]
    destination = tuple(term for term in terms if term.end in ("dst", ALL_EDGES))
    if not destination:
        return None
    return _Split(adj, tuple(term for term in terms if term.end in ("src", EDGE_LEAF)), destination)


def _negated(terms: tuple[EdgeTerm, ...]) -> tuple[EdgeTerm, ...]:
    return tuple(EdgeTerm(t.rows, t.end, t.col, -t.scale) for t in terms)


def _square_of(v: Value) -> Value | None:
    """``m`` for ``v = m * m``, else None."""
    node = v.node
    return node.inputs[0] if node.op == "mul" and node.inputs[0] is node.inputs[1] else None


def _scatter_of(v: Value, reduce: str) -> Node | None:
    node = v.node
    return node if node.op == "scatter" and node.attrs["reduce"] == reduce else None


@dataclass(frozen=True)
class _Rewrite:
    """How one node is rewritten: ``kind`` is ``aggregate`` (``scatter(m)``), ``square`` (``scatter(m * m)``)
    or ``variance`` (``mean(m * m) - mean(m)^2``), of the messages ``split``."""

    kind: str
    reduce: str
    split: _Split


def _plan_node(fn: Function, ctx: PassContext, node: Node) -> _Rewrite | None:
    if node.op == "scatter" and node.attrs["reduce"] in _REDUCES:
        messages, adj = node.inputs
        split = _split(fn, ctx, messages, adj)
        if split is not None:
            return _Rewrite("aggregate", node.attrs["reduce"], split)
        root = _square_of(messages)
        split = None if root is None or node.attrs["reduce"] == "max" else _split(fn, ctx, root, adj)
        return None if split is None else _Rewrite("square", node.attrs["reduce"], split)
    variance = variance_of(node)
    if variance is not None:
        split = _split(fn, ctx, *variance)
        return None if split is None or not split.source else _Rewrite("variance", "mean", split)
    return None


def variance_of(node: Node) -> tuple[Value, Value] | None:
    """``(m, adj)`` when ``node`` is ``mean(m * m) - mean(m)^2`` over ``adj`` (PyG's variance aggregation),
    else None."""
    if node.op != "sub":
        return None
    squares = _scatter_of(node.inputs[0], "mean")
    mean = _square_of(node.inputs[1])
    mean_node = None if mean is None else _scatter_of(mean, "mean")
    if squares is None or mean_node is None or squares.inputs[1] is not mean_node.inputs[1]:
        return None
    root = _square_of(squares.inputs[0])
    return (root, squares.inputs[1]) if root is not None and root is mean_node.inputs[0] else None


class _Emitter:
    """Emits the node-level rewrites into one builder, each shared value once."""

    def __init__(self, fn: Function, ctx: PassContext, b: Builder, new) -> None:
        self.fn, self.ctx, self.b, self.new = fn, ctx, b, new
        self.memo: dict[tuple, Value] = {}

    def _once(self, key: tuple, make) -> Value:
        if key not in self.memo:
            self.memo[key] = make()
        return self.memo[key]

    def _scaled(self, term: EdgeTerm) -> Value:
        b, rows = self.b, self.new(term.rows)
        if term.end == ALL_EDGES and rows.type.rank == 1:
            rows = b.emit("reshape", [rows], shape=[1, rows.type.shape[0]])
        if term.scale == 1.0:
            return rows
        if term.scale == -1.0:
            return b.emit("neg", [rows])
        return b.emit("mul", [rows, b.const(f"{NAME}.scale", torch.tensor(term.scale))])

    def total(self, terms: tuple[EdgeTerm, ...]) -> Value:
        """The sum of ``terms`` (rows of one kind: node rows, or per-edge tensors); a sum and its negation
        share their terms (PNA's ``min`` reads the negated messages)."""
        if terms[0].scale < 0:
            flipped = _negated(terms)
            return self._once(("neg", flipped), lambda: self.b.emit("neg", [self.total(flipped)]))

        def make() -> Value:
            out = None
            for term in terms:
                part = self._scaled(term)
                out = part if out is None else self.b.emit("add", [out, part])
            return out
        return self._once(("total", terms), make)

    def _source_edges(self, split: _Split, squared: bool, centre: Value | None = None) -> Value:
        """``R`` (or ``R * R``, or with ``centre`` of ``[N, F]`` ``(R - centre[dst])^2``) as an ``[E, F]`` tensor:
        the source rows gathered plus the per-edge leaves, made anew for each aggregation and negated as a
        whole, so that ``fuse_edge_messages`` finds its ``act(x_j + e [- c_i])`` (``neg`` for PNA's ``min``,
        ``square`` for its std) and fuses each into its aggregation."""
        b, terms, adj = self.b, split.source, self.new(split.adj)
        negated = terms[0].scale < 0
        if negated:
            terms = _negated(terms)
        rows = tuple(t for t in terms if t.end == "src")
        leaves = tuple(t for t in terms if t.end == EDGE_LEAF)
        out = b.emit("gather", [self.total(rows), adj], end="src") if rows else None
        if leaves:
            out = self.total(leaves) if out is None else b.emit("add", [out, self.total(leaves)])
        if centre is not None:  # negated: R = -R' and R - c = -(R' - (-c)), the same square
            centre = b.emit("neg", [centre]) if negated else centre
            out = b.emit("sub", [out, b.emit("gather", [centre, adj], end="dst")])
        if squared:
            return b.emit("square", [out])  # (-R)^2 = R^2
        return b.emit("neg", [out]) if negated else out

    def aggregate(self, split: _Split, reduce: str, squared: bool) -> Value:
        """``reduce`` of ``R`` (or of ``R * R``) over each node's in-edges."""
        def make() -> Value:
            b, adj = self.b, self.new(split.adj)
            if all(t.end == "src" for t in split.source):
                rows = self.total(split.source)
                if squared:
                    rows = self._once(("square", rows), lambda: b.emit("square", [rows]))
                return b.emit("spmm", [adj, rows], reduce=reduce)
            return b.emit("scatter", [self._source_edges(split, squared), adj], reduce=reduce)
        return self._once(("aggregate", split.adj, split.source, reduce, squared), make)

    def variance(self, split: _Split) -> Value:
        """``mean((R - mu[dst])^2)`` over each node's in-edges, ``mu = mean(R)`` (the mean aggregation, shared
        with PNA's mean aggregator): the two-pass variance. ``mean(R^2) - mean(R)^2`` cancels the digits
        that a node's ``R`` have in common (rows close relative to their size); the deviations never
        have them."""
        mean = self.aggregate(split, "mean", squared=False)
        deviations = self._source_edges(split, squared=True, centre=mean)
        return self.b.emit("scatter", [deviations, self.new(split.adj)], reduce="mean")

    def weight(self, adj: Value, reduce: str) -> Value | None:
        """``[N, 1]``: the in-degree (``sum``) or 1 where there are in-edges (``mean``, ``max``)."""
        def build(pb: Builder, graph: Value) -> Value:
            degree = pb.emit("graph.degree", [graph], end="dst")
            if reduce != "sum":
                degree = pb.emit("minimum", [degree, pb.const(f"{NAME}.one", torch.tensor(1.0))])
            return pb.emit("reshape", [degree], shape=[graph.type.num_dst, 1])

        label = "in_degree" if reduce == "sum" else "has_in_edges"
        return self._once(("weight", adj, label), lambda: derive_graph_constant(
            self.fn, self.ctx, self.b, self.new(adj), label, build))

    def rewrite(self, plan: _Rewrite) -> Value | None:
        b, split = self.b, plan.split
        if plan.kind == "variance":
            return self.variance(split)
        weight = self.weight(split.adj, plan.reduce)
        if weight is None:
            return None
        k = self.total(split.destination)
        if plan.kind == "aggregate":
            out = self._once(("weighted", k, weight), lambda: b.emit("mul", [k, weight]))
            return b.emit("add", [self.aggregate(split, plan.reduce, squared=False), out]) if split.source else out
        k_squared = self._once(("square", k), lambda: b.emit("square", [k]))
        out = self._once(("weighted", k_squared, weight), lambda: b.emit("mul", [k_squared, weight]))
        if not split.source:
            return out
        cross = b.emit("mul", [b.emit("mul", [k, self.aggregate(split, plan.reduce, squared=False)]),
                               b.const(f"{NAME}.two", torch.tensor(2.0))])
        return b.emit("add", [b.emit("add", [self.aggregate(split, plan.reduce, squared=True), cross]), out])


def _describe(plan: _Rewrite, node: Node) -> str:
    ends = {"src": "x_j", "dst": "x_i", ALL_EDGES: "row", EDGE_LEAF: "e_ji"}
    source = " + ".join(ends[t.end] for t in plan.split.source) or "0"
    destination = " + ".join(ends[t.end] for t in plan.split.destination)
    what = {"aggregate": f"{plan.reduce}(m)", "square": f"{plan.reduce}(m^2)", "variance": "var(m)"}[plan.kind]
    shape = plan.split.adj.type.nnz, node.output.type.shape[-1]
    return (f"{what} of [{shape[0]}, {shape[1]}] messages m = ({source}) + ({destination}): "
            + ("the destination terms cancel; two-pass mean((R - mean(R))^2)" if plan.kind == "variance"
               else "destination terms taken out"))


@register_pass(NAME, "terms of a message that are the same on all of a node's in-edges (x_i, a bias) -> "
               "added after the aggregation")
def factor_destination_terms(fn: Function, ctx: PassContext) -> Function:
    plan = {node: found for node in fn.nodes if (found := _plan_node(fn, ctx, node)) is not None}
    users = fn.users()
    for node in [n for n, found in plan.items() if found.kind == "square"]:  # read by variances alone: they go
        if node.output not in fn.outputs and all(u in plan and plan[u].kind == "variance"
                                                 for u in users[node.output]):
            del plan[node]
    if not plan:
        return fn
    for node, found in plan.items():
        ctx.note(NAME, _describe(found, node))
    emitter: _Emitter | None = None

    def rule(node: Node, b: Builder, new) -> Value | None:
        nonlocal emitter
        if node not in plan:
            return None
        if emitter is None:  # one rewrite, one builder: made at the first planned node
            emitter = _Emitter(fn, ctx, b, new)
        return emitter.rewrite(plan[node])

    return dead_code_elimination(rewrite(fn, rule), ctx)
