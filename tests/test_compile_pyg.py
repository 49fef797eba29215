"""End to end on CPU: gnncc.compile(PyG model) equals the PyG model, for every supported conv,
its options, and multi-layer mixes, on real graphs and on edge-case random graphs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from graphs import EDGE_CASE_GRAPHS, real_dataset
from torch import nn
from torch_geometric.nn import GATConv, GCNConv, GINConv, SAGEConv

import gnncc
from gnncc.check import relative_error

TOL = 1e-4
FIN, HID, FOUT = 12, 16, 5


def _mlp(i, o):
    return nn.Sequential(nn.Linear(i, HID), nn.ReLU(), nn.Linear(HID, o))


CONVS = {
    "gcn": lambda i, o: GCNConv(i, o),
    "gcn_cached_nobias": lambda i, o: GCNConv(i, o, cached=True, bias=False),
    "gcn_no_norm": lambda i, o: GCNConv(i, o, normalize=False),
    "gcn_no_self_loops": lambda i, o: GCNConv(i, o, add_self_loops=False),
    "sage_mean": lambda i, o: SAGEConv(i, o),
    "sage_max": lambda i, o: SAGEConv(i, o, aggr="max"),
    "sage_sum": lambda i, o: SAGEConv(i, o, aggr="sum"),
    "sage_no_root": lambda i, o: SAGEConv(i, o, root_weight=False),
    "sage_normalize_project": lambda i, o: SAGEConv(i, o, normalize=True, project=True),
    "gin": lambda i, o: GINConv(_mlp(i, o)),
    "gin_eps": lambda i, o: GINConv(_mlp(i, o), eps=0.3, train_eps=True),
    "gat": lambda i, o: GATConv(i, o, heads=3),
    "gat_mean_heads": lambda i, o: GATConv(i, o, heads=4, concat=False, negative_slope=0.1),
    "gat_no_self_loops": lambda i, o: GATConv(i, o, heads=2, add_self_loops=False),
    "gat_residual_nobias": lambda i, o: GATConv(i, o, heads=2, residual=True, bias=False),
}


class Single(nn.Module):
    def __init__(self, conv):
        super().__init__()
        self.conv = conv

    def forward(self, x, edge_index):
        return self.conv(x, edge_index)


class GcnGat(nn.Module):
    """GCN then GAT with dropout and ELU, log_softmax head."""

    def __init__(self, fin, fout):
        super().__init__()
        self.conv1 = GCNConv(fin, HID)
        self.conv2 = GATConv(HID, fout, heads=2, concat=False)

    def forward(self, x, edge_index):
        x = F.dropout(x, 0.5, self.training)
        x = F.elu(self.conv1(x, edge_index))
        return F.log_softmax(self.conv2(x, edge_index), dim=-1)


class SageGinGcnResidual(nn.Module):
    """Three layers in a ModuleList loop with residual adds and a jumping-knowledge concat."""

    def __init__(self, fin, fout):
        super().__init__()
        self.inp = nn.Linear(fin, HID)
        self.convs = nn.ModuleList([SAGEConv(HID, HID), GINConv(_mlp(HID, HID)), GCNConv(HID, HID)])
        self.norm = nn.BatchNorm1d(HID)
        self.out = nn.Linear(HID * 3, fout)

    def forward(self, x, edge_index):
        h = self.inp(x).relu()
        outs = []
        for conv in self.convs:
            h = h + conv(h, edge_index).relu()
            outs.append(h)
        h = self.norm(outs[-1])
        return self.out(torch.cat([outs[0], outs[1], h], dim=-1))


class SequentialHeads(nn.Module):
    def __init__(self, fin, fout):
        super().__init__()
        self.gat = GATConv(fin, 4, heads=4)
        self.gin = GINConv(nn.Sequential(nn.Linear(16, HID), nn.Tanh(), nn.Linear(HID, fout)))

    def forward(self, x, edge_index):
        return self.gin(torch.sigmoid(self.gat(x, edge_index)), edge_index)


MIXES = {"gcn_gat": GcnGat, "sage_gin_gcn_residual": SageGinGcnResidual, "gat_gin": SequentialHeads}


def _randomise_batchnorm(model):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-1, 1)


def _check(model, graph, x):
    model.eval()
    with torch.no_grad():
        ref = model(x, graph.edge_index)
    cm = gnncc.compile(model, graph, target="cpu")
    out = cm(x)
    err = relative_error(out, ref)
    assert err < TOL, f"relative error {err:.2e}\n{cm.explain()}"
    return cm


@pytest.mark.parametrize("conv", sorted(CONVS))
@pytest.mark.parametrize("graph_name", sorted(EDGE_CASE_GRAPHS))
def test_single_conv_random_graphs(conv, graph_name):
    torch.manual_seed(0)
    graph = EDGE_CASE_GRAPHS[graph_name]()
    model = Single(CONVS[conv](FIN, FOUT))
    _check(model, graph, torch.randn(graph.num_nodes, FIN))


@pytest.mark.parametrize("mix", sorted(MIXES))
@pytest.mark.parametrize("graph_name", ["random", "isolated", "self_loops", "hub", "one_node"])
def test_multi_layer_mixes_random_graphs(mix, graph_name):
    torch.manual_seed(1)
    graph = EDGE_CASE_GRAPHS[graph_name]()
    model = MIXES[mix](FIN, FOUT)
    _randomise_batchnorm(model)
    _check(model, graph, torch.randn(graph.num_nodes, FIN))


@pytest.mark.parametrize("dataset", ["cora", "citeseer"])
@pytest.mark.parametrize("model_name", ["gcn", "sage_max", "gin", "gat", "gcn_gat", "sage_gin_gcn_residual"])
def test_real_graphs(dataset, model_name):
    data = real_dataset(dataset)
    torch.manual_seed(2)
    fin = data.x.shape[1]
    if model_name in MIXES:
        model = MIXES[model_name](fin, 7)
        _randomise_batchnorm(model)
    else:
        model = Single(CONVS[model_name](fin, 7))
    _check(model, data.graph, data.x)


def test_explain_shows_ir_kernels_and_memory():
    graph = EDGE_CASE_GRAPHS["random"]()
    cm = _check(Single(GCNConv(FIN, FOUT)), graph, torch.randn(graph.num_nodes, FIN))
    text = cm.explain()
    for part in ("passes:", "canonicalize_message_passing", "fold_graph_constants", "optimised IR:",
                 "spmm(", "matmul(", "kernels (in execution order):", "memory:"):
        assert part in text, part
    assert "gather" not in str(cm.ir) and "scatter" not in str(cm.ir)


def test_passes_can_be_switched_off_with_same_result():
    graph = EDGE_CASE_GRAPHS["duplicates"]()
    torch.manual_seed(3)
    model = Single(GATConv(FIN, FOUT, heads=2)).eval()
    x = torch.randn(graph.num_nodes, FIN)
    on = gnncc.compile(model, graph)
    off = gnncc.compile(model, graph, passes={"canonicalize_message_passing": False})
    assert "gather" in str(off.ir) and "spmm" in str(on.ir)
    assert relative_error(off(x), on(x)) < TOL


def test_parameters_are_read_not_reinitialised():
    graph = EDGE_CASE_GRAPHS["random"]()
    model = Single(GCNConv(FIN, FOUT)).eval()
    with torch.no_grad():
        model.conv.lin.weight.fill_(0.25)
        model.conv.bias.fill_(-1.0)
    _check(model, graph, torch.randn(graph.num_nodes, FIN))
