"""Compile a PyG GCN for Cora with gnncc, check it against PyG and look at what was generated.

Run: python examples/quickstart.py [cpu|cuda]
"""

import sys

import torch
import torch.nn.functional as F
from torch_geometric.nn import GCNConv

import gnncc
from gnncc import datasets
from gnncc.check import relative_error


class GCN(torch.nn.Module):
    def __init__(self, fin: int, hidden: int, fout: int) -> None:
        super().__init__()
        self.conv1 = GCNConv(fin, hidden)
        self.conv2 = GCNConv(hidden, fout)

    def forward(self, x, edge_index):
        x = F.dropout(x, 0.5, self.training)
        x = self.conv1(x, edge_index).relu()
        return F.log_softmax(self.conv2(x, edge_index), dim=-1)


def main(target: str = "cpu") -> None:
    cora = datasets.load("cora")  # shipped with gnncc
    device = "cuda" if target == "cuda" else "cpu"
    model = GCN(cora.x.shape[1], 16, 7).eval().to(device)
    x = cora.x.to(device)

    cm = gnncc.compile(model, cora.graph, target=target)
    out = cm(x)
    ref = model(x, cora.graph.edge_index.to(device))
    print(cm.explain())
    print(f"\nrelative error vs PyG: {relative_error(out, ref):.2e}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "cpu")
