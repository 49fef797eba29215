"""GatedGraphConv: ``num_layers`` steps of ``h = GRUCell(aggr_j (h_j W_l), h)`` from ``h = [x, 0]``.

``x`` is zero-padded to ``out_channels`` as PyG's ``torch.cat([x, zeros])``, lowered as ``x @ [I | 0]``:
exact, and its constant is ``[in, out]`` where a zero block would be ``[N, out - in]``. The steps are
unrolled; each aggregates ``h W_l`` (weighted by ``edge_weight`` when given) with sum, mean or max
and feeds it to the layer's ``rnn``, which the general ``GRUCell`` rule lowers to matmuls and
elementwise gates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch_geometric.nn import GatedGraphConv

from gnncc.frontend.pyg.convs.common import edge_weight_of, propagate, reduce_of, unsupported
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def lower(ctx: LoweringContext, conv: GatedGraphConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    reduce = reduce_of(conv, qualname)
    weight = edge_weight_of(conv, qualname, edge)
    width, out = x.type.shape[1], conv.out_channels
    if width > out:
        raise unsupported(conv, qualname, f"takes x of width {width}, wider than out_channels={out} (PyG "
                          "rejects it too)")
    if width < out:
        x = ctx.emit("matmul", [x, ctx.param(qualify(qualname, f"pad.{width}"), torch.eye(width, out))])
    for i in range(conv.num_layers):
        m = ctx.emit("matmul", [x, ctx.param(qualify(qualname, f"weight.{i}"), conv.weight[i])])
        x = ctx.call_module(conv.rnn, qualify(qualname, "rnn"), [propagate(ctx, m, adj, reduce, weight), x], {})
    return x
