"""Types of IR values: dense tensors and sparse adjacencies.

A dimension is either a concrete ``int`` or a symbol (``str``). Symbols stand
for edge counts that are only known once graph-only work has been evaluated
(e.g. the edge count after self-loop insertion); constant folding replaces
them with numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

Dim = int | str

DTYPE_SHORT = {"float32": "f32", "float64": "f64", "int32": "i32", "int64": "i64", "bool": "bool"}


def dim_str(dim: Dim) -> str:
    return str(dim)


@dataclass(frozen=True)
class TensorType:
    """A dense tensor of ``shape`` and ``dtype`` (row-major, contiguous)."""

    shape: tuple[Dim, ...]
    dtype: str = "float32"

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_concrete(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    def numel(self) -> int:
        if not self.is_concrete:
            raise ValueError(f"type {self} has symbolic dimensions")
        n = 1
        for d in self.shape:
            n *= d
        return n

    def __str__(self) -> str:
        return f"{DTYPE_SHORT.get(self.dtype, self.dtype)}[{', '.join(map(dim_str, self.shape))}]"


@dataclass(frozen=True)
class AdjType:
    """A sparse adjacency: ``nnz`` edges from ``num_src`` source to ``num_dst`` target nodes.

    Edges are grouped by destination (aggregation runs over a node's in-edges);
    every edge tensor ``[nnz, ...]`` tied to this adjacency follows that order.
    """

    num_src: int
    num_dst: int
    nnz: Dim

    @property
    def is_concrete(self) -> bool:
        return isinstance(self.nnz, int)

    def __str__(self) -> str:
        return f"adj[{self.num_src}->{self.num_dst}, nnz={self.nnz}]"


IRType = TensorType | AdjType
