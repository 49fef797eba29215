"""The PyG layers beyond the first seven: each compiled on CPU equals PyG, for its options, on every
edge-case graph and on Cora, with the default passes and with the optional ones off; the options
gnncc does not lower are named in the error; the input width is inferred through them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch_geometric.nn as pyg
from compare import compiled_matches
from graphs import EDGE_CASE_GRAPHS, random_graph
from pass_models import Single
from torch import nn

import gnncc
from gnncc.check import relative_error
from gnncc.errors import UnsupportedError
from gnncc.passes import DEFAULT_PIPELINE, PASSES

TOL = 1e-4
FIN, FOUT = 12, 5
OPTIONAL_PASSES_OFF = {name: False for name in DEFAULT_PIPELINE if not PASSES[name].required}


def _mlp(i: int, o: int) -> nn.Module:
    return nn.Sequential(nn.Linear(i, 8), nn.ReLU(), nn.Linear(8, o))


DEGREES = torch.tensor([3, 10, 20, 12, 5, 1])  # PNA's in-degree histogram (of training graphs)


def _cg_batch_norm() -> nn.Module:
    """CGConv with batch_norm, its running statistics not the identity's."""
    conv = pyg.CGConv(FIN, aggr="mean", batch_norm=True, bias=False)
    conv.bn.running_mean.uniform_(-1, 1)
    conv.bn.running_var.uniform_(0.5, 2)
    return conv


# layers called as conv(x, edge_index)
CONVS: dict[str, Callable[[], nn.Module]] = {
    "agnn": lambda: pyg.AGNNConv(),
    "agnn_fixed_beta_no_loops": lambda: pyg.AGNNConv(requires_grad=False, add_self_loops=False),
    "arma": lambda: pyg.ARMAConv(FIN, FOUT),
    "arma_stacks_layers": lambda: pyg.ARMAConv(FIN, FOUT, num_stacks=3, num_layers=3),
    "arma_shared_tanh_no_bias": lambda: pyg.ARMAConv(FIN, FOUT, num_stacks=2, num_layers=3, shared_weights=True,
                                                     act=nn.Tanh(), dropout=0.5, bias=False),
    "arma_no_act_mean": lambda: pyg.ARMAConv(FIN, FOUT, num_stacks=2, num_layers=2, act=None, aggr="mean"),
    "cg": lambda: pyg.CGConv(FIN),
    "cg_mean_batch_norm": _cg_batch_norm,
    "cheb_k1": lambda: pyg.ChebConv(FIN, FOUT, K=1),
    "cheb_k3": lambda: pyg.ChebConv(FIN, FOUT, K=3),
    "cheb_rw_nobias": lambda: pyg.ChebConv(FIN, FOUT, K=2, normalization="rw", bias=False),
    "cluster_gcn": lambda: pyg.ClusterGCNConv(FIN, FOUT, diag_lambda=0.5),
    "edge_conv_max": lambda: pyg.EdgeConv(_mlp(2 * FIN, FOUT)),
    "edge_conv_mean": lambda: pyg.EdgeConv(_mlp(2 * FIN, FOUT), aggr="mean"),
    "film": lambda: pyg.FiLMConv(FIN, FOUT),
    "film_nn_no_act_sum": lambda: pyg.FiLMConv(FIN, FOUT, nn=_mlp(FIN, 2 * FOUT), act=None, aggr="sum"),
    "film_tanh_max": lambda: pyg.FiLMConv(FIN, FOUT, act=nn.Tanh(), aggr="max"),
    "gated_padded": lambda: pyg.GatedGraphConv(16, num_layers=2),
    "gated_same_width_mean": lambda: pyg.GatedGraphConv(FIN, num_layers=3, aggr="mean"),
    "gated_max_no_bias": lambda: pyg.GatedGraphConv(16, num_layers=2, aggr="max", bias=False),
    "gen_softmax": lambda: pyg.GENConv(FIN, FIN),
    "gen_learned_t_widths": lambda: pyg.GENConv(FIN, FOUT, learn_t=True, t=0.5, num_layers=3, norm="layer"),
    "gen_mean": lambda: pyg.GENConv(FIN, FOUT, aggr="mean"),
    "general": lambda: pyg.GeneralConv(FIN, FOUT),
    "general_identity_self": lambda: pyg.GeneralConv(FIN, FIN),
    "general_edge_channels_unused": lambda: pyg.GeneralConv(FIN, FOUT, in_edge_channels=3),  # no edge_attr: no term
    "general_heads_additive": lambda: pyg.GeneralConv(FIN, FOUT, heads=2, attention=True),
    "general_additive_undirected": lambda: pyg.GeneralConv(FIN, FOUT, attention=True, directed_msg=False),
    "general_dot_product": lambda: pyg.GeneralConv(FIN, FOUT, attention=True, attention_type="dot_product"),
    "general_heads_dot_product_undirected_mean": lambda: pyg.GeneralConv(
        FIN, FOUT, heads=2, attention=True, attention_type="dot_product", directed_msg=False, aggr="mean"),
    "general_skip_linear_l2_max_heads": lambda: pyg.GeneralConv(FIN, FIN, skip_linear=True, l2_normalize=True,
                                                                aggr="max", heads=3),
    "graph_conv": lambda: pyg.GraphConv(FIN, FOUT),
    "graph_conv_max": lambda: pyg.GraphConv(FIN, FOUT, aggr="max"),
    "le": lambda: pyg.LEConv(FIN, FOUT),
    "le_mean": lambda: pyg.LEConv(FIN, FOUT, aggr="mean"),
    "le_max": lambda: pyg.LEConv(FIN, FOUT, aggr="max"),
    "lg": lambda: pyg.LGConv(),
    "lg_unnormalised": lambda: pyg.LGConv(normalize=False),
    "mixhop": lambda: pyg.MixHopConv(FIN, FOUT),
    "mixhop_powers_no_loops": lambda: pyg.MixHopConv(FIN, FOUT, powers=[1, 3], add_self_loops=False, bias=False),
    "pna": lambda: pyg.PNAConv(FIN, FOUT, ["mean", "min", "max", "std"], ["identity", "amplification", "attenuation"],
                               DEGREES),
    "pna_towers_sum_var_linear": lambda: pyg.PNAConv(FIN, 2 * FOUT, ["sum", "var"], ["linear", "inverse_linear"],
                                                     DEGREES, towers=2, pre_layers=2, post_layers=2),
    "pna_divide_input": lambda: pyg.PNAConv(FIN, 2 * FOUT, ["mean", "max"], ["identity", "amplification"], DEGREES,
                                            towers=2, divide_input=True),
    "pna_divide_input_towers_4_layers": lambda: pyg.PNAConv(
        FIN, 8, ["sum", "min", "std"], ["identity", "attenuation", "inverse_linear"], DEGREES, towers=4,
        divide_input=True, pre_layers=2, post_layers=2),
    "res_gated": lambda: pyg.ResGatedGraphConv(FIN, FOUT),
    "res_gated_tanh_no_root": lambda: pyg.ResGatedGraphConv(FIN, FOUT, act=nn.Tanh(), root_weight=False),
    "simple_mean_self_loop": lambda: pyg.SimpleConv(aggr="mean", combine_root="self_loop"),
    "simple_sum_cat": lambda: pyg.SimpleConv(aggr="sum", combine_root="cat"),
    "simple_max_sum": lambda: pyg.SimpleConv(aggr="max", combine_root="sum"),
    "ssg": lambda: pyg.SSGConv(FIN, FOUT, alpha=0.1, K=3),
    "ssg_no_loops": lambda: pyg.SSGConv(FIN, FOUT, alpha=0.3, K=2, add_self_loops=False),
    "tag": lambda: pyg.TAGConv(FIN, FOUT),
    "tag_unnormalised": lambda: pyg.TAGConv(FIN, FOUT, K=2, normalize=False, bias=False),
    "transformer": lambda: pyg.TransformerConv(FIN, FOUT, heads=2),
    "transformer_beta_mean": lambda: pyg.TransformerConv(FIN, FOUT, heads=3, concat=False, beta=True),
    "transformer_no_root": lambda: pyg.TransformerConv(FIN, FOUT, root_weight=False),
}
# layers called as conv(x, x_0, edge_index)
INITIAL_RESIDUAL_CONVS: dict[str, Callable[[], nn.Module]] = {
    "fa": lambda: pyg.FAConv(FIN, eps=0.2),
    "fa_no_loops_eps0": lambda: pyg.FAConv(FIN, eps=0.0, add_self_loops=False),
    "gcn2": lambda: pyg.GCN2Conv(FIN, alpha=0.1),
    "gcn2_separate_weights": lambda: pyg.GCN2Conv(FIN, alpha=0.2, theta=0.5, layer=2, shared_weights=False),
    "gcn2_unnormalised": lambda: pyg.GCN2Conv(FIN, alpha=0.3, normalize=False),
}
ALL = sorted([*CONVS, *INITIAL_RESIDUAL_CONVS])


class InitialResidual(nn.Module):
    """GCNII's shape: ``x_0`` from an input layer, fed to the conv beside the current features."""

    def __init__(self, conv: nn.Module) -> None:
        super().__init__()
        self.inp = nn.Linear(FIN, FIN)
        self.conv = conv

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        x_0 = self.inp(x).relu()
        return self.conv(torch.tanh(x_0), x_0, edge_index)


class TwoLayer(nn.Module):
    """An input Linear, the layer, a ReLU and a GCN layer to the classes: the layer inside a model."""

    def __init__(self, name: str, fin: int) -> None:
        super().__init__()
        self.inp = nn.Linear(fin, FIN)
        self.first = _model(name).conv
        self.residual = name in INITIAL_RESIDUAL_CONVS
        with torch.no_grad():  # the layer's output width, from a two-node graph
            width = self._first(torch.zeros(2, FIN), torch.tensor([[0], [1]])).shape[1]
        self.out = pyg.GCNConv(width, 7)

    def _first(self, h: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.first(h, h, edge_index) if self.residual else self.first(h, edge_index)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.out(self._first(self.inp(x).relu(), edge_index).relu(), edge_index)


def _model(name: str, seed: int = 0) -> nn.Module:
    """The layer ``name`` in eval mode with random parameters (PyG zero-inits several)."""
    torch.manual_seed(seed)
    model = InitialResidual(INITIAL_RESIDUAL_CONVS[name]()) if name in INITIAL_RESIDUAL_CONVS else Single(CONVS[name]())
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) - 0.5)
    return model.eval()


def _check(model: nn.Module, graph: gnncc.Graph, x: torch.Tensor, **options) -> gnncc.CompiledModel:
    return compiled_matches(model, graph, x, TOL, **options)


@pytest.mark.parametrize("graph_name", sorted(EDGE_CASE_GRAPHS))
@pytest.mark.parametrize("name", ALL)
def test_layer_matches_pyg_on_edge_case_graphs(name: str, graph_name: str) -> None:
    graph = EDGE_CASE_GRAPHS[graph_name]()
    x = torch.randn(graph.num_nodes, FIN, generator=torch.Generator().manual_seed(1))
    _check(_model(name), graph, x, in_features=FIN)


@pytest.mark.parametrize("name", ALL)
def test_layer_matches_pyg_with_optional_passes_off(name: str) -> None:
    graph = random_graph(50, 200, seed=7, self_loops=10, duplicates=20, isolated=5)
    x = torch.randn(graph.num_nodes, FIN, generator=torch.Generator().manual_seed(2))
    _check(_model(name), graph, x, in_features=FIN, passes=OPTIONAL_PASSES_OFF)


@pytest.mark.parametrize("name", ["agnn", "arma_stacks_layers", "cg", "cheb_k3", "cluster_gcn", "edge_conv_max", "fa",
                                  "film", "gated_padded", "gcn2", "gen_softmax", "general_heads_additive",
                                  "graph_conv", "pna",
                                  "le", "lg", "mixhop", "res_gated", "simple_sum_cat", "ssg", "tag", "transformer"])
def test_layer_in_a_model_on_cora(name: str) -> None:
    data = gnncc.datasets.load("cora")
    torch.manual_seed(3)
    model = TwoLayer(name, data.x.shape[1]).eval()
    _check(model, data.graph, data.x)


def test_chebyshev_counts_out_edges_on_a_directed_graph() -> None:
    """PyG's Laplacian sums degrees over edge_index[0]; on a directed graph in- and out-degrees differ."""
    edge_index = torch.tensor([[0, 0, 0, 1, 2, 3], [1, 2, 3, 2, 3, 0]])
    graph = gnncc.Graph(edge_index, num_nodes=4)
    x = torch.randn(4, FIN, generator=torch.Generator().manual_seed(4))
    for normalization in ("sym", "rw"):
        model = Single(pyg.ChebConv(FIN, FOUT, K=3, normalization=normalization)).eval()
        _check(model, graph, x)


def test_message_free_layers_leave_no_edge_tensor() -> None:
    """LEConv's ``a_j - b_i`` is taken apart (degree times ``b``), TransformerConv's scores are an SDDMM:
    neither builds ``[E, F]`` messages."""
    graph = random_graph(60, 300, seed=1)
    for name in ("le", "transformer", "cluster_gcn", "cheb_k3"):
        cm = _check(_model(name), graph, torch.randn(graph.num_nodes, FIN))
        ir = str(cm.ir)
        assert "gather(" not in ir and "scatter(" not in ir, f"{name}:\n{ir}"


class _StartsWithoutWeights(nn.Module):
    def __init__(self, first: nn.Module, fin: int) -> None:
        super().__init__()
        self.first, self.lin = first, nn.Linear(fin, FOUT)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.lin(self.first(x, edge_index))


class _InitialResidualFirst(nn.Module):
    def __init__(self, conv: nn.Module, fin: int) -> None:
        super().__init__()
        self.conv, self.lin = conv, nn.Linear(fin, FOUT)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.lin(self.conv(x, x, edge_index))


@pytest.mark.parametrize("first,fin", [(pyg.LGConv(), FIN), (pyg.AGNNConv(), FIN),
                                       (pyg.SimpleConv(combine_root="sum"), FIN),
                                       (pyg.EdgeConv(_mlp(2 * FIN, 6)), 6)],
                         ids=["lg", "agnn", "simple", "edge_conv"])
def test_input_width_is_inferred_through_the_layer(first: nn.Module, fin: int) -> None:
    graph = random_graph(30, 90, seed=5)
    cm = _check(_StartsWithoutWeights(first, fin).eval(), graph, torch.randn(graph.num_nodes, FIN))
    assert cm.in_features == FIN


@pytest.mark.parametrize("conv", [pyg.GCN2Conv(FIN, alpha=0.1), pyg.FAConv(FIN)], ids=["gcn2", "fa"])
def test_input_width_of_initial_residual_layers(conv: nn.Module) -> None:
    graph = random_graph(30, 90, seed=5)
    cm = _check(_InitialResidualFirst(conv, FIN).eval(), graph, torch.randn(graph.num_nodes, FIN))
    assert cm.in_features == FIN


def test_input_width_of_cg_and_gated_graph_conv() -> None:
    """CGConv reads x as wide as its channels (not its Linear's concatenated input); GatedGraphConv pads any
    x up to out_channels, so the width is not fixed by the layer: in_features must be given."""
    graph = random_graph(30, 90, seed=5)
    torch.manual_seed(0)
    assert _check(Single(pyg.CGConv(FIN)).eval(), graph, torch.randn(graph.num_nodes, FIN)).in_features == FIN
    with pytest.raises(UnsupportedError, match="pass in_features"):
        gnncc.compile(Single(pyg.GatedGraphConv(16, num_layers=1)).eval(), graph)


def test_concatenating_simple_conv_needs_in_features() -> None:
    model = _StartsWithoutWeights(pyg.SimpleConv(combine_root="cat"), 2 * FIN).eval()
    with pytest.raises(UnsupportedError, match="pass in_features"):
        gnncc.compile(model, random_graph(30, 90, seed=5))


class _WithEdgeWeight(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = pyg.GCN2Conv(FIN, alpha=0.1)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.conv(x, x, edge_index, edge_weight=torch.sigmoid(x))


ERRORS: dict[str, tuple[Callable[[], nn.Module], str]] = {
    "cheb_unnormalised": (lambda: Single(pyg.ChebConv(FIN, 2, K=2, normalization=None)),
                          r"'conv' \(ChebConv\) has normalization=None; only 'sym' and 'rw'"),
    "cluster_no_loops": (lambda: Single(pyg.ClusterGCNConv(FIN, 2, add_self_loops=False)),
                         r"'conv' \(ClusterGCNConv\) has add_self_loops=False"),
    "transformer_edge_dim": (lambda: Single(pyg.TransformerConv(FIN, 2, edge_dim=3)),
                             r"'conv' \(TransformerConv\) has edge_dim=3, which needs edge features: call it as "
                             r"conv\(x, edge_index, edge_attr\) on a graph with edge_attr"),
    "res_gated_edge_dim": (lambda: Single(pyg.ResGatedGraphConv(FIN, 2, edge_dim=3)),
                           r"'conv' \(ResGatedGraphConv\) has edge_dim=3, which needs edge features"),
    "fa_unnormalised": (lambda: InitialResidual(pyg.FAConv(FIN, normalize=False)),
                        r"'conv' \(FAConv\) has normalize=False, which needs edge weights"),
    "gcn2_edge_weight_from_features": (_WithEdgeWeight, r"GCN2Conv\) needs edge_weight of shape \[E\] or \[E, D\] "
                                                        r"with one row per edge of edge_index"),
    "edge_conv_function": (lambda: Single(pyg.EdgeConv(torch.relu)), r"'conv' \(EdgeConv\) has nn=.*torch.nn.Module"),
    "gen_msg_norm": (lambda: Single(pyg.GENConv(FIN, FIN, msg_norm=True)), r"'conv' \(GENConv\) has msg_norm=True"),
    "pna_divide_input_width": (lambda: Single(pyg.PNAConv(FIN - 4, 4, ["mean"], ["identity"], DEGREES, towers=2,
                                                          divide_input=True)),
                               r"'conv' \(PNAConv\) has divide_input=True with in_channels=8 and towers=2, but is "
                               r"given x of width 12"),
    "nn_conv_bipartite": (lambda: Single(pyg.NNConv((FIN, 4), 2, nn.Linear(3, 2 * FIN))),
                          r"'conv' \(NNConv\) has in_channels=\(12, 4\), which needs a pair of node feature tensors"),
    "gen_power_mean": (lambda: Single(pyg.GENConv(FIN, FIN, aggr="powermean")),
                       r"'conv' \(GENConv\) aggregates with PowerMeanAggregation, which is unsupported"),
    "gated_narrower_than_x": (lambda: Single(pyg.GatedGraphConv(FIN - 2, num_layers=1)),
                              r"'conv' \(GatedGraphConv\) takes x of width 12, wider than out_channels=10"),
    "film_relations": (lambda: Single(pyg.FiLMConv(FIN, 2, num_relations=2)),
                       r"'conv' \(FiLMConv\) has num_relations=2 and needs the relation of each edge: compile it "
                       r"with gnncc.Graph\(edge_index, edge_type=...\)"),
    "cg_bipartite": (lambda: Single(pyg.CGConv((FIN, 4))), r"'conv' \(CGConv\) has channels=\(12, 4\)"),
    "arma_function_act": (lambda: Single(pyg.ARMAConv(FIN, 2, act=torch.relu)),
                          r"'conv' \(ARMAConv\) has act=.*torch.nn.Module"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_unsupported_options_are_named(case: str) -> None:
    make, message = ERRORS[case]
    with pytest.raises(UnsupportedError, match=message):
        gnncc.compile(make().eval(), random_graph(20, 60, seed=6), in_features=FIN)


READY_MADE = {
    "gcn": lambda: pyg.models.GCN(FIN, 16, 2, FOUT),
    "graph_sage": lambda: pyg.models.GraphSAGE(FIN, 16, 2, FOUT),
    "gin": lambda: pyg.models.GIN(FIN, 16, 2, FOUT),
    "gat": lambda: pyg.models.GAT(FIN, 8, 2, FOUT, heads=2),
    "gatv2_jk_cat": lambda: pyg.models.GAT(FIN, 8, 3, FOUT, heads=2, v2=True, jk="cat"),
    "gcn_jk_max": lambda: pyg.models.GCN(FIN, 16, 3, FOUT, jk="max"),
}


@pytest.mark.parametrize("name", sorted(READY_MADE))
def test_pyg_ready_made_models(name: str) -> None:
    torch.manual_seed(8)
    graph = random_graph(50, 200, seed=8, self_loops=5, duplicates=10, isolated=3)
    model = READY_MADE[name]().eval()
    _check(model, graph, torch.randn(graph.num_nodes, FIN))


@pytest.mark.parametrize("name", ["arma_stacks_layers", "cheb_k3", "cheb_rw_nobias", "cluster_gcn", "gcn2", "le_mean",
                                  "mixhop", "simple_mean_self_loop", "tag"])
def test_exported_layer_serves_another_graph(name: str, tmp_path) -> None:
    """The new graph ops (out-degrees, self-loops removed or kept) are recomputed for a new graph."""
    model = _model(name)
    graph = random_graph(40, 160, seed=1, self_loops=6, duplicates=10)
    other = random_graph(40, 220, seed=2, self_loops=3, duplicates=4, isolated=4)
    x = torch.randn(40, FIN, generator=torch.Generator().manual_seed(9))
    served = gnncc.load(gnncc.compile(model, graph, in_features=FIN).export(tmp_path / f"{name}.so"))
    for g in (graph, other):
        with torch.no_grad():
            assert relative_error(served(x, g), model(x, g.edge_index)) < TOL
