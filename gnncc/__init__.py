"""gnncc: a graph-level compiler and autotuner for graph neural networks.

    cm = gnncc.compile(model, graph, target="cpu")
    out = cm(x)
    print(cm.explain())
"""

import os

# TVM's CPU thread pool reads this once, at its first parallel launch; default to all cores.
os.environ.setdefault("TVM_NUM_THREADS", str(os.cpu_count() or 1))

from gnncc.compiler import CompiledModel, compile  # noqa: E402
from gnncc.errors import (  # noqa: E402
    CodegenError,
    GnnccError,
    GraphError,
    InputError,
    IRError,
    TargetError,
    UnsupportedError,
)
from gnncc.graph import Graph  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "CodegenError", "CompiledModel", "GnnccError", "Graph", "GraphError", "IRError", "InputError",
    "TargetError", "UnsupportedError", "__version__", "compile",
]
