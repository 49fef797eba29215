"""Edge weights and edge features: a graph carries one edge tensor, and the model is compiled as
called with it, ``model(x, edge_index, edge_attr)``.

- A weighted GCN on Cora (random positive weights): the weighted degrees and the normalisation are
  computed once per graph, so a call runs only the transforms and two weighted aggregations.
- A GINE + GAT model with edge features (an edge encoder, GINEConv, GATConv with ``edge_dim``):
  the encoder, GINE's edge term and GAT's edge logits read only the graph and the weights, so they
  are folded per graph too.
- The exported library serves the same model on new edge data: it recomputes that per-graph work.

Run: python examples/edge_features.py
"""

import tempfile
from pathlib import Path

import torch
from torch import nn
from torch_geometric.nn import GATConv, GCNConv, GINEConv

import gnncc
from gnncc import datasets
from gnncc.check import relative_error


class WeightedGCN(nn.Module):
    def __init__(self, fin: int) -> None:
        super().__init__()
        self.c1, self.c2 = GCNConv(fin, 16), GCNConv(16, 7)

    def forward(self, x, edge_index, edge_weight):
        return self.c2(self.c1(x, edge_index, edge_weight).relu(), edge_index, edge_weight)


class EdgeFeatureNet(nn.Module):
    def __init__(self, fin: int, edge_dim: int) -> None:
        super().__init__()
        self.encode_edges = nn.Linear(edge_dim, 16)
        self.inp = nn.Linear(fin, 16)
        self.gine = GINEConv(nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 16)))
        self.gat = GATConv(16, 7, heads=2, concat=False, edge_dim=16)

    def forward(self, x, edge_index, edge_attr):
        e = self.encode_edges(edge_attr).relu()
        h = self.gine(self.inp(x).relu(), edge_index, e).relu()
        return self.gat(h, edge_index, e)


def compare(name: str, model: nn.Module, graph: gnncc.Graph, x: torch.Tensor) -> gnncc.CompiledModel:
    cm = gnncc.compile(model, graph)
    with torch.no_grad():
        err = relative_error(cm(x), model(x, graph.edge_index, graph.edge_attr))
    folded = next(r for r in cm.pass_records if r.name == "fold_graph_constants")
    print(f"== {name}: relative error vs PyG {err:.1e}, {len(cm.kernels)} kernels; {folded.summary()}")
    return cm


def main() -> None:
    cora = datasets.load("cora")  # shipped with gnncc
    n, e, fin = cora.graph.num_nodes, cora.graph.num_edges, cora.x.shape[1]
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    weighted = gnncc.Graph(cora.graph.edge_index, n, edge_weight=torch.rand(e, generator=gen) + 0.5)
    compare("weighted GCN", WeightedGCN(fin).eval(), weighted, cora.x)

    featured = gnncc.Graph(cora.graph.edge_index, n, edge_attr=torch.randn(e, 8, generator=gen))
    model = EdgeFeatureNet(fin, 8).eval()
    cm = compare("GINE + GAT with edge features", model, featured, cora.x)

    with tempfile.TemporaryDirectory() as tmp:
        served = gnncc.load(cm.export(Path(tmp) / "edge_net.so"))
        fresh = gnncc.Graph(cora.graph.edge_index, n, edge_attr=torch.randn(e, 8, generator=gen))
        with torch.no_grad():
            err = relative_error(served(cora.x, fresh), model(cora.x, fresh.edge_index, fresh.edge_attr))
        print(f"== served on new edge features: relative error vs PyG {err:.1e}")


if __name__ == "__main__":
    main()
