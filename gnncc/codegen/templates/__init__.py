"""Kernel templates, one per op family (spmm/scatter and gather/sddmm share theirs).

Each template module provides ``build(spec, name, cuda, config) -> list[Call]``,
``name_tokens(spec)`` for the kernel's name, and ``VIEW``: how operands are laid out for
it (``rows``: ``[leading, width]``; ``flat``: 1-D; ``natural``: the tensor's own shape).
"""

from types import ModuleType

from gnncc.codegen.templates import (
    aggregate,
    concat,
    edge_softmax,
    edgemap,
    elementwise,
    matmul,
    reduce,
    rowwise,
)

TEMPLATES: dict[str, ModuleType] = {
    "spmm": aggregate,
    "scatter": aggregate,
    "gather": edgemap,
    "sddmm": edgemap,
    "edge_softmax": edge_softmax,
    "matmul": matmul,
    "elementwise": elementwise,
    "reduce": reduce,
    "rowwise": rowwise,
    "concat": concat,
}
