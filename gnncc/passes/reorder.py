"""Reorder linear transforms and aggregations: ``spmm(A, X) @ W == spmm(A, X @ W)``.

For sum and mean aggregation (with or without edge values) the two orders are the same
algebra, but not the same work: the aggregation runs at the width it is given, so it should
see the narrower side of the transform. Each ``matmul`` next to a single-use ``spmm`` is moved
to whichever side the cost estimate (flops + bytes, ``gnncc.passes.cost``) prefers; repeated to a
fixed point, so a transform after ``K`` hops (SGConv) moves before all of them. Max aggregation
does not commute with a transform and is left alone.

A transform after a larger linear expression (GIN's ``(c X + spmm(A, X)) W``, the shared
propagation chains of polynomial filters) is moved by ``distribute_transforms``, which runs next.
"""

from __future__ import annotations

from gnncc.ir.function import Function, Node, Value
from gnncc.ir.types import AdjType, TensorType
from gnncc.passes.cost import Cost, matmul_cost, spmm_cost
from gnncc.passes.manager import PassContext, linear_spmm, register_pass, rewrite, single_use

NAME = "reorder_transform_aggregate"
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


def _plan(fn: Function, ctx: PassContext) -> dict[Node, tuple[str, Node]]:
    """Nodes to rewrite: the later node of each pair -> (order to produce, the earlier node)."""
    users = fn.users()
    outputs = set(fn.outputs)
    plan: dict[Node, tuple[str, Node]] = {}
    claimed: set[Node] = set()  # a node takes part in at most one move per round
    for node in fn.nodes:
        if node.op == "matmul" and linear_spmm(node.inputs[0].node):
            spmm, w, first = node.inputs[0].node, node.inputs[1], "transform"
        elif linear_spmm(node) and node.inputs[1].node.op == "matmul":
            spmm, w, first = node, node.inputs[1].node.inputs[1], "aggregate"
        else:
            continue
        earlier = node.inputs[1].node if first == "aggregate" else node.inputs[0].node
        if not single_use(earlier.output, users, outputs) or {node, earlier} & claimed:
            continue
        if not isinstance(w.type, TensorType) or w.type.rank != 2 or not w.type.is_concrete:
            continue
        transform_first, aggregate_first = _costs(spmm, w)
        chosen, other = (aggregate_first, transform_first) if first == "aggregate" else (transform_first,
                                                                                         aggregate_first)
        if chosen.score < other.score:
            f_in, f_out = w.type.shape
            ctx.note(NAME, f"{_label(w)} [{f_in}->{f_out}] around spmm(nnz={spmm.inputs[0].type.nnz}, "
                           f"{spmm.attrs['reduce']}): {first} first ({chosen}) instead of ({other})")
            plan[node] = (first, earlier)
            claimed |= {node, earlier}
    return plan


def _reorder_once(fn: Function, ctx: PassContext) -> Function | None:
    plan = _plan(fn, ctx)
    if not plan:
        return None
    dropped = {earlier for _, earlier in plan.values()}

    def rule(node, b, new):
        if node not in plan:
            return None
        first, earlier = plan[node]
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
