"""Whole models for CUDA on a machine without a GPU: every kernel that the optimised IR of each
supported conv needs is generated for sm_90 and compiled by nvcc to a cubin."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from graphs import random_graph
from test_compile_pyg import CONVS, MIXES, Single

from gnncc.codegen.nvcc import compile_cubin
from gnncc.codegen.target import resolve_target
from gnncc.compiler import build_kernels, optimise

pytestmark = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")


def compile_each(kernels: dict) -> None:
    """Every kernel's CUDA source through ``nvcc -arch=sm_90 -cubin``, one nvcc per core at a time."""
    assert kernels
    sources = {node: kernel.source() for node, kernel in kernels.items()}
    for node, source in sources.items():
        assert "__global__" in source, f"{node.op}: no CUDA kernel in the generated source"
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        cubins = pool.map(lambda source: compile_cubin(source, "sm_90"), sources.values())
        for node, cubin in zip(sources, cubins):
            assert len(cubin) > 0, f"{node.op}: empty cubin"


MODELS = {**{name: (lambda c=c: Single(c(12, 5))) for name, c in CONVS.items()},
          **{name: (lambda m=m: m(12, 5)) for name, m in MIXES.items()}}


@pytest.mark.parametrize("name", ["gcn", "sage_mean", "sage_max", "sage_normalize_project", "gin_eps", "gat",
                                  "gat_mean_heads", "gat_residual_nobias", "gcn_gat", "sage_gin_gcn_residual"])
def test_every_kernel_of_the_model_compiles_with_nvcc(name, tmp_path):
    torch.manual_seed(0)
    graph = random_graph(30, 90, seed=0)
    _, ir, _ = optimise(MODELS[name]().eval(), graph)
    kernels, _ = build_kernels(ir, resolve_target("cuda:sm_90", require_device=False))
    compile_each(kernels)


@pytest.mark.parametrize("name", ["gcn_weighted", "gine", "gat_edge", "pna", "rgcn"])
def test_zoo_models_compile_with_nvcc(name):
    """The zoo's models that read edge weights or features (weighted spmm, GINE's fused edge messages,
    attention with an edge bias), PNA (max and mean SpMMs of node rows with node-row epilogues, once
    factor_destination_terms has taken its messages apart) and RGCN (SpMMs over relation graphs with R
    times the rows on one side)."""
    from gnncc.cli import zoo

    graph = zoo.with_edge_data(name, random_graph(30, 90, seed=0))
    _, ir, _ = optimise(zoo.build(name, 12, 5), graph)
    kernels, _ = build_kernels(ir, resolve_target("cuda:sm_90", require_device=False))
    compile_each(kernels)
