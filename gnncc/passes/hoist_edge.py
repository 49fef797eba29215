"""Hoist transforms of gathered rows to the nodes: ``gather(X, end) @ W == gather(X @ W, end)``.

An edge MLP reads per-edge features built from its two ends: EdgeConv's ``nn([x_i, x_j - x_i])``.
As written, the first Linear multiplies an ``[E, 2F]`` tensor, gathered and subtracted edge by
edge. That tensor is linear in the gathered rows, so its product with ``W = [W_top; W_bot]`` is
``x_i (W_top - W_bot) + x_j W_bot``: two ``[N, F] @ [F, H]`` products on the nodes, and one
``[E, H]`` SDDMM that adds the source row of one to the destination row of the other.

The pass reads the edge tensor through gathers of either end, ``sddmm`` adds, ``add``/``sub``/``neg``,
``mul`` by a model scalar and ``concat`` along the features; the transform must be a model constant
(its row blocks are combined at compile time). Any other part of the edge tensor (PNA's encoded
edge features in ``[x_i, x_j, e_ji]``, a product of gathers) keeps its own product with its block of
``W``, edge by edge; when that part is a per-graph constant the product is one too, added to the
graph program. It rewrites when the estimate of the node products and the SDDMM is below that of the
edge product (E > N: nearly always).
"""

from __future__ import annotations

import torch

from gnncc.ir.function import Builder, Function, Node, Value
from gnncc.passes.cost import WORD, Cost, matmul_cost
from gnncc.passes.dce import dead_code_elimination
from gnncc.passes.edge_terms import EDGE_LEAF, EdgeTermReader
from gnncc.passes.fold import derive_graph_constant
from gnncc.passes.manager import PassContext, register_pass, rewrite

NAME = "hoist_edge_transforms"


NodeProducts = dict[str, list[tuple[Value, torch.Tensor]]]  # end -> [(rows, weight)], summed per end


def _hoisted(fn: Function, node: Node, ctx: PassContext) -> tuple[Value, NodeProducts] | None:
    """(adjacency, end -> [(rows, combined weight)]) for a ``matmul`` of a gathered edge tensor by a
    model constant, when hoisting is estimated to pay; else None."""
    if node.op != "matmul" or not ctx.is_model_constant(node.inputs[1]):
        return None
    edge, w = node.inputs
    reader = EdgeTermReader(fn, ctx, edge_leaves=True)
    terms = reader.terms(edge)
    if not terms or reader.adj is None:
        return None
    weight = fn.const_data(w)
    combined: dict[tuple[Value, str], torch.Tensor] = {}
    for t in terms:
        block = t.scale * weight[t.col:t.col + t.rows.type.shape[1]]
        key = (t.rows, t.end)
        combined[key] = combined[key] + block if key in combined else block
    nnz, width = edge.type.shape[0], w.type.shape[1]
    if not all(isinstance(d, int) for d in (nnz, *(rows.type.shape[0] for rows, _ in combined))):
        return None
    # the edge product, plus building the edge tensor it reads (written once, by gathers at the least)
    now = matmul_cost(nnz, edge.type.shape[1], width) + Cost(0.0, float(WORD * nnz * edge.type.shape[1]))
    hoisted = sum((matmul_cost(rows.type.shape[0], rows.type.shape[1], width) for rows, _ in combined),
                  Cost(float(nnz * width), float(WORD * 3 * nnz * width)))  # (a leaf's rows are its edges)
    if hoisted.score >= now.score:
        return None
    by_end: NodeProducts = {}
    for (rows, end), block in combined.items():
        by_end.setdefault(end, []).append((rows, block))
    return reader.adj, by_end


def _product(fn: Function, ctx: PassContext, b: Builder, rows: Value, name: str, block: torch.Tensor) -> Value:
    """``rows @ block`` (the constant ``name``); for rows that are a per-graph constant (encoded edge
    features), a per-graph constant itself, added to the graph program (``gnncc.load`` recomputes it for
    each graph)."""
    derived = derive_graph_constant(fn, ctx, b, rows, "edge_product",
                                    lambda pb, v: pb.emit("matmul", [v, pb.const(name, block)]))
    return derived if derived is not None else b.emit("matmul", [rows, b.const(name, block)])


@register_pass(NAME, "transforms of gathered edge features -> transforms of node rows, then one SDDMM")
def hoist_edge_transforms(fn: Function, ctx: PassContext) -> Function:
    plan = {n: found for n in fn.nodes if (found := _hoisted(fn, n, ctx)) is not None}
    if not plan:
        return fn
    for node, (_, by_end) in plan.items():
        ends = " + ".join(f"{end}[{', '.join(str(rows.type) for rows, _ in parts)}]" for end, parts in by_end.items())
        ctx.note(NAME, f"{node.inputs[0].type} @ {node.inputs[1].type} -> node products gathered at {ends}")

    def rule(node: Node, b: Builder, new) -> Value | None:
        if node not in plan:
            return None
        adj, by_end = plan[node]
        name = node.inputs[1].node.attrs["name"]
        per_end: dict[str, Value] = {}
        for end, parts in by_end.items():
            total = None
            for rows, block in parts:
                product = _product(fn, ctx, b, new(rows), f"{name}.{end}", block)
                total = product if total is None else b.emit("add", [total, product])
            per_end[end] = total
        leaves = per_end.pop(EDGE_LEAF, None)
        if len(per_end) == 2:
            out = b.emit("sddmm", [new(adj), per_end["src"], per_end["dst"]], op="add")
        else:
            (end, rows), = per_end.items()
            out = b.emit("gather", [rows, new(adj)], end=end)
        return out if leaves is None else b.emit("add", [out, leaves])

    return dead_code_elimination(rewrite(fn, rule), ctx)
