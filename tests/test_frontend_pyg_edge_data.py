"""Graphs with edge data: ``model(x, edge_index, edge_attr)`` compiled on CPU equals PyG for every layer
that reads edge weights or edge features, on every edge-case graph, with the optional passes on and off;
the edge data is graph-only (folded per graph), served for another graph's edge data, and bad edge data
is an error that names it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch_geometric.nn as pyg
from compare import compiled_matches
from graphs import EDGE_CASE_GRAPHS, random_graph
from torch import nn
from torch_geometric.data import Data
from torch_geometric.utils import add_remaining_self_loops, add_self_loops, remove_self_loops

import gnncc
from gnncc.check import relative_error
from gnncc.errors import GraphError, InputError, UnsupportedError
from gnncc.passes import DEFAULT_PIPELINE, PASSES

TOL = 1e-4
FIN, FOUT, D = 12, 5, 4
OPTIONAL_PASSES_OFF = {name: False for name in DEFAULT_PIPELINE if not PASSES[name].required}


def _mlp(i: int, o: int) -> nn.Module:
    return nn.Sequential(nn.Linear(i, 8), nn.ReLU(), nn.Linear(8, o))


# layers reading edge weights [E]
WEIGHTED: dict[str, Callable[[], nn.Module]] = {
    "gcn": lambda: pyg.GCNConv(FIN, FOUT),
    "gcn_improved": lambda: pyg.GCNConv(FIN, FOUT, improved=True),
    "gcn_no_loops": lambda: pyg.GCNConv(FIN, FOUT, add_self_loops=False),
    "gcn_unnormalised_mean": lambda: pyg.GCNConv(FIN, FOUT, normalize=False, aggr="mean"),
    "sg": lambda: pyg.SGConv(FIN, FOUT, K=2),
    "ssg": lambda: pyg.SSGConv(FIN, FOUT, alpha=0.2, K=2),
    "appnp": lambda: pyg.APPNP(K=3, alpha=0.1),
    "tag": lambda: pyg.TAGConv(FIN, FOUT, K=2),
    "lg": lambda: pyg.LGConv(),
    "graph_conv": lambda: pyg.GraphConv(FIN, FOUT),
    "graph_conv_mean": lambda: pyg.GraphConv(FIN, FOUT, aggr="mean"),
    "le": lambda: pyg.LEConv(FIN, FOUT),
    "le_mean": lambda: pyg.LEConv(FIN, FOUT, aggr="mean"),
    "gcn2": lambda: pyg.GCN2Conv(FIN, alpha=0.1, theta=0.5, layer=1),
    "cheb_sym": lambda: pyg.ChebConv(FIN, FOUT, K=3),
    "cheb_rw": lambda: pyg.ChebConv(FIN, FOUT, K=2, normalization="rw"),
    "le_max": lambda: pyg.LEConv(FIN, FOUT, aggr="max"),
    "simple_self_loop": lambda: pyg.SimpleConv(aggr="mean", combine_root="self_loop"),
    "simple_sum": lambda: pyg.SimpleConv(aggr="sum", combine_root="sum"),
    "mixhop": lambda: pyg.MixHopConv(FIN, FOUT, powers=[0, 1, 2]),
    "gated": lambda: pyg.GatedGraphConv(16, num_layers=2),
    "gated_max": lambda: pyg.GatedGraphConv(FIN, num_layers=2, aggr="max"),
    "arma": lambda: pyg.ARMAConv(FIN, FOUT, num_stacks=2, num_layers=2),
}
# layers reading edge features [E, D]
FEATURED: dict[str, Callable[[], nn.Module]] = {
    "gat": lambda: pyg.GATConv(FIN, FOUT, heads=2, edge_dim=D),
    "gat_mean_heads_fill_number": lambda: pyg.GATConv(FIN, FOUT, heads=3, concat=False, edge_dim=D, fill_value=0.5),
    "gat_fill_max": lambda: pyg.GATConv(FIN, FOUT, heads=2, edge_dim=D, fill_value="max"),
    "gat_no_loops": lambda: pyg.GATConv(FIN, FOUT, heads=2, edge_dim=D, add_self_loops=False),
    "gat_without_edge_dim": lambda: pyg.GATConv(FIN, FOUT, heads=2),
    "gatv2": lambda: pyg.GATv2Conv(FIN, FOUT, heads=2, edge_dim=D),
    "gatv2_fill_add": lambda: pyg.GATv2Conv(FIN, FOUT, heads=2, edge_dim=D, fill_value="add", share_weights=True),
    "gine": lambda: pyg.GINEConv(_mlp(FIN, FOUT), edge_dim=D),
    "gine_train_eps_mean": lambda: pyg.GINEConv(_mlp(FIN, FOUT), train_eps=True, edge_dim=D, aggr="mean"),
    "transformer": lambda: pyg.TransformerConv(FIN, FOUT, heads=2, edge_dim=D),
    "transformer_beta_mean": lambda: pyg.TransformerConv(FIN, FOUT, heads=2, concat=False, beta=True, edge_dim=D),
    "res_gated": lambda: pyg.ResGatedGraphConv(FIN, FOUT, edge_dim=D),
    "gen_softmax_lin_edge": lambda: pyg.GENConv(FIN, FOUT, edge_dim=D),
    "gen_mean_same_width": lambda: pyg.GENConv(FIN, D, aggr="mean", edge_dim=D),
    "pna": lambda: pyg.PNAConv(FIN, FOUT, ["mean", "min", "max", "std"], ["identity", "amplification", "linear"],
                               torch.tensor([3, 10, 20, 12, 5, 1]), edge_dim=D),
    "pna_divide_input_towers_4": lambda: pyg.PNAConv(FIN, 8, ["sum", "max", "var"], ["identity", "linear"],
                                                     torch.tensor([3, 10, 20, 12, 5, 1]), edge_dim=D, towers=4,
                                                     divide_input=True),
    "nn_conv": lambda: pyg.NNConv(FIN, FOUT, nn.Linear(D, FIN * FOUT)),
    "nn_conv_mlp_mean": lambda: pyg.NNConv(FIN, FOUT, _mlp(D, FIN * FOUT), aggr="mean"),
    "nn_conv_max_no_root": lambda: pyg.NNConv(FIN, FOUT, _mlp(D, FIN * FOUT), aggr="max", root_weight=False),
    "nn_conv_no_bias": lambda: pyg.NNConv(FIN, FOUT, nn.Linear(D, FIN * FOUT), bias=False),
    "cg": lambda: pyg.CGConv(FIN, dim=D),
    "cg_mean_batch_norm": lambda: pyg.CGConv(FIN, dim=D, aggr="mean", batch_norm=True),
    "general": lambda: pyg.GeneralConv(FIN, FOUT, in_edge_channels=D),
    "general_heads_additive": lambda: pyg.GeneralConv(FIN, FOUT, in_edge_channels=D, heads=2, attention=True),
    "general_dot_product_undirected": lambda: pyg.GeneralConv(FIN, FOUT, in_edge_channels=D, heads=2, attention=True,
                                                              attention_type="dot_product", directed_msg=False),
}
ALL = sorted([*WEIGHTED, *FEATURED])


class WithEdges(nn.Module):
    """A layer called as ``conv(x, edge_index, edge_attr)`` (GCN2Conv as ``conv(x, x, edge_index, w)``)."""

    def __init__(self, conv: nn.Module) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        if isinstance(self.conv, pyg.GCN2Conv):
            return self.conv(x, x, edge_index, edge_attr)
        return self.conv(x, edge_index, edge_attr)


def _model(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = WithEdges((WEIGHTED.get(name) or FEATURED[name])())
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) - 0.5)
    return model.eval()


def _with_edge_data(graph: gnncc.Graph, name: str, seed: int = 0) -> gnncc.Graph:
    """``graph`` with positive weights (``WEIGHTED``) or random features of width ``D``."""
    gen = torch.Generator().manual_seed(seed)
    if name in WEIGHTED:
        weights = torch.rand(graph.num_edges, generator=gen) + 0.1
        return gnncc.Graph(graph.edge_index, graph.num_nodes, edge_weight=weights)
    return gnncc.Graph(graph.edge_index, graph.num_nodes, edge_attr=torch.randn(graph.num_edges, D, generator=gen))


def _check(model: nn.Module, graph: gnncc.Graph, x: torch.Tensor, **options) -> gnncc.CompiledModel:
    return compiled_matches(model, graph, x, TOL, in_features=FIN, **options)


@pytest.mark.parametrize("graph_name", sorted(EDGE_CASE_GRAPHS))
@pytest.mark.parametrize("name", ALL)
def test_layer_with_edge_data_matches_pyg_on_edge_case_graphs(name: str, graph_name: str) -> None:
    graph = _with_edge_data(EDGE_CASE_GRAPHS[graph_name](), name)
    x = torch.randn(graph.num_nodes, FIN, generator=torch.Generator().manual_seed(1))
    _check(_model(name), graph, x)


@pytest.mark.parametrize("name", ALL)
def test_layer_with_edge_data_matches_pyg_with_optional_passes_off(name: str) -> None:
    graph = _with_edge_data(random_graph(50, 200, seed=7, self_loops=10, duplicates=20, isolated=5), name)
    x = torch.randn(graph.num_nodes, FIN, generator=torch.Generator().manual_seed(2))
    _check(_model(name), graph, x, passes=OPTIONAL_PASSES_OFF)


@pytest.mark.parametrize("name", ["gcn", "appnp", "gat", "gine"])
def test_a_bare_layer_takes_the_graphs_edge_data(name: str) -> None:
    graph = _with_edge_data(random_graph(40, 160, seed=3, self_loops=6), name)
    x = torch.randn(graph.num_nodes, FIN, generator=torch.Generator().manual_seed(3))
    conv = _model(name).conv
    with torch.no_grad():
        ref = conv(x, graph.edge_index, graph.edge_attr)
    assert relative_error(gnncc.compile(conv, graph, in_features=FIN)(x), ref) < TOL


def test_input_width_of_nn_conv_is_its_in_channels() -> None:
    """NNConv's ``nn`` reads the edge features: the width of ``x`` is ``in_channels``, not the nn's."""
    graph = _with_edge_data(random_graph(30, 90, seed=5), "nn_conv")
    model = _model("nn_conv_mlp_mean")
    cm = compiled_matches(model, graph, torch.randn(graph.num_nodes, FIN), TOL)
    assert cm.in_features == FIN


def test_self_loop_values_follow_pyg() -> None:
    """Edge values carried onto re-added self-loops: an existing loop's value is kept with
    ``reuse_existing`` (add_remaining_self_loops), else the loop gets the fill or a reduction of the
    node's other in-edges (remove_self_loops, then add_self_loops)."""
    graph = random_graph(30, 120, seed=9, self_loops=8, isolated=4)
    values = torch.randn(graph.num_edges, 3, generator=torch.Generator().manual_seed(9))
    adj = gnncc.Graph(graph.edge_index, graph.num_nodes, edge_attr=values).csc
    looped = adj.with_self_loops()

    def as_edges(ei: torch.Tensor, v: torch.Tensor) -> set:
        return sorted((int(s), int(d), tuple(round(float(t), 5) for t in row)) for s, d, row in zip(*ei, v))

    ours = torch.stack([looped.src_ids(), looped.dst_ids()])
    ei, w = add_remaining_self_loops(graph.edge_index, values, fill_value=2.0, num_nodes=graph.num_nodes)
    assert as_edges(ours, adj.self_loop_values(adj.edge_values, 2.0, True)) == as_edges(ei, w)
    bare = remove_self_loops(graph.edge_index, values)
    kept = adj.with_self_loops(keep_existing=True)
    ours_kept = torch.stack([kept.src_ids(), kept.dst_ids()])
    for fill, pyg_fill in (("mean", "mean"), ("sum", "add"), ("max", "max"), ("min", "min"), (0.5, 0.5)):
        ei, w = add_self_loops(*bare, fill_value=pyg_fill, num_nodes=graph.num_nodes)
        assert as_edges(ours, adj.self_loop_values(adj.edge_values, fill, False)) == as_edges(ei, w), fill
        ei, w = add_self_loops(graph.edge_index, values, fill_value=pyg_fill, num_nodes=graph.num_nodes)
        assert as_edges(ours_kept, adj.self_loop_values(adj.edge_values, fill, False, True)) == as_edges(ei, w), fill


@pytest.mark.parametrize("name", ["gcn", "cheb_sym", "cheb_rw", "lg", "arma"])
def test_negative_edge_weights_follow_pyg(name: str) -> None:
    """Weights of both signs: a node's weighted degree can be negative or zero. PyG's ``pow(-0.5)`` then
    gives NaN and ``1 / deg`` a negative value; ChebConv's lambda_max is an off-diagonal entry. The
    compiled model gives the same values and the same NaNs."""
    base = random_graph(40, 160, seed=12, self_loops=5)
    weights = torch.randn(base.num_edges, generator=torch.Generator().manual_seed(12))
    graph = gnncc.Graph(base.edge_index, base.num_nodes, edge_weight=weights)
    model = _model(name)
    x = torch.randn(graph.num_nodes, FIN, generator=torch.Generator().manual_seed(13))
    with torch.no_grad():
        ref = model(x, graph.edge_index, weights)
    out = gnncc.compile(model, graph, in_features=FIN)(x)
    assert torch.equal(out.isnan(), ref.isnan())
    assert relative_error(torch.nan_to_num(out), torch.nan_to_num(ref)) < TOL


def test_weighted_gcn_on_cora() -> None:
    data = gnncc.datasets.load("cora")
    gen = torch.Generator().manual_seed(5)
    weights = torch.rand(data.graph.num_edges, generator=gen) + 0.1
    graph = gnncc.Graph(data.graph.edge_index, data.graph.num_nodes, edge_weight=weights)

    class TwoLayer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1, self.c2 = pyg.GCNConv(data.x.shape[1], 16), pyg.GCNConv(16, 7)

        def forward(self, x, edge_index, edge_weight):
            return self.c2(self.c1(x, edge_index, edge_weight).relu(), edge_index, edge_weight)

    torch.manual_seed(0)
    model = TwoLayer().eval()
    with torch.no_grad():
        ref = model(data.x, graph.edge_index, weights)
    assert relative_error(gnncc.compile(model, graph)(data.x), ref) < TOL


class EdgeEncoded(nn.Module):
    """Edge features through a model-level encoder before two GINE layers (OGB's molecule models)."""

    def __init__(self) -> None:
        super().__init__()
        self.edge_encoder = nn.Linear(D, FIN)
        self.c1 = pyg.GINEConv(_mlp(FIN, FIN))
        self.c2 = pyg.GINEConv(_mlp(FIN, FOUT), edge_dim=FIN)

    def forward(self, x, edge_index, edge_attr):
        e = self.edge_encoder(edge_attr).relu()
        return self.c2(self.c1(x, edge_index, e).relu(), edge_index, e)


def test_edge_work_is_folded_per_graph() -> None:
    """The edge encoder, GINE's ``lin``, GAT's edge logits and NNConv's ``nn`` read only the graph and
    weights: they are per-graph constants, so no per-call kernel transforms edge features."""
    base = random_graph(60, 300, seed=4)
    looped = base.csc.with_self_loops().nnz
    torch.manual_seed(1)
    cases = [(EdgeEncoded().eval(), _with_edge_data(base, "gine"))]
    cases += [(_model(name), _with_edge_data(base, name)) for name in ("gat", "gatv2", "nn_conv_mlp_mean")]
    for model, graph in cases:
        cm = _check(model, graph, torch.randn(graph.num_nodes, FIN))
        for node in cm.ir.nodes:
            assert not node.op.startswith("graph."), cm.explain()
            if node.family == "matmul":
                assert node.output.type.shape[0] not in (base.num_edges, looped), cm.explain()


class NoEdgeArgument(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = pyg.GCNConv(FIN, FOUT)

    def forward(self, x, edge_index):
        return self.conv(x, edge_index)


@pytest.mark.parametrize("kind", ["weights", "features"])
def test_pyg_ready_made_models_take_edge_data_by_name(kind: str) -> None:
    """``edge_weight`` gets weights and ``edge_attr`` features, as PyG's models are called; a model
    that takes none (GCN given features, or a forward without an edge argument) ignores them."""
    graph = _with_edge_data(random_graph(40, 160, seed=6), "gcn" if kind == "weights" else "gat")
    x = torch.randn(graph.num_nodes, FIN, generator=torch.Generator().manual_seed(6))
    torch.manual_seed(0)
    if kind == "weights":
        models = {pyg.models.GCN(FIN, 8, num_layers=2, out_channels=FOUT): {"edge_weight": graph.edge_attr}}
    else:
        models = {pyg.models.GAT(FIN, 8, num_layers=2, out_channels=FOUT, edge_dim=D, v2=v2): {
            "edge_attr": graph.edge_attr} for v2 in (False, True)}
        models[pyg.models.GCN(FIN, 8, num_layers=2, out_channels=FOUT)] = {"edge_attr": graph.edge_attr}
    models[NoEdgeArgument()] = {}
    for model, edge in models.items():
        model.eval()
        with torch.no_grad():
            ref = model(x, graph.edge_index, **edge)
        assert relative_error(gnncc.compile(model, graph)(x), ref) < TOL, type(model).__name__


def test_edge_data_survives_node_reordering() -> None:
    graph = _with_edge_data(random_graph(80, 400, seed=8, hub=True), "gcn")
    _check(_model("gcn"), graph, torch.randn(graph.num_nodes, FIN), reorder="degree")


def test_pyg_data_brings_its_edge_data() -> None:
    base = random_graph(30, 100, seed=2)
    weights, features = torch.rand(100), torch.randn(100, D)
    assert torch.equal(gnncc.Graph.coerce(Data(edge_index=base.edge_index, edge_weight=weights,
                                               num_nodes=30)).edge_attr, weights)
    assert torch.equal(gnncc.Graph.coerce(Data(edge_index=base.edge_index, edge_attr=features,
                                               num_nodes=30)).edge_attr, features)
    assert gnncc.Graph.coerce(Data(edge_index=base.edge_index, num_nodes=30)).edge_attr is None


def test_edge_data_keys_per_graph_caches_but_not_tuning() -> None:
    base = random_graph(30, 100, seed=2)
    a = gnncc.Graph(base.edge_index, 30, edge_weight=torch.ones(100))
    b = gnncc.Graph(base.edge_index, 30, edge_weight=torch.full((100,), 2.0))
    assert len({base.signature, a.signature, b.signature}) == 3
    assert base.structure_signature == a.structure_signature == b.structure_signature == base.signature
    assert "edge_attr=float32[100]" in a.summary()
    perm = torch.randperm(30, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.permuted(perm).edge_attr, a.edge_attr)  # edges keep their order
    assert a.without_edge_attr().edge_attr is None


@pytest.mark.parametrize("kwargs,message", [
    ({"edge_weight": torch.ones(99)}, r"edge_weight must have shape \[E\] with E=100"),
    ({"edge_weight": torch.ones(100, 2)}, r"edge_weight must have shape \[E\] with E=100"),
    ({"edge_attr": torch.ones(100, 2, 2)}, r"edge_attr must have shape \[E\] or \[E, D\]"),
    ({"edge_attr": "weights"}, "edge_attr must be a tensor"),
    ({"edge_attr": torch.ones(100), "edge_weight": torch.ones(100)}, "not edge_weight and edge_attr"),
])
def test_bad_edge_data_is_a_graph_error(kwargs: dict, message: str) -> None:
    with pytest.raises(GraphError, match=message):
        gnncc.Graph(random_graph(30, 100, seed=2).edge_index, 30, **kwargs)


def test_edge_data_errors_name_the_layer_and_the_shape() -> None:
    base = random_graph(30, 100, seed=2)
    plain = gnncc.Graph(base.edge_index, 30)
    features = gnncc.Graph(base.edge_index, 30, edge_attr=torch.randn(100, 3))
    with pytest.raises(UnsupportedError, match=r"layer GINEConv needs edge features of shape \[E, D\]"):
        gnncc.compile(pyg.GINEConv(_mlp(FIN, FOUT)), plain, in_features=FIN)
    with pytest.raises(UnsupportedError, match=r"takes edge weights of shape \[E\], got edge data f32\[100, 3\]"):
        gnncc.compile(_model("gcn"), features)
    with pytest.raises(UnsupportedError, match=r"has edge_dim=4 but is given edge features f32\[100, 3\]"):
        gnncc.compile(_model("gat"), features)
    with pytest.raises(UnsupportedError, match="widths differ; set the layer's edge_dim"):
        gnncc.compile(pyg.GINEConv(_mlp(FIN, FOUT)), features, in_features=FIN)
    with pytest.raises(UnsupportedError, match=r"forward\(x, edge_index, edge_attr\) on a graph with edge data"):
        gnncc.compile(_model("gcn"), plain)
    with pytest.raises(UnsupportedError, match=r"ClusterGCNConv\) must be called as conv\(x, edge_index\)"):
        gnncc.compile(WithEdges(pyg.ClusterGCNConv(FIN, FOUT)),
                      gnncc.Graph(base.edge_index, 30, edge_weight=torch.ones(100)))
    with pytest.raises(UnsupportedError, match=r"layer NNConv needs edge features: call it as conv\(x, edge_index, "
                                               r"edge_attr\) on a graph with edge_attr"):
        gnncc.compile(pyg.NNConv(FIN, FOUT, nn.Linear(3, FIN * FOUT)), plain)
    with pytest.raises(UnsupportedError, match=r"layer NNConv cannot apply its nn to edge features f32\[100, 3\]: "
                                               r"matmul: cannot multiply"):
        gnncc.compile(pyg.NNConv(FIN, FOUT, nn.Linear(D, FIN * FOUT)), features)
    with pytest.raises(UnsupportedError, match=r"layer NNConv has an nn that maps edge features f32\[100, 3\] to "
                                               r"f32\[100, 8\]; it must give \[E, in_channels \* out_channels\] = "
                                               r"\[E, 60\]"):
        gnncc.compile(pyg.NNConv(FIN, FOUT, _mlp(3, 8)), features)
    with pytest.raises(UnsupportedError, match=r"layer NNConv has in_channels=-1; it needs the width of x"):
        gnncc.compile(pyg.NNConv(-1, FOUT, nn.Linear(3, FIN * FOUT)), features, in_features=FIN)
    for conv, option in ((pyg.CGConv(FIN), "dim=0"), (pyg.GeneralConv(FIN, FOUT), "no in_edge_channels")):
        with pytest.raises(UnsupportedError, match=f"is given edge features but has {option}"):
            gnncc.compile(conv, features, in_features=FIN)
    integers = gnncc.Graph(base.edge_index, 30, edge_weight=torch.ones(100, dtype=torch.int64))
    with pytest.raises(gnncc.errors.GnnccError, match=r"edge_attr is torch.int64.*\.float\(\)"):
        gnncc.compile(_model("gcn"), integers)


@pytest.mark.parametrize("name", ["gcn", "gat", "gine", "nn_conv_mlp_mean", "pna"])
def test_served_on_another_graphs_edge_data(tmp_path: Path, name: str) -> None:
    graph = _with_edge_data(random_graph(40, 200, seed=1, self_loops=5), name, seed=1)
    model = _model(name)
    path = gnncc.compile(model, graph).export(tmp_path / f"{name}.so")
    served = gnncc.load(path)
    x = torch.randn(40, FIN, generator=torch.Generator().manual_seed(6))
    # the same edges with other edge data, then another graph of the same node count
    for other in (_with_edge_data(graph, name, seed=2), _with_edge_data(random_graph(40, 200, seed=3), name, seed=3)):
        with torch.no_grad():
            ref = model(x, other.edge_index, other.edge_attr)
        try:
            out = served(x, other)
        except InputError as e:  # kernels on edge tensors are specialised to the compile graph's edge count
            assert other.num_edges != graph.num_edges and "export the model again" in str(e)
            continue
        assert relative_error(out, ref) < TOL
    with pytest.raises(InputError, match="reads edge data of shape .* but the graph has none"):
        served(x, graph.without_edge_attr())


@pytest.mark.parametrize("name", ["gine", "gat", "gatv2", "pna"])
def test_fused_edge_feature_layers_plan_no_edge_buffer(name: str) -> None:
    """GINE's ``relu(x_j + e_ji)`` (``fuse_edge_messages``), GAT's edge term (``fuse_attention``'s edge
    bias) and PNA's four aggregations of ``x_j W_s + x_i W_d + e_ji W_e`` (``hoist_edge_transforms`` folds
    ``e_ji W_e`` per graph, ``factor_destination_terms`` takes ``x_i W_d`` out, ``fuse_edge_messages`` the
    rest in) are computed as each edge is walked: no intermediate of one row per edge is planned, while
    the same layers without the optional passes plan several."""
    graph = _with_edge_data(random_graph(300, 3000, seed=11, self_loops=20), name)
    x = torch.randn(graph.num_nodes, FIN, generator=torch.Generator().manual_seed(11))
    edge_rows = {graph.num_edges, graph.csc.with_self_loops().nnz}

    def edge_buffers(cm: gnncc.CompiledModel) -> list[str]:
        return [str(v.type) for v in cm.executor.plan.slot if v.type.shape and v.type.shape[0] in edge_rows]

    fused = _check(_model(name), graph, x)
    assert not edge_buffers(fused), fused.executor.describe_memory()
    assert edge_buffers(_check(_model(name), graph, x, passes=OPTIONAL_PASSES_OFF))


def test_npz_files_carry_edge_data(tmp_path: Path) -> None:
    """``Graph.from_npz`` reads ``edge_weight`` or ``edge_attr`` beside ``src``/``dst``; the zoo's edge
    models then use the file's data instead of random data; a bad shape names the file and key."""
    from gnncc.cli import zoo

    base = random_graph(30, 100, seed=2)
    src, dst = (a.numpy() for a in base.edge_index)
    features = torch.randn(100, 8).numpy()
    path = tmp_path / "featured.npz"
    np.savez(path, src=src, dst=dst, num_nodes=np.int64(30), edge_attr=features)
    graph = gnncc.Graph.from_npz(path)
    assert torch.equal(graph.edge_attr, torch.from_numpy(features))
    assert zoo.with_edge_data("gine", graph) is graph
    assert zoo.with_edge_data("gcn_weighted", graph).edge_attr.shape == (100,)  # features are no weights
    np.savez(path, src=src, dst=dst, num_nodes=np.int64(30), edge_weight=np.ones(99, dtype=np.float32))
    with pytest.raises(GraphError, match=r"featured.npz: edge_weight must have shape \[E\] with E=100"):
        gnncc.Graph.from_npz(path)
