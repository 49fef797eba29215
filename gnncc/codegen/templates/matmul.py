"""matmul: dense ``[M, K] x [K, N]`` in fp32, shapes baked in; ``fused_matmul`` adds an epilogue.

CPU: each row band of ``tile_m`` rows runs on the thread pool; a ``tile_m x tile_n`` register
tile accumulates over K in ``tile_k`` blocks with the column loop vectorised; edge tiles are
emitted statically. CUDA: each block stages ``tile_m x tile_k`` and ``tile_k x tile_n`` slices
in shared memory; each thread accumulates ``thread_m x thread_n`` outputs. Either way the
epilogue (bias, activation, ...: ``gnncc.ir.ops``) is applied to the accumulators as they are
stored, so a Linear layer's bias and activation cost no pass over ``[M, N]`` of their own.
"""

from __future__ import annotations

from typing import Any

from tvm.script import tirx as T

from gnncc.codegen.spec import KernelSpec
from gnncc.codegen.templates.common import (
    FP32,
    Call,
    ceildiv,
    epilogue,
    epilogue_buffers,
    epilogue_tokens,
    kernel_func,
    scratch_scope,
    spec_epilogue,
)

VIEW = "natural"


def build(spec: KernelSpec, name: str, cuda: bool, config: dict[str, Any]) -> list[Call]:
    if any(t.dtype != FP32 for t in spec.tensors):
        raise spec.fail("matmul needs float32 operands")
    m, k = spec.inputs[0].shape
    n = spec.inputs[1].shape[1]
    steps = spec_epilogue(spec)
    buffers = [("x", (m, k), FP32), ("w", (k, n), FP32), *epilogue_buffers(steps, n, spec.inputs[2:], rows=m),
               ("out", (m, n), FP32)]
    body = _cuda if cuda else _cpu

    def launch(x, w, *rest):
        return body(x, w, rest[-1], epilogue(steps, rest[:-1], cuda), m, k, n, config)

    func = kernel_func(name, buffers, (), "int32", launch)
    return [Call(name, func, tuple(range(len(buffers))))]


def _cpu(x, w, out, finish, m: int, k: int, n: int, config: dict[str, Any]):
    scratch = scratch_scope(cuda=False)
    tm, tn, tk = (max(1, min(config[key], dim)) for key, dim in (("tile_m", m), ("tile_n", n), ("tile_k", k)))
    outer = T.parallel if config["parallel"] else T.serial

    @T.macro
    def kblock(b_x, b_w, acc, i0, mi, j0, nj, k0, kw):
        for kk in T.serial(kw):  # one row of w is reused across the tile's mi rows
            for i in T.unroll(mi):
                for j in T.vectorized(nj):
                    acc[i, j] = acc[i, j] + b_x[i0 + i, k0 + kk] * b_w[k0 + kk, j0 + j]

    @T.macro
    def block(b_x, b_w, b_out, i0, mi, j0, nj):
        acc = T.alloc_buffer((mi, nj), FP32, scope=scratch)
        for i in T.serial(mi):
            for j in T.vectorized(nj):
                acc[i, j] = T.float32(0)
        for ko in T.serial(k // tk):
            kblock(b_x, b_w, acc, i0, mi, j0, nj, ko * tk, tk)
        if k % tk > 0:
            kblock(b_x, b_w, acc, i0, mi, j0, nj, k // tk * tk, k % tk)
        for i in T.serial(mi):
            for j in T.vectorized(nj):
                b_out[i0 + i, j0 + j] = finish(acc[i, j], i0 + i, j0 + j)

    # the last n % tn columns as blocks of 32 and 16 and what is left (under 16): one vector loop over 24
    # columns (n = 120 by 32) compiled to code 2-3x slower per element than 16 + 8; many small blocks would
    # each stream the K loop again
    rest, base = n % tn, n // tn * tn

    @T.macro
    def band(b_x, b_w, b_out, i0, mi):
        for jo in T.serial(n // tn):
            block(b_x, b_w, b_out, i0, mi, jo * tn, tn)
        if rest & 32 > 0:
            block(b_x, b_w, b_out, i0, mi, base, 32)
        if rest & 16 > 0:
            block(b_x, b_w, b_out, i0, mi, base + rest // 32 * 32, 16)
        if rest % 16 > 0:
            block(b_x, b_w, b_out, i0, mi, base + rest // 16 * 16, rest % 16)

    @T.macro
    def run():
        for it in outer(m // tm):
            band(x, w, out, it * tm, tm)
        if m % tm > 0:
            band(x, w, out, m // tm * tm, m % tm)

    return run


def _cuda(x, w, out, finish, m: int, k: int, n: int, config: dict[str, Any]):
    tm, tn, tk = config["tile_m"], config["tile_n"], config["tile_k"]
    rm, rn = config["thread_m"], config["thread_n"]
    ty_n, tx_n = tm // rm, tn // rn
    threads = ty_n * tx_n
    grid_m, grid_n = max(1, ceildiv(m, tm)), max(1, ceildiv(n, tn))

    @T.macro
    def stage(b_src, b_dst, rows, cols, r0, c0, r_lim, c_lim, tid):
        """Cooperative copy of a ``rows x cols`` global slice into shared memory, zero-padded."""
        for it in T.unroll(ceildiv(rows * cols, threads)):
            if it * threads + tid < rows * cols:
                b_dst[(it * threads + tid) // cols, (it * threads + tid) % cols] = T.if_then_else(
                    r0 + (it * threads + tid) // cols < r_lim and c0 + (it * threads + tid) % cols < c_lim,
                    b_src[r0 + (it * threads + tid) // cols, c0 + (it * threads + tid) % cols],
                    T.float32(0),
                )

    @T.macro
    def run():
        for by in T.thread_binding(grid_m, thread="blockIdx.y"):
            for bx in T.thread_binding(grid_n, thread="blockIdx.x"):
                for ty in T.thread_binding(ty_n, thread="threadIdx.y"):
                    for tx in T.thread_binding(tx_n, thread="threadIdx.x"):
                        xs = T.alloc_buffer((tm, tk), FP32, scope="shared")
                        ws = T.alloc_buffer((tk, tn), FP32, scope="shared")
                        acc = T.alloc_buffer((rm, rn), FP32, scope="local")
                        for i in T.unroll(rm):
                            for j in T.unroll(rn):
                                acc[i, j] = T.float32(0)
                        for ko in T.serial(ceildiv(k, tk)):
                            stage(x, xs, tm, tk, by * tm, ko * tk, m, k, ty * tx_n + tx)
                            stage(w, ws, tk, tn, ko * tk, bx * tn, k, n, ty * tx_n + tx)
                            T.tvm_storage_sync("shared")
                            for kk in T.unroll(tk):
                                for i in T.unroll(rm):
                                    for j in T.unroll(rn):
                                        acc[i, j] = acc[i, j] + xs[ty + i * ty_n, kk] * ws[kk, tx + j * tx_n]
                            T.tvm_storage_sync("shared")
                        for i in T.unroll(rm):
                            for j in T.unroll(rn):
                                if by * tm + ty + i * ty_n < m and bx * tn + tx + j * tx_n < n:
                                    out[by * tm + ty + i * ty_n, bx * tn + tx + j * tx_n] = finish(
                                        acc[i, j], by * tm + ty + i * ty_n, bx * tn + tx + j * tx_n)

    return run


def name_tokens(spec: KernelSpec) -> list[str]:
    (m, k), n = spec.inputs[0].shape, spec.inputs[1].shape[1]
    return [f"{m}x{k}x{n}", *epilogue_tokens(spec_epilogue(spec))]
