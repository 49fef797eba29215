"""Models shared by the pass tests: one per conv the passes rewrite, plus the unrolled ones."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import (
    APPNP,
    ChebConv,
    EdgeConv,
    GATConv,
    GATv2Conv,
    GCNConv,
    GINConv,
    JumpingKnowledge,
    PNAConv,
    ResGatedGraphConv,
    SAGEConv,
    SGConv,
    TransformerConv,
)


class Single(nn.Module):
    """One layer, called as ``conv(x, edge_index)``."""

    def __init__(self, conv: nn.Module) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.conv(x, edge_index)


class TwoLayer(nn.Module):
    """``conv2(elu(conv1(x)))``: the usual node-classification stack."""

    def __init__(self, conv1: nn.Module, conv2: nn.Module) -> None:
        super().__init__()
        self.conv1, self.conv2 = conv1, conv2

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        x = F.dropout(x, p=0.5, training=self.training)
        return self.conv2(F.elu(self.conv1(x, edge_index)), edge_index)


class Appnp(nn.Module):
    """MLP then K personalised-PageRank steps (the APPNP paper's model)."""

    def __init__(self, fin: int, fout: int, k: int = 4, alpha: float = 0.1) -> None:
        super().__init__()
        self.lin1, self.lin2 = nn.Linear(fin, 16), nn.Linear(16, fout)
        self.prop = APPNP(K=k, alpha=alpha)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        return self.prop(self.lin2(self.lin1(x).relu()), edge_index)


class Jumping(nn.Module):
    """A ModuleList loop of GCN layers whose outputs JumpingKnowledge combines."""

    def __init__(self, fin: int, fout: int, mode: str = "cat", hidden: int = 16, layers: int = 3) -> None:
        super().__init__()
        self.convs = nn.ModuleList([GCNConv(fin if i == 0 else hidden, hidden) for i in range(layers)])
        self.jk = JumpingKnowledge(mode, channels=hidden, num_layers=layers)
        self.out = nn.Linear(hidden * layers if mode == "cat" else hidden, fout)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        xs = []
        for conv in self.convs:
            x = conv(x, edge_index).relu()
            xs.append(x)
        return self.out(self.jk(xs))


def _mlp(i: int, o: int) -> nn.Module:
    return nn.Sequential(nn.Linear(i, 16), nn.ReLU(), nn.Linear(16, o))


_DEGREES = torch.tensor([2, 8, 12, 6, 3])  # PNA's in-degree histogram (of the training graphs)


def _gin(i: int, o: int, eps: float = 0.2) -> nn.Module:
    return GINConv(_mlp(i, o), eps=eps)


MODELS: dict[str, Callable[[int, int], nn.Module]] = {
    "gcn": lambda i, o: TwoLayer(GCNConv(i, 16), GCNConv(16, o)),
    "sage": lambda i, o: TwoLayer(SAGEConv(i, 16), SAGEConv(16, o, aggr="max")),
    "gin": lambda i, o: TwoLayer(_gin(i, 16), _gin(16, o)),
    "gin_eps0": lambda i, o: TwoLayer(_gin(i, 16, eps=0.0), _gin(16, o, eps=0.0)),  # PyG's default eps
    "gat": lambda i, o: TwoLayer(GATConv(i, 8, heads=4), GATConv(32, o, heads=2, concat=False)),
    "gatv2": lambda i, o: TwoLayer(GATv2Conv(i, 8, heads=2), GATv2Conv(16, o, heads=2, concat=False,
                                                                       share_weights=True, residual=True)),
    "appnp": lambda i, o: Appnp(i, o),
    "sgconv": lambda i, o: SGConv(i, o, K=3),
    "jk_cat": lambda i, o: Jumping(i, o, "cat"),
    "jk_max": lambda i, o: Jumping(i, o, "max"),
    "cheb": lambda i, o: TwoLayer(ChebConv(i, 4, K=3), ChebConv(4, o, K=2)),
    "transformer": lambda i, o: TwoLayer(TransformerConv(i, 8, heads=2), TransformerConv(16, o, beta=True)),
    "res_gated": lambda i, o: TwoLayer(ResGatedGraphConv(i, 16), ResGatedGraphConv(16, o)),
    "edge_conv": lambda i, o: TwoLayer(EdgeConv(_mlp(2 * i, 16)), EdgeConv(_mlp(32, o), aggr="mean")),
    "pna": lambda i, o: TwoLayer(PNAConv(i, 16, ["mean", "min", "max", "std"], ["identity", "amplification"], _DEGREES),
                                 PNAConv(16, o, ["sum", "var"], ["identity", "linear"], _DEGREES, towers=o)),
}


def make(name: str, fin: int, fout: int, seed: int = 0) -> nn.Module:
    """``MODELS[name]`` in eval mode with non-trivial parameters (PyG zero-inits biases)."""
    torch.manual_seed(seed)
    model = MODELS[name](fin, fout)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_((torch.rand(p.shape, generator=gen) - 0.5) * 0.5)
    return model.eval()
