"""``gnncc bench``: one sparse op, gnncc against PyTorch/PyG baselines and the memory-bandwidth floor."""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from gnncc.cli.zoo import MODEL_NAMES
from gnncc.errors import GnnccError
from gnncc.reorder import METHODS, Reordering

DESCRIPTION = """\
Time one sparse op on real graphs: gnncc's kernel (the tuned config from the log when there
is one, else the cost model's pick, else the default; the default is always timed too)
against PyG's gather/scatter formulation, PyG with a torch.sparse CSR adjacency, and
torch.sparse (cuSPARSE on CUDA, torch's CPU kernels on CPU). Each is reported in ms, as a
ratio to gnncc, and against the bandwidth floor: the bytes the op must move at least
(indptr + indices + values + inputs + output, each once) over the copy bandwidth measured
with a large torch.clone on the same device. Small graphs fit in cache, so they can beat
the floor (over 100%).

ops:
  spmm   out[v] = sum_{u->v} w[e] x[u]     (GCN aggregation; x [N, F], w [E])
  sddmm  out[e] = <a[u], b[v]> for e=u->v  (GAT-style edge scores; a, b [N, F])

With --model instead of --op, a whole model (gcn, sage, gin, gat, appnp, cheb, tag, transformer, gcn2
from gnncc/cli/zoo.py)
is compiled and timed against the same PyG model called with edge_index, with a torch.sparse
CSR adjacency and (--pyg-compile) under torch.compile; the output is checked against PyG first.
"vs best" is the speedup over the fastest of those PyG columns. "peak MiB" is the most memory
torch allocated during one call (CUDA: the allocator's statistics; CPU: the profiler's allocation
events), over what was allocated before it; gnncc's adds everything its executor holds between
calls (planned buffers, its own copy of the weights, graph layouts). PyG's inputs, weights and
edge_index are not counted.

--reorder relabels each graph's nodes first (see gnncc/reorder.py), to see what locality buys:
  none    the graph's own order (default)
  degree  by in-degree, descending: heavy rows together
  rcm     reverse Cuthill-McKee: a BFS order that puts an edge's two ends close together
With --op, every column (gnncc and the baselines) runs on the relabelled graph, and the mean
|src-dst| edge span before -> after is printed as a locality measure. With --model, gnncc
compiles with gnncc.compile(..., reorder=METHOD) (the row permutation in and out is timed too)
while PyG runs in the given order.
"""

EPILOG = """\
examples:
  gnncc bench --op spmm --graph cora --feat 32 --json out.json
  gnncc bench --op spmm --graph cora pubmed --feat 32 128 --log tuning_logs/records.jsonl --json spmm.json
  gnncc bench --op sddmm --graph ogbn_arxiv --feat 64 --target cuda --json sddmm.json
  gnncc bench --model gcn gat --graph cora amazon_computers --json models.json
  gnncc bench --op spmm --graph pubmed ogbn_arxiv --feat 32 --reorder rcm
      the same spmm on graphs relabelled by reverse Cuthill-McKee; compare with --reorder none
"""


@dataclass(frozen=True)
class Timing:
    """How each column is timed: ``passes`` interleaved passes of ``repeat`` runs (capped at
    ``max_seconds`` once 3 are in); the column's time is the median over passes."""

    repeat: int = 50
    passes: int = 3
    max_seconds: float = 2.0

    @classmethod
    def of(cls, args: argparse.Namespace) -> Timing:
        if args.repeat < 1 or args.passes < 1:
            raise GnnccError(f"--repeat and --passes must be >= 1, got {args.repeat} and {args.passes}")
        if not args.max_seconds > 0:
            raise GnnccError(f"--max-seconds must be positive, got {args.max_seconds}")
        return cls(args.repeat, args.passes, args.max_seconds)


def copy_bandwidth(device: torch.device, mbytes: int = 256) -> float:
    """Bytes per second of a large device copy (read + write), the practical memory bandwidth."""
    from gnncc.runtime.timing import measure_ms

    x = torch.empty(mbytes * 2**20 // 4, dtype=torch.float32, device=device).uniform_()
    # into memory already touched: a new tensor each time (x.clone) measured the CPU's page faults,
    # 3.7 GB/s on a machine that copies at 30 GB/s
    y = torch.empty_like(x).zero_()
    ms = measure_ms(lambda: y.copy_(x), device, warmup=2, repeat=10)
    return 2 * x.numel() * 4 / (ms / 1e3)


def _baselines(op: str, operands: list[Any], device: torch.device) -> dict[str, Any]:
    """The PyTorch/PyG callables for ``op`` (name -> no-argument callable)."""
    import warnings

    from torch_geometric.utils import scatter, spmm

    adj = operands[0]
    n = adj.num_dst
    src = adj.indices.to(device=device, dtype=torch.int64)
    dst = adj.dst_ids().to(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: "sparse CSR support is in beta"
        if op == "spmm":
            x, w = operands[1].to(device), operands[2].to(device)
            csr = torch.sparse_csr_tensor(adj.indptr.to(device), adj.indices.to(device), w, (n, adj.num_src))
            return {
                "pyg": lambda: scatter(x.index_select(0, src) * w.view(-1, 1), dst, 0, dim_size=n, reduce="sum"),
                "pyg_sparse": lambda: spmm(csr, x, reduce="sum"),
                "torch_sparse": lambda: torch.sparse.mm(csr, x),
            }
        a, b = operands[1].to(device), operands[2].to(device)
        zeros = torch.zeros(adj.nnz, device=device)
        csr = torch.sparse_csr_tensor(adj.indptr.to(device), adj.indices.to(device), zeros, (n, adj.num_src))
        gathered = lambda: (a.index_select(0, src) * b.index_select(0, dst)).sum(-1)  # noqa: E731
        # out[e] for e = (v <- u) is (b @ a.T)[v, u]: sampled at the CSR pattern (rows = destinations)
        return {
            "pyg": gathered,
            "pyg_sparse": gathered,
            "torch_sparse": lambda: torch.sparse.sampled_addmm(csr, b, a.t(), beta=0.0).values(),
        }


def _floor_bytes(op: str, operands: list[Any], out: torch.Tensor) -> int:
    adj = operands[0]
    total = adj.indptr.numel() * adj.indptr.element_size() + adj.indices.numel() * adj.indices.element_size()
    total += sum(t.numel() * t.element_size() for t in operands[1:])
    return total + out.numel() * out.element_size()


def bench_case(op: str, graph_name: str, feat: int, target: Any, log: str | None, bandwidth: float,
               timing: Timing = Timing(), reorder: str = "none") -> dict[str, Any]:
    """Time one (op, graph, feat) case, on the graph relabelled by ``reorder``; returns the JSON record."""
    from gnncc import datasets
    from gnncc.check import relative_error
    from gnncc.codegen import build_kernel
    from gnncc.runtime.timing import interleaved_ms
    from gnncc.tune import op_task, select_config
    from gnncc.tune.database import device_name

    data = datasets.load(graph_name, feat=feat)
    reordering = Reordering.of(data.graph, reorder)
    graph = reordering.graph
    task = op_task(op, graph, feat, target)
    device = target.device
    operands = [o.to(device) for o in task.operands]
    ref = task.expected()
    config, source = select_config(task.node, graph, target, log, task.index_dtype)
    runs: dict[str, Any] = {}
    out = torch.empty(ref.shape, dtype=ref.dtype, device=device)
    for label, cfg in (("gnncc", config), ("gnncc_default", None)):
        kernel = build_kernel(task.node, target, cfg, index_dtype=task.index_dtype)
        run = kernel.bind(operands, out)
        run()
        err = relative_error(out, ref.to(device))
        if err > 1e-4:
            raise RuntimeError(f"{label} {op} on {graph_name}: wrong result (relative error {err:.1e})")
        runs[label] = run
    with torch.no_grad():
        for label, fn in _baselines(op, task.operands, device).items():
            err = relative_error(fn().reshape(ref.shape).cpu(), ref)
            if err > 1e-3:
                raise RuntimeError(f"baseline {label} disagrees with the reference (relative error {err:.1e})")
            runs[label] = fn
        times = interleaved_ms(runs, device, timing.passes, repeat=timing.repeat, min_seconds=0.2,
                               max_seconds=timing.max_seconds)
    floor_ms = _floor_bytes(op, operands, out) / bandwidth * 1e3
    g = times["gnncc"]
    return {
        "graph": data.name, "op": op, "feat": feat, "target": str(target), "device": device_name(target.kind),
        "num_nodes": data.graph.num_nodes, "nnz": task.nnz, "reorder": reorder,
        "edge_span_before": reordering.spans[0], "edge_span_after": reordering.spans[1],
        "gnncc_ms": g, "gnncc_default_ms": times["gnncc_default"], "torch_sparse_ms": times["torch_sparse"],
        "pyg_ms": times["pyg"], "pyg_sparse_ms": times["pyg_sparse"], "floor_ms": floor_ms,
        "bandwidth_gbs": bandwidth / 1e9, "pct_of_floor": 100 * floor_ms / g,
        "speedup_vs_default": times["gnncc_default"] / g, "speedup_vs_torch_sparse": times["torch_sparse"] / g,
        "speedup_vs_pyg": times["pyg"] / g, "speedup_vs_pyg_sparse": times["pyg_sparse"] / g,
        "schedule": config, "schedule_source": source, "timing": asdict(timing),
    }


def _pyg_sparse_adjacency(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """PyG's sparse convention: the transposed adjacency (rows are targets) as a torch CSR tensor."""
    from torch_geometric.utils import to_torch_csr_tensor

    return to_torch_csr_tensor(edge_index.flip(0), size=(num_nodes, num_nodes))


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """The process's stderr (file descriptor 2) sent to /dev/null: the profiler's C++ side prints two
    lines per profile there, which Python cannot silence."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _call_peak_mib(fn: Any, device: torch.device) -> float | None:
    """Peak MiB that torch allocated during one call of ``fn``, over what was allocated before it:
    CUDA's allocator statistics; on CPU, which keeps no such counter, the running total of the
    profiler's allocation events (None where this torch's profiler does not give them)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    try:
        from torch._C._profiler import _EventType
        from torch.profiler import ProfilerActivity, profile
    except ImportError:
        return None
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    peak = 0  # the most bytes allocated since the profiler started, after any one event
    pending = list(prof.profiler.kineto_results.experimental_event_tree())
    while pending:
        event = pending.pop()
        pending.extend(event.children)
        if event.tag == _EventType.Allocation:
            peak = max(peak, event.extra_fields.total_allocated)
    return peak / 2**20


PYG_BASELINES = ("pyg", "pyg_sparse", "pyg_compile")  # edge_index, torch.sparse CSR, edge_index under torch.compile


def bench_model_case(model_name: str, graph_name: str, feat: int | None, target: Any, log: str | None,
                     timing: Timing = Timing(repeat=20), reorder: str = "none",
                     pyg_compile: bool = False, profile: bool = False, hidden: int = 16,
                     without: Sequence[str] = ()) -> dict[str, Any]:
    """Time a 2-layer zoo model compiled by gnncc (with node reordering ``reorder``) against PyG
    in the graph's own order: with edge_index, with a torch.sparse CSR adjacency and, when
    ``pyg_compile``, with edge_index under ``torch.compile`` (its compile time not counted).
    A baseline that fails, or disagrees with PyG's eager output, is left out (None) with a note.
    With ``profile`` the record also has ``kernel_profile``: each gnncc kernel timed alone. Each pass
    in ``without`` is an A/B column: gnncc compiled with that pass off, timed in the same interleaving
    (record ``without``: pass -> ms and planned MiB)."""
    import gnncc
    from gnncc import datasets
    from gnncc.check import relative_error
    from gnncc.cli import zoo
    from gnncc.runtime.timing import interleaved_ms
    from gnncc.tune.database import device_name

    data = datasets.load(graph_name, feat=feat)
    device = target.device
    x, edge_index = data.x.to(device), data.graph.edge_index.to(device)
    model = zoo.build(model_name, x.shape[1], 16, hidden=hidden).to(device)
    graph = zoo.with_edge_data(model_name, data.graph)  # random edge weights, features or types, if read
    edge = () if graph.edge_data is None else (graph.edge_data.to(device),)
    cm = gnncc.compile(model, graph, target=target, tuning_log=log, reorder=reorder)
    with torch.no_grad():
        ref = model(x, edge_index, *edge)
        out = cm(x)
        err, reference = relative_error(out, ref), "pyg"
        if err > 1e-4:  # PyG's float32 answer may be the one that is off (PNA's variance): ask float64
            exact = copy.deepcopy(model).double()(x.double(), edge_index, *(
                e.double() if e.is_floating_point() else e for e in edge)).float()
            err, reference, pyg_err = relative_error(out, exact), "float64", relative_error(ref, exact)
            if err > max(1e-4, 2 * pyg_err):  # float32 may not reach 1e-4 (a std of near-equal rows): PyG's is the bar
                raise RuntimeError(f"gnncc {model_name} on {graph_name}: wrong result (relative error {err:.1e} "
                                   f"against the model in float64; PyG's float32 answer: {pyg_err:.1e})")
            print(f"note: {model_name} on {graph_name}: PyG's float32 answer is {pyg_err:.1e} off the float64 "
                  f"one, gnncc's {err:.1e}", file=sys.stderr)
        runs = {"gnncc": lambda: cm(x), "pyg": lambda: model(x, edge_index, *edge)}
        ablated = {name: gnncc.compile(model, graph, target=target, tuning_log=log, reorder=reorder,
                                       passes={name: False}) for name in without}
        candidates = {"pyg_sparse": lambda: partial(model, x, _pyg_sparse_adjacency(edge_index, data.graph.num_nodes),
                                                    *edge)}
        if pyg_compile:
            candidates["pyg_compile"] = lambda: partial(torch.compile(model), x, edge_index, *edge)
        for label, make in candidates.items():
            try:
                run = make()
                baseline_err = relative_error(run(), ref)  # torch.compile compiles here, untimed
            except Exception as exc:  # noqa: BLE001  (a conv without sparse input, an op torch.compile rejects)
                print(f"note: {label} for {model_name} failed, left out: {str(exc)[:300]}", file=sys.stderr)
                continue
            if baseline_err < 1e-3:
                runs[label] = run
            else:
                print(f"note: {label} for {model_name} disagrees with PyG (relative error {baseline_err:.1e}), "
                      "left out", file=sys.stderr)
        peaks = {label: _call_peak_mib(fn, device) for label, fn in runs.items()}
        if peaks["gnncc"] is not None:  # and what it holds between calls: buffers, weights, graph layouts
            peaks["gnncc"] += cm.executor.held_bytes() / 2**20
        ablated_runs = {f"without {name}": (lambda c=c: c(x)) for name, c in ablated.items()}
        times = interleaved_ms({**runs, **ablated_runs}, device, timing.passes, repeat=timing.repeat,
                               min_seconds=0.2, max_seconds=timing.max_seconds)
    g = times["gnncc"]
    best = min((label for label in PYG_BASELINES if label in times), key=times.__getitem__)
    record = {
        "graph": data.name, "model": model_name, "feat": int(x.shape[1]), "synthetic_features": data.synthetic_features,
        "target": str(target), "device": device_name(target.kind), "num_nodes": data.graph.num_nodes,
        "num_edges": data.graph.num_edges, "reorder": reorder, "gnncc_ms": g, "gnncc_peak_mib": peaks["gnncc"],
    }
    for label in PYG_BASELINES:
        record[f"{label}_ms"] = times.get(label)
        record[f"{label}_peak_mib"] = peaks.get(label)
        record[f"speedup_vs_{label}"] = times[label] / g if label in times else None
    record.update({
        "best_pyg": best, "speedup_vs_best_pyg": times[best] / g,
        "gnncc_planned_mib": cm.executor.plan.total_bytes / 2**20, "relative_error": err, "reference": reference,
        "kernels": len(cm.kernels), "compile_s": cm.compile_seconds, "timing": asdict(timing), "hidden": hidden,
        "without": {name: {"ms": times[f"without {name}"], "planned_mib": c.executor.plan.total_bytes / 2**20}
                    for name, c in ablated.items()},
    })
    if profile:
        with torch.no_grad():
            record["kernel_profile"] = cm.profile(x, repeat=timing.repeat).as_dict()
    return record


def _run_cases(cases: list[tuple[str, Callable[[], dict[str, Any]]]], show: Callable[[dict[str, Any]], None],
               json_path: str | None) -> int:
    """Run each ``(label, case)``, printing its row and rewriting the JSON after each one, so a run
    cut short keeps what it measured. A case that fails (a wrong result, a missing graph, a CUDA
    error) is reported by label and skipped; the exit status is 1 if any failed."""
    records, failed = [], []
    for label, case in cases:
        try:
            record = case()
        except Exception as e:  # noqa: BLE001  reported below, and in the exit status
            print(f"gnncc: error: {label}: {e}", file=sys.stderr, flush=True)
            failed.append(label)
            continue
        records.append(record)
        show(record)
        _write(records, json_path)
    if json_path:
        print(f"wrote {len(records)} record(s) to {json_path}", file=sys.stderr)
    if failed:
        print(f"gnncc: error: {len(failed)} of {len(cases)} case(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


def _show_model(r: dict[str, Any]) -> None:
    peak = f"{_fmt(r['gnncc_peak_mib'], '.0f')}/{_fmt(r['pyg_peak_mib'], '.0f')}"
    print(f"{r['model']:<6} {r['graph']:<18} {r['feat']:>5} {r['gnncc_ms']:>9.3f} {r['pyg_ms']:>9.3f} "
          f"{_fmt(r['pyg_sparse_ms'], '9.3f'):>9} {_fmt(r['pyg_compile_ms'], '9.3f'):>9} {r['speedup_vs_pyg']:>6.2f}x "
          f"{r['speedup_vs_best_pyg']:>7.2f}x {peak:>15}", flush=True)
    for name, ab in r["without"].items():
        print(f"    without {name}: {ab['ms']:.3f} ms ({ab['ms'] / r['gnncc_ms']:.2f}x gnncc's), "
              f"{ab['planned_mib']:.1f} MiB planned (gnncc: {r['gnncc_planned_mib']:.1f})", flush=True)
    if "kernel_profile" in r:
        from gnncc.runtime.profile import Profile

        print(f"{Profile.from_dict(r['kernel_profile'])}\n", flush=True)


def _show_op(r: dict[str, Any]) -> None:
    if r["reorder"] != "none":
        print(f"{r['graph']}: {r['reorder']} edge span {r['edge_span_before']:.1f} -> {r['edge_span_after']:.1f}",
              file=sys.stderr)
    print(f"{r['graph']:<18} {r['feat']:>4} {r['gnncc_ms']:>9.4f} {r['gnncc_default_ms']:>9.4f} "
          f"{r['torch_sparse_ms']:>9.4f} {r['pyg_ms']:>9.4f} {r['pyg_sparse_ms']:>9.4f} {r['floor_ms']:>8.4f} "
          f"{r['pct_of_floor']:>6.0f}% {r['speedup_vs_torch_sparse']:>7.2f}x {r['speedup_vs_pyg']:>6.2f}x  "
          f"{r['schedule_source']} {r['schedule']}", flush=True)


def run_bench(args: argparse.Namespace) -> int:
    from gnncc.codegen.target import resolve_target

    target = resolve_target(args.target)
    timing = Timing.of(args)
    if args.without:
        from gnncc.passes import PASSES

        unknown = [name for name in args.without if name not in PASSES]
        if unknown or not args.model:
            raise GnnccError(f"--without {' '.join(unknown)}: no such pass; the passes are {', '.join(PASSES)}"
                             if unknown else "--without times whole models: use it with --model")
    if args.model:
        print(f"{'model':<6} {'graph':<18} {'F':>5} {'gnncc ms':>9} {'PyG ms':>9} {'PyG csr':>9} {'PyG+tc':>9} "
              f"{'vs PyG':>7} {'vs best':>8} {'peak MiB g/PyG':>15}")
        cases = [(f"{model} on {graph}" + (f" F={feat}" if feat else ""),
                  partial(bench_model_case, model, graph, feat, target, args.log, timing, args.reorder,
                          args.pyg_compile, args.profile, args.hidden, args.without))
                 for graph in args.graph for feat in args.feat or [None] for model in args.model]
        return _run_cases(cases, _show_model, args.json)
    if not args.feat:
        raise GnnccError("--feat is required with --op")
    bandwidth = copy_bandwidth(target.device)
    print(f"{args.op} on {target}: copy bandwidth {bandwidth / 1e9:.1f} GB/s, node reordering {args.reorder}",
          file=sys.stderr)
    print(f"{'graph':<18} {'F':>4} {'gnncc ms':>9} {'default':>9} {'torch.sp':>9} {'PyG':>9} {'PyG csr':>9} "
          f"{'floor':>8} {'%floor':>7} {'vs torch':>8} {'vs PyG':>7}  schedule")
    cases = [(f"{args.op} on {graph} F={feat}",
              partial(bench_case, args.op, graph, feat, target, args.log, bandwidth, timing, args.reorder))
             for graph in args.graph for feat in args.feat]
    return _run_cases(cases, _show_op, args.json)


def _write(records: list[dict[str, Any]], json_path: str | None) -> None:
    """Rewrite ``json_path`` with ``records`` (via a temporary file: a kill leaves the last complete list)."""
    if json_path:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(records, indent=1) + "\n")
        tmp.replace(path)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time one sparse op: gnncc vs torch.sparse/cuSPARSE, PyG and the bandwidth floor",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--op", choices=("spmm", "sddmm"), help="the op to time")
    what.add_argument("--model", nargs="+", choices=MODEL_NAMES,
                      help="models to time (2-layer; appnp: a 2-layer MLP and 10 propagation steps)")
    p.add_argument("--graph", required=True, nargs="+",
                   help="graph names (cora, pubmed, ...), .npz files, or synthetic R-MAT graphs rmat-NODES-EDGES "
                        "(e.g. rmat-1M-16M)")
    p.add_argument("--feat", nargs="+", type=int,
                   help="feature widths (one case per graph x width); with --model, random features of this "
                   "width replace the graph's own (graphs without features get 128 by default)")
    p.add_argument("--target", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--log", help="tuning log to take gnncc's config from (default: tuning_logs/records.jsonl)")
    p.add_argument("--reorder", default="none", choices=METHODS,
                   help="relabel the graph's nodes first: none (default), degree (by in-degree) or rcm "
                   "(reverse Cuthill-McKee); see the description above")
    p.add_argument("--repeat", type=int, default=50,
                   help="timed runs per column and pass (their median is the pass's time; default 50)")
    p.add_argument("--passes", type=int, default=3,
                   help="interleaved passes over the columns (gnncc, default, baselines): each column's time "
                   "is its median over passes, so a shared machine's drift hits every column alike (default 3)")
    p.add_argument("--max-seconds", type=float, default=2.0,
                   help="stop a column's pass after this many seconds once 3 runs are in: a slow baseline "
                   "(PyG at F=512) costs seconds, not minutes (default 2)")
    p.add_argument("--pyg-compile", action="store_true",
                   help="with --model, also time PyG under torch.compile (column PyG+tc); compiling takes "
                   "seconds to minutes per model and is not counted in its time")
    p.add_argument("--hidden", type=int, default=16,
                   help="with --model, the models' hidden width (default 16; GAT-style models use 8 per head)")
    p.add_argument("--without", nargs="+", default=[], metavar="PASS",
                   help="with --model, A/B of passes: also time gnncc with each PASS switched off, in the same "
                   "interleaving, and print its time and planned buffers (e.g. --without fuse_attention)")
    p.add_argument("--profile", action="store_true",
                   help="with --model: also time each gnncc kernel alone and print where a call's time goes")
    p.add_argument("--json", help="write a JSON list with one record per case here (rewritten after each case)")
    p.set_defaults(func=run_bench)
