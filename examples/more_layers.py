"""Three layer kinds beyond GCN/GAT on Cora, and what the compiler does with each:

- ChebConv (a polynomial filter): its transforms move in front of the Chebyshev recurrence, which
  then runs at 16 features instead of 1433 (``distribute_transforms``, ``factor_aggregations``);
- TransformerConv (dot-product attention): scores, softmax and aggregation in one kernel
  (``fuse_attention``);
- EdgeConv (an MLP on every edge): its first Linear runs on the nodes, not on ``[E, 2F]`` edge
  features (``hoist_edge_transforms``).

Run: python examples/more_layers.py
"""

import torch
from torch import nn
from torch_geometric.nn import ChebConv, EdgeConv, TransformerConv

import gnncc
from gnncc import datasets
from gnncc.check import relative_error


class Net(nn.Module):
    """One of the layers to 16 features, then a Linear to the 7 classes."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer, self.out = layer, nn.Linear(16, 7)

    def forward(self, x, edge_index):
        return self.out(self.layer(x, edge_index).relu())


def main() -> None:
    cora = datasets.load("cora")  # shipped with gnncc
    fin = cora.x.shape[1]
    layers = {
        "ChebConv": ChebConv(fin, 16, K=3),
        "TransformerConv": TransformerConv(fin, 4, heads=4),
        "EdgeConv": EdgeConv(nn.Sequential(nn.Linear(2 * fin, 16), nn.ReLU(), nn.Linear(16, 16))),
    }
    for name, layer in layers.items():
        torch.manual_seed(0)
        model = Net(layer).eval()
        cm = gnncc.compile(model, cora.graph)
        with torch.no_grad():
            err = relative_error(cm(cora.x), model(cora.x, cora.graph.edge_index))
        planned = cm.executor.plan.total_bytes / 2**20
        print(f"== {name}: relative error vs PyG {err:.1e}, {len(cm.kernels)} kernels, "
              f"{planned:.1f} MiB of planned buffers")
        for record in cm.pass_records:  # what the passes did, as in cm.explain()
            if record.notes and record.name in ("distribute_transforms", "factor_aggregations",
                                                "fuse_attention", "hoist_edge_transforms"):
                print("  " + record.summary().replace("\n", "\n  "))


if __name__ == "__main__":
    main()
