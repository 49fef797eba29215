"""EdgeConv: ``aggr_j nn([x_i, x_j - x_i])`` (DGCNN's edge convolution on the given graph).

``nn`` runs on every edge, so the messages are ``[E, 2F]`` and ``[E, F']`` tensors: gathers,
the difference, ``nn`` lowered with the general op tables, then the scatter-reduce.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch_geometric.nn import EdgeConv

from gnncc.frontend.pyg.convs.common import reduce_of, submodule
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: EdgeConv, qualname: str, x: Value, adj: Value) -> Value:
    mlp = submodule(conv, qualname, "nn")
    reduce = reduce_of(conv, qualname)
    x_i = ctx.emit("gather", [x, adj], end="dst")
    x_j = ctx.emit("gather", [x, adj], end="src")
    pair = ctx.emit("concat", [x_i, ctx.emit("sub", [x_j, x_i])], axis=-1)
    return ctx.emit("scatter", [ctx.call_module(mlp, qualify(qualname, "nn"), [pair], {}), adj], reduce=reduce)
