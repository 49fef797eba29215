"""gnncc: a graph-level compiler and autotuner for graph neural networks.

    cm = gnncc.compile(model, graph, target="cpu")
    out = cm(x)
    print(cm.explain())
    cm.export("model.so")            # one shared library: kernels, weights, metadata
    m = gnncc.load("model.so")       # needs only the TVM runtime
    out = m(x, graph)

Importing gnncc is light: the compiler (and TVM's compiler with it) is imported on first use of
``compile``/``CompiledModel``, so a process that only ``load``s libraries never loads it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import TYPE_CHECKING, Any

# TVM's CPU thread pool reads this once, at its first parallel launch; default to all cores.
os.environ.setdefault("TVM_NUM_THREADS", str(os.cpu_count() or 1))

from gnncc.errors import (  # noqa: E402
    CodegenError,
    GnnccError,
    GraphError,
    InputError,
    IRError,
    LibraryError,
    TargetError,
    UnsupportedError,
)
from gnncc.graph import Graph  # noqa: E402

if TYPE_CHECKING:
    from gnncc.compiler import CompiledModel, compile
    from gnncc.runtime.library import LoadedModel, load

__version__ = "0.9.1"

# public name -> module defining it, imported on first access
_LAZY = {
    "compile": "gnncc.compiler",
    "CompiledModel": "gnncc.compiler",
    "load": "gnncc.runtime.library",
    "LoadedModel": "gnncc.runtime.library",
}

__all__ = [
    "CodegenError", "CompiledModel", "GnnccError", "Graph", "GraphError", "IRError", "InputError",
    "LibraryError", "LoadedModel", "TargetError", "UnsupportedError", "__version__", "compile", "load",
]


def __getattr__(name: str) -> Any:
    """Lazy public names and subpackages (``gnncc.codegen``, ``gnncc.ir``, ...)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif importlib.util.find_spec(f"gnncc.{name}") is not None:
        value = importlib.import_module(f"gnncc.{name}")
    else:
        raise AttributeError(f"module 'gnncc' has no attribute {name!r}")
    globals()[name] = value
    return value
