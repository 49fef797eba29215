"""Reorder linear transforms and aggregations: ``spmm(A, X) @ W == spmm(A, X @ W)``.

For sum and mean aggregation (with or without edge values) the two orders are the same
algebra, but not the same work: the aggregation runs at the width it is given, so it should
see the narrower side of the transform. Each ``matmul`` next to a single-use ``spmm`` is moved
to whichever side the cost estimate (flops + bytes, ``gnncc.passes.cost``) prefers; repeated to a
fixed point, so a transform after ``K`` hops (SGConv) moves before all of them. Max aggregation
does not commute with a transform and is left alone.

GIN's sum with the node's own scaled features, ``(c * X + spmm(A, X)) @ W``, is the same algebra:
it becomes ``c * Y + spmm(A, Y)`` with ``Y = X @ W`` (``c`` one element, as ``1 + eps``) when the
transform narrows the features. (The other way, pulling a transform out of such a sum, is not done.)
"""

from __future__ import annotations

from gnncc.ir.function import Function, Node, Value
from gnncc.ir.types import AdjType, TensorType
from gnncc.passes.cost import Cost, matmul_cost, spmm_cost
from gnncc.passes.manager import PassContext, register_pass, rewrite

NAME = "reorder_transform_aggregate"
LINEAR_REDUCES = ("sum", "mean")


def _linear_spmm(node: Node) -> bool:
    if node.op != "spmm" or node.attrs["reduce"] not in LINEAR_REDUCES:
        return False
    adj, x = node.inputs[0].type, node.inputs[1].type
    return isinstance(adj, AdjType) and adj.is_concrete and isinstance(x, TensorType) and x.rank == 2 \
        and x.is_concrete


SelfSum = tuple[Node, "Node | None"]  # (spmm, mul) of ``_self_plus_aggregate``


def _self_plus_aggregate(node: Node) -> SelfSum | None:
    """``(spmm, mul)`` when ``node`` is ``add(spmm(A, X, ...), mul(c, X))`` (either order, ``c`` one
    element; ``mul`` None for a plain ``X``) with a linear spmm; else None. Single use is the
    caller's check."""
    if node.op != "add":
        return None
    for agg, own in (node.inputs, node.inputs[::-1]):
        spmm = agg.node
        if not _linear_spmm(spmm):
            continue
        x = spmm.inputs[1]
        if own is x:
            return spmm, None
        mul = own.node
        if mul.op == "mul" and x in mul.inputs:
            c = mul.inputs[1] if mul.inputs[0] is x else mul.inputs[0]
            if isinstance(c.type, TensorType) and c.type.is_concrete and c.type.numel() == 1:
                return spmm, mul
    return None


def _costs(spmm: Node, w: Value) -> tuple[Cost, Cost]:
    """(transform first, aggregate first) for ``spmm`` next to a transform by ``w`` ``[Fin, Fout]``."""
    adj: AdjType = spmm.inputs[0].type
    f_in, f_out = w.type.shape
    weighted = len(spmm.inputs) == 3
    transform_first = matmul_cost(adj.num_src, f_in, f_out) + spmm_cost(adj.nnz, adj.num_dst, f_out, weighted)
    aggregate_first = spmm_cost(adj.nnz, adj.num_dst, f_in, weighted) + matmul_cost(adj.num_dst, f_in, f_out)
    return transform_first, aggregate_first


def _label(w: Value) -> str:
    return f"'{w.node.attrs['name']}'" if w.node.op == "const" else f"weight {w.type}"


def _plan(fn: Function, ctx: PassContext) -> dict[Node, tuple[str, Node, SelfSum | None]]:
    """Nodes to rewrite: the later node of each pair -> (order to produce, the earlier node, and for
    GIN's sum its spmm and mul)."""
    users = fn.users()
    outputs = set(fn.outputs)
    plan: dict[Node, tuple[str, Node, SelfSum | None]] = {}
    claimed: set[Node] = set()  # a node takes part in at most one move per round
    for node in fn.nodes:
        self_sum = _self_plus_aggregate(node.inputs[0].node) if node.op == "matmul" else None
        if node.op == "matmul" and _linear_spmm(node.inputs[0].node):
            spmm, w, first = node.inputs[0].node, node.inputs[1], "transform"
        elif self_sum is not None:
            spmm, w, first = self_sum[0], node.inputs[1], "transform_self"
        elif _linear_spmm(node) and node.inputs[1].node.op == "matmul":
            spmm, w, first = node, node.inputs[1].node.inputs[1], "aggregate"
        else:
            continue
        earlier = node.inputs[1].node if first == "aggregate" else node.inputs[0].node
        moved = {earlier} if self_sum is None else {earlier, *(n for n in self_sum if n is not None)}
        if any(len(users[n.output]) != 1 or n.output in outputs for n in moved) or ({node} | moved) & claimed:
            continue
        if not isinstance(w.type, TensorType) or w.type.rank != 2 or not w.type.is_concrete:
            continue
        transform_first, aggregate_first = _costs(spmm, w)
        chosen, other = (aggregate_first, transform_first) if first == "aggregate" else (transform_first,
                                                                                         aggregate_first)
        if chosen.score < other.score:
            f_in, f_out = w.type.shape
            around = "a node's own features plus spmm" if self_sum is not None else "spmm"
            ctx.note(NAME, f"{_label(w)} [{f_in}->{f_out}] around {around}(nnz={spmm.inputs[0].type.nnz}, "
                           f"{spmm.attrs['reduce']}): {first.split('_')[0]} first ({chosen}) instead of ({other})")
            plan[node] = (first, earlier, self_sum)
            claimed |= {node} | moved
    return plan


def _reorder_once(fn: Function, ctx: PassContext) -> Function | None:
    plan = _plan(fn, ctx)
    if not plan:
        return None
    dropped = {earlier for _, earlier, _ in plan.values()}
    dropped |= {n for _, _, self_sum in plan.values() if self_sum is not None for n in self_sum if n is not None}

    def rule(node, b, new):
        if node not in plan:
            return None
        first, earlier, self_sum = plan[node]
        if self_sum is not None:  # matmul(add(spmm(A, x), mul(c, x)), W) -> add(spmm(A, y), mul(c, y))
            spmm, mul = self_sum
            adj, x, *edge = spmm.inputs
            y = b.emit("matmul", [new(x), new(node.inputs[1])])
            aggregated = b.emit("spmm", [new(adj), y, *map(new, edge)], **spmm.attrs)
            own = y if mul is None else b.emit("mul", [y if v is x else new(v) for v in mul.inputs])
            return b.emit("add", [aggregated, own])
        if first == "transform":  # matmul(spmm(A, x, w), W) -> spmm(A, matmul(x, W), w)
            adj, x, *edge = earlier.inputs
            h = b.emit("matmul", [new(x), new(node.inputs[1])])
            return b.emit("spmm", [new(adj), h, *map(new, edge)], **earlier.attrs)
        adj, _, *edge = node.inputs  # spmm(A, matmul(x, W), w) -> matmul(spmm(A, x, w), W)
        h = b.emit("spmm", [new(adj), new(earlier.inputs[0]), *map(new, edge)], **node.attrs)
        return b.emit("matmul", [h, new(earlier.inputs[1])])

    return rewrite(fn, rule, keep=lambda n: n not in dropped)


@register_pass(NAME, "put each linear transform on the cheaper side of its sum/mean aggregation")
def reorder_transform_aggregate(fn: Function, ctx: PassContext) -> Function:
    for _ in range(len(fn.nodes)):  # every move strictly lowers the estimate, so this terminates
        moved = _reorder_once(fn, ctx)
        if moved is None:
            break
        fn = moved
    return fn
