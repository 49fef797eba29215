"""``gnncc tune``: autotune the kernels of a model (or one op) on a graph, recording to a log."""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gnncc.cli import zoo
from gnncc.cli.zoo import MODEL_NAMES
from gnncc.errors import GnnccError

DESCRIPTION = """\
Search the schedule space of every kernel of a model compiled for one graph (or of a single
sparse op) and append each measured candidate to a tuning log. Candidates are compiled and
run in worker processes, checked against the reference interpreter, and timed; failures are
recorded and skipped. An XGBoost cost model, retrained after each batch on every record of
the log (all graphs), steers the search and is saved as cost_model.json next to the log.
Re-running resumes: configs already in the log are not measured again.

Single timings on a busy machine are noisy, and the fastest of many is often a lucky one. So
when the search is done, its best few configs and the default are timed again in
interleaved passes (--confirm, --confirm-passes) and recorded as a confirmation round; its
winner is the config that is used. With --time, the search leaves the round its time.

gnncc.compile and gnncc bench then use the best record for the exact kernel, graph and
device (else the cost model's pick, else the default).
"""

EPILOG = """\
examples:
  gnncc tune --model gcn --graph cora --trials 32
        tune every kernel of a 2-layer GCN on Cora, 32 candidates per kernel
  gnncc tune --op spmm --graph pubmed --feat 32 --time 120
        tune one SpMM (sum, edge weights) on PubMed with 32 features for two minutes
  gnncc tune --model my_models.py:build --graph graph.npz --trials 16 --log runs/records.jsonl
        a model from your own file: build(in_features, num_classes) or build() returns a PyG module
"""


def _load_factory(spec: str) -> Any:
    path, _, name = spec.rpartition(":")
    if not path.endswith(".py") or not name:
        raise GnnccError(f"--model {spec!r}: expected {', '.join(MODEL_NAMES)} or FILE.py:FACTORY")
    if not Path(path).is_file():
        raise GnnccError(f"--model {spec!r}: {path} not found")
    module_spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, name):
        raise GnnccError(f"--model {spec!r}: {path} defines no {name!r}")
    return getattr(module, name)


def build_model(spec: str, in_features: int, num_classes: int) -> torch.nn.Module:
    """A zoo model by name, or ``FILE.py:FACTORY`` called as ``factory(in, classes)`` or ``factory()``."""
    if spec in zoo.MODEL_NAMES:
        return zoo.build(spec, in_features, num_classes)
    factory = _load_factory(spec)
    takes_args = len(inspect.signature(factory).parameters) >= 2
    model = factory(in_features, num_classes) if takes_args else factory()
    if not isinstance(model, torch.nn.Module):
        raise GnnccError(f"--model {spec!r}: the factory returned a {type(model).__name__}, not a torch.nn.Module")
    return model.eval()


def _num_classes(name: str) -> int:
    from gnncc import datasets

    path = Path(name) if name.endswith(".npz") else datasets.find(name)
    if path is not None and path.exists():
        with np.load(path) as d:
            if "y" in d:
                return int(d["y"].max()) + 1
    return 16


class ProgressBar:
    """One carriage-return status line on stderr: task, trials, best so far and speedup over the default."""

    def __init__(self, stream: Any = None, width: int = 24) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.start = time.monotonic()

    def __call__(self, index: int, count: int, result: Any, budget: int) -> None:
        done = min(result.trials, budget)
        filled = int(self.width * done / max(budget, 1))
        bar = "#" * filled + "." * (self.width - filled)
        best = "-" if result.best_ms is None else f"{result.best_ms:.4f} ms"
        gain = "" if result.speedup is None else f" ({result.speedup:.2f}x vs default)"
        fails = f" failed {result.failures}" if result.failures else ""
        stage = " confirming..." if result.phase == "confirm" else " confirmed" if result.confirmed else ""
        line = (f"[{index + 1}/{count}] {result.name[:34]:<34} [{bar}] {done:>3}/{budget} "
                f"best {best}{gain}{fails}{stage} {time.monotonic() - self.start:5.0f}s")
        self.stream.write("\r" + line.ljust(130))
        if result.phase == "done":
            self.stream.write("\n")
        self.stream.flush()


def relative_curve(result: Any) -> tuple[float, list[float], float | None] | None:
    """The default's search timing (the base), the tuning curve over it (NaN before a first
    success), and the confirmation round's best over its default, if a round ran; None with
    nothing measured.

    The round re-times the default too, usually faster than its single search timing (warm caches),
    so the two ratios each compare like with like."""
    base = result.search_default_ms or next((v for v in result.curve if v is not None), None)
    if base is None:
        return None
    ys = [float("nan") if v is None else v / base for v in result.curve]
    confirmed = result.best_ms / result.default_ms if result.confirmed and result.default_ms and result.best_ms \
        else None
    return base, ys, confirmed


def plot_curves(results: list[Any], path: Path, title: str) -> Path | None:
    """PNG of best time (relative to the default) vs trials per kernel; None without matplotlib.

    The curve is in search timings (one run per config), over the default's search timing; a
    confirmation round's result (interleaved re-timings of the best configs and the default, which
    is what ``gnncc.compile`` uses) is a star after the last trial."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in results:
        points = relative_curve(r)
        if points is None:
            continue
        base, ys, confirmed = points
        (line,) = ax.plot(range(1, len(ys) + 1), ys, marker=".", label=f"{r.name} ({base:.3f} ms default)")
        if confirmed is not None:
            ax.plot([len(ys)], [confirmed], marker="*", markersize=12, linestyle="none",
                    color=line.get_color(), label=f"{r.name} confirmed: {1 / confirmed:.2f}x")
    ax.set_xlabel("trials")
    ax.set_ylabel("best time / default time")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_tune(args: argparse.Namespace) -> int:
    from gnncc import datasets
    from gnncc.codegen.target import resolve_target
    from gnncc.tune import Database, Measurer, Tuner, model_tasks, op_task

    if (args.model is None) == (args.op is None):
        raise GnnccError("give exactly one of --model and --op")
    if args.op is not None and args.feat is None:
        raise GnnccError("--op needs --feat (the feature width of the op)")
    if args.confirm < 0 or args.confirm_passes < 1:
        raise GnnccError(f"--confirm must be >= 0 and --confirm-passes >= 1, got {args.confirm} and "
                         f"{args.confirm_passes}")
    target = resolve_target(args.target)
    data = datasets.load(args.graph, feat=args.feat)
    if args.op is not None:
        tasks = [op_task(args.op, data.graph, args.feat, target)]
        what = f"{args.op} F={args.feat}"
    else:
        model = build_model(args.model, data.x.shape[1], _num_classes(args.graph)).to(target.device)
        tasks = model_tasks(model, zoo.with_edge_data(args.model, data.graph), data.x.to(target.device), target)
        what = f"{args.model} ({len(tasks)} kernels)"
    trials = args.trials if args.trials is not None or args.time is not None else 32
    db = Database(args.log)
    print(f"tuning {what} on {data.name} ({data.graph.num_nodes} nodes, {data.graph.num_edges} edges) "
          f"for {target}; log {db.path}", file=sys.stderr)
    with Measurer(builders=args.builders, build_timeout=args.build_timeout, run_timeout=args.run_timeout) as m:
        tuner = Tuner(db, m, batch_size=args.batch, epsilon=args.epsilon, seed=args.seed, progress=ProgressBar(),
                      confirm=args.confirm, confirm_passes=args.confirm_passes)
        results = tuner.tune(tasks, trials=trials, seconds=args.time)
    print(f"{'kernel':<36} {'trials':>6} {'failed':>6} {'default ms':>11} {'best ms':>9} {'speedup':>8}  best config")
    for r in results:
        fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
        gain = "-" if r.speedup is None else f"{r.speedup:.2f}x"
        print(f"{r.name:<36} {r.trials:>6} {r.failures:>6} {fmt(r.default_ms):>11} {fmt(r.best_ms):>9} "
              f"{gain:>8}  {r.best_config}")
    for r in results:
        if r.confirmed:
            print(f"{r.name}: confirmation round (interleaved passes, median ms):")
            for config, ms in r.confirmed:
                print(f"  {ms:>10.4f}  {config}")
    if not args.no_plot:
        label = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(args.model or args.op).name)
        plot = Path(args.plot) if args.plot else db.path.parent / f"tune_{data.name}_{label}.png"
        written = plot_curves(results, plot, f"gnncc tune: {what} on {data.name} [{target}]")
        print(f"tuning curve: {written}" if written else "tuning curve: matplotlib not installed, no plot",
              file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="autotune the kernels of a model (or one op) on a graph",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_argument_group("what to tune (one of)")
    what.add_argument("--model",
                      help=f"{', '.join(MODEL_NAMES)}, or FILE.py:FACTORY (a function returning a PyG model)")
    what.add_argument("--op", choices=("spmm", "sddmm"),
                      help="a single op: spmm (sum with edge weights, as GCN) or sddmm (dot, as GAT)")
    p.add_argument("--graph", required=True,
                   help="a graph name (cora, citeseer, pubmed, amazon_photo, ..., ogbn_arxiv), an .npz file, "
                        "or a synthetic R-MAT graph rmat-NODES-EDGES (e.g. rmat-1M-16M)")
    p.add_argument("--feat", type=int,
                   help="feature width: required with --op; with --model, random features of this width "
                        "(default: the graph's own features)")
    budget = p.add_argument_group("budget (default: --trials 32)")
    budget.add_argument("--trials", type=int, help="candidates per kernel, counting those already in the log")
    budget.add_argument("--time", type=float, help="seconds in all, split evenly across kernels")
    p.add_argument("--log", help="tuning log (JSON lines; default: tuning_logs/records.jsonl or $GNNCC_TUNING_LOG)")
    p.add_argument("--target", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--batch", type=int, default=8, help="candidates built in parallel per round (default 8)")
    p.add_argument("--epsilon", type=float, default=0.2,
                   help="share of each batch picked at random instead of by the cost model (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the search")
    p.add_argument("--confirm", type=int, default=4,
                   help="after the search, time this many of its best configs (and the default) again, "
                        "interleaved, and use the fastest of that round (default 4; 0: use the best single timing)")
    p.add_argument("--confirm-passes", type=int, default=3,
                   help="interleaved passes of the confirmation round; each config's time is its median (default 3)")
    p.add_argument("--builders", type=int, help="builder processes (default: one per core)")
    p.add_argument("--build-timeout", type=float, default=120.0, help="seconds before a build is killed")
    p.add_argument("--run-timeout", type=float, default=60.0, help="seconds before a run is killed")
    p.add_argument("--plot", help="PNG of the tuning curve (default: next to the log)")
    p.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    p.set_defaults(func=run_tune)
