"""``gnncc bench``: one sparse op, gnncc against PyTorch/PyG baselines and the memory-bandwidth floor."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

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

With --model instead of --op, a whole 2-layer model (gcn, sage, gin, gat from gnncc/cli/zoo.py)
is compiled and timed against the same PyG model called with edge_index and with a torch.sparse
CSR adjacency; the output is checked against PyG first. On CUDA the peak memory of each run is
reported too.

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


def copy_bandwidth(device: torch.device, mbytes: int = 256) -> float:
    """Bytes per second of a large device copy (read + write), the practical memory bandwidth."""
    from gnncc.runtime.timing import measure_ms

    x = torch.empty(mbytes * 2**20 // 4, dtype=torch.float32, device=device).uniform_()
    ms = measure_ms(x.clone, device, warmup=2, repeat=10)
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
               repeat: int = 50, reorder: str = "none") -> dict[str, Any]:
    """Time one (op, graph, feat) case, on the graph relabelled by ``reorder``; returns the JSON record."""
    from gnncc import datasets
    from gnncc.check import relative_error
    from gnncc.codegen import build_kernel
    from gnncc.runtime.timing import measure_ms
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
    times: dict[str, float] = {}
    out = torch.empty(ref.shape, dtype=ref.dtype, device=device)
    for label, cfg in (("gnncc", config), ("gnncc_default", None)):
        kernel = build_kernel(task.node, target, cfg, index_dtype=task.index_dtype)
        run = kernel.bind(operands, out)
        run()
        err = relative_error(out, ref.to(device))
        if err > 1e-4:
            raise RuntimeError(f"{label} {op} on {graph_name}: wrong result (relative error {err:.1e})")
        times[label] = measure_ms(run, device, repeat=repeat, min_seconds=0.2)
    with torch.no_grad():
        for label, fn in _baselines(op, task.operands, device).items():
            err = relative_error(fn().reshape(ref.shape).cpu(), ref)
            if err > 1e-3:
                raise RuntimeError(f"baseline {label} disagrees with the reference (relative error {err:.1e})")
            times[label] = measure_ms(fn, device, repeat=repeat, min_seconds=0.2)
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
        "schedule": config, "schedule_source": source,
    }


def _pyg_sparse_adjacency(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """PyG's sparse convention: the transposed adjacency (rows are targets) as a torch CSR tensor."""
    from torch_geometric.utils import to_torch_csr_tensor

    return to_torch_csr_tensor(edge_index.flip(0), size=(num_nodes, num_nodes))


def _peak_ms(fn: Any, device: torch.device, repeat: int) -> tuple[float, float | None]:
    """(median ms, peak MiB allocated during one call on CUDA, else None)."""
    from gnncc.runtime.timing import measure_ms

    peak = None
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    return measure_ms(fn, device, repeat=repeat, min_seconds=0.2), peak


def bench_model_case(model_name: str, graph_name: str, feat: int | None, target: Any, log: str | None,
                     repeat: int = 20, reorder: str = "none") -> dict[str, Any]:
    """Time a 2-layer zoo model compiled by gnncc (with node reordering ``reorder``) against PyG
    (edge_index, and torch.sparse CSR) in the graph's own order."""
    import gnncc
    from gnncc import datasets
    from gnncc.check import relative_error
    from gnncc.cli import zoo
    from gnncc.tune.database import device_name

    data = datasets.load(graph_name, feat=feat)
    device = target.device
    x, edge_index = data.x.to(device), data.graph.edge_index.to(device)
    model = zoo.build(model_name, x.shape[1], 16).to(device)
    cm = gnncc.compile(model, data.graph, target=target, tuning_log=log, reorder=reorder)
    times: dict[str, float | None] = {}
    peaks: dict[str, float | None] = {}
    with torch.no_grad():
        ref = model(x, edge_index)
        err = relative_error(cm(x), ref)
        if err > 1e-4:
            raise RuntimeError(f"gnncc {model_name} on {graph_name}: wrong result (relative error {err:.1e})")
        runs = {"gnncc": lambda: cm(x), "pyg": lambda: model(x, edge_index)}
        try:
            adj_t = _pyg_sparse_adjacency(edge_index, data.graph.num_nodes)
            if relative_error(model(x, adj_t), ref) < 1e-3:
                runs["pyg_sparse"] = lambda: model(x, adj_t)
        except Exception as exc:  # PyG does not take a sparse adjacency for every conv  # noqa: BLE001
            print(f"note: PyG {model_name} with a torch.sparse adjacency failed: {exc}", file=sys.stderr)
        for label in ("gnncc", "pyg", "pyg_sparse"):
            times[label], peaks[label] = _peak_ms(runs[label], device, repeat) if label in runs else (None, None)
    g = times["gnncc"]
    return {
        "graph": data.name, "model": model_name, "feat": int(x.shape[1]), "synthetic_features": data.synthetic_features,
        "target": str(target), "device": device_name(target.kind), "num_nodes": data.graph.num_nodes,
        "num_edges": data.graph.num_edges, "reorder": reorder,
        "gnncc_ms": g, "pyg_ms": times["pyg"], "pyg_sparse_ms": times["pyg_sparse"],
        "speedup_vs_pyg": times["pyg"] / g,
        "speedup_vs_pyg_sparse": None if times["pyg_sparse"] is None else times["pyg_sparse"] / g,
        "gnncc_peak_mib": peaks["gnncc"], "pyg_peak_mib": peaks["pyg"], "pyg_sparse_peak_mib": peaks["pyg_sparse"],
        "gnncc_planned_mib": cm.executor.plan.total_bytes / 2**20, "relative_error": err,
        "kernels": len(cm.kernels), "compile_s": cm.compile_seconds,
    }


def _run_models(args: argparse.Namespace, target: Any) -> list[dict[str, Any]]:
    def fmt(v: float | None, spec: str) -> str:
        return "n/a" if v is None else format(v, spec)

    print(f"{'model':<6} {'graph':<18} {'F':>5} {'gnncc ms':>9} {'PyG ms':>9} {'PyG csr':>9} {'vs PyG':>7} "
          f"{'vs csr':>7} {'peak MiB g/PyG':>15}")
    records = []
    for graph in args.graph:
        for feat in args.feat or [None]:
            for model in args.model:
                r = bench_model_case(model, graph, feat, target, args.log, args.repeat, args.reorder)
                records.append(r)
                peak = f"{fmt(r['gnncc_peak_mib'], '.0f')}/{fmt(r['pyg_peak_mib'], '.0f')}"
                print(f"{model:<6} {r['graph']:<18} {r['feat']:>5} {r['gnncc_ms']:>9.3f} {r['pyg_ms']:>9.3f} "
                      f"{fmt(r['pyg_sparse_ms'], '9.3f'):>9} {r['speedup_vs_pyg']:>6.2f}x "
                      f"{fmt(r['speedup_vs_pyg_sparse'], '6.2f'):>6}x {peak:>15}", flush=True)
    return records


def run_bench(args: argparse.Namespace) -> int:
    from gnncc.codegen.target import resolve_target

    target = resolve_target(args.target)
    if args.model:
        return _write(_run_models(args, target), args.json)
    if not args.feat:
        raise GnnccError("--feat is required with --op")
    bandwidth = copy_bandwidth(target.device)
    print(f"{args.op} on {target}: copy bandwidth {bandwidth / 1e9:.1f} GB/s, node reordering {args.reorder}",
          file=sys.stderr)
    header = (f"{'graph':<18} {'F':>4} {'gnncc ms':>9} {'default':>9} {'torch.sp':>9} {'PyG':>9} {'PyG csr':>9} "
              f"{'floor':>8} {'%floor':>7} {'vs torch':>8} {'vs PyG':>7}  schedule")
    print(header)
    records = []
    for graph in args.graph:
        for feat in args.feat:
            r = bench_case(args.op, graph, feat, target, args.log, bandwidth, args.repeat, args.reorder)
            records.append(r)
            if args.reorder != "none":
                print(f"{r['graph']}: {args.reorder} edge span {r['edge_span_before']:.1f} -> "
                      f"{r['edge_span_after']:.1f}", file=sys.stderr)
            print(f"{r['graph']:<18} {feat:>4} {r['gnncc_ms']:>9.4f} {r['gnncc_default_ms']:>9.4f} "
                  f"{r['torch_sparse_ms']:>9.4f} {r['pyg_ms']:>9.4f} {r['pyg_sparse_ms']:>9.4f} {r['floor_ms']:>8.4f} "
                  f"{r['pct_of_floor']:>6.0f}% {r['speedup_vs_torch_sparse']:>7.2f}x {r['speedup_vs_pyg']:>6.2f}x  "
                  f"{r['schedule_source']} {r['schedule']}", flush=True)
    return _write(records, args.json)


def _write(records: list[dict[str, Any]], json_path: str | None) -> int:
    if json_path:
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(records, indent=1) + "\n")
        print(f"wrote {len(records)} record(s) to {path}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time one sparse op: gnncc vs torch.sparse/cuSPARSE, PyG and the bandwidth floor",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--op", choices=("spmm", "sddmm"), help="the op to time")
    what.add_argument("--model", nargs="+", choices=("gcn", "sage", "gin", "gat"), help="2-layer models to time")
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
    p.add_argument("--repeat", type=int, default=50, help="timed runs per measurement (median reported)")
    p.add_argument("--json", help="write a JSON list with one record per case here")
    p.set_defaults(func=run_bench)
