"""Compilation targets: the TVM target and the torch device that go together."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch

from gnncc.errors import TargetError


@lru_cache(maxsize=1)
def _system_cpu() -> str:
    import tvm

    return tvm.target.codegen.llvm_get_system_cpu()


@lru_cache(maxsize=1)
def _system_vector_bits() -> int:
    import tvm

    return int(tvm.target.codegen.llvm_get_vector_width(tvm.target.Target({"kind": "llvm", "mcpu": _system_cpu()})))


@dataclass(frozen=True)
class Target:
    """``kind`` is ``"cpu"`` or ``"cuda"``; ``arch`` the CUDA architecture (e.g. ``sm_90``)."""

    kind: str
    arch: str = ""
    num_threads: int = field(default=0, compare=False)

    @property
    def is_cuda(self) -> bool:
        return self.kind == "cuda"

    @property
    def device(self) -> torch.device:
        return torch.device("cuda" if self.is_cuda else "cpu")

    def tvm_target(self) -> dict[str, Any]:
        if self.is_cuda:
            return {"kind": "cuda", "arch": self.arch}
        return {"kind": "llvm", "mcpu": _system_cpu()}

    @property
    def vector_bits(self) -> int:
        """Width of the CPU's vector registers as LLVM uses them (256 for AVX2, 512 for AVX-512); 0 on
        CUDA. Some schedule defaults depend on it (``schedules/*.json``: ``defaults_by_vector_bits``)."""
        return 0 if self.is_cuda else _system_vector_bits()

    def key(self) -> str:
        """What the generated code depends on (for caches and tuning records)."""
        return f"cuda:{self.arch}" if self.is_cuda else f"llvm:{_system_cpu()}"

    def __str__(self) -> str:
        return self.key()


def _default_cuda_arch() -> str:
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        return f"sm_{major}{minor}"
    return "sm_90"


def resolve_target(target: str | Target, require_device: bool = True) -> Target:
    """Turn ``"cpu"``, ``"cuda"``, ``"cuda:sm_80"`` or a ``Target`` into a ``Target``.

    With ``require_device`` a CUDA target needs a visible GPU (kernels can still be
    generated for CUDA without one by passing ``require_device=False``).
    """
    if isinstance(target, Target):
        resolved = target
    elif not isinstance(target, str):
        raise TargetError(f"target must be 'cpu' or 'cuda', got {target!r}")
    else:
        kind, _, arch = target.lower().partition(":")
        if kind in ("cpu", "llvm"):
            resolved = Target("cpu")
        elif kind in ("cuda", "gpu"):
            resolved = Target("cuda", arch or _default_cuda_arch())
        else:
            raise TargetError(f"unknown target {target!r}; use 'cpu' or 'cuda' (optionally 'cuda:sm_90')")
    if resolved.is_cuda and require_device and not torch.cuda.is_available():
        raise TargetError(
            "target 'cuda' needs a CUDA GPU visible to PyTorch, and none is; use target='cpu', "
            "or gnncc.codegen.generate_cuda_source(...) to only generate CUDA code"
        )
    if not resolved.is_cuda:
        os.environ.setdefault("TVM_NUM_THREADS", str(os.cpu_count() or 1))
    return resolved
