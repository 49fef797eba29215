"""IR -> IR rewrites. Each module registers its pass; ``DEFAULT_PIPELINE`` is what compile runs."""

from gnncc.passes.canonicalize import canonicalize_message_passing
from gnncc.passes.dce import dead_code_elimination
from gnncc.passes.fold import fold_graph_constants
from gnncc.passes.manager import PASSES, PassContext, PassManager, PassRecord, register_pass

DEFAULT_PIPELINE = (
    "canonicalize_message_passing",
    "dead_code_elimination",
    "fold_graph_constants",
    "dead_code_elimination",
)

__all__ = [
    "DEFAULT_PIPELINE", "PASSES", "PassContext", "PassManager", "PassRecord",
    "canonicalize_message_passing", "dead_code_elimination", "fold_graph_constants", "register_pass",
]
