"""Reference PyG models used by ``gnncc demo`` and ``gnncc bench`` (plain PyG user code)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

MODEL_NAMES = ("gcn", "sage", "gin", "gat", "appnp", "cheb", "tag", "transformer", "gcn2", "gcn_weighted", "gine",
               "gat_edge", "pna", "rgcn")
# the models called with edge data, and its width: [E] weights (None) or [E, D] features
EDGE_MODELS: dict[str, int | None] = {"gcn_weighted": None, "gine": 8, "gat_edge": 8}
# the models called with edge types, and their relation count
TYPED_MODELS: dict[str, int] = {"rgcn": 8}


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


class TwoConv(nn.Module):
    """Two layers of one conv with a ReLU between: ChebConv (K=3), TAGConv (K=3), TransformerConv
    (4 heads concatenated, then one)."""

    def __init__(self, kind: str, fin: int, hidden: int, fout: int) -> None:
        super().__init__()
        from torch_geometric.nn import ChebConv, TAGConv, TransformerConv

        if kind == "cheb":
            self.conv1, self.conv2 = ChebConv(fin, hidden, K=3), ChebConv(hidden, fout, K=3)
        elif kind == "tag":
            self.conv1, self.conv2 = TAGConv(fin, hidden), TAGConv(hidden, fout)
        else:
            self.conv1 = TransformerConv(fin, hidden, heads=4)
            self.conv2 = TransformerConv(hidden * 4, fout)

    def forward(self, x, edge_index):
        x = F.dropout(x, p=0.5, training=self.training)
        x = self.conv1(x, edge_index).relu()
        return self.conv2(x, edge_index)


class GCNII(nn.Module):
    """GCNII (GCN2Conv): a Linear in, ``layers`` initial-residual layers, a Linear out."""

    def __init__(self, fin: int, hidden: int, fout: int, layers: int = 8, alpha: float = 0.1,
                 theta: float = 0.5) -> None:
        super().__init__()
        from torch_geometric.nn import GCN2Conv

        self.lin_in = nn.Linear(fin, hidden)
        self.convs = nn.ModuleList([GCN2Conv(hidden, alpha, theta, layer + 1) for layer in range(layers)])
        self.lin_out = nn.Linear(hidden, fout)

    def forward(self, x, edge_index):
        x = F.dropout(x, p=0.5, training=self.training)
        x = x_0 = self.lin_in(x).relu()
        for conv in self.convs:
            x = F.dropout(x, p=0.5, training=self.training)
            x = conv(x, x_0, edge_index).relu()
        return self.lin_out(x)


class WeightedGCN(GCN):
    """GCN with edge weights: ``model(x, edge_index, edge_weight)``."""

    def forward(self, x, edge_index, edge_weight):
        x = F.dropout(x, p=0.5, training=self.training)
        x = self.conv1(x, edge_index, edge_weight).relu()
        x = F.dropout(x, p=0.5, training=self.training)
        return self.conv2(x, edge_index, edge_weight)


class GINE(nn.Module):
    """Two GINEConv layers (OGB's molecule GNNs' layer) over edge features of width 8."""

    def __init__(self, fin: int, hidden: int, fout: int) -> None:
        super().__init__()
        from torch_geometric.nn import GINEConv

        dim = EDGE_MODELS["gine"]
        self.conv1 = GINEConv(nn.Sequential(nn.Linear(fin, hidden), nn.ReLU(), nn.Linear(hidden, hidden)), edge_dim=dim)
        self.conv2 = GINEConv(nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, fout)),
                              edge_dim=dim)

    def forward(self, x, edge_index, edge_attr):
        x = self.conv1(x, edge_index, edge_attr).relu()
        return self.conv2(x, edge_index, edge_attr)


class EdgeGAT(nn.Module):
    """GAT whose attention also reads edge features of width 8 (``GATConv(edge_dim=8)``)."""

    def __init__(self, fin: int, hidden: int, fout: int, heads: int = 8) -> None:
        super().__init__()
        from torch_geometric.nn import GATConv

        dim = EDGE_MODELS["gat_edge"]
        self.conv1 = GATConv(fin, hidden, heads=heads, edge_dim=dim)
        self.conv2 = GATConv(hidden * heads, fout, heads=1, concat=False, edge_dim=dim)

    def forward(self, x, edge_index, edge_attr):
        x = F.elu(self.conv1(x, edge_index, edge_attr))
        return self.conv2(x, edge_index, edge_attr)


class PNA(nn.Module):
    """PNA as its paper runs it: a Linear encoder, then two PNAConv layers with the mean, min, max and std
    aggregators and the identity, amplification and attenuation scalers. The scalers' average degree is taken
    from a fixed in-degree histogram (PyG computes it from the training graphs; it changes values, not work)."""

    DEGREE_HISTOGRAM = (0, 20, 30, 25, 15, 10, 5, 5, 3, 2, 1)

    def __init__(self, fin: int, hidden: int, fout: int) -> None:
        super().__init__()
        from torch_geometric.nn import PNAConv

        options = {"aggregators": ["mean", "min", "max", "std"], "scalers": ["identity", "amplification",
                                                                              "attenuation"],
                   "deg": torch.tensor(self.DEGREE_HISTOGRAM)}
        self.encoder = nn.Linear(fin, hidden)
        self.conv1 = PNAConv(hidden, hidden, **options)
        self.conv2 = PNAConv(hidden, fout, **options)

    def forward(self, x, edge_index):
        x = self.conv1(self.encoder(x), edge_index).relu()
        return self.conv2(x, edge_index)


class RGCN(nn.Module):
    """Two RGCNConv layers (mean over each relation's in-edges) over ``TYPED_MODELS["rgcn"]`` relations,
    the second with a basis decomposition of its relation weights."""

    def __init__(self, fin: int, hidden: int, fout: int) -> None:
        super().__init__()
        from torch_geometric.nn import RGCNConv

        relations = TYPED_MODELS["rgcn"]
        self.conv1 = RGCNConv(fin, hidden, relations)
        self.conv2 = RGCNConv(hidden, fout, relations, num_bases=4)

    def forward(self, x, edge_index, edge_type):
        x = self.conv1(x, edge_index, edge_type).relu()
        return self.conv2(x, edge_index, edge_type)


def with_edge_data(name: str, graph: Any, seed: int = 0) -> Any:
    """``graph`` (a ``gnncc.Graph``) with the edge data zoo model ``name`` reads: the graph's own when it
    has data of that shape (an ``.npz`` with ``edge_weight``/``edge_attr``/``edge_type``), else random
    (seeded: positive weights, normal features, or uniform relations); ``graph`` itself for a model
    without."""
    from gnncc.graph import Graph

    gen = torch.Generator().manual_seed(seed)
    if name in TYPED_MODELS:
        relations = TYPED_MODELS[name]
        if graph.edge_type is not None and graph.num_relations <= relations:
            return graph
        return Graph(graph.edge_index, graph.num_nodes, edge_type=torch.randint(0, relations, (graph.num_edges,),
                                                                                generator=gen))
    if name not in EDGE_MODELS:
        return graph

    width = EDGE_MODELS[name]
    own = graph.edge_attr
    if own is not None and own.is_floating_point() and tuple(own.shape[1:]) == (() if width is None else (width,)):
        return graph
    if width is None:
        return Graph(graph.edge_index, graph.num_nodes, edge_weight=torch.rand(graph.num_edges, generator=gen) + 0.1)
    return Graph(graph.edge_index, graph.num_nodes, edge_attr=torch.randn(graph.num_edges, width, generator=gen))


def build(name: str, fin: int, fout: int, hidden: int = 16, seed: int = 0) -> nn.Module:
    """A 2-layer ``name`` model (APPNP: a 2-layer MLP and K=10 propagation steps; GCNII: 8 layers
    between two Linears; PNA: a Linear encoder first) with deterministic weights, in eval mode. The
    models in ``EDGE_MODELS`` and ``TYPED_MODELS`` are called with edge data (see ``with_edge_data``)."""
    torch.manual_seed(seed)
    classes = {"gcn": GCN, "sage": SAGE, "gin": GIN, "gat": GAT, "appnp": APPNPNet, "gcn2": GCNII,
               "gcn_weighted": WeightedGCN, "gine": GINE, "gat_edge": EdgeGAT, "pna": PNA, "rgcn": RGCN}
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    hidden = 8 if name in ("gat", "transformer", "gat_edge") and hidden == 16 else hidden
    if name in classes:
        return classes[name](fin, hidden, fout).eval()
    return TwoConv(name, fin, hidden, fout).eval()
