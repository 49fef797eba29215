"""``gnncc build``: compile a model for a graph and write it as one shared library."""

from __future__ import annotations

import argparse
import importlib.util
import time
from collections import Counter
from pathlib import Path

import torch

from gnncc.cli import zoo
from gnncc.cli.zoo import MODEL_NAMES
from gnncc.errors import GnnccError
from gnncc.reorder import METHODS

DESCRIPTION = """\
Compile a PyG model for one graph and write everything it needs to run (kernels, weights,
per-graph data, metadata) into ONE shared library. Serve it from Python with only the TVM
runtime (m = gnncc.load("model.so"); y = m(x, graph)) or from C++ (examples/cpp).

examples:
  gnncc build --model gcn --graph cora -o gcn_cora.so
      the zoo's 2-layer GCN on Cora (shipped with gnncc); input width from Cora's features
  gnncc build --model gat --graph cora --hidden 8 --classes 7 -o gat.so --target cuda
      a GAT with 8 hidden channels per head, for the GPU
  gnncc build --model my_models.py:make_model --graph graph.npz --features 64 -o mine.so
      any torch.nn.Module returned by make_model() in my_models.py; graph from an .npz with
      src, dst, num_nodes (the layout of shared/data)
  gnncc build --model sage --graph pubmed --log tuning_logs/pubmed.jsonl -o sage.so
      with the best schedules that 'gnncc tune' recorded for this graph
  gnncc build --model gcn --graph ogbn_arxiv --features 128 --reorder rcm -o gcn_rcm.so
      kernels for the graph relabelled by reverse Cuthill-McKee (for locality); the library
      permutes features in and results out, so callers keep their node order

The library serves the compile graph and any graph with the same node count whose kernels'
shapes still fit (see docs/serving.md); weights are random (seeded) for zoo models.
"""


def _model(spec: str, in_features: int, hidden: int, classes: int) -> torch.nn.Module:
    """A zoo model by name, or ``file.py:factory`` (the factory's torch.nn.Module, in eval mode)."""
    if spec in zoo.MODEL_NAMES:
        return zoo.build(spec, in_features, classes, hidden)
    file, sep, factory = spec.rpartition(":")
    if not sep or not file.endswith(".py"):
        raise GnnccError(f"--model must be one of {', '.join(zoo.MODEL_NAMES)} or path/to/file.py:factory, "
                         f"got {spec!r}")
    if not Path(file).is_file():
        raise GnnccError(f"--model: no such file {file}")
    module_spec = importlib.util.spec_from_file_location(Path(file).stem, file)
    if module_spec is None or module_spec.loader is None:
        raise GnnccError(f"--model: cannot import {file}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    make = getattr(module, factory, None)
    if not callable(make):
        raise GnnccError(f"--model: {file} has no callable {factory!r}")
    model = make()
    if not isinstance(model, torch.nn.Module):
        raise GnnccError(f"--model: {factory}() returned a {type(model).__name__}, not a torch.nn.Module")
    return model.eval()


def run_build(args: argparse.Namespace) -> int:
    import gnncc
    from gnncc import datasets

    data = datasets.load(args.graph, feat=args.features)
    model = _model(args.model, data.x.shape[1], args.hidden, args.classes)
    start = time.perf_counter()
    if args.log is not None and not Path(args.log).is_file():
        raise GnnccError(f"--log: no such file {args.log}")
    graph = zoo.with_edge_data(args.model, data.graph)  # a zoo model that reads edge data gets random data
    cm = gnncc.compile(model, graph, target=args.target, in_features=data.x.shape[1], tuning_log=args.log,
                       reorder=args.reorder)
    path = cm.export(args.output)
    print(f"compiled {args.model} for {graph.summary()} on {cm.target} "
          f"({len(cm.kernels)} kernels, node reordering {args.reorder}, {time.perf_counter() - start:.2f}s)")
    sources = Counter(cm.config_sources.values())
    print("schedules: " + ", ".join(f"{n} {source}" for source, n in sorted(sources.items())))
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB); load it with gnncc.load({str(path)!r})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    build = sub.add_parser(
        "build", help="compile a model for a graph into one shared library (serve with gnncc.load or C++)",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument("--model", required=True, help=f"{', '.join(MODEL_NAMES)}, or path/to/file.py:factory")
    build.add_argument("--graph", required=True, help="a graph name (cora, pubmed, ...), a .npz path, "
                                                             "or rmat-NODES-EDGES (a synthetic R-MAT graph)")
    build.add_argument("-o", "--output", required=True, help="the library to write, e.g. model.so")
    build.add_argument("--target", default="cpu", choices=("cpu", "cuda"), help="cpu (default) or cuda")
    build.add_argument("--hidden", type=int, default=16, help="hidden width of zoo models (default 16; GAT 8)")
    build.add_argument("--classes", type=int, default=7, help="output width of zoo models (default 7)")
    build.add_argument("--features", type=int, default=None,
                       help="input width, with random features (for graphs without features)")
    build.add_argument("--log", default=None, help="tuning log (JSON lines) to take schedules from")
    build.add_argument("--reorder", default="none", choices=METHODS,
                       help="relabel the graph's nodes for locality first: none (default), degree (by in-degree) "
                       "or rcm (reverse Cuthill-McKee); the library keeps the caller's node order")
    build.set_defaults(func=run_build)
