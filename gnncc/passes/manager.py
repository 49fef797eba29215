"""Pass infrastructure: a pass takes a Function and returns a Function.

The manager runs a named pipeline, verifies the IR after every pass and keeps
a record of each pass's effect for ``explain()``. Passes register themselves
by name so ``gnncc.compile(..., passes=[...])`` can switch them on and off.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from gnncc.errors import GnnccError
from gnncc.ir.adjacency import Adjacency
from gnncc.ir.function import Builder, Function, Node, Value
from gnncc.ir.types import AdjType, TensorType
from gnncc.ir.verifier import verify

if TYPE_CHECKING:
    from gnncc.passes.fold import GraphProgram


@dataclass
class PassContext:
    """What passes may know beyond the IR: the graph and the kind of target (``cpu``/``cuda``) compiled for."""

    graph_adj: Adjacency | None = None
    target_kind: str = "cpu"
    notes: dict[str, list[str]] = field(default_factory=dict)
    graph_program: GraphProgram | None = None  # what fold_graph_constants evaluated (for serving)

    def note(self, pass_name: str, message: str) -> None:
        self.notes.setdefault(pass_name, []).append(message)

    def is_model_constant(self, v: Value) -> bool:
        """``v`` is a constant of the model itself, not a per-graph one: ``gnncc.load`` recomputes those for
        another graph, so a rewrite may rely on the value of a model constant only."""
        return v.node.op == "const" and not self.is_graph_constant(v)

    def is_graph_constant(self, v: Value) -> bool:
        """``v`` is a per-graph constant: an output of the graph program, recomputed for each graph served."""
        names = self.graph_program.names if self.graph_program is not None else ()
        return v.node.op == "const" and v.node.attrs["name"] in names


def model_scalar(fn: Function, v: Value, ctx: PassContext) -> float | None:
    """The value of ``v`` when it is a one-element model constant (see ``is_model_constant``), else None."""
    if not ctx.is_model_constant(v):
        return None
    data = fn.const_data(v)
    return float(data) if isinstance(data, torch.Tensor) and data.numel() == 1 else None


def single_use(v: Value, users: dict[Value, list[Node]], outputs: set[Value]) -> bool:
    """``v`` is read by exactly one node and is not a function output: a pass may absorb its producer."""
    return len(users[v]) == 1 and v not in outputs


def linear_spmm(node: Node) -> bool:
    """``node`` is a sum or mean SpMM of ``[N, F]`` rows over a concrete adjacency: linear in its rows."""
    if node.op != "spmm" or node.attrs["reduce"] not in ("sum", "mean"):
        return False
    adj, x = node.inputs[0].type, node.inputs[1].type
    return isinstance(adj, AdjType) and adj.is_concrete and isinstance(x, TensorType) and x.rank == 2 \
        and x.is_concrete


PassFn = Callable[[Function, PassContext], Function]


@dataclass(frozen=True)
class PassInfo:
    name: str
    run: PassFn
    description: str
    required: bool = False  # later stages cannot run without it


PASSES: dict[str, PassInfo] = {}


def register_pass(name: str, description: str, required: bool = False) -> Callable[[PassFn], PassFn]:
    def wrap(fn: PassFn) -> PassFn:
        PASSES[name] = PassInfo(name, fn, description, required)
        return fn

    return wrap


@dataclass(frozen=True)
class PassRecord:
    """The effect of one pass: op counts before and after, and what it noted."""

    name: str
    seconds: float
    ops_before: Counter
    ops_after: Counter
    notes: tuple[str, ...]

    def summary(self) -> str:
        changed = []
        for op in sorted(set(self.ops_before) | set(self.ops_after)):
            a, b = self.ops_before.get(op, 0), self.ops_after.get(op, 0)
            if a != b:
                changed.append(f"{op} {a}->{b}")
        if not changed:  # a pass may still have rewritten the IR (e.g. moved ops): its notes say how
            changed = ["op counts unchanged" if self.notes else "no change"]
        text = f"{self.name}: {', '.join(changed)} ({self.seconds * 1e3:.1f} ms)"
        return "\n".join([text, *(f"    {n}" for n in self.notes)])


def op_counts(fn: Function) -> Counter:
    return Counter(n.op for n in fn.nodes)


class PassManager:
    """Runs passes in order; ``verify`` after each one catches a broken rewrite at its source."""

    def __init__(self, names: Sequence[str]) -> None:
        unknown = [n for n in names if n not in PASSES]
        if unknown:
            raise GnnccError(f"unknown pass(es) {unknown}; available: {', '.join(PASSES)}")
        missing = [p.name for p in PASSES.values() if p.required and p.name not in names]
        if missing:
            raise GnnccError(f"pass(es) {missing} are required by code generation and cannot be switched off")
        self.names = list(names)

    def run(self, fn: Function, ctx: PassContext) -> tuple[Function, list[PassRecord]]:
        records = []
        verify(fn)
        for name in self.names:
            start = time.perf_counter()
            before = op_counts(fn)
            fn = PASSES[name].run(fn, ctx)
            try:
                verify(fn)
            except GnnccError as e:
                raise GnnccError(f"pass {name!r} produced invalid IR: {e}") from e
            records.append(
                PassRecord(name, time.perf_counter() - start, before, op_counts(fn),
                           tuple(ctx.notes.get(name, ())))
            )
        return fn, records


Rewrite = Callable[[Node, Builder, Callable[[Value], Value]], "Value | None"]


def rewrite(fn: Function, rule: Rewrite, keep: Callable[[Node], bool] = lambda n: True) -> Function:
    """Rebuild ``fn`` node by node.

    ``rule(node, builder, new_value)`` may emit replacement nodes and return the value
    that replaces ``node``'s output, or None to copy the node unchanged. Nodes for
    which ``keep`` is false are dropped (their uses must have been rewritten away).
    Types are re-inferred, so dimensions resolved upstream propagate downstream.
    """
    b = Builder()
    mapping: dict[Value, Value] = {}

    def new(v: Value) -> Value:
        return mapping[v]

    for node in fn.nodes:
        if not keep(node):
            continue
        replaced = rule(node, b, new)
        if replaced is None:
            replaced = copy_node(node, b, new, fn)
        mapping[node.output] = replaced
    return b.finish([mapping[v] for v in fn.outputs])


def copy_node(node: Node, b: Builder, new: Callable[[Value], Value], fn: Function) -> Value:
    if node.op == "input":
        return b.input(node.attrs["name"], node.attrs["type"])
    if node.op == "const":
        return b.const(node.attrs["name"], fn.constants[node.attrs["name"]])
    return b.emit(node.op, [new(v) for v in node.inputs], **node.attrs)
