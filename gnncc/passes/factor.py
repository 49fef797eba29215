"""Factor aggregations out of sums: ``a spmm(A, P) + b spmm(A, Q) == spmm(A, a P + b Q)``.

A polynomial in the graph operator, ``sum_k A^k Y_k`` (TAGConv and MixHop after
``distribute_transforms``; ChebConv's recurrence), costs ``K (K + 1) / 2`` propagations when each
power is its own chain. Sum and mean aggregation are linear, so terms that aggregate over the
same adjacency with the same edge values are summed first and aggregated once; repeated to a
fixed point this is Horner's rule, ``A (Y_1 + A (Y_2 + A Y_3)) + Y_0``: ``K`` propagations.

A sum is read through single-use ``add``, ``sub`` and ``mul`` by a one-element value; only
single-use aggregations are merged (another user would still need each one).
"""

from __future__ import annotations

from dataclasses import dataclass

from gnncc.ir.function import Function, Node, Value
from gnncc.ir.types import TensorType
from gnncc.passes.manager import PassContext, linear_spmm, register_pass, rewrite, single_use

NAME = "factor_aggregations"


@dataclass(frozen=True)
class _Term:
    """``sign * scales[0] * scales[1] * ... * value``."""

    sign: int
    scales: tuple[Value, ...]
    value: Value


def _scalar(v: Value) -> bool:
    return isinstance(v.type, TensorType) and v.type.is_concrete and v.type.numel() == 1


class _Sums:
    """Reads the sum trees of one function: each tree's terms and the nodes inside it."""

    def __init__(self, fn: Function) -> None:
        self.users = fn.users()
        self.outputs = set(fn.outputs)

    def single_use(self, v: Value) -> bool:
        return single_use(v, self.users, self.outputs)

    @staticmethod
    def operands(node: Node) -> list[tuple[Value, int, Value | None]] | None:
        """(operand, sign, scale) that ``node`` sums, when it is a sum or a scaled term of its shape."""
        out = node.output.type
        if node.op in ("add", "sub") and all(v.type == out for v in node.inputs):
            return [(node.inputs[0], 1, None), (node.inputs[1], -1 if node.op == "sub" else 1, None)]
        if node.op == "mul":
            for rows, scale in (node.inputs, node.inputs[::-1]):
                if rows.type == out and _scalar(scale):
                    return [(rows, 1, scale)]
        return None

    def interior(self, v: Value) -> bool:
        """``v`` is read only by a sum, which takes it in."""
        return self.single_use(v) and self.operands(self.users[v][0]) is not None

    def tree(self, root: Node) -> tuple[list[_Term], set[Node]]:
        """The terms of the sum rooted at ``root``, and the nodes between them and the root."""
        terms: list[_Term] = []
        inside: set[Node] = set()
        stack = [(v, sign, () if scale is None else (scale,)) for v, sign, scale in self.operands(root)]
        while stack:
            v, sign, scales = stack.pop()
            parts = self.operands(v.node) if self.single_use(v) else None
            if parts is None:
                terms.append(_Term(sign, scales, v))
                continue
            inside.add(v.node)
            stack.extend((u, sign * s, scales if c is None else (*scales, c)) for u, s, c in parts)
        return terms, inside


def _key(node: Node) -> tuple:
    return (node.inputs[0], *node.inputs[2:], node.attrs["reduce"])


@dataclass
class _Rebuild:
    """One sum tree to rebuild: groups of aggregations to factor, the other terms, the nodes it replaces."""

    factored: list[list[_Term]]
    rest: list[_Term]
    inside: set[Node]


def _plan(fn: Function, sums: _Sums) -> dict[Node, _Rebuild]:
    plan: dict[Node, _Rebuild] = {}
    for node in fn.nodes:
        if sums.operands(node) is None or sums.interior(node.output):
            continue
        terms, inside = sums.tree(node)
        groups: dict[tuple, list[_Term]] = {}
        rest: list[_Term] = []
        for term in terms:
            if linear_spmm(term.value.node) and sums.single_use(term.value):
                groups.setdefault(_key(term.value.node), []).append(term)
            else:
                rest.append(term)
        factored = [g for g in groups.values() if len(g) > 1]
        if factored:
            rest += [g[0] for g in groups.values() if len(g) == 1]
            plan[node] = _Rebuild(factored, rest, inside)
    return plan


def _emit_sum(b, terms: list[_Term]) -> Value:
    """``sum sign * scales * value`` over ``terms`` (values of the function being built); positive terms
    first, so that a negation is needed only when all are negative."""
    out = None
    for term in sorted(terms, key=lambda t: t.sign < 0):
        v = term.value
        for scale in term.scales:
            v = b.emit("mul", [v, scale])
        if out is None:
            out = v if term.sign > 0 else b.emit("neg", [v])
        else:
            out = b.emit("add" if term.sign > 0 else "sub", [out, v])
    return out


def _factor_once(fn: Function, ctx: PassContext) -> Function | None:
    sums = _Sums(fn)
    plan = _plan(fn, sums)
    if not plan:
        return None
    dropped = {n for r in plan.values() for n in r.inside}
    dropped |= {t.value.node for r in plan.values() for g in r.factored for t in g}
    for r in plan.values():
        for g in r.factored:
            spmm = g[0].value.node
            ctx.note(NAME, f"{len(g)} {spmm.attrs['reduce']} aggregations over nnz={spmm.inputs[0].type.nnz} of "
                           f"{spmm.output.type} summed first: one spmm")

    def rule(node, b, new):
        r = plan.get(node)
        if r is None:
            return None

        def rebuilt(t: _Term, value: Value) -> _Term:
            return _Term(t.sign, tuple(map(new, t.scales)), value)

        terms = [rebuilt(t, new(t.value)) for t in r.rest]
        for g in r.factored:
            spmm = g[0].value.node
            inner = _emit_sum(b, [rebuilt(t, new(t.value.node.inputs[1])) for t in g])
            terms.append(_Term(1, (), b.emit("spmm", [new(spmm.inputs[0]), inner, *map(new, spmm.inputs[2:])],
                                             **spmm.attrs)))
        return _emit_sum(b, terms)

    return rewrite(fn, rule, keep=lambda n: n not in dropped)


@register_pass(NAME, "sum terms aggregating over one adjacency before aggregating (Horner's rule)")
def factor_aggregations(fn: Function, ctx: PassContext) -> Function:
    for _ in range(len(fn.nodes)):  # each round removes at least one spmm
        factored = _factor_once(fn, ctx)
        if factored is None:
            break
        fn = factored
    return fn
