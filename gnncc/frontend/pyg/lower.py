"""``lower_pyg``: an unmodified PyG model -> IR ``Function`` with eval-mode semantics.

The function has one input ``x: f32[num_nodes, in_features]``; the model's ``edge_index``
becomes the ``graph.adj`` value, bound to a concrete graph when the IR is evaluated. A graph's
edge data (or edge types) is passed to the ``forward`` parameter that takes it (``edge_parameter``:
by name, else the third) as the ``graph.edge_attr`` value, graph-only like the adjacency.
"""

from __future__ import annotations

import inspect

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch.nn.parameter import is_lazy
from torch_geometric.nn import MessagePassing
from torch_geometric.nn.dense.linear import Linear as PygLinear

from gnncc.errors import UnsupportedError
from gnncc.frontend.pyg import capture, convs, ops
from gnncc.frontend.pyg.context import LoweringContext
from gnncc.ir.function import Builder, Function, Value
from gnncc.ir.types import AdjType, TensorType

_NO_WIDTH = (
    "cannot infer the width of x: the layer reading it has no fixed input size (lazy in_channels=-1?); "
    "pass in_features=... to lower_pyg (and run the model once so lazy parameters are materialised)"
)


def lower_pyg(model: torch.nn.Module, num_nodes: int, num_edges: int,
              in_features: int | None = None, edge_shape: tuple[int, ...] | None = None,
              edge_types: bool = False) -> Function:
    """Lower ``model(x, edge_index)`` for graphs of ``num_nodes`` nodes and ``num_edges`` edges.

    ``in_features`` defaults to the input width of the first layer that reads ``x``. ``edge_shape``
    is the shape of the graph's edge data past its edge axis (``()`` for ``[E]``, ``(D,)`` for
    ``[E, D]``), None without: then the model is called with the edge data too where ``forward`` takes
    it (see ``edge_parameter``; a bare layer gets it as its ``edge_weight``/``edge_attr``). With
    ``edge_types`` the graph's edge data are relation ids (``[E]`` int64, ``edge_shape=()``), passed
    as the model's ``edge_type``.
    Raises ``UnsupportedError`` naming the layer, function or signature it cannot lower.
    """
    if not isinstance(model, torch.nn.Module):
        raise UnsupportedError(f"expected a torch.nn.Module, got {type(model).__name__}")
    if edge_shape is not None and len(edge_shape) > 1:
        raise UnsupportedError(f"edge data of shape [E, {', '.join(map(str, edge_shape))}] is not supported; "
                               "only [E] (edge weights) and [E, D] (edge features)")
    with capture.eval_mode(model):
        edge_param = None if edge_shape is None else edge_parameter(model, 0 if edge_types else len(edge_shape) + 1)
        # fx always traces into the root module, so a bare layer is lowered as a leaf directly.
        graph = None if isinstance(model, MessagePassing) else capture.trace(model, 2, edge_param)
        if in_features is None:
            in_features = _infer_in_features(model, graph) if graph is not None else module_in_features(model)
        if in_features is None:
            raise UnsupportedError(_NO_WIDTH)
        b = Builder()
        x = b.input("x", TensorType((num_nodes, in_features)))
        adj = b.emit("graph.adj", type=AdjType(num_nodes, num_nodes, num_edges))
        ctx = LoweringContext(b, num_nodes, adj)
        edge = {} if edge_param is None else {
            edge_param: b.emit("graph.edge_attr", [adj], width=edge_shape[0] if edge_shape else None,
                               dtype="int64" if edge_types else "float32")}
        if graph is None:
            out = ctx.call_module(model, "", [x, adj], edge)
        else:
            out = capture.run_graph(ctx, model, graph, "", [x, adj], edge)
    if not isinstance(out, Value) or not isinstance(out.type, TensorType):
        raise UnsupportedError(
            f"{type(model).__name__}.forward returns {type(out).__name__}; gnncc needs it to return one "
            "tensor computed from x"
        )
    return b.finish([out])


def edge_parameter(model: torch.nn.Module, rank: int) -> str | None:
    """The parameter of ``model.forward`` that takes the graph's edge data of ``rank`` (1: ``[E]``,
    2: ``[E, D]``, 0: edge types ``[E]``), None where it takes none (the data is then unused, as by
    ``model(x, edge_index)``).

    A bare layer takes it as its ``edge_weight``, ``edge_attr`` or ``edge_type`` (whichever it is lowered
    with; edge types only as ``edge_type``). A model takes it by name, as PyG's ready-made models are
    called: ``edge_weight`` (then ``edge_attr``) for weights, ``edge_attr`` for features, ``edge_type``
    for types; else as its third positional parameter, whatever its name, except that edge types never
    go to one named ``edge_weight`` or ``edge_attr`` (a graph from a ``Data`` with ``edge_type``, e.g.
    from ``to_homogeneous()``, still compiles a model that does not read them).
    """
    if isinstance(model, MessagePassing):
        argument = convs.edge_argument(model)
        return None if rank == 0 and argument != "edge_type" else argument
    plain = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name for p in inspect.signature(model.forward).parameters.values() if p.kind in plain][2:]
    for name in {0: ("edge_type",), 1: ("edge_weight", "edge_attr"), 2: ("edge_attr",)}[rank]:
        if name in names:
            return name
    if rank == 0 and names and names[0] in ("edge_weight", "edge_attr"):
        return None
    return names[0] if names else None


def module_in_features(module: torch.nn.Module) -> int | None:
    """Input width a module expects, or None where it is lazy or unknown."""
    if isinstance(module, MessagePassing):
        return convs.in_width(module, _generic_in_features)
    return _generic_in_features(module)


def _generic_in_features(module: torch.nn.Module) -> int | None:
    """A Linear's or BatchNorm's width, ``in_channels``, else the first sub-module's input width."""
    weight = getattr(module, "weight", None)
    if isinstance(module, (torch.nn.Linear, PygLinear)) and weight is not None and not is_lazy(weight):
        return int(weight.shape[1])
    if isinstance(module, torch.nn.BatchNorm1d):
        return module.num_features
    channels = getattr(module, "in_channels", None)
    if isinstance(channels, tuple):
        channels = channels[0]
    if isinstance(channels, int) and channels > 0:
        return channels
    for child in module.children():
        width = module_in_features(child)
        if width is not None:
            return width
    return None


def _keeps_width(root: torch.nn.Module, node: fx.Node) -> bool:
    if node.op == "call_module":  # e.g. APPNP propagates without changing the width
        module = root.get_submodule(node.target)
        return type(module) in ops.ELEMENTWISE_MODULES or (isinstance(module, MessagePassing) and
                                                            convs.keeps_width(module))
    if node.op == "call_function":
        return node.target in ops.ELEMENTWISE_FUNCTIONS
    return node.op == "call_method" and node.target in ops.ELEMENTWISE_METHODS


def _infer_in_features(root: torch.nn.Module, graph: fx.Graph) -> int:
    """Width of ``x`` from the first layers reading it (through activations and dropout)."""
    x_node = next(n for n in graph.nodes if n.op == "placeholder")
    frontier = [x_node]
    while frontier:
        node = frontier.pop(0)
        for user in node.users:
            width = None
            if user.op == "call_module":
                module = root.get_submodule(user.target)
                if type(module) not in ops.MODULES and capture.Tracer().is_leaf_module(module, user.target) \
                        and not isinstance(module, MessagePassing):
                    raise ops.unsupported_module(module, user.target)
                width = module_in_features(module)
            elif user.op == "call_function" and user.target in (F.linear, torch._C._nn.linear):
                weight = user.args[1]
                if isinstance(weight, fx.Node) and weight.op == "get_attr":
                    weight = root.get_parameter(weight.target)
                    width = None if is_lazy(weight) else int(weight.shape[1])
            if width is not None:
                return width
            if _keeps_width(root, user):
                frontier.append(user)
    raise UnsupportedError(_NO_WIDTH)
