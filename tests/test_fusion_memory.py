"""Memory effect of attention fusion on a large graph: no edge-sized buffer is planned.

Compiles the usual ogbn-arxiv GAT (8 heads x 8 channels, then one head; about 1.3M edges with
self-loops; compile only) and inspects the runtime's buffer plan (``cm.executor.plan``).
"""

from __future__ import annotations

from graphs import data_path
from pass_models import TwoLayer
from torch_geometric.nn import GATConv

import gnncc
from gnncc.ir import AdjType

HIDDEN = 64  # 8 heads x 8 channels


def _nnz(cm: gnncc.CompiledModel) -> int:
    return next(v.type.nnz for n in cm.ir.nodes for v in n.inputs if isinstance(v.type, AdjType))


def edge_values(cm: gnncc.CompiledModel) -> list[str]:
    """Planned intermediates with one row per edge."""
    return [str(v.type) for v in cm.executor.plan.slot if v.type.shape[0] == _nnz(cm)]


def test_fused_gat_plans_no_edge_sized_buffer() -> None:
    data = gnncc.datasets.load(data_path("ogbn_arxiv"), feat=128)
    model = TwoLayer(GATConv(128, 8, heads=8), GATConv(HIDDEN, 40, heads=1, concat=False)).eval()

    fused = gnncc.compile(model, data.graph)
    edge_features = _nnz(fused) * HIDDEN * 4  # bytes of an [E, F] float32 tensor
    assert not edge_values(fused), fused.executor.describe_memory()
    assert max(fused.executor.plan.sizes) < edge_features

    unfused = gnncc.compile(model, data.graph, passes={"fuse_attention": False, "canonicalize_message_passing": False})
    assert edge_values(unfused)  # scores, softmax weights and messages
    assert max(unfused.executor.plan.sizes) >= edge_features  # the [E, H, C] messages
