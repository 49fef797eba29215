"""Lowerings of PyG message-passing layers, one module per layer, dispatched on exact type.

Each lowering takes ``(ctx, conv, qualname, x, adj)`` and emits gather/scatter-level IR;
graph-only work (self-loops, degrees, normalisation) is IR too, for constant folding.
Subclasses are not matched: they may override ``message`` or ``forward``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from torch_geometric.nn import APPNP, GATConv, GATv2Conv, GCNConv, GINConv, MessagePassing, SAGEConv, SGConv

from gnncc.errors import UnsupportedError
from gnncc.frontend.pyg.convs import appnp, gat, gatv2, gcn, gin, sage, sgconv
from gnncc.ir.function import Value
from gnncc.ir.types import AdjType, TensorType

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext

ConvLowering = Callable[["LoweringContext", Any, str, Value, Value], Value]

CONVS: dict[type[MessagePassing], ConvLowering] = {
    GCNConv: gcn.lower,
    SAGEConv: sage.lower,
    GINConv: gin.lower,
    GATConv: gat.lower,
    GATv2Conv: gatv2.lower,
    APPNP: appnp.lower,
    SGConv: sgconv.lower,
}


def lower_conv(ctx: LoweringContext, conv: MessagePassing, qualname: str, args: Any, kwargs: Any) -> Value:
    """Check the call ``conv(x, edge_index)`` and lower it with the layer's registered rule."""
    name = f"layer '{qualname}' ({type(conv).__name__})" if qualname else f"layer {type(conv).__name__}"
    lower = CONVS.get(type(conv))
    if lower is None:
        raise UnsupportedError(
            f"{name} is an unsupported message-passing layer; supported layers: "
            f"{', '.join(sorted(t.__name__ for t in CONVS))}"
        )
    if conv.flow != "source_to_target":
        raise UnsupportedError(f"{name} uses flow={conv.flow!r}; only 'source_to_target' is supported")
    try:
        bound = inspect.signature(conv.forward).bind(*args, **kwargs)
    except TypeError as e:
        raise UnsupportedError(f"{name} is called with unsupported arguments: {e}") from None
    values = list(bound.arguments.values())
    extra = [k for k, v in list(bound.arguments.items())[2:] if v is not None]
    if len(values) < 2 or extra:
        raise UnsupportedError(
            f"{name} must be called as conv(x, edge_index); extra arguments {extra} (edge weights, "
            "edge features, sizes, ...) are not supported"
        )
    x, adj = values[0], values[1]
    if not isinstance(x, Value) or not isinstance(x.type, TensorType) or x.type.rank != 2:
        raise UnsupportedError(f"{name} needs node features x of shape [N, F], got {getattr(x, 'type', x)!r}")
    if not isinstance(adj, Value) or not isinstance(adj.type, AdjType):
        raise UnsupportedError(f"{name} needs the model's edge_index as its second argument")
    return lower(ctx, conv, qualname, x, adj)
