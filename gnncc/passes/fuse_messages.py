"""Fuse an edge message into its aggregation: ``scatter(act(gather(x, A, src) + w), A) -> fused_spmm``.

GINEConv's message is ``relu(x_j + e_ji)``: after canonicalisation a gather of the source rows, an
add of the ``[E, F]`` edge term (a per-graph constant: the layer's ``lin`` of the edge features) and
a ``relu``, each writing an ``[E, F]`` tensor, then the scatter that reduces them. ``fused_spmm`` with
``edge_op="add"`` and ``message_act`` computes each message as it walks a row's in-edges, so only the
edge term itself stays in memory. Also fused: ``act(x_j)`` alone, and ``x_j + w`` without an
activation. Each intermediate must have no other use. The edge term of ``[E, F]`` is read per edge
and feature, so the tile-graph pass leaves such an aggregation alone (its traffic model counts one
value per edge).
"""

from __future__ import annotations

from gnncc.ir.function import Function, Node, Value
from gnncc.ir.ops import UNARY_OPS
from gnncc.ir.types import TensorType
from gnncc.passes.manager import PassContext, register_pass, rewrite, single_use

NAME = "fuse_edge_messages"


def _unary_step(node: Node) -> str:
    """The activation as an epilogue-style step (``relu``, ``leaky_relu[0.2]``)."""
    alpha = node.attrs.get("alpha")
    return node.op if alpha is None else f"{node.op}[{float(alpha)!r}]"


def _match(scatter: Node, users, outputs) -> tuple[list[Node], Value, Value, Value | None, str] | None:
    """(absorbed nodes, adjacency, x, edge term or None, activation step) for a fusable scatter."""
    adj = scatter.inputs[1]

    msg, absorbed, act, edge = scatter.inputs[0], [], "", None
    if msg.node.op in UNARY_OPS and single_use(msg, users, outputs):
        absorbed.append(msg.node)
        act, msg = _unary_step(msg.node), msg.node.inputs[0]
    if msg.node.op == "add" and single_use(msg, users, outputs):
        a, b = msg.node.inputs
        gathered, edge = (a, b) if a.node.op == "gather" else (b, a)
        if edge.type != gathered.type:
            return None
        absorbed.append(msg.node)
        msg = gathered
    if msg.node.op != "gather" or msg.node.attrs["end"] != "src" or msg.node.inputs[1] is not adj \
            or not single_use(msg, users, outputs) or not (act or edge is not None):
        return None
    x = msg.node.inputs[0]
    if not isinstance(x.type, TensorType) or x.type.rank != 2 or x.type.dtype != "float32":
        return None
    return [*absorbed, msg.node], adj, x, edge, act


@register_pass(NAME, "an edge message (x_j + e_ji, through an activation) and its aggregation -> one fused_spmm")
def fuse_edge_messages(fn: Function, ctx: PassContext) -> Function:
    users = fn.users()
    outputs = set(fn.outputs)
    plan = {}
    for node in fn.nodes:
        if node.op == "scatter" and node.attrs["reduce"] in ("sum", "mean", "max"):
            match = _match(node, users, outputs)
            if match is not None:
                plan[node] = match
    if not plan:
        return fn
    absorbed = {n for nodes, *_ in plan.values() for n in nodes}
    for node, (nodes, adj, x, edge, act) in plan.items():
        message = f"{act or 'identity'}(x_j{' + e_ji' if edge is not None else ''})"
        ctx.note(NAME, f"scatter {node.attrs['reduce']} of {message} over {adj.type.nnz} edges x "
                       f"{x.type.shape[1]} features: {len(nodes)} [E, F] tensor(s) not written")

    def rule(node, b, new):
        if node not in plan:
            return None
        _, adj, x, edge, act = plan[node]
        edges = [] if edge is None else [new(edge)]
        return b.emit("fused_spmm", [new(adj), new(x), *edges], reduce=node.attrs["reduce"],
                      weighted=edge is not None, edge_op="add" if edge is not None else "mul", message_act=act)

    return rewrite(fn, rule, keep=lambda n: n not in absorbed)
