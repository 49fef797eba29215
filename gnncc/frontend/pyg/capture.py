"""Capture a module with ``torch.fx`` and walk the captured graph into IR.

Message-passing layers stay opaque leaves (``convs`` lowers each as a whole); everything
else is traced through, so Python loops over layers, ``ModuleList`` and ``Sequential``
unroll. Calls whose operands are all model constants run eagerly in PyTorch (exactly as the
model would compute them) and stay constants.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
import torch.fx as fx
from torch.fx.node import map_aggregate, map_arg
from torch_geometric.nn import JumpingKnowledge, MessagePassing

from gnncc.errors import UnsupportedError
from gnncc.frontend.pyg import ops
from gnncc.frontend.pyg.values import Param
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


class Tracer(fx.Tracer):
    """The default fx tracer, but every ``MessagePassing`` module is a leaf, and so is
    ``JumpingKnowledge`` (its forward stacks a Python list, which has an op-table rule instead)."""

    def is_leaf_module(self, m: torch.nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, (MessagePassing, JumpingKnowledge)) or super().is_leaf_module(m, module_qualified_name)


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Put every submodule in eval mode, restoring each one's own mode afterwards."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield
    finally:
        for m, training in modes.items():
            m.training = training


def defaults_after(module: torch.nn.Module, num_given: int, also: str | None = None) -> dict[str, Any]:
    """``forward``'s parameters after the first ``num_given``, except ``also``, bound to their defaults.

    Traced as concrete values, so ``if edge_weight is None`` style branches specialise.
    """
    params = list(inspect.signature(module.forward).parameters.values())
    head, rest = params[:num_given], [p for p in params[num_given:] if p.name != also]
    plain = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if len(head) < num_given or any(p.kind not in plain for p in head) or any(
        p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        or p.default is inspect.Parameter.empty
        for p in rest
    ):
        raise UnsupportedError(
            f"{type(module).__name__}.forward({', '.join(p.name for p in params)}) is not supported: "
            f"expected {num_given} tensor argument(s) (for a model: forward(x, edge_index), and "
            "forward(x, edge_index, edge_attr) on a graph with edge data), "
            "any further parameters must have defaults (which are used), and no *args/**kwargs"
        )
    return {p.name: p.default for p in rest}


def trace(module: torch.nn.Module, num_given: int, also: str | None = None) -> fx.Graph:
    """The fx graph of ``module.forward`` called with ``num_given`` tensors, and one more as its
    parameter ``also`` (the graph's edge data)."""
    try:
        return Tracer().trace(module, defaults_after(module, num_given, also))
    except UnsupportedError:
        raise
    except Exception as e:  # fx fails in many ways on data-dependent Python
        raise UnsupportedError(
            f"cannot capture {type(module).__name__} with torch.fx ({type(e).__name__}: {e}); "
            "gnncc needs forward code without data-dependent control flow"
        ) from e


def _fetch_attr(root: torch.nn.Module, target: str) -> Any:
    obj: Any = root
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _has_value(args: Any) -> bool:
    found = False

    def visit(a: Any) -> Any:
        nonlocal found
        found |= isinstance(a, Value)
        return a

    map_aggregate(args, visit)
    return found


def _where(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return ""
    qualname, cls = list(stack.values())[-1]
    return f" (in module '{qualname}' ({getattr(cls, '__name__', cls)}))"


def _run_eagerly(prefix: str, node: fx.Node, args: Any, kwargs: Any) -> Any:
    args, kwargs = map_aggregate((args, kwargs), lambda a: a.tensor if isinstance(a, Param) else a)
    with torch.no_grad():
        if node.op == "call_function":
            result = node.target(*args, **kwargs)
        else:
            result = getattr(args[0], node.target)(*args[1:], **kwargs)
    return Param(prefix + node.name, result) if isinstance(result, torch.Tensor) else result


def _lower_node(ctx: LoweringContext, root: torch.nn.Module, prefix: str, node: fx.Node, args: Any,
                kwargs: Any) -> Any:
    if node.op == "call_module":
        return ctx.call_module(root.get_submodule(node.target), prefix + node.target, args, kwargs)
    if not _has_value((args, kwargs)):
        return _run_eagerly(prefix, node, args, kwargs)
    if node.op == "call_function":
        handler = ops.FUNCTIONS.get(node.target)
        module = getattr(node.target, "__module__", None) or ""
        what = f"function {module}.{getattr(node.target, '__name__', node.target)}"
    else:
        handler = ops.METHODS.get(node.target)
        what = f"Tensor method .{node.target}()"
    if handler is None:
        raise UnsupportedError(f"{what}{_where(node)} is unsupported; {ops.supported_summary()}")
    try:
        return handler(ctx, *args, **kwargs)
    except UnsupportedError as e:
        raise UnsupportedError(f"{e}{_where(node)}") from None


def run_graph(ctx: LoweringContext, root: torch.nn.Module, graph: fx.Graph, prefix: str,
              inputs: list[Any], named: dict[str, Any] | None = None) -> Any:
    """Lower ``graph`` (traced from ``root``) with its first placeholders bound to ``inputs``, those of
    the parameters in ``named`` to their values, and the rest to their defaults.

    Module and constant names get ``prefix`` so that they are qualified from the top model.
    """
    env: dict[fx.Node, Any] = {}
    placeholders = 0
    for node in graph.nodes:
        if node.op == "placeholder":
            if named and node.target in named:
                env[node] = named[node.target]
            else:
                env[node] = inputs[placeholders] if placeholders < len(inputs) else node.args[0]
            placeholders += 1
        elif node.op == "get_attr":
            env[node] = Param(prefix + node.target, _fetch_attr(root, node.target))
        elif node.op == "output":
            return map_arg(node.args[0], env.__getitem__)
        else:
            args = map_arg(node.args, env.__getitem__)
            kwargs = map_arg(node.kwargs, env.__getitem__)
            env[node] = _lower_node(ctx, root, prefix, node, args, kwargs)
    raise UnsupportedError("the traced graph has no output")
