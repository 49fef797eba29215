"""Distribute narrowing transforms over linear propagation: ``L(X) @ W == L'(X @ W)``.

Polynomial filters apply one transform per power of the graph operator to a shared chain of
propagations: TAGConv's ``sum_k (A^k X) W_k``, ChebConv's ``sum_k T_k(L) X W_k`` with
``T_k = 2 L T_{k-1} - T_{k-2}``, MixHop's concatenated powers. The chain runs at the input width
(1433 features on Cora) and every intermediate is used twice, so ``reorder_transform_aggregate``
(single-use pairs) cannot move the transforms. Everything between the input and each transform
is linear in the rows: sum/mean ``spmm``, ``add``, ``sub``, and ``mul`` by a value that is
constant along the feature axis (a scalar or one value per row). So each ``matmul(E, W)`` is
rebuilt as ``E`` applied to its leaves' ``leaf @ W``: the propagations run at the output width,
once per transform. Shared powers are then recomputed per transform, so the rewrite is made per
group of transforms that share intermediates, only when the cost estimate of all of them
(``gnncc.passes.cost``) is lower and the wide intermediates have no other use.
"""

from __future__ import annotations

from dataclasses import dataclass

from gnncc.ir.function import Function, Node, Value
from gnncc.ir.types import AdjType, TensorType
from gnncc.passes.cost import WORD, Cost, matmul_cost, spmm_cost
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
    if node.op in ("add", "sub") and all(v.type == out for v in node.inputs):
        return list(node.inputs)
    if node.op == "mul":
        for rows, scale in (node.inputs, node.inputs[::-1]):
            if rows.type == out and _row_scale(scale, out):
                return [rows]
    return None


def _op_cost(node: Node, width: int) -> Cost:
    """``node`` run at ``width`` features."""
    if node.op == "spmm":
        adj: AdjType = node.inputs[0].type
        return spmm_cost(adj.nnz, adj.num_dst, width, len(node.inputs) == 3)
    rows = node.output.type.shape[0]
    return Cost(float(rows * width), float(WORD * rows * width * (1 + len(linear_operands(node)))))


@dataclass
class _Root:
    """A transform ``matmul(E, W)`` whose input ``E`` is linear: the ops of ``E`` and its leaves."""

    node: Node
    ops: frozenset[Node]
    leaves: list[Value]

    @property
    def weight(self) -> Value:
        return self.node.inputs[1]


def _root(node: Node, linear: dict[Node, list[Value]]) -> _Root | None:
    if node.op != "matmul" or node.inputs[0].node not in linear:
        return None
    w = node.inputs[1].type
    if not isinstance(w, TensorType) or not w.is_concrete or w.shape[1] >= w.shape[0]:
        return None  # only transforms that narrow the features
    ops: set[Node] = set()
    leaves: dict[Value, None] = {}
    stack = [node.inputs[0]]
    while stack:
        v = stack.pop()
        if v.node in linear:
            if v.node not in ops:
                ops.add(v.node)
                stack.extend(linear[v.node])
        else:
            leaves[v] = None
    return _Root(node, frozenset(ops), list(leaves))


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
    width = group[0].node.inputs[0].type.shape[1]
    now = sum((_op_cost(n, width) for n in ops), Cost(0.0, 0.0))
    now += sum((matmul_cost(r.node.inputs[0].type.shape[0], width, r.weight.type.shape[1]) for r in group),
               Cost(0.0, 0.0))
    moved = Cost(0.0, 0.0)
    for r in group:
        out = r.weight.type.shape[1]
        moved += sum((_op_cost(n, out) for n in r.ops), Cost(0.0, 0.0))
        moved += sum((matmul_cost(leaf.type.shape[0], width, out) for leaf in r.leaves), Cost(0.0, 0.0))
    return now, moved


@register_pass(NAME, "move narrowing transforms in front of shared chains of linear propagation")
def distribute_transforms(fn: Function, ctx: PassContext) -> Function:
    linear = {n: ops for n in fn.nodes if (ops := linear_operands(n)) is not None}
    roots = [r for n in fn.nodes if (r := _root(n, linear)) is not None]
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
        if root is None:
            return None
        weight = new(root.weight)
        memo: dict[Value, Value] = {}

        def transformed(v: Value) -> Value:  # v @ W, with the transform pushed to the leaves
            if v not in memo:
                if v.node in dropped:
                    rows = set(linear[v.node])
                    operands = [transformed(u) if u in rows else new(u) for u in v.node.inputs]
                    memo[v] = b.emit(v.node.op, operands, **v.node.attrs)
                else:
                    memo[v] = b.emit("matmul", [new(v), weight])
            return memo[v]

        return transformed(node.inputs[0])

    return rewrite(fn, rule, keep=lambda n: n not in dropped)
