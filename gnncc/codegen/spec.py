"""What a kernel depends on, extracted from an IR node: the key of the build cache.

Sparse families keep graph sizes (node counts, nnz) out of the spec, so one compiled kernel
serves every graph; feature dimensions, attributes, dtypes and the index dtype are baked in.
``TensorSpec`` lives in the runtime (``gnncc.runtime.binding``), which checks operands against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gnncc.errors import CodegenError
from gnncc.ir.adjacency import index_dtype_for
from gnncc.ir.function import Node
from gnncc.ir.types import AdjType, TensorType
from gnncc.runtime.binding import TensorSpec

SPARSE_FAMILIES = ("spmm", "scatter", "attention", "spmm_matmul", "gather", "sddmm", "edge_softmax")
DENSE_FAMILIES = ("matmul", "elementwise", "reduce", "rowwise", "concat")
INDEX_DTYPES = ("int32", "int64")


@dataclass(frozen=True)
class KernelSpec:
    op: str
    family: str
    attrs: tuple[tuple[str, Any], ...]
    inputs: tuple[TensorSpec | None, ...]  # None: an adjacency (passed as indptr, indices)
    output: TensorSpec
    index_dtype: str | None

    def attr(self, name: str) -> Any:
        return dict(self.attrs)[name]

    @property
    def tensors(self) -> tuple[TensorSpec, ...]:
        return tuple(t for t in self.inputs if t is not None)

    def describe_shapes(self) -> str:
        def one(t: TensorSpec | None) -> str:
            return "adj" if t is None else str(t)

        return f"({', '.join(map(one, self.inputs))}) -> {one(self.output)}"

    def fail(self, why: str) -> CodegenError:
        return CodegenError(f"cannot generate a kernel for {self.op} {self.describe_shapes()}: {why}")


def _tensor(t: TensorType, sparse: bool, what: str) -> TensorSpec:
    if not t.is_concrete:
        raise CodegenError(f"{what} has a symbolic type {t}; fold graph data before codegen")
    shape: tuple[int | None, ...] = tuple(t.shape)
    if sparse:
        if not shape:
            raise CodegenError(f"{what}: sparse kernels need operands with a node or edge dimension, got {t}")
        shape = (None, *shape[1:])
    return TensorSpec(shape, t.dtype)


def spec_of(node: Node, index_dtype: str | None = None) -> KernelSpec:
    """The spec of ``node``. ``index_dtype`` defaults to what ``Adjacency.from_coo`` picks for its sizes."""
    family = node.family
    if family not in SPARSE_FAMILIES + DENSE_FAMILIES:
        raise CodegenError(
            f"op {node.op!r} (family {family!r}) has no kernel; it is folded or aliased before codegen"
        )
    sparse = family in SPARSE_FAMILIES
    inputs: list[TensorSpec | None] = []
    adj: AdjType | None = None
    for i, v in enumerate(node.inputs):
        if isinstance(v.type, AdjType):
            if not v.type.is_concrete:
                raise CodegenError(f"{node.op}: operand {i} {v.type} has a symbolic nnz; fold graph data")
            adj = v.type
            inputs.append(None)
        else:
            inputs.append(_tensor(v.type, sparse, f"{node.op}: operand {i}"))
    out_type = node.output.type
    if not isinstance(out_type, TensorType):
        raise CodegenError(f"{node.op}: produces {out_type}, not a tensor")
    if adj is not None:
        if index_dtype is None:
            chosen = index_dtype_for(max(adj.num_src, adj.num_dst), int(adj.nnz))
            index_dtype = str(chosen).removeprefix("torch.")
        if index_dtype not in INDEX_DTYPES:
            raise CodegenError(f"{node.op}: index dtype must be one of {INDEX_DTYPES}, got {index_dtype!r}")
    else:
        index_dtype = None
    attrs = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in node.attrs.items()))
    return KernelSpec(node.op, family, attrs, tuple(inputs), _tensor(out_type, sparse, f"{node.op}: output"),
                      index_dtype)
