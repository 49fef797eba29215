"""Edge types: a relational GCN (RGCNConv) compiled for a graph whose edges carry relation ids,
``model(x, edge_index, edge_type)``.

PyG runs an RGCN layer as a loop over the relations: mask the edges of relation ``r``, aggregate, multiply
by ``W_r``. gnncc builds, once per graph, a relation-expanded graph whose node copies ``u * R + r`` keep the
relations apart, so each layer is one aggregation and one matmul for all relations.

- Cora with each edge's relation made from the classes of its ends (a 7 x 7 = 49-relation graph, as a
  knowledge graph's typed links), two RGCNConv layers, the second with a basis decomposition.
- The timing of both, and the relation graphs in the graph program.
- The exported library serves the same model for other edge types: it rebuilds the relation graphs.

Run: python examples/relations.py
"""

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch_geometric.nn import RGCNConv

import gnncc
from gnncc import datasets
from gnncc.check import relative_error


class RGCN(nn.Module):
    def __init__(self, fin: int, relations: int) -> None:
        super().__init__()
        self.c1 = RGCNConv(fin, 16, relations)
        self.c2 = RGCNConv(16, 7, relations, num_bases=8)

    def forward(self, x, edge_index, edge_type):
        return self.c2(self.c1(x, edge_index, edge_type).relu(), edge_index, edge_type)


def best_ms(run, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return min(times)


def main() -> None:
    cora = datasets.load("cora")  # shipped with gnncc
    labels = torch.from_numpy(np.load(datasets.find("cora"))["y"]).long()
    src, dst = cora.graph.edge_index
    relations = int(labels.max()) + 1
    typed = gnncc.Graph(cora.graph.edge_index, cora.graph.num_nodes, edge_type=labels[src] * relations + labels[dst])
    torch.manual_seed(0)
    model = RGCN(cora.x.shape[1], relations * relations).eval()
    cm = gnncc.compile(model, typed)
    with torch.no_grad():
        ref = model(cora.x, typed.edge_index, typed.edge_type)
        err = relative_error(cm(cora.x), ref)
        print(f"== RGCN on Cora, {typed.num_relations} relations: relative error vs PyG {err:.1e}, "
              f"{len(cm.kernels)} kernels")
        pyg_ms = best_ms(lambda: model(cora.x, typed.edge_index, typed.edge_type))
        gnncc_ms = best_ms(lambda: cm(cora.x))
    print(f"   PyG {pyg_ms:.1f} ms, gnncc {gnncc_ms:.1f} ms per call")
    print(f"   per-graph values: {', '.join(cm.graph_program.names)}")

    shuffled = gnncc.Graph(typed.edge_index, typed.num_nodes,
                           edge_type=typed.edge_type[torch.randperm(typed.num_edges)])
    with torch.no_grad():
        err = relative_error(gnncc.compile(model, shuffled)(cora.x), model(cora.x, shuffled.edge_index,
                                                                          shuffled.edge_type))
    print(f"== compiled for shuffled edge types: relative error vs PyG {err:.1e}")

    with tempfile.TemporaryDirectory() as tmp:
        served = gnncc.load(cm.export(Path(tmp) / "rgcn.so"))
        with torch.no_grad():
            err = relative_error(served(cora.x, shuffled), model(cora.x, shuffled.edge_index, shuffled.edge_type))
        print(f"== served on other edge types: relative error vs PyG {err:.1e}")


if __name__ == "__main__":
    main()
