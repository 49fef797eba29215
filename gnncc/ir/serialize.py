"""IR functions to and from JSON-compatible dicts (constant data is kept apart, by name).

Used by ``gnncc.export`` to store the optimised IR and the graph program in a library, and by the
loader to rebuild them. Rebuilding goes through ``Builder``, so types are re-inferred: handing
``function_from_json`` new constants (per-graph data of another graph) re-types the function.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gnncc.errors import IRError
from gnncc.ir.function import Builder, ConstData, Function, Value
from gnncc.ir.types import AdjType, TensorType


def _attr_to_json(value: Any) -> Any:
    if isinstance(value, TensorType):
        return {"tensor_type": [list(value.shape), value.dtype]}
    if isinstance(value, AdjType):
        return {"adj_type": [value.num_src, value.num_dst, value.nnz]}
    if isinstance(value, tuple):
        return list(value)
    return value


def _attr_from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if "tensor_type" in value:
            shape, dtype = value["tensor_type"]
            return TensorType(tuple(shape), dtype)
        if "adj_type" in value:
            return AdjType(*value["adj_type"])
        raise IRError(f"unknown attribute encoding {sorted(value)}")
    return value


def function_to_json(fn: Function) -> dict[str, Any]:
    """Nodes in order; a value is the index of the node producing it; constants by name only."""
    index = {node.output: i for i, node in enumerate(fn.nodes)}
    return {
        "nodes": [
            {"op": n.op, "inputs": [index[v] for v in n.inputs],
             "attrs": {k: _attr_to_json(v) for k, v in n.attrs.items()}}
            for n in fn.nodes
        ],
        "outputs": [index[v] for v in fn.outputs],
    }


def function_from_json(data: Mapping[str, Any], constants: Mapping[str, ConstData]) -> Function:
    """Rebuild a function, reading constant data from ``constants``; types are inferred afresh."""
    b = Builder()
    values: list[Value] = []
    for node in data["nodes"]:
        attrs = {k: _attr_from_json(v) for k, v in node["attrs"].items()}
        op = node["op"]
        if op == "input":
            values.append(b.input(attrs["name"], attrs["type"]))
        elif op == "const":
            if attrs["name"] not in constants:
                raise IRError(f"constant {attrs['name']!r} has no data")
            values.append(b.const(attrs["name"], constants[attrs["name"]]))
        else:
            values.append(b.emit(op, [values[i] for i in node["inputs"]], **attrs))
    return b.finish([values[i] for i in data["outputs"]])
