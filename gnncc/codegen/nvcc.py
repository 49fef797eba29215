"""Compile generated CUDA C with nvcc, to check it without a GPU (and to ship cubins)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from gnncc.errors import CodegenError


def nvcc_path() -> str | None:
    """The nvcc on PATH (or the default CUDA location), if any."""
    return shutil.which("nvcc") or next(
        (p for p in ("/usr/local/bin/nvcc", "/usr/local/cuda/bin/nvcc") if Path(p).is_file()), None
    )


def compile_cubin(source: str, arch: str = "sm_90", timeout: float = 300.0) -> bytes:
    """``nvcc -arch=<arch> -cubin`` of ``source``; raises ``CodegenError`` with nvcc's stderr."""
    nvcc = nvcc_path()
    if nvcc is None:
        raise CodegenError("nvcc not found; install the CUDA toolkit or put nvcc on PATH")
    with tempfile.TemporaryDirectory(prefix="gnncc_nvcc_") as tmp:
        cu, cubin = Path(tmp) / "kernel.cu", Path(tmp) / "kernel.cubin"
        cu.write_text(source)
        proc = subprocess.run([nvcc, f"-arch={arch}", "-cubin", "-o", str(cubin), str(cu)],
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise CodegenError(f"nvcc -arch={arch} failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
        return cubin.read_bytes()
