"""FiLMConv: ``act(gamma_s * lin_skip(x_i) + beta_s) + aggr_j act(gamma_i * lins[0](x_j) + beta_i)``.

``(beta, gamma)`` are the two halves of ``film_skip(x)`` and ``films[0](x)`` (node-wise; the message's
pair is the target's). A Linear film is split by its weight's rows into one Linear per half; any
other ``nn`` runs whole and its output is viewed as ``[N, 2, out]``, each half picked by a 0/1 mask
and a sum over that axis (exact). The messages are ``[E, out]``.

With ``num_relations`` R > 1 (called as ``conv(x, edge_index, edge_type)``) each relation has its own
``lins[r]`` and ``films[r]``, and PyG sums one masked aggregation per relation. Here the R node values
are set side by side and viewed as ``[N * R, out]``, one row per (node, relation), and the messages run
over the graph's relation graph (``graph.relation_adj`` with ``split="both"``: edge ``u -> v`` of relation
``r`` joins ``u * R + r`` to ``v * R + r``), so each (node, relation) row aggregates its own relation's
edges; a sum over the relation axis adds them up. Where those ``[N * R, out]`` values (beta, gamma, the
transformed rows and the aggregation) would exceed ``RELATION_BLOCK_BYTES``, the relations go in blocks
(as RGCNConv's), each over its own relation graph, and the blocks' sums are added.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch_geometric.nn import FiLMConv
from torch_geometric.nn.dense.linear import Linear as PygLinear

from gnncc.frontend.pyg.convs.common import activation, reduce_of, unsupported
from gnncc.frontend.pyg.convs.rgcn import relation_blocks, relation_graph
from gnncc.frontend.pyg.values import Param, qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def _side_by_side(ctx: LoweringContext, value: Value, count: int) -> Value:
    """``[N, count * out]`` (one block of columns per relation) as ``[N * count, out]``: row ``v * R + r`` is
    relation ``r``'s row of node ``v``."""
    if count == 1:
        return value
    rows, width = value.type.shape
    return ctx.emit("reshape", [value], shape=[rows * count, width // count])


def _films(ctx: LoweringContext, conv: FiLMConv, qualname: str, names: list[str], x: Value,
           where: str) -> tuple[Value, Value]:
    """``beta, gamma = conv.<name>(x).split(out_channels, dim=-1)`` for each of ``names``, side by side
    (``[N * len(names), out]``). Linear films are one Linear per half with their rows stacked, named
    under ``where``."""
    modules, width = [conv.get_submodule(name) for name in names], conv.out_channels
    where = qualify(qualname, where)
    if all(isinstance(module, (torch.nn.Linear, PygLinear)) for module in modules):
        def half(i: int, what: str) -> Value:
            rows = slice(i * width, (i + 1) * width)
            weight = torch.cat([module.weight[rows] for module in modules])
            bias = None if all(module.bias is None for module in modules) else torch.cat(
                [torch.zeros(width) if module.bias is None else module.bias[rows] for module in modules])
            bias = None if bias is None else Param(qualify(where, f"bias.{what}"), bias)
            value = ctx.linear(x, Param(qualify(where, f"weight.{what}"), weight), bias)
            return _side_by_side(ctx, value, len(modules))

        return half(0, "beta"), half(1, "gamma")
    halves = [ctx.emit("reshape", [ctx.call_module(module, qualify(qualname, name), [x], {})],
                       shape=[x.type.shape[0], 2, width]) for module, name in zip(modules, names)]

    def pick(i: int, what: str) -> Value:
        mask = ctx.param(qualify(where, f"mask.{what}"), torch.eye(2)[i].reshape(1, 2, 1))
        values = [ctx.emit("reduce_sum", [ctx.emit("mul", [h, mask])], axis=1) for h in halves]
        joined = values[0] if len(values) == 1 else ctx.emit("concat", values, axis=1)
        return _side_by_side(ctx, joined, len(values))

    return pick(0, "beta"), pick(1, "gamma")


def lower(ctx: LoweringContext, conv: FiLMConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    relations = conv.num_relations
    if relations > 1 and edge is None:
        raise unsupported(conv, qualname, f"has num_relations={relations} and needs the relation of each edge: "
                          "compile it with gnncc.Graph(edge_index, edge_type=...) and call it as "
                          "conv(x, edge_index, edge_type)")
    reduce = reduce_of(conv, qualname)
    beta, gamma = _films(ctx, conv, qualname, ["film_skip"], x, "film_skip")
    skip = ctx.linear_module(conv.lin_skip, qualify(qualname, "lin_skip"), x)
    out = activation(ctx, conv, qualname, ctx.emit("add", [ctx.emit("mul", [gamma, skip]), beta]))
    # beta, gamma, the transformed rows and the aggregation: four [N * count, out] values per block
    for first, count in relation_blocks(x.type.shape[0], relations, 4 * conv.out_channels):
        out = ctx.emit("add", [out, _aggregate(ctx, conv, qualname, x, adj, edge, reduce, first, count)])
    return out


def _aggregate(ctx: LoweringContext, conv: FiLMConv, qualname: str, x: Value, adj: Value, edge: Value | None,
               reduce: str, first: int, count: int) -> Value:
    """``sum_r aggr_{j in N_r(i)} act(gamma_{r,i} * lins[r](x_j) + beta_{r,i})`` over the relations
    ``[first, first + count)``: over ``adj`` itself for a single-relation layer, else over their relation graph."""
    relations = range(first, first + count)
    if conv.num_relations == 1:  # the module's own names
        films, lins, graph = "films.0", "lins.0.weight", adj
    else:
        block = "" if count == conv.num_relations else f".{first}-{first + count}"
        films, lins = f"films{block}", f"lins.weight{block}"
        graph = relation_graph(ctx, adj, edge, conv.num_relations, "both", first, count)
    beta, gamma = _films(ctx, conv, qualname, [f"films.{r}" for r in relations], x, films)
    weight = torch.cat([conv.lins[r].weight for r in relations])  # PyG's lins have no bias
    h = _side_by_side(ctx, ctx.linear(x, Param(qualify(qualname, lins), weight), None), count)
    messages = ctx.emit("mul", [ctx.emit("gather", [gamma, graph], end="dst"),
                                ctx.emit("gather", [h, graph], end="src")])
    messages = ctx.emit("add", [messages, ctx.emit("gather", [beta, graph], end="dst")])
    aggregated = ctx.emit("scatter", [activation(ctx, conv, qualname, messages), graph], reduce=reduce)
    if count == 1:
        return aggregated
    per_relation = ctx.emit("reshape", [aggregated], shape=[x.type.shape[0], count, conv.out_channels])
    return ctx.emit("reduce_sum", [per_relation], axis=1)
