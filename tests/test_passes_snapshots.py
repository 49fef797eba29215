"""IR before and after each new pass, as text snapshots in ``tests/snapshots/passes``.

Each snapshot holds the IR that reaches the pass (the default pipeline up to it) and the IR it
returns. Regenerate with ``GNNCC_UPDATE_SNAPSHOTS=1 pytest tests/test_passes_snapshots.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from graphs import random_graph
from pass_models import make
from snapshot_check import assert_matches_snapshot

from gnncc.frontend import lower_pyg
from gnncc.ir import verify
from gnncc.passes import DEFAULT_PIPELINE, PASSES, PassContext, PassManager

SNAPSHOTS = Path(__file__).parent / "snapshots" / "passes"
# (model, pass): each pass on the models where it acts
CASES = [
    ("gat", "fuse_attention"), ("gatv2", "fuse_attention"),
    ("gat", "fuse_epilogue"), ("gcn", "fuse_epilogue"), ("appnp", "fuse_epilogue"), ("jk_max", "fuse_epilogue"),
    ("sgconv", "reorder_transform_aggregate"), ("sage", "reorder_transform_aggregate"),
    ("gin", "schedule_tile_graph"),
    ("gin", "fuse_matmul_epilogue"), ("appnp", "fuse_matmul_epilogue"), ("sage", "merge_sibling_matmuls"),
    ("gat", "fuse_dot_reduce"), ("gin_eps0", "simplify_arithmetic"),
    ("cheb", "distribute_transforms"), ("cheb", "factor_aggregations"), ("edge_conv", "hoist_edge_transforms"),
    ("pna", "factor_destination_terms"),
    ("transformer", "fuse_attention"),
]
TARGET_KIND = {"schedule_tile_graph": "cuda"}  # the CPU estimate keeps GIN's 16-wide transforms apart


@pytest.mark.parametrize("model,pass_name", CASES, ids=[f"{m}-{p}" for m, p in CASES])
def test_pass_snapshot(model: str, pass_name: str) -> None:
    graph = random_graph(6, 12, seed=0)
    fn = lower_pyg(make(model, 20, 3), graph.num_nodes, graph.num_edges)
    ctx = PassContext(graph.csc, target_kind=TARGET_KIND.get(pass_name, "cpu"))
    stop = DEFAULT_PIPELINE.index(pass_name)
    before, _ = PassManager(list(DEFAULT_PIPELINE[:stop])).run(fn, ctx)
    after = PASSES[pass_name].run(before, ctx)
    verify(after)
    notes = "\n".join(f"# {n}" for n in ctx.notes.get(pass_name, ()))
    text = f"# before {pass_name}\n{before}\n\n# after {pass_name}\n{notes}\n{after}\n"
    assert_matches_snapshot(SNAPSHOTS / f"{model}-{pass_name}.txt", text, f"IR around {pass_name}")
    assert str(before) != str(after), f"{pass_name} did nothing on {model}"
