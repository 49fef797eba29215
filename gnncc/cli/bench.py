"""``gnncc bench``: one sparse op, gnncc against PyTorch/PyG baselines and the memory-bandwidth floor."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

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
"""

EPILOG = """\
examples:
  gnncc bench --op spmm --graph cora --feat 32 --json out.json
  gnncc bench --op spmm --graph cora pubmed --feat 32 128 --log tuning_logs/records.jsonl --json spmm.json
  gnncc bench --op sddmm --graph ogbn_arxiv --feat 64 --target cuda --json sddmm.json
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
               repeat: int = 50) -> dict[str, Any]:
    """Time one (op, graph, feat) case; returns the JSON record."""
    from gnncc import datasets
    from gnncc.check import relative_error
    from gnncc.codegen import build_kernel
    from gnncc.runtime.timing import measure_ms
    from gnncc.tune import op_task, select_config
    from gnncc.tune.database import device_name

    data = datasets.load(graph_name, feat=feat)
    task = op_task(op, data.graph, feat, target)
    device = target.device
    operands = [o.to(device) for o in task.operands]
    ref = task.expected()
    config, source = select_config(task.node, data.graph, target, log, task.index_dtype)
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
        "num_nodes": data.graph.num_nodes, "nnz": task.nnz,
        "gnncc_ms": g, "gnncc_default_ms": times["gnncc_default"], "torch_sparse_ms": times["torch_sparse"],
        "pyg_ms": times["pyg"], "pyg_sparse_ms": times["pyg_sparse"], "floor_ms": floor_ms,
        "bandwidth_gbs": bandwidth / 1e9, "pct_of_floor": 100 * floor_ms / g,
        "speedup_vs_default": times["gnncc_default"] / g, "speedup_vs_torch_sparse": times["torch_sparse"] / g,
        "speedup_vs_pyg": times["pyg"] / g, "speedup_vs_pyg_sparse": times["pyg_sparse"] / g,
        "schedule": config, "schedule_source": source,
    }


def run_bench(args: argparse.Namespace) -> int:
    from gnncc.codegen.target import resolve_target

    target = resolve_target(args.target)
    bandwidth = copy_bandwidth(target.device)
    print(f"{args.op} on {target}: copy bandwidth {bandwidth / 1e9:.1f} GB/s", file=sys.stderr)
    header = (f"{'graph':<18} {'F':>4} {'gnncc ms':>9} {'default':>9} {'torch.sp':>9} {'PyG':>9} {'PyG csr':>9} "
              f"{'floor':>8} {'%floor':>7} {'vs torch':>8} {'vs PyG':>7}  schedule")
    print(header)
    records = []
    for graph in args.graph:
        for feat in args.feat:
            r = bench_case(args.op, graph, feat, target, args.log, bandwidth, args.repeat)
            records.append(r)
            print(f"{r['graph']:<18} {feat:>4} {r['gnncc_ms']:>9.4f} {r['gnncc_default_ms']:>9.4f} "
                  f"{r['torch_sparse_ms']:>9.4f} {r['pyg_ms']:>9.4f} {r['pyg_sparse_ms']:>9.4f} {r['floor_ms']:>8.4f} "
                  f"{r['pct_of_floor']:>6.0f}% {r['speedup_vs_torch_sparse']:>7.2f}x {r['speedup_vs_pyg']:>6.2f}x  "
                  f"{r['schedule_source']} {r['schedule']}", flush=True)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(records, indent=1) + "\n")
        print(f"wrote {len(records)} record(s) to {path}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time one sparse op: gnncc vs torch.sparse/cuSPARSE, PyG and the bandwidth floor",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--op", required=True, choices=("spmm", "sddmm"), help="the op to time")
    p.add_argument("--graph", required=True, nargs="+", help="graph names (cora, pubmed, ...) or .npz files")
    p.add_argument("--feat", required=True, nargs="+", type=int, help="feature widths (one case per graph x width)")
    p.add_argument("--target", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--log", help="tuning log to take gnncc's config from (default: tuning_logs/records.jsonl)")
    p.add_argument("--repeat", type=int, default=50, help="timed runs per measurement (median reported)")
    p.add_argument("--json", help="write a JSON list with one record per case here")
    p.set_defaults(func=run_bench)
