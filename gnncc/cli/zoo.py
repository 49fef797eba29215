"""Reference PyG models used by ``gnncc demo`` and ``gnncc bench`` (plain PyG user code)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MODEL_NAMES = ("gcn", "sage", "gin", "gat", "appnp")


class GCN(nn.Module):
    def __init__(self, fin: int, hidden: int, fout: int) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv

        self.conv1 = GCNConv(fin, hidden, cached=True)
        self.conv2 = GCNConv(hidden, fout, cached=True)

    def forward(self, x, edge_index):
        x = F.dropout(x, p=0.5, training=self.training)
        x = self.conv1(x, edge_index).relu()
        x = F.dropout(x, p=0.5, training=self.training)
        return self.conv2(x, edge_index)


class SAGE(nn.Module):
    def __init__(self, fin: int, hidden: int, fout: int) -> None:
        super().__init__()
        from torch_geometric.nn import SAGEConv

        self.conv1 = SAGEConv(fin, hidden)
        self.conv2 = SAGEConv(hidden, fout)

    def forward(self, x, edge_index):
        x = self.conv1(x, edge_index).relu()
        return self.conv2(x, edge_index)


class GIN(nn.Module):
    def __init__(self, fin: int, hidden: int, fout: int) -> None:
        super().__init__()
        from torch_geometric.nn import GINConv

        self.conv1 = GINConv(nn.Sequential(nn.Linear(fin, hidden), nn.ReLU(), nn.Linear(hidden, hidden)))
        self.conv2 = GINConv(nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, fout)))

    def forward(self, x, edge_index):
        x = self.conv1(x, edge_index).relu()
        return self.conv2(x, edge_index)


class GAT(nn.Module):
    def __init__(self, fin: int, hidden: int, fout: int, heads: int = 8) -> None:
        super().__init__()
        from torch_geometric.nn import GATConv

        self.conv1 = GATConv(fin, hidden, heads=heads)
        self.conv2 = GATConv(hidden * heads, fout, heads=1, concat=False)

    def forward(self, x, edge_index):
        x = F.dropout(x, p=0.6, training=self.training)
        x = F.elu(self.conv1(x, edge_index))
        x = F.dropout(x, p=0.6, training=self.training)
        return self.conv2(x, edge_index)


class APPNPNet(nn.Module):
    """The APPNP paper's model: a 2-layer MLP, then ``k`` steps of personalised-PageRank propagation."""

    def __init__(self, fin: int, hidden: int, fout: int, k: int = 10, alpha: float = 0.1) -> None:
        super().__init__()
        from torch_geometric.nn import APPNP

        self.lin1 = nn.Linear(fin, hidden)
        self.lin2 = nn.Linear(hidden, fout)
        self.prop = APPNP(K=k, alpha=alpha)

    def forward(self, x, edge_index):
        x = F.dropout(x, p=0.5, training=self.training)
        x = F.dropout(self.lin1(x).relu(), p=0.5, training=self.training)
        return self.prop(self.lin2(x), edge_index)


def build(name: str, fin: int, fout: int, hidden: int = 16, seed: int = 0) -> nn.Module:
    """A 2-layer ``name`` model (APPNP: a 2-layer MLP and K=10 propagation steps) with
    deterministic weights, in eval mode."""
    torch.manual_seed(seed)
    classes = {"gcn": GCN, "sage": SAGE, "gin": GIN, "gat": GAT, "appnp": APPNPNet}
    if name not in classes:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    hidden = 8 if name == "gat" and hidden == 16 else hidden
    return classes[name](fin, hidden, fout).eval()
