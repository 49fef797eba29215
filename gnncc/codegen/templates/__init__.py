"""Kernel templates, one per op family (spmm/scatter and gather/sddmm share theirs).

Each template module provides ``build(spec, name, cuda, config) -> list[Call]``,
``name_tokens(spec)`` for the kernel's name, and ``VIEW``: how operands are laid out for
it (``rows``: ``[leading, width]``; ``flat``: 1-D; ``natural``: the tensor's own shape). A template
whose kernels take an adjacency's derived layouts also has ``layout(spec, config)``: the neighbour
group size (``Adjacency.segments``), whether the degree buckets (``Adjacency.buckets``) come too, and
the column partition count (``Adjacency.columns``), as ``CallBinding`` takes them.
"""

from types import ModuleType

from gnncc.codegen.templates import (
    aggregate,
    attention,
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
    "attention": attention,
    "spmm_matmul": aggregate,
    "gather": edgemap,
    "sddmm": edgemap,
    "edge_softmax": edge_softmax,
    "matmul": matmul,
    "elementwise": elementwise,
    "reduce": reduce,
    "rowwise": rowwise,
    "concat": concat,
}
