"""Run compiled kernels on torch tensors (CPU and CUDA) with planned, reused buffers."""

from gnncc.runtime.executor import BufferPlan, Executor, plan_buffers

__all__ = ["BufferPlan", "Executor", "plan_buffers"]
