"""Helpers for testing kernels against the IR interpreter: edge-case graphs and a checker."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from gnncc.codegen.kernel import build_kernel
from gnncc.codegen.schedule import load_space
from gnncc.codegen.target import Target
from gnncc.ir.adjacency import Adjacency
from gnncc.ir.function import Builder, Node
from gnncc.ir.interpreter import evaluate_node
from gnncc.ir.types import TensorType

CPU = Target("cpu")


def _with_dtype(adj: Adjacency, dtype: torch.dtype) -> Adjacency:
    return Adjacency(adj.indptr.to(dtype), adj.indices.to(dtype), adj.num_src, adj.num_dst)


def edge_case_graphs(index_dtype: torch.dtype = torch.int32, seed: int = 0) -> dict[str, Adjacency]:
    """Graphs with empty rows, self-loops, duplicate edges, isolated nodes, a single node,
    no edges, one very high in-degree node, and a bipartite (num_src != num_dst) one."""
    g = torch.Generator().manual_seed(seed)
    n = 40
    src = torch.randint(0, n, (150,), generator=g)
    dst = torch.randint(0, n - 8, (150,), generator=g)  # the last 8 nodes have no in-edges
    loops = torch.arange(0, n, 5)
    src = torch.cat([src, loops, src[:10]])  # self-loops and duplicate edges
    dst = torch.cat([dst, loops, dst[:10]])
    none = torch.tensor([], dtype=torch.int64)
    hub_n = 300
    hub_src = torch.randint(0, hub_n, (3000,), generator=g)
    hub_dst = torch.randint(0, hub_n, (3000,), generator=g)
    hub_dst[torch.rand(3000, generator=g) < 0.8] = 7  # node 7 gets ~2400 in-edges
    graphs = {
        "random": Adjacency.from_coo(src, dst, n, n),
        "single": Adjacency.from_coo(torch.tensor([0]), torch.tensor([0]), 1, 1),
        "single_no_edges": Adjacency.from_coo(none, none, 1, 1),
        "no_edges": Adjacency.from_coo(none, none, 9, 9),
        "hub": Adjacency.from_coo(hub_src, hub_dst, hub_n, hub_n),
        "bipartite": Adjacency.from_coo(torch.randint(0, 23, (60,), generator=g),
                                        torch.randint(0, 6, (60,), generator=g), 23, 11),
    }
    return {name: _with_dtype(adj, index_dtype) for name, adj in graphs.items()}


def sparse_node(op_name: str, adj: Adjacency, shapes: Sequence[tuple[str, tuple[int, ...]]], /,
                dtype: torch.dtype = torch.float32, **attrs: Any) -> tuple[Node, list[Any]]:
    """An IR node ``op_name`` over ``adj`` and random tensors, with its operands in input order.

    ``shapes`` lists operands as ``("adj", ())`` or ``(lead, rest)`` where ``lead`` names the
    leading dimension: ``"src"``, ``"dst"`` or ``"nnz"``; tensors are random of ``dtype``.
    """
    g = torch.Generator().manual_seed(len(shapes) * 31 + adj.nnz)
    b = Builder()
    values, data = [], []
    lead = {"src": adj.num_src, "dst": adj.num_dst, "nnz": adj.nnz}
    for i, (kind, rest) in enumerate(shapes):
        if kind == "adj":
            values.append(b.const("A", adj))
            data.append(adj)
        else:
            shape = (lead[kind], *rest)
            values.append(b.input(f"t{i}", TensorType(shape, str(dtype).removeprefix("torch."))))
            data.append((torch.randn(shape, generator=g) * 100).to(dtype))
    return b.emit(op_name, values, **attrs).node, data


def dense_node(op_name: str, tensors: Sequence[torch.Tensor], /, **attrs: Any) -> tuple[Node, list[Any]]:
    b = Builder()
    values = [b.input(f"t{i}", TensorType(tuple(t.shape), str(t.dtype).removeprefix("torch.")))
              for i, t in enumerate(tensors)]
    return b.emit(op_name, values, **attrs).node, list(tensors)


def check_node(node: Node, operands: list[Any], config: dict[str, Any] | None = None,
               target: Target = CPU, rtol: float = 1e-5) -> torch.Tensor:
    """Run ``node``'s kernel (on ``target``'s device), compare with ``evaluate_node`` (tolerance scaled
    by the output range; NaNs must be where the reference has them) and return its output."""
    index_dtype = next((str(o.indices.dtype).removeprefix("torch.") for o in operands
                        if isinstance(o, Adjacency)), None)
    kernel = build_kernel(node, target, config, index_dtype=index_dtype)
    ref = evaluate_node(node, operands)
    device = target.device
    out = torch.full_like(ref, float("nan"), device=device) if ref.is_floating_point() else \
        torch.zeros_like(ref, device=device)
    kernel([o.to(device) for o in operands], out)
    out = out.cpu()
    scale = float(ref.abs().nan_to_num(0.0).max()) if ref.numel() and ref.is_floating_point() else 1.0
    torch.testing.assert_close(out, ref, rtol=rtol, atol=rtol * max(1.0, scale), equal_nan=True,
                               msg=lambda m: f"{kernel.describe()}: {m}")
    return out


def neighbour_configs(family: str, kind: str = "cpu") -> list[dict[str, Any]]:
    """Every non-default value of every knob, each in one valid config."""
    return list(load_space(family, kind).neighbours())


def spmm_matmul_node(adj: Adjacency, fin: int, fout: int, /, reduce: str = "sum", weighted: bool = True,
                     epilogue: Sequence[str] = (), tile_rows: int = 4, seed: int = 0) -> tuple[Node, list[Any]]:
    """An ``spmm_matmul`` node over ``adj`` (x ``[src, fin]``, weight ``[fin, fout]``, per-feature
    epilogue operands for each binary step) with random operands in input order."""
    g = torch.Generator().manual_seed(seed)
    b = Builder()
    values = [b.const("A", adj), b.input("x", TensorType((adj.num_src, fin), "float32"))]
    data: list[Any] = [adj, torch.randn(adj.num_src, fin, generator=g)]
    if weighted:
        values.append(b.input("w", TensorType((adj.nnz,), "float32")))
        data.append(torch.rand(adj.nnz, generator=g))
    for i, step in enumerate(s for s in epilogue if "[" in s and not s.split("[")[1][0].isdigit()):
        kind = step.split("[")[1].rstrip("]")
        shape = {"feat": (1, fin), "scalar": (1, 1), "row": (adj.num_dst, 1), "node": (adj.num_dst, fin)}[kind]
        values.append(b.input(f"e{i}", TensorType(shape, "float32")))
        data.append(torch.randn(shape, generator=g))
    values.append(b.input("W", TensorType((fin, fout), "float32")))
    data.append(torch.randn(fin, fout, generator=g))
    node = b.emit("spmm_matmul", values, reduce=reduce, weighted=weighted, epilogue=list(epilogue),
                  tile_rows=tile_rows).node
    return node, data
