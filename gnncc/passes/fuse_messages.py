"""Fuse an edge message into its aggregation: ``scatter(act(gather(x, A, src) + w [- d[dst]]), A) -> fused_spmm``.

GINEConv's message is ``relu(x_j + e_ji)``: after canonicalisation a gather of the source rows, an
add of the ``[E, F]`` edge term (a per-graph constant: the layer's ``lin`` of the edge features) and
a ``relu``, each writing an ``[E, F]`` tensor, then the scatter that reduces them. ``fused_spmm`` with
``edge_op="add"`` and ``message_act`` computes each message as it walks a row's in-edges, so only the
edge term itself stays in memory. Also fused: ``act(x_j)`` alone, ``x_j + w`` without an
activation, and a destination row subtracted, ``act(x_j [+ w] - gather(d, A, dst))``
(``fused_spmm {dst_op="sub"}``, which reads ``d[i]`` once per row: PNA's two-pass variance
``mean((x_j [+ e_ji] - mu_i)^2)``, see ``destination_terms.py``). Each intermediate must have no
other use. The edge term of ``[E, F]`` is read per edge and feature, and destination rows once per
row, so the tile-graph pass leaves such an aggregation alone (its traffic model counts one value per
edge).
"""

from __future__ import annotations

from dataclasses import dataclass

from gnncc.ir.function import Function, Node, Value
from gnncc.ir.ops import UNARY_OPS
from gnncc.ir.types import TensorType
from gnncc.passes.manager import PassContext, register_pass, rewrite, single_use

NAME = "fuse_edge_messages"


def _unary_step(node: Node) -> str:
    """The activation as an epilogue-style step (``relu``, ``leaky_relu[0.2]``)."""
    alpha = node.attrs.get("alpha")
    return node.op if alpha is None else f"{node.op}[{float(alpha)!r}]"


@dataclass(frozen=True)
class _Message:
    """A fusable scatter's message ``act(gather(x, A, src) [+ edge] [- gather(dst_rows, A, dst)])``."""

    absorbed: list[Node]  # the nodes that compute it, none read elsewhere
    adj: Value
    x: Value
    edge: Value | None
    dst_rows: Value | None
    act: str  # an epilogue-style unary step, or "" for none

    def describe(self) -> str:
        inner = f"x_j{' + e_ji' if self.edge is not None else ''}{' - d_i' if self.dst_rows is not None else ''}"
        return f"{self.act or 'identity'}({inner})"


def _gathered(v: Value, end: str, adj: Value, users, outputs) -> bool:
    """Whether ``v`` is a gather of rows at ``end`` of ``adj`` that nothing else reads."""
    node = v.node
    return node.op == "gather" and node.attrs["end"] == end and node.inputs[1] is adj \
        and single_use(v, users, outputs)


def _match(scatter: Node, users, outputs) -> _Message | None:
    """The message of a fusable scatter, or None."""
    adj = scatter.inputs[1]

    msg, absorbed, act, edge, dst_rows = scatter.inputs[0], [], "", None, None
    if msg.node.op in UNARY_OPS and single_use(msg, users, outputs):
        absorbed.append(msg.node)
        act, msg = _unary_step(msg.node), msg.node.inputs[0]
    if msg.node.op == "sub" and single_use(msg, users, outputs) \
            and _gathered(msg.node.inputs[1], "dst", adj, users, outputs) and msg.node.inputs[0].type == msg.type:
        absorbed += [msg.node, msg.node.inputs[1].node]
        dst_rows, msg = msg.node.inputs[1].node.inputs[0], msg.node.inputs[0]
    if msg.node.op == "add" and single_use(msg, users, outputs):
        a, b = msg.node.inputs
        gathered, edge = (a, b) if a.node.op == "gather" else (b, a)
        if edge.type != gathered.type:
            return None
        absorbed.append(msg.node)
        msg = gathered
    if not _gathered(msg, "src", adj, users, outputs) or not (act or edge is not None or dst_rows is not None):
        return None
    x = msg.node.inputs[0]
    if not isinstance(x.type, TensorType) or x.type.rank != 2 or x.type.dtype != "float32":
        return None
    return _Message([*absorbed, msg.node], adj, x, edge, dst_rows, act)


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
    absorbed = {n for message in plan.values() for n in message.absorbed}
    for node, message in plan.items():
        ctx.note(NAME, f"scatter {node.attrs['reduce']} of {message.describe()} over {message.adj.type.nnz} edges x "
                       f"{message.x.type.shape[1]} features: {len(message.absorbed)} [E, F] tensor(s) not written")

    def rule(node, b, new):
        if node not in plan:
            return None
        message = plan[node]
        edges = [] if message.edge is None else [new(message.edge)]
        dst_rows = [] if message.dst_rows is None else [new(message.dst_rows)]
        return b.emit("fused_spmm", [new(message.adj), new(message.x), *edges, *dst_rows],
                      reduce=node.attrs["reduce"], weighted=message.edge is not None,
                      edge_op="add" if message.edge is not None else "mul", message_act=message.act,
                      dst_op="sub" if message.dst_rows is not None else "")

    return rewrite(fn, rule, keep=lambda n: n not in absorbed)
