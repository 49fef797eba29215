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

INT64_MAX = 2**63 - 1


def inverse_permutation(perm: torch.Tensor) -> torch.Tensor:
    """``inverse`` with ``inverse[perm[i]] == i`` (the new id of each old node of a relabelling)."""
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(perm.numel(), dtype=perm.dtype)
    return inverse


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
    """A directed multigraph with ``num_nodes`` nodes and edges ``src -> dst``, optionally with edge data.

    Build it with ``Graph(edge_index, num_nodes=None)`` or the ``from_*`` constructors.
    It keeps CSR (out-edges, grouped by source) and CSC (in-edges, grouped by target)
    with int32 indices when they fit, and degree statistics.

    ``edge_attr`` (``[E]`` or ``[E, D]``, in ``edge_index`` order; ``edge_weight`` is the same for
    ``[E]``) is what the compiled model passes to its ``edge_weight``/``edge_attr`` parameter (else its
    third): edge weights of GCNConv and its kin, edge features of GINEConv or GATConv(edge_dim=...).
    ``edge_type`` (``[E]`` integers >= 0) is the relation of each edge instead, passed to the model's
    ``edge_type`` parameter (else its third), as RGCNConv reads it. A graph carries one of these.
    """

    def __init__(self, edge_index: Any, num_nodes: int | None = None, *, edge_attr: Any = None,
                 edge_weight: Any = None, edge_type: Any = None) -> None:
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
        given = [name for name, data in (("edge_weight", edge_weight), ("edge_attr", edge_attr),
                                         ("edge_type", edge_type)) if data is not None]
        if len(given) > 1:
            raise GraphError(f"pass one of edge_weight, edge_attr and edge_type, not {' and '.join(given)}: "
                             "a graph carries one edge tensor")
        self.edge_type = None if edge_type is None else _validate_edge_types(edge_type, src.numel())
        if edge_weight is not None:
            self.edge_attr = _validate_edge_data("edge_weight", edge_weight, src.numel(), rank=(1,))
        else:
            self.edge_attr = None if edge_attr is None else _validate_edge_data(
                "edge_attr", edge_attr, src.numel(), rank=(1, 2))

    # ---- constructors ----------------------------------------------------
    @classmethod
    def from_edge_index(cls, edge_index: Any, num_nodes: int | None = None, *, edge_attr: Any = None,
                        edge_weight: Any = None, edge_type: Any = None) -> Graph:
        return cls(edge_index, num_nodes, edge_attr=edge_attr, edge_weight=edge_weight, edge_type=edge_type)

    @classmethod
    def from_pyg(cls, data: Any) -> Graph:
        """From a PyG ``Data`` (anything with ``edge_index`` and ``num_nodes``).

        Its ``edge_weight``, else its ``edge_attr``, else its ``edge_type`` becomes the graph's edge data
        (see ``Graph``).
        """
        if not hasattr(data, "edge_index") or data.edge_index is None:
            raise GraphError(f"{type(data).__name__} has no edge_index; expected a PyG Data object")
        # validate first: PyG's num_nodes infers the count from edge_index and fails on malformed ones
        _validate_edge_index(data.edge_index, None)
        try:
            num_nodes = getattr(data, "num_nodes", None)
        except Exception:  # PyG's last resort, edge_index.max() + 1, fails on e.g. uint16 ids: infer it here
            num_nodes = None
        for key in ("edge_weight", "edge_attr", "edge_type"):
            if getattr(data, key, None) is not None:
                return cls(data.edge_index, num_nodes, **{key: getattr(data, key)})
        return cls(data.edge_index, num_nodes)

    @classmethod
    def from_scipy(cls, matrix: Any) -> Graph:
        """From a square scipy sparse matrix; entry (i, j) is the edge i -> j."""
        import scipy.sparse as sp

        if not sp.issparse(matrix):
            raise GraphError(f"expected a scipy sparse matrix, got {type(matrix).__name__}")
        if len(matrix.shape) != 2 or matrix.shape[0] != matrix.shape[1]:
            raise GraphError(f"adjacency matrix must be square, got shape {matrix.shape}")
        coo = matrix.tocoo()
        edge_index = np.stack([coo.row, coo.col]).astype(np.int64)
        return cls(torch.from_numpy(edge_index), matrix.shape[0])

    @classmethod
    def from_networkx(cls, g: Any) -> Graph:
        """From a networkx graph; nodes are numbered in ``g.nodes`` order.

        An undirected graph gives both directions of every edge, as PyG's ``from_networkx``.
        """
        if not all(hasattr(g, a) for a in ("nodes", "edges", "is_directed")):
            raise GraphError(f"expected a networkx graph, got {type(g).__name__}")
        nodes = {n: i for i, n in enumerate(g.nodes)}
        pairs = [(nodes[u], nodes[v]) for u, v in g.edges()]
        if not g.is_directed():
            pairs += [(v, u) for u, v in pairs if u != v]
        edge_index = torch.tensor(pairs, dtype=torch.int64).reshape(-1, 2).t()
        return cls(edge_index, len(nodes))

    @classmethod
    def from_npz(cls, path: str | Path) -> Graph:
        """From a ``.npz`` with ``src``, ``dst`` and ``num_nodes`` (the layout of ``shared/data``), and
        optionally ``edge_weight`` (``[E]``), ``edge_attr`` (``[E]``/``[E, D]``) or ``edge_type`` (``[E]``
        integers) in the edges' order.

        A file that cannot be read as such (not a zip, corrupt, keys missing, wrong dtypes or
        shapes) is a ``GraphError`` naming the file and key; a missing file stays ``FileNotFoundError``.
        """
        edge_keys = ("edge_weight", "edge_attr", "edge_type")
        arrays = _read_npz(path, ("src", "dst", "num_nodes"), optional=edge_keys)
        src, dst, n = arrays["src"], arrays["dst"], arrays["num_nodes"]
        for key, a in (("src", src), ("dst", dst)):
            if a.ndim != 1 or a.dtype.kind not in "iu":
                raise GraphError(f"{path}: {key!r} must be a 1-D integer array, got {a.dtype} of shape {list(a.shape)}")
        if src.shape != dst.shape:
            raise GraphError(f"{path}: 'src' and 'dst' differ in length ({src.shape[0]} vs {dst.shape[0]})")
        if n.size != 1 or n.dtype.kind not in "iu":
            raise GraphError(f"{path}: 'num_nodes' must be one integer, got {n.dtype} of shape {list(n.shape)}")
        edge_data = {key: arrays[key] for key in edge_keys if key in arrays}
        try:
            return cls(torch.stack([_from_numpy(src), _from_numpy(dst)]), n.reshape(()).item(), **edge_data)
        except GraphError as e:
            raise GraphError(f"{path}: {e}") from e

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

    def permuted(self, perm: Any) -> Graph:
        """This graph with node ``perm[i]`` renamed ``i`` (``gnncc.reorder`` computes ``perm``).

        Edges keep their order and multiplicity (duplicates and self-loops stay), so aggregations
        on the result equal the original ones up to the relabelling.
        """
        perm = torch.as_tensor(perm)
        n = self.num_nodes
        if perm.dim() != 1 or perm.numel() != n or perm.is_floating_point() or perm.dtype == torch.bool:
            raise GraphError(f"perm must be a 1-D integer tensor of {n} node ids, got {perm.dtype} "
                             f"of shape {list(perm.shape)}")
        perm = perm.detach().to("cpu", torch.int64)
        if n and (int(perm.min()) < 0 or int(perm.max()) >= n or bool((torch.bincount(perm, minlength=n) != 1).any())):
            raise GraphError(f"perm is not a permutation of 0..{n - 1}: every node id must appear exactly once")
        new_id = inverse_permutation(perm)
        return Graph(torch.stack([new_id[self._src], new_id[self._dst]]), n, edge_attr=self.edge_attr,
                     edge_type=self.edge_type)

    @property
    def edge_data(self) -> torch.Tensor | None:
        """The graph's one edge tensor, ``edge_attr`` or ``edge_type`` (what the model is called with)."""
        return self.edge_attr if self.edge_attr is not None else self.edge_type

    def without_edge_attr(self) -> Graph:
        """The same edges with no edge data (``model(x, edge_index)`` then compiles as called so)."""
        return Graph(self.edge_index, self.num_nodes)

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
        """In-edges grouped by target: ``indices`` are sources (what aggregation reads); the edge
        data, if any, rides along in the same edge order."""
        return self._layout(self._src, self._dst, self.edge_data)

    @cached_property
    def csr(self) -> Adjacency:
        """Out-edges grouped by source: ``indices`` are targets."""
        return self._layout(self._dst, self._src)

    def _layout(self, src: torch.Tensor, dst: torch.Tensor, edge_values: torch.Tensor | None = None) -> Adjacency:
        try:
            return Adjacency.from_coo(src, dst, self.num_nodes, self.num_nodes, edge_values)
        except (MemoryError, RuntimeError) as e:
            if isinstance(e, RuntimeError) and "alloc" not in str(e):
                raise
            raise GraphError(
                f"cannot allocate the sparse layout of a graph with num_nodes={self.num_nodes} "
                f"(its index pointer alone takes {(self.num_nodes + 1) * 8 / 2**30:.1f} GiB)"
            ) from e

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
    def num_relations(self) -> int:
        """``1 + max(edge_type)`` (0 without edges); 0 for a graph without edge types."""
        types = self.edge_type
        return 0 if types is None or not types.numel() else int(types.max()) + 1

    @cached_property
    def num_self_loops(self) -> int:
        return int((self._src == self._dst).sum())

    @cached_property
    def structure_signature(self) -> str:
        """Hash of the exact edge multiset order and node count: what a kernel's speed depends on
        (keys tuning records)."""
        h = hashlib.sha256()
        h.update(str(self.num_nodes).encode())
        h.update(self._src.numpy().tobytes())
        h.update(self._dst.numpy().tobytes())
        return h.hexdigest()[:16]

    @cached_property
    def signature(self) -> str:
        """Hash of the structure and the edge data (keys per-graph caches); the structure's alone
        for a graph without edge data."""
        data = self.edge_data
        if data is None:
            return self.structure_signature
        h = hashlib.sha256()
        h.update(self.structure_signature.encode())
        kind = "edge_attr" if self.edge_attr is not None else "edge_type"
        h.update(f"{kind} {data.dtype} {list(data.shape)}".encode())
        h.update(data.numpy().tobytes())
        return h.hexdigest()[:16]

    def summary(self) -> str:
        d = self.in_degree
        return (
            f"Graph(num_nodes={self.num_nodes}, num_edges={self.num_edges}, "
            f"self_loops={self.num_self_loops}, in-degree min/mean/max={d.min}/{d.mean:.2f}/{d.max}, "
            f"isolated_targets={d.zero}, index={str(self.index_dtype).removeprefix('torch.')}"
            + ("" if self.edge_attr is None else
               f", edge_attr={str(self.edge_attr.dtype).removeprefix('torch.')}{list(self.edge_attr.shape)}")
            + ("" if self.edge_type is None else f", relations={self.num_relations}")
            + ")"
        )

    __repr__ = summary


def _validate_edge_index(edge_index: Any, num_nodes: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Check dtype, shape and id range; return (src, dst) as contiguous int64 CPU tensors."""
    if num_nodes is not None:
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, (int, np.integer)):
            raise GraphError(f"num_nodes must be an int, got {type(num_nodes).__name__}")
        if num_nodes < 0:
            raise GraphError(f"num_nodes must be >= 0, got {num_nodes}")
        if num_nodes > INT64_MAX:
            raise GraphError(f"num_nodes={num_nodes} does not fit in int64")
    if isinstance(edge_index, (list, tuple)):
        if not len(edge_index):
            edge_index = np.zeros((2, 0), dtype=np.int64)
        else:
            try:
                edge_index = np.asarray(edge_index)
            except (ValueError, TypeError, OverflowError) as e:
                raise GraphError(f"edge_index is not a rectangular [2, E] array of integers: {e}") from e
            if edge_index.size == 0 and edge_index.dtype.kind == "f":  # [[], []]: numpy's default is float
                edge_index = edge_index.astype(np.int64)
    if isinstance(edge_index, np.ndarray):
        edge_index = _from_numpy(edge_index)
    if not isinstance(edge_index, torch.Tensor):
        raise GraphError(f"edge_index must be a tensor of shape [2, E], got {type(edge_index).__name__}")
    if edge_index.layout != torch.strided or edge_index.is_nested:
        raise GraphError(f"edge_index must be a dense tensor of shape [2, E], got layout {edge_index.layout}")
    if edge_index.device.type == "meta":
        raise GraphError("edge_index is a meta tensor (no data); pass a tensor holding the node ids")
    if edge_index.is_floating_point() or edge_index.is_complex() or edge_index.dtype == torch.bool:
        raise _dtype_error(str(edge_index.dtype).removeprefix("torch."))
    if edge_index.dtype in (torch.uint64, torch.uint32, torch.uint16) and edge_index.numel():
        # the unsigned types have few kernels in torch; uint64 ids >= 2**63 would wrap negative
        if edge_index.dtype == torch.uint64 and bool((edge_index.view(torch.int64) < 0).any()):
            raise GraphError("edge_index has a node id >= 2**63, beyond int64")
        edge_index = edge_index.to(torch.int64)
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


def _edge_tensor(name: str, data: Any, num_edges: int, rank: tuple[int, ...], kinds: str, holds: str,
                 hint: str = "") -> torch.Tensor:
    """``data`` checked as one row per edge (``num_edges`` rows, a rank in ``rank``) holding ``holds``
    (numpy dtype kinds ``kinds``), as a dense contiguous CPU copy; ``hint`` ends a wrong-dtype error."""
    if isinstance(data, np.ndarray):
        if data.dtype.kind not in kinds:
            raise GraphError(f"{name} must hold {holds}, got numpy dtype {data.dtype}")
        data = torch.from_numpy(np.ascontiguousarray(data))
    if not isinstance(data, torch.Tensor):
        raise GraphError(f"{name} must be a tensor, got {type(data).__name__}")
    if data.layout != torch.strided or data.device.type == "meta" or _dtype_kind(data.dtype) not in kinds:
        raise GraphError(f"{name} must be a dense tensor of {holds}, got {data.dtype} {data.layout} on "
                         f"{data.device}{hint}")
    shapes = " or ".join(("[E]", "[E, D]")[r - 1] for r in rank)
    if data.dim() not in rank or data.shape[0] != num_edges:
        raise GraphError(f"{name} must have shape {shapes} with E={num_edges} (one row per edge of "
                         f"edge_index, in its order), got {list(data.shape)}")
    return data.detach().to("cpu").contiguous().clone()


def _dtype_kind(dtype: torch.dtype) -> str:
    """A torch dtype's numpy kind letter: ``b`` bool, ``i``/``u`` (un)signed integer, ``f`` float, ``c`` complex."""
    if dtype.is_complex:
        return "c"
    if dtype.is_floating_point:
        return "f"
    return "b" if dtype == torch.bool else "i" if dtype.is_signed else "u"


def _validate_edge_data(name: str, data: Any, num_edges: int, rank: tuple[int, ...]) -> torch.Tensor:
    """Edge data of ``num_edges`` rows: float32 for any float input, other real dtypes kept (a model that
    reads them gets an error naming the dtype)."""
    data = _edge_tensor(name, data, num_edges, rank, "biuf", "real numbers")
    return data.to(torch.float32) if data.is_floating_point() else data


def _validate_edge_types(data: Any, num_edges: int) -> torch.Tensor:
    """Edge types ``[E]``, integers >= 0 (the relation ids of RGCNConv's ``edge_type``), as int64."""
    data = _edge_tensor("edge_type", data, num_edges, (1,), "iu", "integer relation ids",
                        "; convert it with edge_type.long()").to(torch.int64)
    if data.numel() and int(data.min()) < 0:
        raise GraphError(f"edge_type has a negative relation id {int(data.min())} (edge "
                         f"{int((data < 0).nonzero()[0, 0])}); relation ids must be >= 0")
    return data


def _dtype_error(dtype: str) -> GraphError:
    return GraphError(
        f"edge_index must hold integer node ids, got dtype {dtype}; convert it with edge_index.long()"
    )


def _from_numpy(a: np.ndarray) -> torch.Tensor:
    """An integer numpy array as an int64 tensor (any strides or byte order); other dtypes are GraphErrors."""
    if a.dtype.kind not in "iu":
        if a.dtype.kind == "O":
            raise GraphError(
                "edge_index must hold integer node ids, got a numpy object array "
                "(ragged rows, None, strings or ids beyond int64?)"
            )
        raise _dtype_error(str(a.dtype))
    if a.dtype.kind == "u" and a.dtype.itemsize == 8 and a.size and int(a.max()) > INT64_MAX:
        raise GraphError(f"edge_index has node id {int(a.max())}, beyond int64")
    a = np.ascontiguousarray(a, dtype=np.int64)
    # ascontiguousarray keeps negative strides on size-1 axes, which torch.from_numpy rejects
    return torch.from_numpy(a.copy() if any(st < 0 for st in a.strides) else a)


def _read_npz(path: str | Path, keys: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of an ``.npz``, and those of ``optional`` it has; anything unreadable is a
    GraphError naming the file and key."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as e:  # corrupt or truncated zip, pickled or unknown content
        raise GraphError(f"{path} is not a readable .npz file: {type(e).__name__}: {e}") from e
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise GraphError(f"{path} holds a single array, not an .npz archive with keys {list(keys)}")
    with archive:
        missing = [k for k in keys if k not in archive.files]
        if missing:
            raise GraphError(f"{path} lacks key(s) {missing}; it has {archive.files} (expected {list(keys)})")
        out = {}
        for key in (*keys, *(k for k in optional if k in archive.files)):
            try:
                out[key] = np.asarray(archive[key])
            except Exception as e:  # a corrupt member: bad header, truncated data, CRC mismatch
                raise GraphError(f"{path}: cannot read key {key!r}: {type(e).__name__}: {e}") from e
        return out
