"""Concrete sparse adjacency data: edges grouped by destination (CSR over destinations).

This is the storage behind an ``AdjType`` value once it is known: ``indptr[v]:indptr[v+1]``
are the in-edges of destination ``v`` and ``indices`` holds their sources. Any edge
tensor that belongs to the adjacency is stored in this same edge order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

INT32_MAX = 2**31 - 1


def index_dtype_for(num_nodes: int, num_edges: int) -> torch.dtype:
    """int32 when every node id, edge offset and the ``num_nodes + 1`` long indptr fit, else int64."""
    return torch.int32 if max(num_nodes + 1, num_edges) <= INT32_MAX else torch.int64


@dataclass(frozen=True)
class Adjacency:
    indptr: torch.Tensor  # [num_dst + 1]
    indices: torch.Tensor  # [nnz] source node of each edge
    num_src: int
    num_dst: int

    @property
    def nnz(self) -> int:
        return int(self.indices.numel())

    def validate(self) -> None:
        """Raise ``ValueError`` unless this is a well-formed CSR: kernels index with it unchecked,
        so data from outside (e.g. a library file) must pass this before it reaches one."""
        indptr, indices = self.indptr, self.indices
        if indptr.dim() != 1 or indptr.numel() != self.num_dst + 1 or indices.dim() != 1:
            raise ValueError(f"indptr has {indptr.numel()} entries for {self.num_dst} destinations")
        if indptr.dtype != indices.dtype or indptr.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"index dtypes {indptr.dtype}/{indices.dtype} are not one of int32/int64")
        if int(indptr[0]) != 0 or int(indptr[-1]) != self.nnz or bool((indptr[1:] < indptr[:-1]).any()):
            raise ValueError("indptr does not run non-decreasing from 0 to nnz")
        if self.nnz and (int(indices.min()) < 0 or int(indices.max()) >= self.num_src):
            raise ValueError(f"a source index lies outside [0, {self.num_src})")

    @staticmethod
    def from_coo(src: torch.Tensor, dst: torch.Tensor, num_src: int, num_dst: int) -> Adjacency:
        """Group edges by destination, keeping the given order within a group (stable)."""
        src = src.to(torch.int64)
        dst = dst.to(torch.int64)
        order = torch.sort(dst, stable=True).indices
        counts = torch.bincount(dst, minlength=num_dst)
        indptr = torch.zeros(num_dst + 1, dtype=torch.int64)
        torch.cumsum(counts, 0, out=indptr[1:])
        itype = index_dtype_for(max(num_src, num_dst), int(src.numel()))
        return Adjacency(indptr.to(itype), src[order].to(itype).contiguous(), num_src, num_dst)

    def dst_ids(self) -> torch.Tensor:
        """Destination of every edge, in edge order (int64)."""
        counts = (self.indptr[1:] - self.indptr[:-1]).to(torch.int64)
        return torch.repeat_interleave(torch.arange(self.num_dst, dtype=torch.int64), counts)

    def src_ids(self) -> torch.Tensor:
        return self.indices.to(torch.int64)

    def in_degrees(self) -> torch.Tensor:
        return (self.indptr[1:] - self.indptr[:-1]).to(torch.int64)

    def with_self_loops(self) -> Adjacency:
        """Drop existing self-loops and add exactly one per node (PyG's add_remaining_self_loops
        without edge weights, and GATConv's remove_self_loops + add_self_loops)."""
        src, dst = self.src_ids(), self.dst_ids()
        keep = src != dst
        loops = torch.arange(self.num_dst, dtype=torch.int64)
        return Adjacency.from_coo(
            torch.cat([src[keep], loops]), torch.cat([dst[keep], loops]), self.num_src, self.num_dst
        )

    def to(self, device: torch.device | str) -> Adjacency:
        return Adjacency(self.indptr.to(device), self.indices.to(device), self.num_src, self.num_dst)
