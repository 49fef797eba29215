"""Graphs with edge types: RGCNConv, FastRGCNConv and FiLMConv called as ``conv(x, edge_index, edge_type)``
compile to one aggregation over a relation-expanded graph and equal PyG on every edge-case graph, with the
optional passes on and off; the relation graphs are per-graph (served for other edge types), and bad edge
types are errors that name them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch_geometric.nn as pyg
from compare import compiled_matches
from graphs import EDGE_CASE_GRAPHS, random_graph
from torch import nn
from torch_geometric.data import Data

import gnncc
from gnncc.check import relative_error
from gnncc.errors import GnnccError, GraphError, InputError, UnsupportedError
from gnncc.passes import DEFAULT_PIPELINE, PASSES

TOL = 1e-4
R = 4
OPTIONAL_PASSES_OFF = {name: False for name in DEFAULT_PIPELINE if not PASSES[name].required}

# (in, out): a wider output aggregates first, a narrower one transforms first
LAYERS = {
    "mean_aggregate_first": lambda: pyg.RGCNConv(6, 10, R),
    "mean_transform_first": lambda: pyg.RGCNConv(10, 6, R),
    "sum": lambda: pyg.RGCNConv(10, 6, R, aggr="add"),
    "max": lambda: pyg.RGCNConv(10, 6, R, aggr="max"),
    "bases": lambda: pyg.RGCNConv(6, 10, R, num_bases=2),
    "blocks": lambda: pyg.RGCNConv(8, 6, R, num_blocks=2),
    "no_root_no_bias": lambda: pyg.RGCNConv(10, 6, R, root_weight=False, bias=False),
    "one_relation": lambda: pyg.RGCNConv(10, 6, 1),
    "fast_mean": lambda: pyg.FastRGCNConv(10, 6, R),
    "fast_sum_aggregate_first": lambda: pyg.FastRGCNConv(6, 10, R, aggr="add"),
    "fast_bases": lambda: pyg.FastRGCNConv(10, 6, R, num_bases=3),
    "film": lambda: pyg.FiLMConv(10, 6, R),
    "film_nn_no_act_sum": lambda: pyg.FiLMConv(10, 6, R, nn=nn.Sequential(nn.Linear(10, 8), nn.ReLU(),
                                                                           nn.Linear(8, 12)), act=None, aggr="sum"),
    "film_tanh_max": lambda: pyg.FiLMConv(10, 6, 3, act=nn.Tanh(), aggr="max"),
}


class TwoLayers(nn.Module):
    """A model as users write it: the edge types passed by name to every layer."""

    def __init__(self, first: nn.Module, width: int) -> None:
        super().__init__()
        self.first, self.second = first, pyg.RGCNConv(width, 3, first.num_relations, num_bases=2)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x, edge_index, edge_type).relu(), edge_index, edge_type)


class TypesIntoGCN(nn.Module):
    """A model that passes the edge types where a layer takes float edge weights."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = pyg.GCNConv(10, 6)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor) -> torch.Tensor:
        return self.conv(x, edge_index, edge_type)


def _layer(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    conv = LAYERS[name]()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in conv.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) - 0.5)
    return conv.eval()


def _in_width(conv: nn.Module) -> int:
    return conv.in_channels if isinstance(conv.in_channels, int) else conv.in_channels[0]


def _typed(graph: gnncc.Graph, relations: int = R, seed: int = 0) -> gnncc.Graph:
    types = torch.randint(0, relations, (graph.num_edges,), generator=torch.Generator().manual_seed(seed))
    return gnncc.Graph(graph.edge_index, graph.num_nodes, edge_type=types)


def _x(graph: gnncc.Graph, width: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(graph.num_nodes, width, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("graph_name", sorted(EDGE_CASE_GRAPHS))
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_relational_layer_matches_pyg_on_edge_case_graphs(name: str, graph_name: str) -> None:
    conv = _layer(name)
    graph = _typed(EDGE_CASE_GRAPHS[graph_name](), conv.num_relations)
    compiled_matches(conv, graph, _x(graph, _in_width(conv)), TOL)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_relational_layer_matches_pyg_with_optional_passes_off(name: str) -> None:
    conv = _layer(name)
    graph = _typed(random_graph(50, 200, seed=7, self_loops=10, duplicates=20, isolated=5), conv.num_relations)
    compiled_matches(conv, graph, _x(graph, _in_width(conv)), TOL, passes=OPTIONAL_PASSES_OFF)


@pytest.mark.parametrize("name", ["mean_aggregate_first", "mean_transform_first", "max"])
def test_two_layer_model_takes_edge_type_by_name_and_survives_reordering(name: str) -> None:
    model = TwoLayers(_layer(name), _layer(name).out_channels).eval()
    graph = _typed(random_graph(80, 400, seed=8, hub=True, self_loops=5))
    x = _x(graph, model.first.in_channels_l)
    compiled_matches(model, graph, x, TOL)
    compiled_matches(model, graph, x, TOL, reorder="degree")


def test_layers_share_the_relation_graphs_and_aggregate_once() -> None:
    """The two layers of a model read one per-graph relation graph per side; each layer is one aggregation
    (no per-relation loop), one matmul for its relations and one for its root."""
    model = TwoLayers(_layer("mean_transform_first"), 6).eval()
    graph = _typed(random_graph(60, 300, seed=3))
    cm = compiled_matches(model, graph, _x(graph, 10), TOL)
    ops = [node.op for node in cm.ir.nodes]
    assert sum(op in ("spmm", "fused_spmm") for op in ops) == 2, cm.ir
    relation_graphs = [name for name in cm.graph_program.names if "relation_adj" in name]
    assert len(relation_graphs) == 1, cm.graph_program.names


def test_relation_split_aggregates_each_relation_on_its_own() -> None:
    """``Adjacency.relation_split``: a mean over the split graph is the mean over each relation's in-edges;
    the ``src`` split keeps the edge order, and ``relation_degrees`` counts each edge's (target, relation)."""
    graph = _typed(random_graph(30, 200, seed=4, duplicates=10, self_loops=5))
    adj, types = graph.csc, graph.csc.edge_values
    x = torch.randn(30, 3)
    by_dst = adj.relation_split(types, R, "dst")
    both = adj.relation_split(types, R, "both")
    by_src = adj.relation_split(types, R, "src")
    assert (by_dst.num_src, by_dst.num_dst, both.num_src, both.num_dst) == (30, 30 * R, 30 * R, 30 * R)
    assert torch.equal(by_src.indptr.long(), adj.indptr.long())
    for a in (by_dst, both, by_src):
        a.validate()
    for r in range(R):
        mask = graph.edge_type == r
        src, dst = graph.edge_index[:, mask]
        count = torch.bincount(dst, minlength=30).clamp_min(1).unsqueeze(1)
        expected = torch.zeros(30, 3).index_add_(0, dst, x[src]) / count
        got = torch.zeros(30 * R, 3).index_add_(0, by_dst.dst_ids(), x[by_dst.src_ids()])
        got = got.reshape(30, R, 3)[:, r] / count
        assert torch.allclose(got, expected, atol=1e-6)
    pair = adj.dst_ids() * R + types
    assert torch.equal(by_src.relation_degrees(R), torch.bincount(pair)[pair].float())
    block = adj.relation_split(types, R, "src", first=1, count=2)
    kept = (types >= 1) & (types < 3)
    assert (block.num_src, block.nnz) == (30 * 2, int(kept.sum()))
    assert torch.equal(block.src_ids(), adj.src_ids()[kept] * 2 + types[kept] - 1)  # kept edges, in order


def test_many_relations_go_in_blocks_that_bound_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a block budget of 3 relations' intermediate, a 7-relation layer is three aggregations over the
    relation graphs of [0, 3), [3, 6) and [6, 7), summed, and still equals PyG; no planned buffer is wider
    than one block."""
    from gnncc.frontend.pyg.convs import rgcn

    graph = _typed(random_graph(60, 400, seed=9, duplicates=20, self_loops=5), relations=7)
    for make, width in ((lambda: pyg.RGCNConv(10, 6, 7), 6), (lambda: pyg.RGCNConv(6, 10, 7, aggr="max"), 6)):
        monkeypatch.setattr(rgcn, "RELATION_BLOCK_BYTES", 4 * 60 * width * 3)
        torch.manual_seed(0)
        conv = make().eval()
        cm = compiled_matches(conv, graph, _x(graph, conv.in_channels), TOL)
        blocks = [name for name in cm.graph_program.names if "relation_adj" in name]
        assert len(blocks) == 3, cm.graph_program.names
        assert max(v.type.numel() for v in cm.executor.plan.slot) <= 60 * 3 * 10, cm.executor.describe_memory()


@pytest.mark.parametrize("aggr", ["mean", "max"])
def test_film_relations_go_in_blocks(monkeypatch: pytest.MonkeyPatch, aggr: str) -> None:
    """FiLMConv's per-relation beta, gamma, transformed rows and aggregation ([N * R, out] each) in blocks of
    3 relations of a 7-relation layer: three relation graphs, no value with a row per (node, relation) of
    all 7, and PyG's result."""
    from gnncc.frontend.pyg.convs import rgcn

    monkeypatch.setattr(rgcn, "RELATION_BLOCK_BYTES", 4 * 60 * (4 * 6) * 3)
    graph = _typed(random_graph(60, 400, seed=10, duplicates=20, self_loops=5), relations=7)
    torch.manual_seed(0)
    conv = pyg.FiLMConv(10, 6, 7, aggr=aggr).eval()
    cm = compiled_matches(conv, graph, _x(graph, 10), TOL)
    assert len([name for name in cm.graph_program.names if "relation_adj" in name]) == 3, cm.graph_program.names
    assert all(v.type.shape[0] != 60 * 7 for v in cm.executor.plan.slot), cm.executor.describe_memory()


def test_served_on_other_edge_types(tmp_path: Path) -> None:
    conv = _layer("mean_transform_first")
    graph = _typed(random_graph(40, 200, seed=1, self_loops=5))
    served = gnncc.load(gnncc.compile(conv, graph).export(tmp_path / "rgcn.so"))
    x = _x(graph, 10, seed=6)
    for other in (_typed(graph, seed=2), _typed(random_graph(40, 200, seed=3), seed=3)):
        with torch.no_grad():
            ref = conv(x, other.edge_index, other.edge_type)
        assert relative_error(served(x, other), ref) < TOL
    with pytest.raises(InputError, match=r"reads edge data of shape \[E\] \(edge types\), but the graph has none"):
        served(x, graph.without_edge_attr())
    with pytest.raises(InputError, match=r"edge_type holds relation 9, outside \[0, 4\).*num_relations=4"):
        served(x, _typed(graph, relations=10, seed=4))


def test_pyg_data_and_npz_files_bring_edge_types(tmp_path: Path) -> None:
    base = random_graph(30, 100, seed=2)
    types = torch.randint(0, 3, (100,))
    graph = gnncc.Graph.coerce(Data(edge_index=base.edge_index, edge_type=types, num_nodes=30))
    assert torch.equal(graph.edge_type, types) and graph.edge_attr is None
    assert graph.num_relations == int(types.max()) + 1
    assert "relations=" in graph.summary() and graph.signature != base.signature
    assert torch.equal(graph.permuted(torch.randperm(30)).edge_type, types)  # edges keep their order
    src, dst = (a.numpy() for a in base.edge_index)
    path = tmp_path / "typed.npz"
    np.savez(path, src=src, dst=dst, num_nodes=np.int64(30), edge_type=types.numpy().astype(np.int32))
    assert torch.equal(gnncc.Graph.from_npz(path).edge_type, types)


@pytest.mark.parametrize("make", [lambda: pyg.GCNConv(10, 6), lambda: pyg.models.GCN(10, 16, 2, 6),
                                  lambda: pyg.models.GAT(10, 8, 2, 6, heads=2)])
def test_models_that_read_no_edge_types_ignore_them(make) -> None:
    """A graph from a ``Data`` with ``edge_type`` (as ``to_homogeneous()`` gives) still compiles a model that
    does not read types: a bare layer, or a ready-made model whose third parameter is ``edge_weight``."""
    base = random_graph(40, 160, seed=5, self_loops=4)
    typed = gnncc.Graph.coerce(Data(edge_index=base.edge_index, edge_type=torch.randint(0, 3, (base.num_edges,)),
                                    num_nodes=40))
    torch.manual_seed(0)
    model = make().eval()
    x = _x(base, 10)
    with torch.no_grad():
        ref = model(x, base.edge_index)
    assert relative_error(gnncc.compile(model, typed)(x), ref) < TOL


@pytest.mark.parametrize("kwargs,message", [
    ({"edge_type": torch.ones(100)}, "edge_type must be a dense tensor of integer relation ids, got torch.float32"),
    ({"edge_type": torch.ones(99, dtype=torch.long)}, r"edge_type must have shape \[E\] with E=100"),
    ({"edge_type": torch.ones(100, 2, dtype=torch.long)}, r"edge_type must have shape \[E\] with E=100"),
    ({"edge_type": -torch.ones(100, dtype=torch.long)}, "edge_type has a negative relation id -1 .edge 0."),
    ({"edge_type": np.ones(100, dtype=np.float32)}, "edge_type must hold integer relation ids"),
    ({"edge_type": torch.ones(100, dtype=torch.long), "edge_attr": torch.ones(100)}, "not edge_attr and edge_type"),
])
def test_bad_edge_types_are_graph_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(GraphError, match=message):
        gnncc.Graph(random_graph(30, 100, seed=2).edge_index, 30, **kwargs)


def test_edge_type_errors_name_the_layer() -> None:
    base = random_graph(30, 100, seed=2)
    typed = _typed(base, relations=6)
    with pytest.raises(UnsupportedError, match=r"layer RGCNConv needs the relation of each edge: compile it with "
                                               r"gnncc.Graph\(edge_index, edge_type=...\)"):
        gnncc.compile(_layer("sum"), base)
    with pytest.raises(UnsupportedError, match=r"RGCNConv reads integer relation ids as edge_type.*not with float edge "
                                               r"data f32\[100\]"):
        gnncc.compile(_layer("sum"), gnncc.Graph(base.edge_index, 30, edge_weight=torch.ones(100)))
    with pytest.raises(UnsupportedError, match=r"\(GCNConv\) reads float edge data as edge_weight, but was given the "
                                               r"graph's edge types i64\[100\]"):
        gnncc.compile(TypesIntoGCN().eval(), typed)
    with pytest.raises(GnnccError, match=r"edge_type holds relation 5, outside \[0, 4\) for a layer with "
                                         r"num_relations=4"):
        gnncc.compile(_layer("sum"), typed)
