"""State shared by the fx walk, the op tables and the conv lowerings."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import torch
from torch.nn.parameter import is_lazy
from torch_geometric.nn import MessagePassing

from gnncc.errors import UnsupportedError
from gnncc.frontend.pyg import capture, convs, ops
from gnncc.frontend.pyg.values import Param, qualify
from gnncc.ir.function import Builder, Value
from gnncc.ir.types import TensorType


class LoweringContext:
    """Emits IR for one model: constants, memoised graph-only values, sub-module dispatch."""

    def __init__(self, builder: Builder, num_nodes: int, adj: Value) -> None:
        self.b = builder
        self.num_nodes = num_nodes
        self.adj = adj
        self._memo: dict[Hashable, Value] = {}

    def emit(self, op: str, inputs: list[Value], **attrs: Any) -> Value:
        return self.b.emit(op, inputs, **attrs)

    def memo(self, key: Hashable, build: Callable[[], Value]) -> Value:
        """``build()`` once per key: constants and graph-only values shared between layers."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def param(self, name: str, tensor: torch.Tensor, transpose: bool = False) -> Value:
        """The model tensor ``name`` as an IR constant (a snapshot: later training does not leak in)."""
        if is_lazy(tensor):
            raise UnsupportedError(
                f"parameter '{name}' is not initialised yet (lazy in_channels=-1); run the model once on "
                "an input so that its lazy parameters get their shapes, then compile it"
            )
        if tensor.is_floating_point() and tensor.dtype != torch.float32:
            raise UnsupportedError(
                f"parameter '{name}' is {tensor.dtype}; gnncc compiles float32 models (call model.float())"
            )

        def build() -> Value:
            data = tensor.detach()
            return self.b.const(name, (data.t() if transpose else data).clone())

        return self.memo(("param", name, transpose), build)

    def scalar(self, value: float) -> Value:
        return self.memo(("scalar", float(value)), lambda: self.b.const("scalar", torch.tensor(float(value))))

    def tensor(self, v: Any) -> Value:
        """An operand as a tensor value: IR values, model constants and Python numbers."""
        if isinstance(v, Value):
            if not isinstance(v.type, TensorType):
                raise UnsupportedError(
                    "edge_index can only be passed to message-passing layers; computing with it "
                    "directly is not supported"
                )
            return v
        if isinstance(v, Param):
            return self.param(v.name, v.tensor)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return self.scalar(v)
        raise UnsupportedError(f"cannot use {type(v).__name__} {v!r} as a tensor operand")

    def linear(self, x: Any, weight: Param, bias: Param | None) -> Value:
        """``x @ weight.T + bias``; the weight is stored transposed, ``[in, out]``."""
        value = self.tensor(x)
        if value.type.rank != 2:
            raise UnsupportedError(f"Linear on {value.type} is not supported; only [N, F] inputs")
        out = self.emit("matmul", [value, self.param(weight.name, weight.tensor, transpose=True)])
        return out if bias is None else self.emit("add", [out, self.tensor(bias)])

    def linear_module(self, module: torch.nn.Module, qualname: str, x: Any) -> Value:
        """A ``torch.nn.Linear`` or PyG ``Linear`` module (weight ``[out, in]``)."""
        bias = None if module.bias is None else Param(qualify(qualname, "bias"), module.bias)
        return self.linear(x, Param(qualify(qualname, "weight"), module.weight), bias)

    def call_module(self, module: torch.nn.Module, qualname: str, args: Any, kwargs: Any) -> Any:
        """Lower ``module(*args, **kwargs)``: a conv, a module with a rule, or a traced container."""
        if isinstance(module, MessagePassing):
            return convs.lower_conv(self, module, qualname, args, kwargs)
        handler = ops.MODULES.get(type(module))
        if handler is not None:
            try:
                return handler(self, module, qualname, *args, **kwargs)
            except TypeError as e:
                raise UnsupportedError(f"module '{qualname}' ({type(module).__name__}) called with "
                                       f"unsupported arguments: {e}") from None
        if capture.Tracer().is_leaf_module(module, qualname) or kwargs:
            raise ops.unsupported_module(module, qualname)
        graph = capture.trace(module, len(args))
        return capture.run_graph(self, module, graph, qualify(qualname, ""), list(args))
