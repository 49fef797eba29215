"""``gnncc.datasets``: the shipped Cora, clear errors for unknown names, and R-MAT graphs by name."""

import numpy as np
import pytest
import torch

from gnncc import datasets
from gnncc.errors import GnnccError


def test_cora_ships_with_the_package():
    data = datasets.load("cora")
    assert data.graph.num_nodes == 2708 and data.x.shape == (2708, 1433) and not data.synthetic_features


def test_unknown_names_say_what_exists():
    with pytest.raises(GnnccError, match="known names: cora.*rmat-NODES-EDGES"):
        datasets.load("no_such_graph")


def test_rmat_by_name_has_its_sizes_and_a_power_law():
    data = datasets.load("rmat-20k-200k", feat=16)
    graph = data.graph
    assert data.name == "rmat-20k-200k" and data.synthetic_features and data.x.shape == (20_000, 16)
    assert graph.num_nodes == 20_000 and graph.num_edges == 200_000
    src, dst = graph.edge_index
    assert int(src.max()) < 20_000 and int(dst.max()) < 20_000
    deg = graph.in_degree
    assert deg.max > 30 * deg.mean and deg.zero > 0  # hubs and isolated nodes, unlike a uniform graph
    assert datasets.load("rmat-20k-200k", feat=32).graph is graph  # generated once for both widths
    fresh = datasets.rmat(20_000, 200_000, seed=0)
    assert torch.equal(fresh.edge_index, graph.edge_index)  # deterministic for a seed
    other = datasets.rmat(20_000, 200_000, seed=1)
    assert not torch.equal(other.edge_index, graph.edge_index)


def test_rmat_quadrants_follow_the_probabilities():
    # one bit: a 2-node graph whose four edge kinds are the four quadrants (before the relabelling)
    graph = datasets.rmat(2, 100_000, probabilities=(0.5, 0.3, 0.2, 0.0))
    src, dst = (t.numpy() for t in graph.edge_index)
    counts = sorted(np.bincount(2 * src + dst, minlength=4) / 100_000)
    assert np.allclose(counts, [0.0, 0.2, 0.3, 0.5], atol=0.01)


@pytest.mark.parametrize("nodes, edges, probabilities, match", [
    (0, 10, datasets.RMAT_PROBABILITIES, "num_nodes >= 1"),
    (10, 10, (0.5, 0.5, 0.5, 0.0), "summing to 1"),
])
def test_rmat_rejects_bad_parameters(nodes, edges, probabilities, match):
    with pytest.raises(GnnccError, match=match):
        datasets.rmat(nodes, edges, probabilities=probabilities)
