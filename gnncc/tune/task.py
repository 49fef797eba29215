"""Tuning tasks: one kernel (an IR node with concrete operands) on one graph and target.

A task carries real operand values (a model's task gets the intermediates the interpreter
computes for the graph's features), so every measured candidate is checked against the
interpreter's result on the data it will really see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch

from gnncc.codegen.schedule import Space, load_space
from gnncc.codegen.spec import KernelSpec, spec_of
from gnncc.codegen.target import Target
from gnncc.errors import GnnccError
from gnncc.graph import Graph
from gnncc.ir.adjacency import Adjacency
from gnncc.ir.function import Builder, Node
from gnncc.ir.interpreter import evaluate_node
from gnncc.ir.types import AdjType, TensorType

Operand = torch.Tensor | Adjacency
OPS = ("spmm", "sddmm")  # single-op tasks ``gnncc tune --op`` and ``gnncc bench`` know


@dataclass(eq=False)
class TuneTask:
    """A kernel to tune: ``node`` with its ``operands`` (in node input order) on ``graph``."""

    node: Node
    operands: list[Operand]
    graph: Graph
    target: Target
    index_dtype: str | None = None
    reference: torch.Tensor | None = field(default=None, repr=False)

    @cached_property
    def spec(self) -> KernelSpec:
        return spec_of(self.node, self.index_dtype)

    @property
    def family(self) -> str:
        return self.node.family

    @cached_property
    def space(self) -> Space:
        return load_space(self.family, self.target.kind, self.target.vector_bits)

    @cached_property
    def name(self) -> str:
        from gnncc.codegen.kernel import kernel_name

        return kernel_name(self.spec)

    @cached_property
    def key(self) -> str:
        from gnncc.tune.database import task_key

        return task_key(self.spec, self.graph, self.target)

    @property
    def nnz(self) -> int:
        return node_nnz(self.node)

    def expected(self) -> torch.Tensor:
        """The interpreter's result on the operands (computed once)."""
        if self.reference is None:
            self.reference = evaluate_node(self.node, self.operands)
        return self.reference

    def payload(self) -> dict[str, Any]:
        """What a worker process needs to rebuild, run and check the kernel (saved with torch.save)."""
        return {
            "op": self.node.op, "attrs": dict(self.node.attrs), "operands": self.operands,
            "reference": self.expected(), "target": self.target, "index_dtype": self.index_dtype,
        }


def node_nnz(node: Node) -> int:
    """Edges of the adjacency ``node`` reads (0 for dense nodes)."""
    for v in node.inputs:
        if isinstance(v.type, AdjType):
            return int(v.type.nnz)
    return 0


def standalone_node(op: str, attrs: dict[str, Any], operands: list[Operand]) -> Node:
    """A one-op IR node over ``operands`` (adjacencies become constants, tensors inputs)."""
    b = Builder()
    values = []
    for i, data in enumerate(operands):
        if isinstance(data, Adjacency):
            values.append(b.const(f"A{i}", data))
        else:
            values.append(b.input(f"t{i}", TensorType(tuple(data.shape), str(data.dtype).removeprefix("torch."))))
    return b.emit(op, values, **attrs).node


def op_task(op: str, graph: Graph, feat: int, target: Target, seed: int = 0) -> TuneTask:
    """A single-op task on ``graph``: ``spmm`` (sum, with edge values, as GCN) or ``sddmm`` (dot, as GAT)."""
    gen = torch.Generator().manual_seed(seed)
    adj = graph.csc
    n = graph.num_nodes
    if op == "spmm":
        operands: list[Operand] = [adj, torch.randn(n, feat, generator=gen), torch.rand(adj.nnz, generator=gen)]
        attrs = {"reduce": "sum"}
    elif op == "sddmm":
        operands = [adj, torch.randn(n, feat, generator=gen), torch.randn(n, feat, generator=gen)]
        attrs = {"op": "dot"}
    else:
        raise GnnccError(f"unknown op {op!r}; choose one of {', '.join(OPS)}")
    node = standalone_node(op, attrs, operands)
    index_dtype = str(adj.indices.dtype).removeprefix("torch.")
    return TuneTask(node, operands, graph, target, index_dtype)


def model_tasks(model: torch.nn.Module, graph: Graph, x: torch.Tensor, target: Target) -> list[TuneTask]:
    """One task per distinct kernel of ``model`` compiled for ``graph`` (operands: real intermediates)."""
    from gnncc.compiler import compile as gnncc_compile

    cm = gnncc_compile(model, graph, target=target, in_features=x.shape[1])
    ir = cm.ir
    env: dict[Any, Any] = {}
    tasks: dict[str, TuneTask] = {}
    for node in ir.nodes:
        if node.op == "input":
            env[node.output] = x
        elif node.op == "const":
            env[node.output] = ir.const_data(node.output)
        else:
            operands = [env[v] for v in node.inputs]
            env[node.output] = evaluate_node(node, operands)
            if node in cm.kernels:
                index_dtype = next((str(o.indices.dtype).removeprefix("torch.") for o in operands
                                    if isinstance(o, Adjacency)), None)
                task = TuneTask(node, operands, graph, target, index_dtype, env[node.output])
                tasks.setdefault(task.key, task)
    return list(tasks.values())
