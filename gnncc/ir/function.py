"""The IR container: SSA values produced by nodes, in topological order.

A ``Function`` has feature inputs, a list of nodes (each producing one value),
outputs, and a table of constant data (weights, and per-graph data once folded).
Passes build new functions with ``Builder`` rather than mutating in place.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import torch

from gnncc.ir.adjacency import Adjacency
from gnncc.ir.ops import complete_attrs, get_op, infer_type
from gnncc.ir.types import AdjType, IRType, TensorType

ConstData = torch.Tensor | Adjacency


@dataclass(eq=False)
class Value:
    """One SSA value; ``node`` is the node that produces it."""

    id: int
    type: IRType
    node: Node

    @property
    def name(self) -> str:
        return f"%{self.id}"

    def __repr__(self) -> str:
        return f"{self.name}: {self.type}"


@dataclass(eq=False)
class Node:
    op: str
    inputs: list[Value]
    attrs: dict[str, Any]
    output: Value = field(init=False)

    @property
    def family(self) -> str:
        return get_op(self.op).family


@dataclass(eq=False)
class Function:
    nodes: list[Node]
    inputs: list[Value]
    outputs: list[Value]
    constants: dict[str, ConstData]

    def const_data(self, value: Value) -> ConstData:
        return self.constants[value.node.attrs["name"]]

    def users(self) -> dict[Value, list[Node]]:
        out: dict[Value, list[Node]] = {n.output: [] for n in self.nodes}
        for n in self.nodes:
            for v in n.inputs:
                out[v].append(n)
        return out

    def __str__(self) -> str:
        from gnncc.ir.printer import print_function

        return print_function(self)


def const_type(data: ConstData) -> IRType:
    if isinstance(data, Adjacency):
        return AdjType(data.num_src, data.num_dst, data.nnz)
    return TensorType(tuple(data.shape), str(data.dtype).removeprefix("torch."))


class Builder:
    """Creates nodes with type inference; values are numbered in creation order."""

    def __init__(self, constants: dict[str, ConstData] | None = None) -> None:
        self.nodes: list[Node] = []
        self.inputs: list[Value] = []
        self.constants: dict[str, ConstData] = dict(constants or {})
        self._ids = itertools.count()
        self._symbols = itertools.count()

    def emit(self, op_name: str, inputs: list[Value] | tuple[Value, ...] = (), /, **attrs: Any) -> Value:
        attrs = complete_attrs(get_op(op_name), attrs)
        node = Node(op_name, list(inputs), attrs)
        node.output = Value(next(self._ids), infer_type(op_name, [v.type for v in inputs], attrs), node)
        self.nodes.append(node)
        return node.output

    def input(self, name: str, type_: TensorType) -> Value:
        value = self.emit("input", name=name, type=type_)
        self.inputs.append(value)
        return value

    def const(self, name: str, data: ConstData) -> Value:
        """A constant; ``name`` is made unique if it is taken by other data."""
        if isinstance(data, torch.Tensor):
            data = data.detach().contiguous()
        base, k = name, 1
        while name in self.constants and self.constants[name] is not data:
            name = f"{base}.{k}"
            k += 1
        self.constants[name] = data
        return self.emit("const", name=name, type=const_type(data))

    def fresh_symbol(self, prefix: str = "E") -> str:
        return f"{prefix}{next(self._symbols)}"

    def finish(self, outputs: list[Value]) -> Function:
        used = {n.attrs["name"] for n in self.nodes if n.op == "const"}
        constants = {k: v for k, v in self.constants.items() if k in used}
        return Function(self.nodes, self.inputs, list(outputs), constants)
