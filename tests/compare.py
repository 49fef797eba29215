"""The one check most model tests make: gnncc's compiled model against the PyTorch model itself."""

from __future__ import annotations

from typing import Any

import torch

import gnncc
from gnncc.check import relative_error


def compiled_matches(model: torch.nn.Module, graph: gnncc.Graph, x: torch.Tensor, tol: float,
                     **options: Any) -> gnncc.CompiledModel:
    """Compile ``model`` for ``graph`` on CPU and assert that it gives ``model(x, edge_index[, edge_attr])``
    (the graph's edge data passed when it has some) within relative error ``tol``; returns it."""
    edge = () if graph.edge_attr is None else (graph.edge_attr,)
    with torch.no_grad():
        ref = model(x, graph.edge_index, *edge)
    cm = gnncc.compile(model, graph, target="cpu", **options)
    err = relative_error(cm(x), ref)
    assert err < tol, f"relative error {err:.2e}\n{cm.explain()}"
    return cm
