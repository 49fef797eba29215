"""PyG frontend: lowered IR evaluated by the reference interpreter must match PyG in eval mode.

Snapshots of each conv's IR live in ``tests/snapshots/frontend``; regenerate them with
``GNNCC_UPDATE_SNAPSHOTS=1 pytest tests/test_frontend_pyg.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from graphs import data_path, random_graph
from snapshot_check import assert_matches_snapshot
from torch import nn
from torch_geometric.nn import MLP, FeaStConv, GATConv, GCNConv, GINConv, SAGEConv
from torch_geometric.nn.aggr import MaxAggregation, MeanAggregation

from gnncc.errors import UnsupportedError
from gnncc.frontend import lower_pyg
from gnncc.graph import Graph
from gnncc.ir import evaluate, verify

SNAPSHOTS = Path(__file__).parent / "snapshots" / "frontend"
IN = 6


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial values for every parameter and BatchNorm statistic (PyG zero-inits biases)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) - 0.5)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=gen) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return model


def features(num_nodes: int, width: int = IN, seed: int = 0) -> torch.Tensor:
    return torch.randn(num_nodes, width, generator=torch.Generator().manual_seed(seed))


def assert_matches(model: nn.Module, graph: Graph, x: torch.Tensor) -> None:
    fn = lower_pyg(model, graph.num_nodes, graph.num_edges)
    verify(fn)
    out = evaluate(fn, {"x": x}, graph.csc)[0]
    with torch.no_grad():
        ref = model.eval()(x, graph.edge_index)
    assert out.shape == ref.shape
    err = float((out - ref).norm() / ref.norm().clamp_min(1e-12))
    assert err < 1e-4 or float((out - ref).abs().max()) < 1e-6, f"relative error {err:.2e}"


def _gin_nn() -> nn.Module:
    return nn.Sequential(nn.Linear(IN, 8), nn.ReLU(), nn.Linear(8, 5))


CONVS: dict[str, Callable[[], nn.Module]] = {
    "gcn": lambda: GCNConv(IN, 5),
    "gcn_improved": lambda: GCNConv(IN, 5, improved=True),
    "gcn_no_self_loops": lambda: GCNConv(IN, 5, add_self_loops=False),
    "gcn_no_normalize": lambda: GCNConv(IN, 5, normalize=False),
    "gcn_cached_no_bias": lambda: GCNConv(IN, 5, cached=True, bias=False),
    "gcn_mean_aggr": lambda: GCNConv(IN, 5, aggr="mean"),
    "sage_mean": lambda: SAGEConv(IN, 5),
    "sage_max": lambda: SAGEConv(IN, 5, aggr="max"),
    "sage_add": lambda: SAGEConv(IN, 5, aggr="add"),
    "sage_aggr_object": lambda: SAGEConv(IN, 5, aggr=MeanAggregation()),
    "sage_project_normalize": lambda: SAGEConv(IN, 5, project=True, normalize=True),
    "sage_no_root_no_bias": lambda: SAGEConv(IN, 5, root_weight=False, bias=False),
    "gin": lambda: GINConv(_gin_nn()),
    "gin_train_eps": lambda: GINConv(_gin_nn(), eps=0.3, train_eps=True),
    "gin_mlp_max": lambda: GINConv(MLP([IN, 8, 5], norm="batch_norm"), aggr="max"),
    "gin_linear": lambda: GINConv(nn.Linear(IN, 4), eps=-0.5),
    "gat": lambda: GATConv(IN, 4),
    "gat_heads": lambda: GATConv(IN, 4, heads=3, negative_slope=0.1),
    "gat_mean_residual": lambda: GATConv(IN, 4, heads=2, concat=False, residual=True),
    "gat_no_self_loops_no_bias": lambda: GATConv(IN, 3, heads=2, add_self_loops=False, bias=False),
    "gat_bipartite_weights": lambda: GATConv((IN, IN), 3, heads=2),
    "gat_edge_dim_unused": lambda: GATConv(IN, 3, heads=2, edge_dim=4, fill_value=0.5),
}


@pytest.mark.parametrize("conv", sorted(CONVS))
def test_conv_matches_pyg(conv: str, edge_case_graph: Graph) -> None:
    model = randomize(CONVS[conv]())
    assert_matches(model, edge_case_graph, features(edge_case_graph.num_nodes))


class StackedGCN(nn.Module):
    """ModuleList loop, BatchNorm, dropout, residual adds, log_softmax."""

    def __init__(self, hidden: int = 8, out: int = 3) -> None:
        super().__init__()
        self.convs = nn.ModuleList([GCNConv(IN, hidden), GCNConv(hidden, hidden), GCNConv(hidden, out)])
        self.norms = nn.ModuleList([nn.BatchNorm1d(hidden), nn.BatchNorm1d(hidden)])

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        for i, (conv, norm) in enumerate(zip(self.convs[:-1], self.norms, strict=True)):
            h = F.dropout(norm(conv(x, edge_index)).relu(), p=0.5, training=self.training)
            x = h + x if i > 0 else h
        return F.log_softmax(self.convs[-1](x, edge_index), dim=-1)


class SageGat(nn.Module):
    """Two conv branches concatenated, a Sequential head, arithmetic with scalars, softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.sage = SAGEConv(IN, 6, aggr="max")
        self.gat = GATConv(IN, 3, heads=2)
        self.gat2 = GATConv(12, 4, heads=2, concat=False)
        self.head = nn.Sequential(nn.Linear(4, 8), nn.ELU(), nn.Dropout(0.3), nn.Linear(8, 3))

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor | None = None):
        h = torch.cat([self.sage(x, edge_index), self.gat(x, edge_index)], dim=-1)
        h = F.elu(h) * 0.5 + 1 - torch.sigmoid(h) / 2
        h = self.gat2(h, edge_index)
        h = h - h.mean(dim=-1, keepdim=True)
        return torch.softmax(self.head(F.normalize(h, p=2.0, dim=-1)), dim=-1)


class JumpingGIN(nn.Module):
    """GIN layers with MLPs, outputs of every layer concatenated (list building in the loop)."""

    def __init__(self, hidden: int = 8) -> None:
        super().__init__()
        self.layers = nn.ModuleList([
            GINConv(MLP([IN, hidden, hidden]), train_eps=True),
            GINConv(nn.Sequential(nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.Tanh())),
        ])
        self.out = nn.Linear(IN + 2 * hidden, 3)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        outs = [x]
        for layer in self.layers:
            x = layer(x, edge_index)
            outs = outs + [x]
        return self.out(torch.cat(outs, dim=1)).log_softmax(dim=-1)


class Activations(nn.Module):
    """Every activation module and function the frontend maps, around one conv."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = SAGEConv(IN, 8, aggr="sum")
        self.acts = nn.Sequential(nn.LeakyReLU(0.3), nn.GELU(), nn.SiLU(), nn.Softplus(), nn.Tanh(),
                                  nn.ELU(0.7), nn.Identity(), nn.Sigmoid(), nn.ReLU())

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        h = self.acts(self.conv(x, edge_index))
        h = F.gelu(F.silu(F.softplus(torch.tanh(F.leaky_relu(h - 0.5, negative_slope=0.2)))))
        h = h + torch.sqrt(h.square() + 1) - (h ** 2).sqrt() + torch.square(h) + torch.pow(h.abs(), 0.5) + h.pow(1)
        return torch.sub(h * 3, torch.add(h, 1.0, alpha=0.5)).sum(dim=1, keepdim=True) + torch.relu(h)


class Normalised(nn.Module):
    """LayerNorm after a conv (affine and not) and before the last one, as graph transformers do."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.norm1 = GCNConv(IN, 8), nn.LayerNorm(8)
        self.conv2, self.norm2 = GCNConv(8, 4), nn.LayerNorm(4, eps=1e-3, elementwise_affine=False)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.norm2(self.conv2(self.norm1(self.conv1(x, edge_index)).relu(), edge_index))


class Recurrent(nn.Module):
    """GRUCell steps on conv outputs, as gated GNNs update node states: with and without a hidden state
    (then 0) and biases."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = GCNConv(IN, 8)
        self.start, self.cell = nn.GRUCell(IN, 8, bias=False), nn.GRUCell(8, 8)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        h = self.start(x)
        h = self.cell(self.conv(x, edge_index), h)
        return self.start(x, h) + self.cell(h)


MODELS: dict[str, Callable[[], nn.Module]] = {
    "activations": Activations,
    "gru_cell": Recurrent,
    "layer_norm": Normalised,
    "stacked_gcn": StackedGCN,
    "sage_gat": SageGat,
    "jumping_gin": JumpingGIN,
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_matches_pyg(name: str, edge_case_graph: Graph) -> None:
    model = randomize(MODELS[name](), seed=1)
    assert_matches(model, edge_case_graph, features(edge_case_graph.num_nodes, seed=1))


def _real_graph(name: str) -> tuple[Graph, torch.Tensor]:
    path = data_path(name)
    with np.load(path) as d:
        x = torch.from_numpy(d["x"]).float()
    return Graph.from_npz(path), x


class TwoLayer(nn.Module):
    def __init__(self, conv1: nn.Module, conv2: nn.Module) -> None:
        super().__init__()
        self.conv1, self.conv2 = conv1, conv2

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        x = F.dropout(x, p=0.6, training=self.training)
        x = F.elu(self.conv1(x, edge_index))
        x = F.dropout(x, p=0.6, training=self.training)
        return F.log_softmax(self.conv2(x, edge_index), dim=1)


@pytest.mark.parametrize("dataset", ["cora", "citeseer"])
@pytest.mark.parametrize("kind", ["gcn", "gat", "sage", "gin"])
def test_real_dataset(dataset: str, kind: str) -> None:
    graph, x = _real_graph(dataset)
    f = x.shape[1]
    convs = {
        "gcn": lambda: (GCNConv(f, 16), GCNConv(16, 7)),
        "gat": lambda: (GATConv(f, 8, heads=8), GATConv(64, 7, heads=1, concat=False)),
        "sage": lambda: (SAGEConv(f, 16), SAGEConv(16, 7, aggr="max")),
        "gin": lambda: (GINConv(nn.Sequential(nn.Linear(f, 16), nn.ReLU())), GINConv(nn.Linear(16, 7))),
    }[kind]()
    torch.manual_seed(0)
    assert_matches(TwoLayer(*convs), graph, x)


# --- IR snapshots -------------------------------------------------------------

SNAPSHOT_CASES: dict[str, Callable[[], nn.Module]] = {
    "gcn": lambda: GCNConv(3, 2),
    "gcn_no_normalize": lambda: GCNConv(3, 2, normalize=False),
    "sage_mean": lambda: SAGEConv(3, 2),
    "sage_project_normalize": lambda: SAGEConv(3, 2, aggr="max", project=True, normalize=True),
    "gin": lambda: GINConv(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), eps=0.1),
    "gat": lambda: GATConv(3, 2, heads=2),
    "gat_mean_residual": lambda: GATConv(3, 2, heads=2, concat=False, residual=True),
    "stacked_gcn": lambda: StackedGCN(),
}


@pytest.mark.parametrize("name", sorted(SNAPSHOT_CASES))
def test_ir_snapshot(name: str) -> None:
    model = SNAPSHOT_CASES[name]()
    in_features = IN if name == "stacked_gcn" else 3
    text = str(lower_pyg(model, num_nodes=4, num_edges=6, in_features=in_features)) + "\n"
    assert_matches_snapshot(SNAPSHOTS / f"{name}.txt", text, f"IR of {name}")


# --- frontend contract ----------------------------------------------------------

def test_signature_and_constants() -> None:
    model = randomize(StackedGCN())
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fn = lower_pyg(model, 10, 20)
    assert model.training and all(m.training for m in model.modules())  # mode restored
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing re-initialised
    assert [v.node.attrs["name"] for v in fn.inputs] == ["x"]
    assert str(fn.inputs[0].type) == f"f32[10, {IN}]" and len(fn.outputs) == 1
    assert torch.equal(fn.constants["convs.0.lin.weight"], model.convs[0].lin.weight.t())  # [in, out]
    with torch.no_grad():
        model.convs[0].lin.weight.add_(1.0)
    assert not torch.equal(fn.constants["convs.0.lin.weight"], model.convs[0].lin.weight.t())  # a snapshot


def test_in_features_inferred_through_dropout_and_given_explicitly() -> None:
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = GCNConv(-1, 4)

        def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
            return self.conv(F.dropout(x, p=0.5, training=self.training), edge_index)

    model = Model()
    with pytest.raises(UnsupportedError, match="in_features="):
        lower_pyg(model, 5, 8)
    with pytest.raises(UnsupportedError, match="run the model once"):
        lower_pyg(model, 5, 8, in_features=7)
    graph = random_graph(5, 8)
    model(features(5, 7), graph.edge_index)  # materialises the lazy weight
    assert str(lower_pyg(model, 5, 8).inputs[0].type) == "f32[5, 7]"
    assert_matches(model, graph, features(5, 7))


def test_graph_work_is_shared_between_layers() -> None:
    fn = lower_pyg(StackedGCN(), 10, 20)
    assert sum(n.op == "graph.add_self_loops" for n in fn.nodes) == 1
    assert sum(n.op == "rsqrt_or_zero" for n in fn.nodes) == 1


class _Wrap(nn.Module):
    def __init__(self, layer: nn.Module, then: Callable[[torch.Tensor], torch.Tensor] = lambda h: h) -> None:
        super().__init__()
        self.layer, self.then = layer, then

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.then(self.layer(x, edge_index))


class _OneArg(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class _ExtraArg(nn.Module):
    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor) -> torch.Tensor:
        return x


class _EdgeWeight(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = GCNConv(IN, 2)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.conv(x, edge_index, torch.ones(edge_index.size(1)))


class _GroupNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.norm = GCNConv(IN, 4), nn.GroupNorm(2, 4)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x, edge_index))


ERRORS: dict[str, tuple[Callable[[], nn.Module], str]] = {
    "conv": (lambda: _Wrap(FeaStConv(IN, 2)), r"layer 'layer' \(FeaStConv\) is an unsupported .*GCNConv"),
    "module": (_GroupNorm, r"module 'norm' \(torch.nn.modules.normalization.GroupNorm\) is unsupported"),
    "layer_norm_eps": (lambda: _Wrap(GCNConv(IN, 2), nn.LayerNorm(2, eps=0.0)), r"LayerNorm\) with eps=0.0"),
    "layer_norm_shape": (lambda: _Wrap(GCNConv(IN, 4), nn.LayerNorm([2, 2])),
                         r"LayerNorm\) over \(2, 2\) on f32\[10, 4\] is unsupported"),
    "function": (lambda: _Wrap(GCNConv(IN, 2), lambda h: torch.sort(h, dim=-1).values),
                 r"function torch.sort is unsupported; supported layers"),
    "method": (lambda: _Wrap(GCNConv(IN, 2), lambda h: h.clamp(0, 1)),
               r"Tensor method .clamp\(\) is unsupported"),
    "softmax_dim": (lambda: _Wrap(GCNConv(IN, 2), lambda h: F.softmax(h, dim=0)), r"only the last dimension"),
    "random_dropout": (lambda: _Wrap(GCNConv(IN, 2), lambda h: F.dropout(h, 0.5)), r"training=self.training"),
    "slicing": (lambda: _Wrap(GCNConv(IN, 2), lambda h: h[:, :1]), r"slicing a tensor"),
    "aggregation": (lambda: _Wrap(SAGEConv(IN, 2, aggr=[MaxAggregation(), MeanAggregation()])),
                    r"MultiAggregation, which is unsupported; only sum"),
    "signature": (_OneArg, r"_OneArg.forward\(x\) is not supported.*forward\(x, edge_index\)"),
    "extra_parameter": (_ExtraArg, r"further parameters must have defaults"),
    "edge_index_use": (_EdgeWeight, r"edge_index can only be passed to message-passing layers"),
    "lazy": (lambda: _Wrap(GCNConv(-1, 2)), r"pass in_features=\.\.\."),
    "flow": (lambda: _Wrap(GCNConv(IN, 2, flow="target_to_source")), r"only 'source_to_target'"),
    "power": (lambda: _Wrap(GCNConv(IN, 2), lambda h: h ** 3), r"x \*\* 3 is not supported; only the powers"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_unsupported_errors(case: str) -> None:
    make, message = ERRORS[case]
    with pytest.raises(UnsupportedError, match=message):
        lower_pyg(make(), 10, 20)
