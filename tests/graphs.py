"""Test graphs: random multigraphs with the edge cases every component must handle, and real ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gnncc import datasets
from gnncc.graph import Graph


def random_graph(num_nodes: int, num_edges: int, seed: int = 0, hub: bool = False,
                 self_loops: int = 0, duplicates: int = 0, isolated: int = 0) -> Graph:
    """A random multigraph; ``isolated`` trailing nodes get no edges at all, ``hub`` makes
    node 0 the target of a large share of edges."""
    gen = torch.Generator().manual_seed(seed)
    active = max(num_nodes - isolated, 1)
    src = torch.randint(0, active, (num_edges,), generator=gen)
    dst = torch.randint(0, active, (num_edges,), generator=gen)
    if hub and num_edges:
        dst[: num_edges // 2] = 0
    if self_loops:
        loops = torch.randint(0, active, (self_loops,), generator=gen)
        src, dst = torch.cat([src, loops]), torch.cat([dst, loops])
    if duplicates and src.numel():
        pick = torch.randint(0, src.numel(), (duplicates,), generator=gen)
        src, dst = torch.cat([src, src[pick]]), torch.cat([dst, dst[pick]])
    return Graph(torch.stack([src, dst]), num_nodes)


EDGE_CASE_GRAPHS = {
    "random": lambda: random_graph(60, 300, seed=1),
    "isolated": lambda: random_graph(50, 120, seed=2, isolated=10),
    "self_loops": lambda: random_graph(40, 150, seed=3, self_loops=25),
    "duplicates": lambda: random_graph(40, 150, seed=4, duplicates=60),
    "one_node": lambda: Graph(torch.tensor([[0], [0]]), 1),
    "one_node_no_edges": lambda: Graph(torch.zeros(2, 0, dtype=torch.long), 1),
    "hub": lambda: random_graph(200, 2000, seed=5, hub=True),
}


def data_path(name: str) -> Path:
    """``name.npz`` in the data folder (``$GNNCC_DATA``, else ../shared/data), or skip saying where it looked."""
    path = datasets.data_dir() / f"{name}.npz"
    if not path.exists():
        pytest.skip(f"{path} not found: real graphs live in ../shared/data next to the checkout (or set GNNCC_DATA)")
    return path


def real_dataset(name: str):
    """A graph with its features from the data folder, or skip with a message when it is not there."""
    return datasets.load(data_path(name))
