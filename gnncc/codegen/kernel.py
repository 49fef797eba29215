"""Compiled kernels: build an IR node through its family's template, cache, and call it.

Calling goes through ``gnncc.runtime.binding`` (shared with libraries loaded without the compiler).
"""

from __future__ import annotations

from typing import Any

import tvm

from gnncc.codegen.schedule import load_space
from gnncc.codegen.spec import KernelSpec, spec_of
from gnncc.codegen.target import Target
from gnncc.codegen.templates import TEMPLATES
from gnncc.codegen.templates.common import Call
from gnncc.errors import CodegenError
from gnncc.ir.function import Node
from gnncc.ir.types import DTYPE_SHORT
from gnncc.runtime.binding import CallBinding, RuntimeKernel


class Kernel(RuntimeKernel):
    """One compiled kernel for one IR node shape; call with ``(operands, out)`` in node input order."""

    def __init__(self, name: str, spec: KernelSpec, config: dict[str, Any], target: Target,
                 calls: list[Call], lib: Any) -> None:
        template = TEMPLATES[spec.family]
        layout = template.layout(spec, config) if hasattr(template, "layout") else ()
        binding = CallBinding(name, template.VIEW, spec.inputs, spec.output, spec.index_dtype,
                              tuple((c.name, c.args) for c in calls), *layout)
        super().__init__(binding, [lib[c.name] for c in calls])
        self.family = spec.family
        self.config = config
        self.target = target
        self.spec = spec
        self.calls = calls
        self._lib = lib

    def script(self) -> str:
        """TVMScript of the PrimFunc(s)."""
        return "\n\n".join(c.func.script() for c in self.calls)

    def source(self) -> str:
        """CUDA C for CUDA targets; LLVM IR for CPU."""
        if self._lib is None:
            return ""
        if self.target.is_cuda:
            return self._lib.mod.imports[0].inspect_source()
        return self._lib.mod.inspect_source("ll")

    def describe(self) -> str:
        knobs = ", ".join(f"{k}={v}" for k, v in sorted(self.config.items()))
        return f"{self.name} [{self.target.kind}] {{{knobs}}}"

    def __repr__(self) -> str:
        return f"Kernel({self.describe()})"


def kernel_name(spec: KernelSpec) -> str:
    """Readable name, e.g. ``spmm_sum_ew_f16_i32``."""
    tokens = [spec.op.replace(".", "_"), *TEMPLATES[spec.family].name_tokens(spec)]
    if spec.output.dtype != "float32":
        tokens.append(DTYPE_SHORT.get(spec.output.dtype, spec.output.dtype))
    if spec.index_dtype:
        tokens.append(DTYPE_SHORT[spec.index_dtype])
    return "_".join(str(t) for t in tokens)


def default_config(node: Node, target: Target) -> dict[str, Any]:
    """The family's default schedule config for ``target``."""
    return dict(load_space(node.family, target.kind, target.vector_bits).default)


_CACHE: dict[tuple, Kernel] = {}


def build_kernel(node: Node, target: Target, config: dict[str, Any] | None = None, *,
                 index_dtype: str | None = None) -> Kernel:
    """Compile ``node`` for ``target`` with ``config`` (merged over the default; validated first).

    ``index_dtype`` is the dtype of the adjacency the kernel will be called with; by default
    the one ``Adjacency.from_coo`` picks for the adjacency type's sizes.
    """
    spec = spec_of(node, index_dtype)
    config = load_space(spec.family, target.kind, target.vector_bits).validate(config)
    key = (spec, target.key(), tuple(sorted(config.items())))
    kernel = _CACHE.get(key)
    if kernel is None:
        name = kernel_name(spec)
        calls = TEMPLATES[spec.family].build(spec, name, target.is_cuda, config)
        try:  # a kernel with nothing to compute (concat of empty operands) has no functions
            lib = tvm.compile(tvm.IRModule({c.name: c.func for c in calls}), target=target.tvm_target()) \
                if calls else None
        except Exception as exc:  # TVM raises its own error types from lowering and codegen
            raise CodegenError(f"building {name} for {target} with {config} failed: {exc}") from exc
        kernel = _CACHE[key] = Kernel(name, spec, config, target, calls, lib)
    return kernel


def generate_cuda_source(node: Node, arch: str = "sm_90", config: dict[str, Any] | None = None, *,
                         index_dtype: str | None = None) -> str:
    """CUDA C of ``node``'s kernel (needs no GPU)."""
    return build_kernel(node, Target("cuda", arch), config, index_dtype=index_dtype).source()
