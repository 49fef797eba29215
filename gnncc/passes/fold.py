"""Evaluate graph-only work once per graph, at compile time.

A value is *graph-constant* when it depends only on the graph and on constants
(weights): self-loop insertion, degrees, GCN's symmetric normalisation, edge
weights. This pass evaluates those values with the reference interpreter and
replaces them with constants, so the per-call path runs only feature work.
It is required: ``graph.*`` ops have no kernels.

The pass also records what it evaluated as a ``GraphProgram`` on the context, so the
constants can be recomputed for another graph without recompiling (``gnncc.load``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gnncc.errors import GnnccError
from gnncc.ir.function import Builder, Function, Value
from gnncc.ir.interpreter import evaluate_node
from gnncc.passes.dce import dead_code_elimination
from gnncc.passes.manager import PassContext, copy_node, register_pass

NAME = "fold_graph_constants"


@dataclass(frozen=True)
class GraphProgram:
    """The graph-only work folded away: ``fn`` (no inputs; reads ``graph.adj``) computes the data
    of the per-graph constants ``names``, in ``fn.outputs`` order."""

    fn: Function
    names: tuple[str, ...]


def graph_constant_values(fn: Function) -> set[Value]:
    """Values that depend on no function input."""
    constant: set[Value] = set()
    for node in fn.nodes:
        if node.op == "input":
            continue
        if all(v in constant for v in node.inputs):
            constant.add(node.output)
    return constant


@register_pass(NAME, "compute graph-only values (self-loops, degrees, normalisation) once per graph",
               required=True)
def fold_graph_constants(fn: Function, ctx: PassContext) -> Function:
    constant = graph_constant_values(fn)
    needed = {v for n in fn.nodes if n.output not in constant for v in n.inputs if v in constant}
    needed |= {v for v in fn.outputs if v in constant}
    if any(n.op == "graph.adj" for n in fn.nodes) and ctx.graph_adj is None:
        raise GnnccError("fold_graph_constants: the IR reads the graph but no graph was given")

    values: dict[Value, Any] = {}
    b = Builder()
    mapping: dict[Value, Value] = {}
    folded: list[Value] = []
    for node in fn.nodes:
        out = node.output
        if out in constant:
            args = [values[v] for v in node.inputs]
            values[out] = fn.constants[node.attrs["name"]] if node.op == "const" else evaluate_node(
                node, args, ctx.graph_adj
            )
            if out not in needed:
                continue
            if node.op == "const":
                mapping[out] = copy_node(node, b, mapping.__getitem__, fn)
            else:
                folded.append(out)
                op = node.op.removeprefix("graph.")
                mapping[out] = b.const(f"per_graph.{len(folded)}.{op}", values[out])
        else:
            mapping[out] = copy_node(node, b, mapping.__getitem__, fn)
    if folded:
        ctx.note(NAME, f"{len(folded)} graph-only value(s) precomputed for this graph")
    program = dead_code_elimination(Function(fn.nodes, [], folded, fn.constants), ctx)
    ctx.graph_program = GraphProgram(program, tuple(mapping[v].node.attrs["name"] for v in folded))
    return b.finish([mapping[v] for v in fn.outputs])


def derive_graph_constant(fn: Function, ctx: PassContext, b: Builder, base: Value, label: str,
                          build: Callable[[Builder, Value], Value]) -> Value | None:
    """A new per-graph constant in ``b``: ``build(program_builder, base)`` on the per-graph constant ``base``
    (after folding: an adjacency, encoded edge features), appended to the graph program so that
    ``gnncc.load`` recomputes it for each graph it serves. None when ``base`` is not a per-graph constant.

    For passes after folding that need more graph-only data than the frontend asked for: in-degrees
    (``factor_destination_terms``), a product of edge features (``hoist_edge_transforms``).
    """
    if not ctx.is_graph_constant(base):
        return None
    program, name = ctx.graph_program, base.node.attrs["name"]
    pb = Builder(program.fn.constants)
    mapping: dict[Value, Value] = {}
    for node in program.fn.nodes:
        mapping[node.output] = copy_node(node, pb, mapping.__getitem__, program.fn)
    source = mapping[program.fn.outputs[program.names.index(name)]]
    first_new = len(pb.nodes)
    derived = build(pb, source)
    values: dict[Value, Any] = {source: fn.const_data(base)}
    for node in pb.nodes[first_new:]:
        values[node.output] = pb.constants[node.attrs["name"]] if node.op == "const" else evaluate_node(
            node, [values[v] for v in node.inputs], ctx.graph_adj)
    constant = b.const(f"per_graph.{len(program.names) + 1}.{label}", values[derived])
    ctx.graph_program = GraphProgram(pb.finish([*(mapping[v] for v in program.fn.outputs), derived]),
                                     (*program.names, constant.node.attrs["name"]))
    return constant
