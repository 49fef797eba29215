"""gnncc.Graph: constructors, validation errors, layouts, statistics."""

import numpy as np
import pytest
import torch

from gnncc import Graph, GraphError


def test_edge_index_layouts_keep_duplicates_and_self_loops():
    ei = torch.tensor([[0, 1, 1, 2, 2, 2], [1, 0, 2, 2, 1, 1]])
    g = Graph(ei)
    assert g.num_nodes == 3 and g.num_edges == 6 and g.num_self_loops == 1
    csc = g.csc  # in-edges grouped by target
    assert csc.indptr.tolist() == [0, 1, 4, 6]
    assert csc.indices.tolist() == [1, 0, 2, 2, 1, 2]
    assert csc.indices.dtype == torch.int32
    csr = g.csr
    assert csr.indptr.tolist() == [0, 1, 3, 6]
    assert sorted(csr.indices[3:6].tolist()) == [1, 1, 2]
    assert g.in_degree.max == 3 and g.in_degree.min == 1
    assert g.out_degree.max == 3


def test_isolated_nodes_from_num_nodes():
    g = Graph(torch.tensor([[0], [1]]), num_nodes=5)
    assert g.in_degree.zero == 4
    assert g.csc.indptr.tolist() == [0, 0, 1, 1, 1, 1]


@pytest.mark.parametrize("make", ["numpy", "list", "scipy", "networkx", "pyg"])
def test_constructors_agree(make):
    ei = np.array([[0, 1, 2, 3], [1, 2, 3, 0]])
    ref = Graph(torch.from_numpy(ei), 4)
    if make == "numpy":
        g = Graph(ei, 4)
    elif make == "list":
        g = Graph(ei.tolist(), 4)
    elif make == "scipy":
        import scipy.sparse as sp

        g = Graph.from_scipy(sp.coo_matrix((np.ones(4), (ei[0], ei[1])), shape=(4, 4)))
    elif make == "networkx":
        import networkx as nx

        dg = nx.DiGraph()
        dg.add_nodes_from(range(4))
        dg.add_edges_from(ei.T.tolist())
        g = Graph.from_networkx(dg)
    else:
        from torch_geometric.data import Data

        g = Graph.coerce(Data(edge_index=torch.from_numpy(ei), num_nodes=4))
    assert g.num_nodes == 4
    assert torch.equal(g.csc.indptr, ref.csc.indptr) and torch.equal(g.csc.indices, ref.csc.indices)


def test_undirected_networkx_gives_both_directions():
    import networkx as nx

    g = Graph.from_networkx(nx.path_graph(3))
    assert g.num_edges == 4


@pytest.mark.parametrize(
    "edge_index, num_nodes, message",
    [
        (torch.tensor([[0.0, 1.0], [1.0, 0.0]]), None, "integer node ids"),
        (torch.tensor([[0, 1, 2]]), None, "shape [2, E]"),
        (torch.tensor([[0, 1], [1, 0], [2, 2]]), None, "did you pass edge_index.t()"),
        (torch.tensor([[0, -1], [1, 0]]), None, "negative node id -1"),
        (torch.tensor([[0, 7], [1, 0]]), 5, "node id 7 (edge 1) out of range for num_nodes=5"),
        (torch.zeros(2, 0, dtype=torch.long), None, "edge_index is empty and num_nodes was not given"),
        (torch.tensor([[0], [1]]), -3, "num_nodes must be >= 0"),
        ("edges", None, "edge_index must be a tensor"),
    ],
)
def test_bad_edge_index_errors(edge_index, num_nodes, message):
    with pytest.raises(GraphError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        Graph(edge_index, num_nodes)


def test_coerce_rejects_unknown():
    with pytest.raises(GraphError, match="cannot make a graph from dict"):
        Graph.coerce({"a": 1})


def test_scipy_must_be_square():
    import scipy.sparse as sp

    with pytest.raises(GraphError, match="square"):
        Graph.from_scipy(sp.random(3, 4, density=0.5, format="csr"))


def test_signature_depends_on_edges():
    a = Graph(torch.tensor([[0, 1], [1, 0]]))
    b = Graph(torch.tensor([[0, 1], [1, 1]]))
    assert a.signature != b.signature
    assert a.signature == Graph(torch.tensor([[0, 1], [1, 0]])).signature


def test_empty_graph_with_num_nodes():
    g = Graph(torch.zeros(2, 0, dtype=torch.long), num_nodes=3)
    assert g.num_edges == 0 and g.csc.indptr.tolist() == [0, 0, 0, 0]
    assert g.in_degree.zero == 3
