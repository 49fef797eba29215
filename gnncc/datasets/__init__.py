"""Graphs for demos, tests and benchmarks.

Cora ships with the package (the demo graph); the other graphs are read from a
data directory (``$GNNCC_DATA``, else ``../shared/data`` next to the checkout).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gnncc.errors import GnnccError
from gnncc.graph import Graph

_PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_DIR = _PACKAGE_DIR.parents[1]
GRAPH_NAMES = (
    "cora", "citeseer", "pubmed", "amazon_photo", "amazon_computers", "coauthor_cs",
    "facebook_pagepage", "flickr", "ogbn_arxiv",
)


@dataclass
class Dataset:
    """A graph with node features (``x`` may be synthetic: see ``synthetic_features``)."""

    name: str
    graph: Graph
    x: torch.Tensor
    synthetic_features: bool


def data_dir() -> Path:
    return Path(os.environ.get("GNNCC_DATA", _REPO_DIR.parent / "shared" / "data"))


def find(name: str) -> Path | None:
    """Path of the ``name`` graph file, or None when it is not available here."""
    if name == "cora":
        return _PACKAGE_DIR / "cora.npz"
    path = data_dir() / f"{name}.npz"
    return path if path.exists() else None


def load(name_or_path: str | Path, feat: int | None = None, seed: int = 0) -> Dataset:
    """Load a graph by name (see ``GRAPH_NAMES``) or from an ``.npz`` path.

    ``feat`` forces random features of that width (used when a file has none, as for
    ogbn-arxiv and Flickr, or to benchmark a chosen width).
    """
    path = Path(name_or_path) if str(name_or_path).endswith(".npz") else find(str(name_or_path))
    if path is None or not path.exists():
        raise GnnccError(
            f"graph {name_or_path!r} not found; known names: {', '.join(GRAPH_NAMES)} "
            f"(looked in {data_dir()}; set GNNCC_DATA to the folder holding the .npz files)"
        )
    graph = Graph.from_npz(path)
    with np.load(path) as d:
        x = None if feat is not None else _features(d)
    synthetic = x is None
    if synthetic:
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(graph.num_nodes, feat or 128, generator=gen)
    return Dataset(path.stem, graph, x, synthetic)


def _features(d) -> torch.Tensor | None:
    if "x" in d:
        return torch.from_numpy(np.ascontiguousarray(d["x"], dtype=np.float32))
    if "x_indptr" in d:
        import scipy.sparse as sp

        shape = tuple(int(s) for s in d["x_shape"])
        if shape[0] * shape[1] * 4 > 2**30:
            return None
        m = sp.csr_matrix((d["x_data"], d["x_indices"], d["x_indptr"]), shape=shape)
        return torch.from_numpy(m.toarray().astype(np.float32))
    return None
