"""How a compiled kernel is called, without TVM's compiler.

A kernel is one or more packed functions. Its ``CallBinding`` says how the node's operands are
flattened (an adjacency becomes ``indptr, indices``, followed by its derived layouts for kernels
that walk row segments or column partitions: ``Adjacency.segments``, ``Adjacency.buckets``,
``Adjacency.columns``), viewed (``rows``:
``[leading, width]``; ``flat``: 1-D; ``natural``: the tensor's own shape) and handed to each
function. Codegen builds the binding next to the kernel; a library written by ``gnncc.export``
stores it, so a loaded library calls its kernels through the same code with only the TVM runtime
present.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import tvm_ffi

from gnncc.errors import CodegenError
from gnncc.ir.adjacency import Adjacency

Operand = torch.Tensor | Adjacency
VIEWS = ("rows", "flat", "natural")
# Byte alignment CUDA kernels need of every tensor: their 16-byte vector loads and stores (the ``vec``
# knob) assume rows start on one. torch's CUDA allocations are aligned; views at odd offsets are not.
CUDA_ALIGN = 16


def _aligned(t: torch.Tensor) -> bool:
    return not t.is_cuda or t.data_ptr() % CUDA_ALIGN == 0


@dataclass(frozen=True)
class TensorSpec:
    """A tensor operand; in sparse families the leading (node or edge) dimension is ``None``."""

    shape: tuple[int | None, ...]
    dtype: str

    @property
    def width(self) -> int:
        """Elements per leading-dimension row."""
        return math.prod(self.shape[1:])

    @property
    def numel(self) -> int:
        return math.prod(d for d in self.shape if d is not None)

    def __str__(self) -> str:
        return f"{self.dtype}[{', '.join('?' if d is None else str(d) for d in self.shape)}]"


@dataclass(frozen=True)
class CallBinding:
    """Operands -> packed-function arguments: ``calls`` are (function name, flattened operand indices)."""

    name: str
    view: str
    inputs: tuple[TensorSpec | None, ...]  # None: an adjacency (passed as indptr, indices)
    output: TensorSpec
    index_dtype: str | None
    calls: tuple[tuple[str, tuple[int, ...]], ...]
    segments: int = 0  # neighbour group size of the row-segment layout the kernel walks (0: none)
    buckets: bool = False  # whether it also takes the segments' degree buckets (``Adjacency.buckets``)
    columns: int = 0  # column partitions of the layout the kernel walks (``Adjacency.columns``; 0: none)

    def layout(self, adj: Adjacency) -> tuple[torch.Tensor, ...]:
        """The derived per-graph arrays the kernel takes after ``indptr, indices`` (cached on ``adj``)."""
        if self.columns:
            return adj.columns(self.columns).tensors
        if not self.segments:
            return ()
        tensors = adj.segments(self.segments).tensors
        return tensors + adj.buckets(self.segments).tensors if self.buckets else tensors

    def prepare(self, operands: Sequence[Operand]) -> None:
        """Compute the per-graph layouts the kernel needs, ahead of a call."""
        for got in operands:
            if isinstance(got, Adjacency):
                self.layout(got)

    def flatten(self, operands: Sequence[Operand], out: torch.Tensor) -> list[torch.Tensor]:
        """The flat argument list (inputs..., output), each checked and viewed as the kernel expects."""
        if len(operands) != len(self.inputs):
            raise CodegenError(f"{self.name}: expects {len(self.inputs)} operands, got {len(operands)}")
        flat: list[torch.Tensor] = []
        for i, (want, got) in enumerate(zip(self.inputs, operands)):
            if want is None:
                if not isinstance(got, Adjacency):
                    raise CodegenError(f"{self.name}: operand {i} must be an Adjacency, got {type(got).__name__}")
                index = str(got.indices.dtype).removeprefix("torch.")
                if self.index_dtype and index != self.index_dtype:
                    raise CodegenError(
                        f"{self.name}: operand {i} has {index} indices, the kernel takes {self.index_dtype}"
                    )
                flat += [got.indptr, got.indices, *self.layout(got)]
            elif not isinstance(got, torch.Tensor):
                raise CodegenError(f"{self.name}: operand {i} must be a tensor, got {type(got).__name__}")
            else:
                flat.append(self._view(got, want, f"operand {i}"))
        flat.append(self._view(out, self.output, "output"))
        return flat

    def _view(self, t: torch.Tensor, want: TensorSpec, what: str) -> torch.Tensor:
        if not t.is_contiguous():
            raise CodegenError(f"{self.name}: {what} must be contiguous")
        if not _aligned(t):
            raise CodegenError(f"{self.name}: {what} does not start on a {CUDA_ALIGN}-byte boundary (a view at an "
                               "odd offset): pass a copy (.clone())")
        lead_ok = want.shape[:1] == (None,) or tuple(t.shape[:1]) == want.shape[:1]
        if tuple(t.shape[1:]) != want.shape[1:] or not lead_ok:
            raise CodegenError(f"{self.name}: {what} has shape {list(t.shape)}, expected {want}")
        if self.view == "rows":
            return t.view(t.shape[0], want.width)
        return t.view(-1) if self.view == "flat" else t

    def renamed(self, suffix: str) -> CallBinding:
        """The same binding with every function name suffixed (unique names inside one library)."""
        calls = tuple((f"{name}{suffix}", args) for name, args in self.calls)
        return CallBinding(self.name, self.view, self.inputs, self.output, self.index_dtype, calls, self.segments,
                           self.buckets, self.columns)

    def to_json(self) -> dict[str, Any]:
        def spec(t: TensorSpec | None) -> Any:
            return None if t is None else {"shape": list(t.shape), "dtype": t.dtype}

        return {
            "name": self.name, "view": self.view, "inputs": [spec(t) for t in self.inputs],
            "output": spec(self.output), "index_dtype": self.index_dtype,
            "calls": [[name, list(args)] for name, args in self.calls], "segments": self.segments,
            "buckets": self.buckets, "columns": self.columns,
        }

    @staticmethod
    def from_json(d: dict[str, Any]) -> CallBinding:
        def spec(t: Any) -> TensorSpec | None:
            return None if t is None else TensorSpec(tuple(t["shape"]), t["dtype"])

        if d["view"] not in VIEWS:
            raise CodegenError(f"{d['name']}: unknown operand view {d['view']!r}")
        out = TensorSpec(tuple(d["output"]["shape"]), d["output"]["dtype"])
        segments, buckets, columns = d.get("segments", 0), d.get("buckets", False), d.get("columns", 0)
        if (type(segments) is not int or segments < 0 or type(buckets) is not bool or (buckets and not segments)
                or type(columns) is not int or columns < 0 or (columns and segments)):
            raise CodegenError(
                f"{d['name']}: bad layout (segments={segments!r}, buckets={buckets!r}, columns={columns!r})")
        return CallBinding(d["name"], d["view"], tuple(spec(t) for t in d["inputs"]), out, d["index_dtype"],
                           tuple((name, tuple(args)) for name, args in d["calls"]), segments, buckets, columns)


class RuntimeKernel:
    """A kernel the runtime can call: a binding and its packed functions (in ``binding.calls`` order)."""

    def __init__(self, binding: CallBinding, funcs: Sequence[Callable[..., Any]]) -> None:
        self.binding = binding
        self.name = binding.name
        self._funcs = [(f, args) for f, (_, args) in zip(funcs, binding.calls)]

    def __call__(self, operands: Sequence[Operand], out: torch.Tensor) -> None:
        """Run on ``operands`` (node input order) into ``out``; non-contiguous (or, on CUDA, misaligned)
        tensors are handled by copies."""
        operands = [o.contiguous() if isinstance(o, torch.Tensor) else o for o in operands]
        operands = [o.clone() if isinstance(o, torch.Tensor) and not _aligned(o) else o for o in operands]
        if out.is_contiguous() and _aligned(out):
            self.bind(operands, out)()
        else:
            tmp = torch.empty_like(out, memory_format=torch.contiguous_format)
            self.bind(operands, tmp)()
            out.copy_(tmp)

    def prepare(self, operands: Sequence[Operand]) -> None:
        """Compute the per-graph layouts the kernel takes for these operands (see ``CallBinding.prepare``)."""
        self.binding.prepare(operands)

    def bind(self, operands: Sequence[Operand], out: torch.Tensor) -> Callable[[], None]:
        """A no-argument callable running the kernel on these exact buffers (converted once)."""
        flat = [tvm_ffi.from_dlpack(t) for t in self.binding.flatten(operands, out)]
        bound = [functools.partial(f, *(flat[i] for i in args)) for f, args in self._funcs]
        if len(bound) == 1:
            return bound[0]  # the common case: the packed call itself, no wrapper

        def run_all() -> None:
            for b in bound:
                b()

        return run_all
