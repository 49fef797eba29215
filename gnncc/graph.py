"""``gnncc.Graph``: a validated graph in the layouts the kernels need.

Edges follow PyG's ``source_to_target`` flow: ``edge_index[0]`` are sources,
``edge_index[1]`` targets, and aggregation runs over a target's in-edges.
Duplicate edges and self-loops are kept exactly as given (PyG sums duplicates).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gnncc.errors import GraphError
from gnncc.ir.adjacency import Adjacency


@dataclass(frozen=True)
class DegreeStats:
    """Summary of a degree sequence (used by explain(), the tuner and benchmarks)."""

    min: int
    max: int
    mean: float
    std: float
    zero: int  # nodes with no edges in this direction
    histogram: tuple[int, ...]  # counts of degrees in [0], [1], [2,3], [4,7], ... (log2 buckets)

    @staticmethod
    def of(degrees: torch.Tensor) -> DegreeStats:
        d = degrees.to(torch.float64)
        if d.numel() == 0:
            return DegreeStats(0, 0, 0.0, 0.0, 0, ())
        buckets = torch.where(degrees > 0, torch.floor(torch.log2(d.clamp_min(1))) + 1, torch.zeros_like(d))
        hist = torch.bincount(buckets.to(torch.int64))
        return DegreeStats(
            int(degrees.min()), int(degrees.max()), float(d.mean()), float(d.std(unbiased=False)),
            int((degrees == 0).sum()), tuple(int(c) for c in hist),
        )


class Graph:
    """A directed multigraph with ``num_nodes`` nodes and edges ``src -> dst``.

    Build it with ``Graph(edge_index, num_nodes=None)`` or the ``from_*`` constructors.
    It keeps CSR (out-edges, grouped by source) and CSC (in-edges, grouped by target)
    with int32 indices when they fit, and degree statistics.
    """

    def __init__(self, edge_index: Any, num_nodes: int | None = None) -> None:
        src, dst = _validate_edge_index(edge_index, num_nodes)
        if num_nodes is None:
            if src.numel() == 0:
                raise GraphError(
                    "edge_index is empty and num_nodes was not given, so the node count is unknown; "
                    "pass num_nodes=... (a graph of isolated nodes is fine)"
                )
            num_nodes = int(torch.maximum(src.max(), dst.max())) + 1
        self.num_nodes = int(num_nodes)
        self._src = src
        self._dst = dst

    # ---- constructors ----------------------------------------------------
    @classmethod
    def from_edge_index(cls, edge_index: Any, num_nodes: int | None = None) -> Graph:
        return cls(edge_index, num_nodes)

    @classmethod
    def from_pyg(cls, data: Any) -> Graph:
        """From a PyG ``Data`` (anything with ``edge_index`` and ``num_nodes``)."""
        if not hasattr(data, "edge_index") or data.edge_index is None:
            raise GraphError(f"{type(data).__name__} has no edge_index; expected a PyG Data object")
        return cls(data.edge_index, data.num_nodes)

    @classmethod
    def from_scipy(cls, matrix: Any) -> Graph:
        """From a square scipy sparse matrix; entry (i, j) is the edge i -> j."""
        import scipy.sparse as sp

        if not sp.issparse(matrix):
            raise GraphError(f"expected a scipy sparse matrix, got {type(matrix).__name__}")
        if matrix.shape[0] != matrix.shape[1]:
            raise GraphError(f"adjacency matrix must be square, got shape {matrix.shape}")
        coo = matrix.tocoo()
        edge_index = np.stack([coo.row, coo.col]).astype(np.int64)
        return cls(torch.from_numpy(edge_index), matrix.shape[0])

    @classmethod
    def from_networkx(cls, g: Any) -> Graph:
        """From a networkx graph; nodes are numbered in ``g.nodes`` order.

        An undirected graph gives both directions of every edge, as PyG's ``from_networkx``.
        """
        nodes = {n: i for i, n in enumerate(g.nodes)}
        pairs = [(nodes[u], nodes[v]) for u, v in g.edges()]
        if not g.is_directed():
            pairs += [(v, u) for u, v in pairs if u != v]
        edge_index = torch.tensor(pairs, dtype=torch.int64).reshape(-1, 2).t()
        return cls(edge_index, len(nodes))

    @classmethod
    def from_npz(cls, path: str | Path) -> Graph:
        """From a ``.npz`` with ``src``, ``dst`` and ``num_nodes`` (the layout of ``shared/data``)."""
        with np.load(path) as d:
            edge_index = np.stack([d["src"], d["dst"]]).astype(np.int64)
            return cls(torch.from_numpy(edge_index), int(d["num_nodes"]))

    @classmethod
    def coerce(cls, graph: Any, num_nodes: int | None = None) -> Graph:
        """Accept any supported graph form (what ``gnncc.compile`` does with its argument)."""
        if isinstance(graph, Graph):
            return graph
        if hasattr(graph, "edge_index"):
            return cls.from_pyg(graph)
        mod = type(graph).__module__
        if mod.startswith("scipy.sparse"):
            return cls.from_scipy(graph)
        if mod.startswith("networkx"):
            return cls.from_networkx(graph)
        if isinstance(graph, (torch.Tensor, np.ndarray, list, tuple)):
            return cls(graph, num_nodes)
        raise GraphError(
            f"cannot make a graph from {type(graph).__name__}; pass a gnncc.Graph, an edge_index "
            "tensor [2, E], a PyG Data, a scipy sparse matrix or a networkx graph"
        )

    # ---- layouts ---------------------------------------------------------
    @property
    def num_edges(self) -> int:
        return int(self._src.numel())

    @property
    def edge_index(self) -> torch.Tensor:
        """The edges as given, ``[2, E]`` int64."""
        return torch.stack([self._src, self._dst])

    @cached_property
    def csc(self) -> Adjacency:
        """In-edges grouped by target: ``indices`` are sources (what aggregation reads)."""
        return Adjacency.from_coo(self._src, self._dst, self.num_nodes, self.num_nodes)

    @cached_property
    def csr(self) -> Adjacency:
        """Out-edges grouped by source: ``indices`` are targets."""
        return Adjacency.from_coo(self._dst, self._src, self.num_nodes, self.num_nodes)

    @property
    def index_dtype(self) -> torch.dtype:
        return self.csc.indices.dtype

    @cached_property
    def in_degree(self) -> DegreeStats:
        return DegreeStats.of(self.csc.in_degrees())

    @cached_property
    def out_degree(self) -> DegreeStats:
        return DegreeStats.of(self.csr.in_degrees())

    @cached_property
    def num_self_loops(self) -> int:
        return int((self._src == self._dst).sum())

    @cached_property
    def signature(self) -> str:
        """Hash of the exact edge multiset order and node count (keys per-graph caches)."""
        h = hashlib.sha256()
        h.update(str(self.num_nodes).encode())
        h.update(self._src.numpy().tobytes())
        h.update(self._dst.numpy().tobytes())
        return h.hexdigest()[:16]

    def summary(self) -> str:
        d = self.in_degree
        return (
            f"Graph(num_nodes={self.num_nodes}, num_edges={self.num_edges}, "
            f"self_loops={self.num_self_loops}, in-degree min/mean/max={d.min}/{d.mean:.2f}/{d.max}, "
            f"isolated_targets={d.zero}, index={str(self.index_dtype).removeprefix('torch.')})"
        )

    __repr__ = summary


def _validate_edge_index(edge_index: Any, num_nodes: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Check dtype, shape and id range; return (src, dst) as contiguous int64 CPU tensors."""
    if num_nodes is not None:
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, (int, np.integer)):
            raise GraphError(f"num_nodes must be an int, got {type(num_nodes).__name__}")
        if num_nodes < 0:
            raise GraphError(f"num_nodes must be >= 0, got {num_nodes}")
    if isinstance(edge_index, (list, tuple)):
        edge_index = torch.as_tensor(np.asarray(edge_index, dtype=np.int64) if len(edge_index) else [[], []])
    elif isinstance(edge_index, np.ndarray):
        edge_index = torch.from_numpy(edge_index)
    if not isinstance(edge_index, torch.Tensor):
        raise GraphError(f"edge_index must be a tensor of shape [2, E], got {type(edge_index).__name__}")
    if edge_index.is_floating_point() or edge_index.is_complex() or edge_index.dtype == torch.bool:
        raise GraphError(
            f"edge_index must hold integer node ids, got dtype {str(edge_index.dtype).removeprefix('torch.')}; "
            "convert it with edge_index.long()"
        )
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise GraphError(
            f"edge_index must have shape [2, E], got {list(edge_index.shape)}"
            + ("; did you pass edge_index.t()?" if edge_index.dim() == 2 and edge_index.shape[1] == 2 else "")
        )
    edge_index = edge_index.detach().to("cpu", torch.int64)
    src, dst = edge_index[0].contiguous(), edge_index[1].contiguous()
    if src.numel():
        lo = int(edge_index.min())
        if lo < 0:
            col = int((edge_index < 0).nonzero()[0, 1])
            raise GraphError(f"edge_index has a negative node id {lo} (edge {col}); ids must be in [0, num_nodes)")
        hi = int(edge_index.max())
        if num_nodes is not None and hi >= num_nodes:
            col = int((edge_index >= num_nodes).nonzero()[0, 1])
            raise GraphError(
                f"edge_index has node id {hi} (edge {col}) out of range for num_nodes={num_nodes}; "
                "ids must be in [0, num_nodes)"
            )
    return src, dst
