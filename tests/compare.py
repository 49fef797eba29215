"""The one check most model tests make: gnncc's compiled model against the PyTorch model itself."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch_geometric.nn import PNAConv

import gnncc
from gnncc.check import relative_error


def cancels_digits(model: torch.nn.Module) -> bool:
    """PyG's PNA computes a variance as ``mean(m^2) - mean(m)^2`` in float32, which loses digits where the
    messages share a large term: its own float32 answer is off by 2.7e-4 on Cora, while gnncc's
    ``factor_destination_terms`` drops the shared terms before they cancel."""
    return any(isinstance(m, PNAConv) for m in model.modules())


def compiled_matches(model: torch.nn.Module, graph: gnncc.Graph, x: torch.Tensor, tol: float,
                     **options: Any) -> gnncc.CompiledModel:
    """Compile ``model`` for ``graph`` on CPU and assert that it gives ``model(x, edge_index[, edge_attr])``
    (the graph's edge data or edge types passed when it has some) within relative error ``tol``; returns it. Models
    whose float32 answer is itself that far off (``cancels_digits``) are compared with their float64 one."""
    edge = () if graph.edge_data is None else (graph.edge_data,)
    with torch.no_grad():
        if cancels_digits(model):
            ref = copy.deepcopy(model).double()(x.double(), graph.edge_index, *(
                e.double() if e.is_floating_point() else e for e in edge)).float()
        else:
            ref = model(x, graph.edge_index, *edge)
    cm = gnncc.compile(model, graph, target="cpu", **options)
    err = relative_error(cm(x), ref)
    assert err < tol, f"relative error {err:.2e}\n{cm.explain()}"
    return cm
