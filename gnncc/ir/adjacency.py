"""Concrete sparse adjacency data: edges grouped by destination (CSR over destinations).

This is the storage behind an ``AdjType`` value once it is known: ``indptr[v]:indptr[v+1]``
are the in-edges of destination ``v`` and ``indices`` holds their sources. Any edge
tensor that belongs to the adjacency is stored in this same edge order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import torch

INT32_MAX = 2**31 - 1


def index_dtype_for(num_nodes: int, num_edges: int) -> torch.dtype:
    """int32 when every node id, edge offset and the ``num_nodes + 1`` long indptr fit, else int64."""
    return torch.int32 if max(num_nodes + 1, num_edges) <= INT32_MAX else torch.int64


class RowSegments(NamedTuple):
    """Destination rows cut into segments of at most ``group`` consecutive in-edges (neighbour groups).

    Segments run in row order, so ``seg_ptr`` refines ``indptr``: segment ``s`` covers edges
    ``seg_ptr[s]:seg_ptr[s+1]`` of row ``seg_row[s]``, and row ``v``'s segments are
    ``row_seg[v]:row_seg[v+1]`` (an empty row has one empty segment). ``split_rows`` lists the rows
    with more than one segment: only those need a combine step. All of the adjacency's index dtype.
    """

    seg_ptr: torch.Tensor  # [num_segments + 1]
    seg_row: torch.Tensor  # [num_segments]
    row_seg: torch.Tensor  # [num_dst + 1]
    split_rows: torch.Tensor  # [num_split]

    @property
    def tensors(self) -> tuple[torch.Tensor, ...]:
        return tuple(self)


class SegmentBuckets(NamedTuple):
    """The segments of ``segments(group)`` binned by length into ELL buckets of widths 1, 2, 4, ...,
    ``group`` (SparseTIR's hyb format): bucket ``b`` holds the segments of ``2**(b-1) < length <= 2**b``
    (length 0 and 1 in bucket 0), so a kernel can walk each bucket with a fixed-width, unrolled loop.
    """

    order: torch.Tensor  # [num_segments] segment ids, bucket by bucket (stable within a bucket)
    bucket_ptr: torch.Tensor  # [num_buckets + 1] offsets of each bucket in ``order``

    @property
    def tensors(self) -> tuple[torch.Tensor, ...]:
        return tuple(self)


class ColumnParts(NamedTuple):
    """The edges split by source column into ``parts`` equal ranges of ``ceil(num_src / parts)`` sources,
    each range a CSR of its own (SparseTIR's column partitioning): a kernel aggregating partition by
    partition reads one range of the source rows at a time, which can stay in cache (L2 on a GPU).

    Partition ``p`` holds, for destination ``v``, the positions ``part_ptr[p * num_dst + v]`` to
    ``part_ptr[p * num_dst + v + 1]``; ``part_src`` is the source and ``part_edge`` the edge id (the
    position in the adjacency's own edge order, for edge values) of each. All of the index dtype.
    """

    part_ptr: torch.Tensor  # [parts * num_dst + 1]
    part_src: torch.Tensor  # [nnz]
    part_edge: torch.Tensor  # [nnz]

    @property
    def tensors(self) -> tuple[torch.Tensor, ...]:
        return tuple(self)


def bucket_count(group: int) -> int:
    """ELL buckets of a power-of-two ``group``: widths 1, 2, ..., group."""
    if group < 1 or group & (group - 1):
        raise ValueError(f"degree buckets need a power-of-two group size, got {group}")
    return group.bit_length()


@dataclass(frozen=True)
class Adjacency:
    indptr: torch.Tensor  # [num_dst + 1]
    indices: torch.Tensor  # [nnz] source node of each edge
    num_src: int
    num_dst: int
    # the graph's edge data (``graph.edge_attr``) in this edge order; only a graph's own adjacency has it
    edge_values: torch.Tensor | None = field(default=None, compare=False, repr=False)
    # derived layouts by (kind, group size), computed on first use (``segments``, ``buckets``); not
    # part of equality
    _layouts: dict[tuple[str, int], tuple] = field(default_factory=dict, compare=False, repr=False)

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
    def from_coo(src: torch.Tensor, dst: torch.Tensor, num_src: int, num_dst: int,
                 edge_values: torch.Tensor | None = None) -> Adjacency:
        """Group edges by destination, keeping the given order within a group (stable); ``edge_values``
        (one row per given edge) are reordered alike."""
        src = src.to(torch.int64)
        dst = dst.to(torch.int64)
        order = _by_destination(dst)
        counts = torch.bincount(dst, minlength=num_dst)
        indptr = torch.zeros(num_dst + 1, dtype=torch.int64)
        torch.cumsum(counts, 0, out=indptr[1:])
        itype = index_dtype_for(max(num_src, num_dst), int(src.numel()))
        values = None if edge_values is None else edge_values[order].contiguous()
        return Adjacency(indptr.to(itype), src[order].to(itype).contiguous(), num_src, num_dst, values)

    def dst_ids(self) -> torch.Tensor:
        """Destination of every edge, in edge order (int64, on the adjacency's device)."""
        counts = (self.indptr[1:] - self.indptr[:-1]).to(torch.int64)
        return torch.repeat_interleave(torch.arange(self.num_dst, dtype=torch.int64, device=counts.device), counts)

    def src_ids(self) -> torch.Tensor:
        return self.indices.to(torch.int64)

    def in_degrees(self) -> torch.Tensor:
        return (self.indptr[1:] - self.indptr[:-1]).to(torch.int64)

    def with_self_loops(self, keep_existing: bool = False) -> Adjacency:
        """Add one self-loop per node. Existing ones are dropped first (PyG's add_remaining_self_loops
        without edge weights, and GATConv's remove_self_loops + add_self_loops), or kept with
        ``keep_existing`` (PyG's plain add_self_loops, as SimpleConv uses it)."""
        src, dst = self.src_ids(), self.dst_ids()
        keep = torch.ones_like(src, dtype=torch.bool) if keep_existing else src != dst
        loops = torch.arange(self.num_dst, dtype=torch.int64)
        return Adjacency.from_coo(
            torch.cat([src[keep], loops]), torch.cat([dst[keep], loops]), self.num_src, self.num_dst
        )

    def self_loop_values(self, values: torch.Tensor, fill: float | str, reuse_existing: bool,
                         keep_existing: bool = False) -> torch.Tensor:
        """``values`` (one row per edge of this adjacency) for the edges of ``with_self_loops(keep_existing)``:
        each kept edge keeps its row, and node ``v``'s new loop gets ``fill``, a number or a reduction
        (``"mean"``, ``"sum"``, ``"max"``, ``"min"``) of the rows of ``v``'s kept in-edges (0 with none),
        as PyG's ``add_self_loops(..., fill_value)`` (after ``remove_self_loops`` unless
        ``keep_existing``). With ``reuse_existing`` a node that had a self-loop keeps that loop's row (the
        last one's, among duplicates), as PyG's ``add_remaining_self_loops``."""
        src, dst = self.src_ids(), self.dst_ids()
        keep = torch.ones_like(src, dtype=torch.bool) if keep_existing else src != dst
        n = self.num_dst
        loops = values.new_zeros((n, *values.shape[1:]))
        if isinstance(fill, str):
            kept_dst = dst[keep].reshape(-1, *[1] * (values.dim() - 1)).expand_as(values[keep])
            reduce = {"mean": "mean", "sum": "sum", "max": "amax", "min": "amin"}[fill]
            loops = loops.scatter_reduce(0, kept_dst, values[keep], reduce, include_self=False)
        else:
            loops.fill_(float(fill))
        if reuse_existing:
            positions = torch.nonzero(src == dst).flatten()
            last = torch.full((n,), -1, dtype=torch.int64).scatter_reduce(0, dst[positions], positions, "amax")
            has_loop = last >= 0
            loops[has_loop] = values[last[has_loop]]
        ids = torch.arange(n, dtype=torch.int64)
        return torch.cat([values[keep], loops])[_by_destination(torch.cat([dst[keep], ids]))].contiguous()

    def loop_free_values(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` (one row per edge) for the edges of ``without_self_loops()``: the non-loop rows, in
        order (dropping edges keeps the grouping by destination)."""
        return values[self.src_ids() != self.dst_ids()].contiguous()

    def without_self_loops(self) -> Adjacency:
        """The same edges less every self-loop (PyG's remove_self_loops)."""
        src, dst = self.src_ids(), self.dst_ids()
        keep = src != dst
        return Adjacency.from_coo(src[keep], dst[keep], self.num_src, self.num_dst)

    def _checked_relations(self, types: torch.Tensor, num_relations: int) -> torch.Tensor:
        """``types`` (one per edge, in this edge order) as int64, each in ``[0, num_relations)``."""
        types = types.to(torch.int64)
        if types.shape != (self.nnz,):
            raise ValueError(f"edge types of shape {list(types.shape)} for {self.nnz} edges")
        if self.nnz and (int(types.min()) < 0 or int(types.max()) >= num_relations):
            bad = int(types.max()) if int(types.max()) >= num_relations else int(types.min())
            raise ValueError(f"edge_type holds relation {bad}, outside [0, {num_relations}) for a layer with "
                             f"num_relations={num_relations}")
        return types

    def relation_split(self, types: torch.Tensor, num_relations: int, split: str, first: int = 0,
                       count: int | None = None) -> Adjacency:
        """The edges of the ``count`` relations from ``first`` (all by default), edge ``u -> v`` of relation
        ``r`` as ``u' -> v'`` with ``u' = u * C + (r - first)`` where ``split`` is ``src`` or ``both`` and
        ``v' = v * C + (r - first)`` where it is ``dst`` or ``both`` (``C = count``): each relation's edges
        between the node copies of that relation, so an aggregation over the result aggregates per
        relation (RGCNConv). ``src`` keeps the order of the kept edges; the others regroup stably. Every
        type must lie in ``[0, num_relations)``."""
        types = self._checked_relations(types, num_relations)
        count = num_relations - first if count is None else count
        keep = (types >= first) & (types < first + count)
        src, dst, local = self.src_ids()[keep], self.dst_ids()[keep], types[keep] - first
        if split == "src":
            return Adjacency.from_coo(src * count + local, dst, self.num_src * count, self.num_dst)
        both = split == "both"
        return Adjacency.from_coo(src * count + local if both else src, dst * count + local,
                                  self.num_src * (count if both else 1), self.num_dst * count)

    def relation_degrees(self, num_relations: int) -> torch.Tensor:
        """For a ``relation_split(..., "src")`` adjacency: per edge (float32, in this edge order), the in-edges
        of its destination with its relation (its source id mod ``num_relations``)."""
        pair = self.dst_ids() * num_relations + self.src_ids() % num_relations
        return torch.bincount(pair, minlength=self.num_dst * num_relations)[pair].to(torch.float32)

    def degrees(self, end: str, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Edges per node, as float32: in-degrees (``end="dst"``) or out-degrees (``end="src"``); with
        ``weights`` (one per edge) the sum of the node's edges' weights."""
        if weights is not None:
            ids = self.dst_ids() if end == "dst" else self.src_ids()
            count = self.num_dst if end == "dst" else self.num_src
            return torch.zeros(count, dtype=weights.dtype).index_add_(0, ids.to(weights.device), weights)
        if end == "dst":
            return self.in_degrees().to(torch.float32)
        return torch.bincount(self.src_ids(), minlength=self.num_src).to(torch.float32)

    def segments(self, group: int) -> RowSegments:
        """The neighbour-group layout for ``group`` edges per segment (cached: computed once per graph).

        Kernels with neighbour grouping walk segments instead of rows, so a row of degree ``d``
        becomes ``ceil(d / group)`` units of bounded work (GNNAdvisor) and a hub cannot stall one thread.
        """
        if group < 1:
            raise ValueError(f"neighbour group size must be positive, got {group}")
        return self._layout("seg", group, lambda: _row_segments(self.indptr, group))

    def buckets(self, group: int) -> SegmentBuckets:
        """The degree buckets of ``segments(group)`` (cached like it)."""
        count = bucket_count(group)
        return self._layout("ell", group, lambda: _segment_buckets(self.segments(group), count))

    def columns(self, parts: int) -> ColumnParts:
        """The column-partitioned layout in ``parts`` source ranges (cached like ``segments``)."""
        if parts < 1:
            raise ValueError(f"column partition count must be positive, got {parts}")
        return self._layout("col", parts, lambda: _column_parts(self, parts))

    def _layout(self, kind: str, group: int, make: Callable[[], tuple]) -> tuple:
        cached = self._layouts.get((kind, group))
        if cached is None:
            cached = self._layouts[kind, group] = make()
        return cached

    def computed_layouts(self) -> dict[str, tuple]:
        """The derived layouts computed so far, by name (``seg<G>``, ``ell<G>``, ``col<P>``)."""
        return {f"{kind}{group}": layout for (kind, group), layout in sorted(self._layouts.items())}

    def to(self, device: torch.device | str) -> Adjacency:
        """This adjacency on ``device`` (itself when already there, keeping computed layouts)."""
        if self.indptr.device == torch.device(device):
            return self
        values = None if self.edge_values is None else self.edge_values.to(device)
        moved = Adjacency(self.indptr.to(device), self.indices.to(device), self.num_src, self.num_dst, values)
        for key, layout in self._layouts.items():
            moved._layouts[key] = type(layout)(*(t.to(device) for t in layout))
        return moved


def _by_destination(dst: torch.Tensor) -> torch.Tensor:
    """The edge order grouped by destination, given order kept within a group (every adjacency's)."""
    return torch.sort(dst, stable=True).indices


def _row_segments(indptr: torch.Tensor, group: int) -> RowSegments:
    itype, device = indptr.dtype, indptr.device
    start = indptr[:-1].to(torch.int64)
    degree = indptr[1:].to(torch.int64) - start
    per_row = torch.clamp((degree + group - 1) // group, min=1)
    row_seg = torch.zeros(degree.numel() + 1, dtype=torch.int64, device=device)
    torch.cumsum(per_row, 0, out=row_seg[1:])
    seg_row = torch.repeat_interleave(torch.arange(degree.numel(), device=device), per_row)
    rank = torch.arange(seg_row.numel(), device=device) - row_seg[seg_row]
    seg_ptr = torch.cat([start[seg_row] + rank * group, indptr[-1:].to(torch.int64)])
    split_rows = torch.nonzero(per_row > 1).flatten()
    return RowSegments(*(t.to(itype).contiguous() for t in (seg_ptr, seg_row, row_seg, split_rows)))


def _segment_buckets(seg: RowSegments, count: int) -> SegmentBuckets:
    lengths = (seg.seg_ptr[1:] - seg.seg_ptr[:-1]).to(torch.int64)
    widths = 2 ** torch.arange(count, device=lengths.device)
    bucket = torch.searchsorted(widths, lengths)  # first width >= length (length 0 -> bucket 0)
    order = torch.sort(bucket, stable=True).indices
    bucket_ptr = torch.zeros(count + 1, dtype=torch.int64, device=lengths.device)
    torch.cumsum(torch.bincount(bucket, minlength=count), 0, out=bucket_ptr[1:])
    itype = seg.seg_ptr.dtype
    return SegmentBuckets(order.to(itype).contiguous(), bucket_ptr.to(itype))


def _column_parts(adj: Adjacency, parts: int) -> ColumnParts:
    itype, device = adj.indptr.dtype, adj.indptr.device
    src, dst = adj.src_ids(), adj.dst_ids()
    width = max(1, -(-adj.num_src // parts))
    key = (src // width) * adj.num_dst + dst  # partition-major, rows in order within a partition
    order = torch.sort(key, stable=True).indices
    part_ptr = torch.zeros(parts * adj.num_dst + 1, dtype=torch.int64, device=device)
    torch.cumsum(torch.bincount(key, minlength=parts * adj.num_dst), 0, out=part_ptr[1:])
    return ColumnParts(*(t.to(itype).contiguous() for t in (part_ptr, src[order], order)))
