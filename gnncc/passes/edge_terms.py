"""Read an edge tensor as a sum of terms: rows gathered at either end of each edge, and more.

EdgeConv's ``[x_i, x_j - x_i]`` and a hoisted edge MLP's ``x_j W_s + x_i W_d + b`` are linear in
rows gathered from the nodes. Passes that move work from the edges to the nodes read such a
tensor as ``sum_t scale_t * term_t``, each term filling a column window of it. What a term may
be is chosen per pass: a gather (always), one row broadcast to every edge (a bias), or any
other tensor of the edge tensor's shape (a per-edge leaf, such as an encoded edge feature).
"""

from __future__ import annotations

from dataclasses import dataclass

from gnncc.ir.function import Function, Value
from gnncc.ir.types import TensorType
from gnncc.passes.manager import PassContext, model_scalar

ALL_EDGES = "all"  # a row broadcast to every edge
EDGE_LEAF = "edge"  # a per-edge tensor read as it is


@dataclass(frozen=True)
class EdgeTerm:
    """``scale * rows`` gathered at ``end`` (``src``/``dst``), or broadcast (``all``: ``rows`` is ``[F]`` or
    ``[1, F]``), or a per-edge leaf (``edge``), filling columns ``[col, col + width)`` of the edge tensor."""

    rows: Value
    end: str
    col: int
    scale: float


class EdgeTermReader:
    """Reads edge tensors over one adjacency (``self.adj``, set by the first gather read) as terms.

    ``broadcast_rows``: a row added to every edge is a term. ``edge_leaves``: any other ``[E, F]`` tensor
    is a term; else the read fails on it.
    """

    def __init__(self, fn: Function, ctx: PassContext, *, broadcast_rows: bool = False,
                 edge_leaves: bool = False) -> None:
        self.fn = fn
        self.ctx = ctx
        self.broadcast_rows = broadcast_rows
        self.edge_leaves = edge_leaves
        self.adj: Value | None = None

    def _gathered(self, rows: Value, end: str, adj: Value, col: int, scale: float) -> list[EdgeTerm] | None:
        if self.adj is not None and adj is not self.adj:
            return None
        self.adj = adj
        return [EdgeTerm(rows, end, col, scale)]

    def _broadcast_row(self, v: Value, out: TensorType) -> bool:
        shape = v.type.shape if isinstance(v.type, TensorType) else None
        return self.broadcast_rows and shape in ((out.shape[1],), (1, out.shape[1])) and v.type.dtype == out.dtype

    def _sum(self, v: Value, col: int, scale: float) -> list[EdgeTerm] | None:
        node, out = v.node, v.type
        left, right = node.inputs
        sign = -scale if node.op == "sub" else scale
        if left.type == out and right.type == out:
            a, b = self.terms(left, col, scale), self.terms(right, col, sign)
            return None if a is None or b is None else a + b
        for edges, row in ((left, right), (right, left)):
            if edges.type == out and self._broadcast_row(row, out):
                edges_scale, row_scale = (scale, sign) if edges is left else (sign, scale)
                found = self.terms(edges, col, edges_scale)
                return None if found is None else [*found, EdgeTerm(row, ALL_EDGES, col, row_scale)]
        return None

    def terms(self, v: Value, col: int = 0, scale: float = 1.0) -> list[EdgeTerm] | None:
        """``v`` as terms (columns offset by ``col``, scaled by ``scale``), or None when it is not such a sum."""
        if not isinstance(v.type, TensorType) or v.type.rank != 2:
            return None
        found = self._read(v, col, scale)
        if found is None and self.edge_leaves:
            return [EdgeTerm(v, EDGE_LEAF, col, scale)]
        return found

    def _read(self, v: Value, col: int, scale: float) -> list[EdgeTerm] | None:
        node, out = v.node, v.type
        if node.op == "gather":
            return self._gathered(node.inputs[0], node.attrs["end"], node.inputs[1], col, scale)
        if node.op == "sddmm" and node.attrs["op"] == "add":
            adj, u, w = node.inputs
            src, dst = self._gathered(u, "src", adj, col, scale), self._gathered(w, "dst", adj, col, scale)
            return None if src is None or dst is None else src + dst
        if node.op in ("add", "sub"):
            return self._sum(v, col, scale)
        if node.op == "neg":
            return self.terms(node.inputs[0], col, -scale)
        if node.op == "mul":
            for rows, c in (node.inputs, node.inputs[::-1]):
                factor = model_scalar(self.fn, c, self.ctx)
                if rows.type == out and factor is not None:
                    return self.terms(rows, col, scale * factor)
            return None
        if node.op == "concat" and node.attrs["axis"] in (-1, 1):
            found: list[EdgeTerm] = []
            for part in node.inputs:
                terms = self.terms(part, col, scale)
                if terms is None:
                    return None
                found += terms
                col += part.type.shape[1]
            return found
        return None
