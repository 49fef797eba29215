"""Node reordering: relabel a graph's nodes so that rows aggregated together lie close in memory.

A sparse kernel reads ``x[src]`` for every in-edge of each target; when neighbours have nearby ids
those rows share cache lines and pages. The methods (``METHODS``):

- ``"none"``: the identity;
- ``"degree"``: nodes by in-degree, descending (stable): heavy rows together, balanced work chunks;
- ``"rcm"``: reverse Cuthill-McKee on the symmetrised adjacency (scipy): a bandwidth-reducing BFS
  order, so an edge's ends get close ids.

``perm[i]`` is the old id of new node ``i``; ``inverse[perm[i]] == i``. Graph-level only (torch,
numpy, scipy): ``gnncc.compile(..., reorder=...)`` uses it at compile time and ``gnncc.load`` for
each new graph a reordered library serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from gnncc.errors import GnnccError
from gnncc.graph import Graph, inverse_permutation
from gnncc.ir.adjacency import Adjacency

METHODS = ("none", "degree", "rcm")


def check_method(method: object) -> str:
    """``method`` if it names a reordering, else a ``GnnccError`` listing the choices."""
    if not isinstance(method, str) or method not in METHODS:
        raise GnnccError(f"unknown node reordering {method!r}; choose one of {', '.join(map(repr, METHODS))}")
    return method


def permutation(graph: Graph, method: str) -> torch.Tensor:
    """The permutation ``method`` gives ``graph``: int64 ``[num_nodes]``, new id i is old node perm[i]."""
    n = graph.num_nodes
    if check_method(method) == "none" or n == 0:
        return torch.arange(n, dtype=torch.int64)
    if method == "degree":
        return torch.sort(graph.csc.in_degrees(), descending=True, stable=True).indices
    import scipy.sparse as sp
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    ei = graph.edge_index.numpy()
    a = sp.csr_matrix((np.ones(ei.shape[1], dtype=np.float32), (ei[0], ei[1])), shape=(n, n))
    perm = reverse_cuthill_mckee((a + a.T).tocsr(), symmetric_mode=True)
    return torch.from_numpy(perm.astype(np.int64))


def edge_span(graph: Graph) -> float:
    """Mean ``|src - dst|`` over the edges: a locality measure (0 for a graph without edges)."""
    if graph.num_edges == 0:
        return 0.0
    ei = graph.edge_index
    return float((ei[0] - ei[1]).abs().to(torch.float64).mean())


def gather_adjacency(index: torch.Tensor) -> Adjacency:
    """The adjacency whose ``gather(x, A, end="src")`` is ``x[index]``: one in-edge per node,
    from ``index[i]`` into ``i``. This is how a compiled model permutes rows with a kernel."""
    n = index.numel()
    return Adjacency.from_coo(index, torch.arange(n, dtype=torch.int64), n, n)


@dataclass(frozen=True)
class Reordering:
    """A graph relabelled by ``method``: ``graph`` is the relabelled one, ``original`` the user's."""

    method: str
    original: Graph
    perm: torch.Tensor  # int64 [N]: new id i is old node perm[i]
    inverse: torch.Tensor  # int64 [N]: old node j has new id inverse[j]
    graph: Graph

    @staticmethod
    def of(graph: Graph, method: str) -> Reordering:
        """Compute ``method``'s permutation of ``graph`` and the relabelled graph."""
        perm = permutation(graph, method)
        return Reordering(method, graph, perm, inverse_permutation(perm), graph.permuted(perm))

    @cached_property
    def spans(self) -> tuple[float, float]:
        """Mean edge span (``edge_span``) before and after."""
        return edge_span(self.original), edge_span(self.graph)

    def summary(self) -> str:
        before, after = self.spans
        return f"{self.method}: mean |src-dst| edge span {before:.1f} -> {after:.1f} over {self.graph.num_edges} edges"
