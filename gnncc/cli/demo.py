"""``gnncc demo``: compile GCN and GAT on Cora, check them against PyG, print times."""

from __future__ import annotations

import argparse
import functools
import time

import torch

import gnncc
from gnncc import datasets
from gnncc.check import relative_error
from gnncc.cli import zoo
from gnncc.runtime.timing import measure_ms

TOLERANCE = 1e-4


def run_demo(target: str, explain: bool = False, repeat: int = 20) -> int:
    data = datasets.load("cora")
    graph, x = data.graph, data.x
    num_classes = 7
    device = gnncc.codegen.target.resolve_target(target).device
    print(f"Cora: {graph.summary()}, features {tuple(x.shape)}, target {target}")
    print(f"{'model':<6} {'compile s':>9} {'rel.err':>9} {'gnncc ms':>9} {'PyG ms':>9} {'speedup':>8}")
    failures = 0
    for name in ("gcn", "gat"):
        model = zoo.build(name, x.shape[1], num_classes).to(device)
        xd, ei = x.to(device), graph.edge_index.to(device)
        start = time.perf_counter()
        cm = gnncc.compile(model, graph, target=target)
        compile_s = time.perf_counter() - start
        with torch.no_grad():
            ref = model(xd, ei)
            err = relative_error(cm(xd), ref)
            t_gnncc = measure_ms(functools.partial(cm, xd), device, repeat=repeat)
            t_pyg = measure_ms(functools.partial(model, xd, ei), device, repeat=repeat)
        ok = err < TOLERANCE
        failures += not ok
        print(f"{name:<6} {compile_s:>9.2f} {err:>9.1e} {t_gnncc:>9.3f} {t_pyg:>9.3f} {t_pyg / t_gnncc:>7.2f}x"
              + ("" if ok else "  MISMATCH"))
        if explain:
            print(cm.explain(), end="\n\n")
    print("all outputs match PyG" if not failures else f"{failures} model(s) do not match PyG")
    return 1 if failures else 0


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo",
        help="compile GCN and GAT on the built-in Cora graph, check against PyG, print times",
        description="Compile a 2-layer GCN and a 2-layer GAT (8 heads) on Cora, shipped with gnncc; "
        "check each output against PyG (relative error) and print gnncc and PyG times.",
    )
    demo.add_argument("--target", default="cpu", help="cpu (default) or cuda")
    demo.add_argument("--explain", action="store_true", help="print the optimised IR and kernels")
    demo.add_argument("--repeat", type=int, default=20, help="timed runs per model (median reported)")
    demo.set_defaults(func=lambda args: run_demo(args.target, args.explain, args.repeat))
