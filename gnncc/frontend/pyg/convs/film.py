"""FiLMConv: ``act(gamma_s * lin_skip(x_i) + beta_s) + aggr_j act(gamma_i * lins[0](x_j) + beta_i)``.

``(beta, gamma)`` are the two halves of ``film_skip(x)`` and ``films[0](x)`` (node-wise; the message's
pair is the target's). A Linear film is split by its weight's rows into one Linear per half; any
other ``nn`` runs whole and its output is viewed as ``[N, 2, out]``, each half picked by a 0/1 mask
and a sum over that axis (exact). The messages are ``[E, out]``. Only ``num_relations=1`` is lowered:
more relations need the ``edge_type`` of each edge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch_geometric.nn import FiLMConv
from torch_geometric.nn.dense.linear import Linear as PygLinear

from gnncc.frontend.pyg.convs.common import activation, reduce_of, unsupported
from gnncc.frontend.pyg.values import Param, qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def _film(ctx: LoweringContext, conv: FiLMConv, qualname: str, name: str, x: Value) -> tuple[Value, Value]:
    """``beta, gamma = conv.<name>(x).split(out_channels, dim=-1)``."""
    module, where, width = conv.get_submodule(name), qualify(qualname, name), conv.out_channels
    if isinstance(module, (torch.nn.Linear, PygLinear)):
        def half(i: int, what: str) -> Value:
            rows = slice(i * width, (i + 1) * width)
            bias = None if module.bias is None else Param(qualify(where, f"bias.{what}"), module.bias[rows])
            return ctx.linear(x, Param(qualify(where, f"weight.{what}"), module.weight[rows]), bias)

        return half(0, "beta"), half(1, "gamma")
    halves = ctx.emit("reshape", [ctx.call_module(module, where, [x], {})], shape=[x.type.shape[0], 2, width])

    def pick(i: int, what: str) -> Value:
        mask = ctx.param(qualify(where, f"mask.{what}"), torch.eye(2)[i].reshape(1, 2, 1))
        return ctx.emit("reduce_sum", [ctx.emit("mul", [halves, mask])], axis=1)

    return pick(0, "beta"), pick(1, "gamma")


def lower(ctx: LoweringContext, conv: FiLMConv, qualname: str, x: Value, adj: Value) -> Value:
    if conv.num_relations > 1:
        raise unsupported(conv, qualname, f"has num_relations={conv.num_relations}, which needs each edge's "
                          "edge_type; only num_relations=1 is supported")
    reduce = reduce_of(conv, qualname)
    beta, gamma = _film(ctx, conv, qualname, "film_skip", x)
    skip = ctx.linear_module(conv.lin_skip, qualify(qualname, "lin_skip"), x)
    out = activation(ctx, conv, qualname, ctx.emit("add", [ctx.emit("mul", [gamma, skip]), beta]))
    beta, gamma = _film(ctx, conv, qualname, "films.0", x)
    h = ctx.emit("gather", [ctx.linear_module(conv.lins[0], qualify(qualname, "lins.0"), x), adj], end="src")
    messages = ctx.emit("mul", [ctx.emit("gather", [gamma, adj], end="dst"), h])
    messages = activation(ctx, conv, qualname, ctx.emit("add", [messages, ctx.emit("gather", [beta, adj], end="dst")]))
    return ctx.emit("add", [out, ctx.emit("scatter", [messages, adj], reduce=reduce)])
