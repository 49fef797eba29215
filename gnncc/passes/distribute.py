"""Distribute narrowing transforms over linear propagation: ``L(X) @ W == L'(X @ W)``.

Polynomial filters apply one transform per power of the graph operator to a shared chain of
propagations: TAGConv's ``sum_k (A^k X) W_k``, ChebConv's ``sum_k T_k(L) X W_k`` with
``T_k = 2 L T_{k-1} - T_{k-2}``, MixHop's concatenated powers. The chain runs at the input width
(1433 features on Cora) and every intermediate is used twice, so ``reorder_transform_aggregate``
(single-use pairs) cannot move the transforms. Everything between the input and each transform
is linear in the rows: sum/mean ``spmm``, ``add``, ``sub``, ``mul`` by a value that is
constant along the feature axis (a scalar or one value per row), and ``concat`` along the features
(``[a, b] @ W == a @ W_a + b @ W_b``, with ``W``'s row blocks cut at compile time). So each
``matmul(E, W)`` is rebuilt as ``E`` applied to its leaves' ``leaf @ W_rows``: the propagations run
at the output width, once per transform. Shared powers are then recomputed per transform, so the
rewrite is made per group of transforms that share intermediates, only when the cost estimate of
all of them (``gnncc.passes.cost``) is lower and the wide intermediates have no other use.

A variance ``mean(m * m) - mean(m)^2`` (PyG's ``var`` aggregator) is a leaf, kept whole for
``factor_destination_terms`` to compute in two passes (its two terms are ``[N, F]`` either way).

A layer that concatenates what it aggregates before its output Linear gains the most: PNA's
``post_nns([x, aggs, aggs * amplification, aggs * attenuation])`` never writes the ``[N, 13 F]``
concatenation nor its two scaled ``[N, 4 F]`` copies; each aggregator's rows meet their three
weight blocks (one matmul once ``merge_sibling_matmuls`` has merged them) and the scalers scale
``[N, out]`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from gnncc.ir.function import Builder, Function, Node, Value
from gnncc.ir.types import AdjType, TensorType
from gnncc.passes.cost import WORD, Cost, matmul_cost, spmm_cost
from gnncc.passes.destination_terms import variance_of
from gnncc.passes.manager import PassContext, linear_spmm, register_pass, rewrite

NAME = "distribute_transforms"


def _row_scale(v: Value, rows: TensorType) -> bool:
    """``v`` multiplies each row by one value: shape ``[]``, ``[1]``, ``[1, 1]`` or ``[N, 1]``."""
    t = v.type
    if not isinstance(t, TensorType) or t.rank > 2 or (t.rank and t.shape[-1] != 1):
        return False
    return t.rank < 2 or t.shape[0] in (1, rows.shape[0])


def linear_operands(node: Node) -> list[Value] | None:
    """The operands ``node`` is a linear map of, row-wise over ``[N, F]`` features, or None."""
    out = node.output.type
    if not isinstance(out, TensorType) or out.rank != 2 or not out.is_concrete:
        return None
    if linear_spmm(node):
        return [node.inputs[1]]
    if node.op in ("add", "sub") and all(v.type == out for v in node.inputs) and variance_of(node) is None:
        return list(node.inputs)
    if node.op == "concat" and node.attrs["axis"] in (-1, 1) \
            and all(isinstance(v.type, TensorType) and v.type.rank == 2 for v in node.inputs):
        return list(node.inputs)
    if node.op == "mul":
        for rows, scale in (node.inputs, node.inputs[::-1]):
            if rows.type == out and _row_scale(scale, out):
                return [rows]
    return None


def _op_cost(node: Node, width: int | None = None) -> Cost:
    """``node`` as it is, or (``width``) distributed: run at ``width`` features, a ``concat`` of ``k``
    parts become ``k - 1`` adds of part products, each read by the next product's epilogue
    (``fuse_matmul_epilogue``) rather than a kernel of its own."""
    rows = node.output.type.shape[0]
    if width is None:
        width = node.output.type.shape[1]
        if node.op == "concat":
            return Cost(0.0, float(2 * WORD * rows * width))
    elif node.op == "concat":
        adds = len(node.inputs) - 1
        return Cost(float(rows * width * adds), float(WORD * rows * width * adds))
    if node.op == "spmm":
        adj: AdjType = node.inputs[0].type
        return spmm_cost(adj.nnz, adj.num_dst, width, len(node.inputs) == 3)
    return Cost(float(rows * width), float(WORD * rows * width * (1 + len(linear_operands(node)))))


Window = tuple[int, int]  # rows [start, stop) of a transform's weight


@dataclass
class _Root:
    """A transform ``matmul(E, W)`` whose input ``E`` is linear: the ops of ``E``, and each value of ``E`` with
    the window of ``W``'s rows it meets (a ``concat`` hands each part its own rows)."""

    node: Node
    ops: frozenset[Node]
    windows: dict[tuple[Value, Window], None]  # in visiting order

    @property
    def weight(self) -> Value:
        return self.node.inputs[1]

    @property
    def leaves(self) -> list[tuple[Value, Window]]:
        return [(v, w) for v, w in self.windows if v.node not in self.ops]


def _parts(v: Value, window: Window, linear: dict[Node, list[Value]]) -> list[tuple[Value, Window]]:
    """The operands of linear ``v`` that ``v @ W[window]`` is distributed over, with their windows."""
    if v.node.op != "concat":
        return [(u, window) for u in linear[v.node]]
    out, start = [], window[0]
    for part in v.node.inputs:
        out.append((part, (start, start + part.type.shape[1])))
        start += part.type.shape[1]
    return out


def _root(node: Node, linear: dict[Node, list[Value]], ctx: PassContext) -> _Root | None:
    if node.op != "matmul" or node.inputs[0].node not in linear:
        return None
    w = node.inputs[1].type
    if not isinstance(w, TensorType) or not w.is_concrete or w.shape[1] >= w.shape[0]:
        return None  # only transforms that narrow the features
    windows: dict[tuple[Value, Window], None] = {}
    stack = [(node.inputs[0], (0, w.shape[0]))]
    while stack:
        v, window = stack.pop()
        if (v, window) in windows:
            continue
        windows[v, window] = None
        if v.node in linear:
            stack.extend(_parts(v, window, linear))
    ops = frozenset(v.node for v, _ in windows if v.node in linear)
    if any(n.op == "concat" for n in ops) and not ctx.is_model_constant(node.inputs[1]):
        return None  # the weight's row blocks are cut at compile time
    if any(v.node.op in ("gather", "sddmm") for v, _ in windows):
        return None  # a transform of edge rows: hoist_edge_transforms moves it to the nodes instead
    return _Root(node, ops, windows)


def _groups(roots: list[_Root]) -> list[tuple[set[Node], list[_Root]]]:
    """Roots joined when they share an op (their rewrite is decided together), with all their ops."""
    groups: list[tuple[set[Node], list[_Root]]] = []
    for root in roots:
        ops = set(root.ops)
        joined = [g for g in groups if g[0] & ops]
        for g in joined:
            groups.remove(g)
            ops |= g[0]
        groups.append((ops, [r for g in joined for r in g[1]] + [root]))
    return groups


def _costs(ops: set[Node], group: list[_Root]) -> tuple[Cost, Cost]:
    """(as it is, distributed) for one group and its ops."""
    now = sum((_op_cost(n) for n in ops), Cost(0.0, 0.0))
    now += sum((matmul_cost(r.node.inputs[0].type.shape[0], *r.weight.type.shape) for r in group),
               Cost(0.0, 0.0))
    moved = Cost(0.0, 0.0)
    for r in group:
        out = r.weight.type.shape[1]
        moved += sum((_op_cost(v.node, out) for v, _ in r.windows if v.node in r.ops), Cost(0.0, 0.0))
        moved += sum((matmul_cost(leaf.type.shape[0], stop - start, out) for leaf, (start, stop) in r.leaves),
                     Cost(0.0, 0.0))
    return now, moved


def _distributed(fn: Function, root: _Root, linear: dict[Node, list[Value]], b: Builder, new) -> Value:
    """``root``'s transform pushed to its leaves (each ``leaf @ W[window]``) under its linear ops."""
    weight, full = root.weight, (0, root.weight.type.shape[0])
    blocks: dict[Window, Value] = {full: new(weight)}
    memo: dict[tuple[Value, Window], Value] = {}

    def block(window: Window) -> Value:
        if window not in blocks:
            name = f"{weight.node.attrs['name']}.rows{window[0]}_{window[1]}"
            blocks[window] = b.const(name, fn.const_data(weight)[window[0]:window[1]])
        return blocks[window]

    def transformed(v: Value, window: Window) -> Value:
        key = (v, window)
        if key in memo:
            return memo[key]
        if v.node not in root.ops:
            memo[key] = b.emit("matmul", [new(v), block(window)])
        elif v.node.op == "concat":
            total = None
            for part, part_window in _parts(v, window, linear):
                product = transformed(part, part_window)
                total = product if total is None else b.emit("add", [total, product])
            memo[key] = total
        else:
            rows = set(linear[v.node])
            operands = [transformed(u, window) if u in rows else new(u) for u in v.node.inputs]
            memo[key] = b.emit(v.node.op, operands, **v.node.attrs)
        return memo[key]

    return transformed(root.node.inputs[0], full)


@register_pass(NAME, "move narrowing transforms in front of shared chains of linear propagation")
def distribute_transforms(fn: Function, ctx: PassContext) -> Function:
    linear = {n: ops for n in fn.nodes if (ops := linear_operands(n)) is not None}
    roots = [r for n in fn.nodes if (r := _root(n, linear, ctx)) is not None]
    if not roots:
        return fn
    users = fn.users()
    outputs = set(fn.outputs)
    chosen: list[_Root] = []
    for ops, group in _groups(roots):
        inside = ops | {r.node for r in group}
        if any(n.output in outputs or any(u not in inside for u in users[n.output]) for n in ops):
            continue  # a wide intermediate is needed anyway
        now, moved = _costs(ops, group)
        if moved.score >= now.score:
            continue
        ctx.note(NAME, f"{len(group)} transform(s) [{group[0].node.inputs[0].type.shape[1]}->"
                       f"{', '.join(str(r.weight.type.shape[1]) for r in group)}] moved in front of "
                       f"{len(ops)} linear op(s): {moved} instead of {now}")
        chosen.extend(group)
    if not chosen:
        return fn
    by_node = {r.node: r for r in chosen}
    dropped = {n for r in chosen for n in r.ops}

    def rule(node, b, new):
        root = by_node.get(node)
        return None if root is None else _distributed(fn, root, linear, b, new)

    return rewrite(fn, rule, keep=lambda n: n not in dropped)
