"""Fold what follows an aggregation or a dense transform into its kernel's epilogue.

An aggregation (``spmm`` over ``[N, F]`` rows, or a fused ``attention_spmm``) is often followed
by a chain of elementwise ops on its result: bias add, activation, degree scaling, residual
add, APPNP's ``(1 - alpha) * h + alpha * h0``. Each would read and write the whole ``[N, F]``
result once more. ``fuse_epilogue`` absorbs the chain into the producing kernel (``fused_spmm``,
or the ``epilogue`` of ``attention_spmm``): every value is finished in registers and stored once.
``fuse_matmul_epilogue`` does the same for a ``matmul`` (a Linear's bias and activation, GIN's
MLP, APPNP's input MLP) -> ``fused_matmul``. It runs after tile-graph scheduling, which pairs an
aggregation with the plain ``matmul`` after it.

A chain follows single-use values only and stops at the first op it cannot fold: a binary op
must keep the ``[N, F]`` shape, take the running value on its left (or be commutative) and
broadcast its other operand as a scalar, per feature, per node or elementwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gnncc.ir.function import Builder, Function, Node, Value
from gnncc.ir.ops import BINARY_OPS, UNARY_OPS, epilogue_operand_shape
from gnncc.ir.types import TensorType
from gnncc.passes.manager import PassContext, register_pass, rewrite, single_use

NAME = "fuse_epilogue"
MATMUL_NAME = "fuse_matmul_epilogue"
COMMUTATIVE = ("add", "mul", "maximum", "minimum")


@dataclass
class _Chain:
    producer: Node
    nodes: list[Node] = field(default_factory=list)  # absorbed, in order
    steps: list[str] = field(default_factory=list)
    operands: list[tuple[Value, str]] = field(default_factory=list)  # (value, broadcast kind)


def _kind(t: TensorType, rows: int, width: int) -> str | None:
    """How ``t`` broadcasts against an ``[rows, width]`` result, if it is one of the epilogue kinds."""
    shape = tuple(t.shape)
    if t.dtype != "float32" or len(shape) > 2 or not t.is_concrete:
        return None
    padded = (1,) * (2 - len(shape)) + shape
    for kind in ("scalar", "feat", "row", "node"):  # the first match: [1, 1] is a scalar, not a feature
        if padded == epilogue_operand_shape(kind, rows, width):
            return kind
    return None


def _step(node: Node, cur: Value, rows: int, width: int) -> tuple[str, tuple[Value, str] | None] | None:
    """The epilogue step for ``node`` applied to the running value ``cur``, with its operand."""
    if node.output.type != cur.type:
        return None
    if node.op in UNARY_OPS:
        alpha = node.attrs.get("alpha")
        return (node.op if alpha is None else f"{node.op}[{float(alpha)!r}]"), None
    if node.op not in BINARY_OPS or [v is cur for v in node.inputs].count(True) != 1:
        return None
    lhs, rhs = node.inputs
    if rhs is cur and node.op not in COMMUTATIVE:
        return None
    other = rhs if lhs is cur else lhs
    kind = _kind(other.type, rows, width) if isinstance(other.type, TensorType) else None
    return (f"{node.op}[{kind}]", (other, kind)) if kind else None


def _aggregation(node: Node) -> bool:
    if node.op == "spmm":
        return node.inputs[1].type.rank == 2
    return node.op in ("fused_spmm", "attention_spmm")


def _transform(node: Node) -> bool:
    return node.op in ("matmul", "fused_matmul")


def _chains(fn: Function, producer: Callable[[Node], bool]) -> dict[Node, _Chain]:
    users = fn.users()
    outputs = set(fn.outputs)
    chains: dict[Node, _Chain] = {}  # keyed by the last absorbed node
    claimed: set[Node] = set()  # where two chains meet (SAGE's sum of two transforms), the first takes it
    for node in fn.nodes:
        if not producer(node) or not node.output.type.is_concrete:
            continue
        chain = _Chain(node)
        cur = node.output
        rows, width = cur.type.shape
        while single_use(cur, users, outputs) and users[cur][0] not in claimed:
            step = _step(users[cur][0], cur, rows, width)
            if step is None:
                break
            chain.nodes.append(users[cur][0])
            chain.steps.append(step[0])
            if step[1] is not None:
                chain.operands.append(step[1])
            cur = users[cur][0].output
        if chain.nodes:
            chains[chain.nodes[-1]] = chain
            claimed.update(chain.nodes)
    return chains


def _operand(b: Builder, v: Value, kind: str, rows: int, width: int, views: dict[tuple, Value]) -> Value:
    """``v`` in the 2-D shape of its kind (one reshape view per value and shape, shared)."""
    shape = epilogue_operand_shape(kind, rows, width)
    if tuple(v.type.shape) == shape:
        return v
    if (v, shape) not in views:
        views[v, shape] = b.emit("reshape", [v], shape=list(shape))
    return views[v, shape]


def _fuse(fn: Function, ctx: PassContext, name: str, producer: Callable[[Node], bool]) -> Function:
    chains = _chains(fn, producer)
    if not chains:
        return fn
    absorbed = {n for c in chains.values() for n in (c.producer, *c.nodes)}
    views: dict[tuple, Value] = {}

    def rule(node, b, new):
        chain = chains.get(node)
        if chain is None:
            return None
        p = chain.producer
        rows, width = p.output.type.shape
        extra = [_operand(b, new(v), kind, rows, width, views) for v, kind in chain.operands]
        if p.op == "spmm":
            return b.emit("fused_spmm", [*map(new, p.inputs), *extra], reduce=p.attrs["reduce"],
                          weighted=len(p.inputs) == 3, epilogue=chain.steps)
        if p.op == "matmul":
            return b.emit("fused_matmul", [*map(new, p.inputs), *extra], epilogue=chain.steps)
        attrs = dict(p.attrs, epilogue=[*p.attrs["epilogue"], *chain.steps])
        return b.emit(p.op, [*map(new, p.inputs), *extra], **attrs)

    for chain in chains.values():
        rows, width = chain.producer.output.type.shape
        ctx.note(name, f"{chain.producer.op} [{rows}, {width}] + {', '.join(chain.steps)}: "
                       f"{len(chain.nodes)} elementwise kernel(s) and [{rows}, {width}] round trip(s) saved")
    return rewrite(fn, rule, keep=lambda n: n not in absorbed or n in chains)


@register_pass(NAME, "bias, activation, scaling and residual adds after an aggregation -> its kernel's epilogue")
def fuse_epilogue(fn: Function, ctx: PassContext) -> Function:
    return _fuse(fn, ctx, NAME, _aggregation)


@register_pass(MATMUL_NAME, "bias, activation, scaling and residual adds after a matmul -> its kernel's epilogue")
def fuse_matmul_epilogue(fn: Function, ctx: PassContext) -> Function:
    return _fuse(fn, ctx, MATMUL_NAME, _transform)
