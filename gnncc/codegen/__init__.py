"""Code generation: IR nodes lowered to TVM TIR kernels for CPU (LLVM) and CUDA.

One template per op family, parameterised by a schedule config from ``schedules/<family>.json``.
"""

from gnncc.codegen.kernel import Kernel, build_kernel, default_config, generate_cuda_source
from gnncc.codegen.schedule import Space, load_space
from gnncc.codegen.target import Target

__all__ = [
    "Kernel", "Space", "Target", "build_kernel", "default_config", "generate_cuda_source", "load_space",
]
