"""IR -> IR rewrites. Each module registers its pass; ``DEFAULT_PIPELINE`` is what compile runs."""

from gnncc.passes.canonicalize import canonicalize_message_passing
from gnncc.passes.dce import dead_code_elimination
from gnncc.passes.destination_terms import factor_destination_terms
from gnncc.passes.distribute import distribute_transforms
from gnncc.passes.factor import factor_aggregations
from gnncc.passes.fold import fold_graph_constants
from gnncc.passes.fuse_attention import fuse_attention
from gnncc.passes.fuse_dot import fuse_dot_reduce
from gnncc.passes.fuse_epilogue import fuse_epilogue, fuse_matmul_epilogue
from gnncc.passes.fuse_messages import fuse_edge_messages
from gnncc.passes.hoist_edge import hoist_edge_transforms
from gnncc.passes.manager import PASSES, PassContext, PassManager, PassRecord, register_pass
from gnncc.passes.merge_matmuls import merge_sibling_matmuls
from gnncc.passes.reorder import reorder_transform_aggregate
from gnncc.passes.simplify import simplify_arithmetic
from gnncc.passes.tile_graph import schedule_tile_graph

# Reordering and fusion need concrete edge counts (for costs and kernels), so they run after
# folding (and after arithmetic by one or zero is dropped: GIN's 1 + eps = 1 leaves no mul);
# attention and edge-message fusion run before epilogue fusion so that bias and activation after
# such a layer land in its kernel; tile-graph scheduling runs on the fused aggregations and the
# plain matmuls after them, and what follows the matmuls it left is then folded into theirs; last,
# matmuls of one input are merged, their users reading column windows of the merged result.
DEFAULT_PIPELINE = (
    "canonicalize_message_passing",
    "dead_code_elimination",
    "fold_graph_constants",
    "dead_code_elimination",
    "simplify_arithmetic",
    "reorder_transform_aggregate",
    "distribute_transforms",
    "factor_aggregations",
    "hoist_edge_transforms",
    "factor_destination_terms",
    "fuse_attention",
    "fuse_dot_reduce",
    "fuse_edge_messages",
    "fuse_epilogue",
    "schedule_tile_graph",
    "fuse_matmul_epilogue",
    "merge_sibling_matmuls",
)

__all__ = [
    "DEFAULT_PIPELINE", "PASSES", "PassContext", "PassManager", "PassRecord",
    "canonicalize_message_passing", "dead_code_elimination", "distribute_transforms", "factor_aggregations",
    "factor_destination_terms", "fold_graph_constants", "fuse_attention", "fuse_dot_reduce", "fuse_edge_messages",
    "fuse_epilogue", "fuse_matmul_epilogue",
    "hoist_edge_transforms", "merge_sibling_matmuls", "register_pass", "reorder_transform_aggregate",
    "schedule_tile_graph", "simplify_arithmetic",
]
