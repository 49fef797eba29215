"""A first-order cost estimate of kernels (floating-point work and bytes moved), for pass decisions.

Estimates count float32 operands read once and results written once; a sparse walk reads one
source row per edge. ``Cost.score`` folds both into byte-equivalents with an assumed machine
balance, so memory-bound sparse work and compute-bound dense work compare on one scale.
"""

from __future__ import annotations

from dataclasses import dataclass

WORD = 4  # bytes of a float32 value or int32 index
FLOPS_PER_BYTE = 10.0  # machine balance: flops a core does in the time one byte moves from memory


@dataclass(frozen=True)
class Cost:
    flops: float
    bytes: float

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.flops + other.flops, self.bytes + other.bytes)

    @property
    def score(self) -> float:
        return self.bytes + self.flops / FLOPS_PER_BYTE

    def __str__(self) -> str:
        return f"{_scaled(self.flops, ('flop', 'kflop', 'Mflop', 'Gflop'), 1e3)} + " \
               f"{_scaled(self.bytes, ('B', 'KiB', 'MiB', 'GiB'), 1024)}"


def _scaled(value: float, units: tuple[str, ...], step: float) -> str:
    for unit in units[:-1]:
        if abs(value) < step:
            return f"{value:.3g} {unit}"
        value /= step
    return f"{value:.3g} {units[-1]}"


def matmul_cost(m: int, k: int, n: int) -> Cost:
    """``[m, k] @ [k, n]``."""
    return Cost(2.0 * m * k * n, WORD * (m * k + k * n + m * n))


def spmm_cost(nnz: int, num_dst: int, width: int, weighted: bool) -> Cost:
    """CSR aggregation of ``width`` features over ``nnz`` edges into ``num_dst`` rows."""
    index_words = (num_dst + 1) + nnz * (2 if weighted else 1)
    return Cost(2.0 * nnz * width, WORD * (nnz * width + num_dst * width + index_words))
