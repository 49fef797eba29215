"""RGCNConv and FastRGCNConv: ``x_i W_root + b + sum_r aggr_{j in N_r(i)} x_j W_r`` (Schlichtkrull et al.).

Each edge carries a relation ``r`` (the graph's ``edge_type``). Instead of PyG's loop of one masked
aggregation and one matmul per relation, the layer is one aggregation and one matmul over a graph R
times as large (``graph.relation_adj``, built once per graph):

- *transform first* (``x`` at least as wide as the output): ``H = x @ [W_0 | ... | W_{R-1}]``, viewed
  as ``[N * R, out]`` so that row ``j * R + r`` is ``x_j W_r``, aggregated over the edges with each
  source renamed ``j * R + r``; the mean's ``1 / |N_r(i)|`` is a per-edge weight
  (``graph.relation_degree``);
- *aggregate first* (a narrower ``x``, and always for ``max``): ``x`` aggregated per (destination,
  relation) into ``[N * R, in]``, viewed as ``[N, R * in]`` and multiplied by the stacked
  ``[R * in, out]`` weights.

Both read and write ``N * R`` rows of the narrower width. Where those would take more than
``RELATION_BLOCK_BYTES``, the relations go in blocks that each fit (a relation graph per block, over
that block's edges only) and the blocks' results are summed: memory stays bounded for many relations,
at the cost of more, smaller kernels. Basis and block-diagonal decompositions are expanded into the
dense ``W_r`` at compile time. FastRGCNConv computes the same sums and means (it has no ``max``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch_geometric.nn import RGCNConv

from gnncc.frontend.pyg.convs.common import propagate, reduce_of, unsupported
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def relation_weights(conv: RGCNConv) -> torch.Tensor:
    """The dense ``[R, in, out]`` relation weights, with a basis or block-diagonal decomposition expanded."""
    weight = conv.weight.detach()
    if conv.num_bases is not None:
        return (conv.comp.detach() @ weight.reshape(conv.num_bases, -1)).reshape(
            conv.num_relations, conv.in_channels_l, conv.out_channels)
    if conv.num_blocks is not None:
        return torch.stack([torch.block_diag(*blocks) for blocks in weight])
    return weight


# the most one block of relations may take as its [N * C, width] intermediate; more relations than fit
# are aggregated in blocks of C relations each, and the blocks' products summed
RELATION_BLOCK_BYTES = 256 * 2**20


def relation_blocks(num_nodes: int, num_relations: int, width: int) -> list[tuple[int, int]]:
    """``(first, count)`` of each block of relations whose ``[num_nodes * count, width]`` float32
    intermediate fits ``RELATION_BLOCK_BYTES`` (one relation per block at least)."""
    per_block = max(1, min(num_relations, RELATION_BLOCK_BYTES // max(1, 4 * num_nodes * width)))
    return [(first, min(per_block, num_relations - first)) for first in range(0, num_relations, per_block)]


def relation_graph(ctx: LoweringContext, adj: Value, types: Value, num_relations: int, split: str,
                   first: int, count: int) -> Value:
    """``graph.relation_adj`` of the graph for the relations ``[first, first + count)``, once for all layers."""
    keeps_edges = split == "src" and count == num_relations
    return ctx.memo(("relation_adj", adj, types, num_relations, split, first, count), lambda: ctx.emit(
        "graph.relation_adj", [adj, types], num_relations=num_relations, split=split, first=first, count=count,
        nnz_symbol=None if keeps_edges else ctx.b.fresh_symbol()))


def _block(ctx: LoweringContext, x: Value, adj: Value, types: Value, weights: torch.Tensor, first: int,
           relations: int, reduce: str, aggregate_first: bool, name: str) -> Value:
    """``sum_r aggr_{j in N_r(i)} x_j W_r`` over the relations ``r`` of ``weights`` (``[C, in, out]``: relations
    ``first`` to ``first + C`` of the layer's ``relations``), aggregating or transforming first."""
    count, width_in, width_out = weights.shape
    num_nodes = x.type.shape[0]
    if aggregate_first:
        grouped = relation_graph(ctx, adj, types, relations, "dst", first, count)
        aggregated = ctx.emit("reshape", [propagate(ctx, x, grouped, reduce)], shape=[num_nodes, count * width_in])
        return ctx.emit("matmul", [aggregated, ctx.param(f"{name}.stacked", weights.reshape(count * width_in,
                                                                                             width_out))])
    side_by_side = ctx.param(f"{name}.side_by_side", weights.permute(1, 0, 2).reshape(width_in, count * width_out))
    per_relation = ctx.emit("reshape", [ctx.emit("matmul", [x, side_by_side])], shape=[num_nodes * count, width_out])
    renamed = relation_graph(ctx, adj, types, relations, "src", first, count)
    weight = None
    if reduce == "mean":
        weight = ctx.memo(("relation_mean", renamed), lambda: ctx.emit("div", [ctx.scalar(1.0), ctx.emit(
            "graph.relation_degree", [renamed], num_relations=count)]))
    return propagate(ctx, per_relation, renamed, "sum" if reduce == "mean" else reduce, weight)


def lower(ctx: LoweringContext, conv: RGCNConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    if edge is None:
        raise unsupported(conv, qualname, "needs the relation of each edge: compile it with "
                          "gnncc.Graph(edge_index, edge_type=...) and call it as conv(x, edge_index, edge_type)")
    reduce = reduce_of(conv, qualname)
    weights = relation_weights(conv)
    relations, width_in, width_out = weights.shape
    aggregate_first = reduce == "max" or width_in < width_out  # max does not commute with the matmul
    out = None
    for first, count in relation_blocks(x.type.shape[0], relations, width_in if aggregate_first else width_out):
        name = qualify(qualname, "weight" if count == relations else f"weight.{first}-{first + count}")
        block = _block(ctx, x, adj, edge, weights[first:first + count], first, relations, reduce, aggregate_first,
                       name)
        out = block if out is None else ctx.emit("add", [out, block])
    if conv.root is not None:
        out = ctx.emit("add", [out, ctx.emit("matmul", [x, ctx.param(qualify(qualname, "root"), conv.root)])])
    if conv.bias is not None:
        out = ctx.emit("add", [out, ctx.param(qualify(qualname, "bias"), conv.bias)])
    return out
