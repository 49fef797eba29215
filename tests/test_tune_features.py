"""Features: graph statistics, op shape and counts over the generated TIR."""

import math

import pytest
import torch

from gnncc.codegen.target import Target
from gnncc.graph import Graph
from gnncc.tune.features import (
    HIST_BUCKETS,
    Featurizer,
    cpu_cache_bytes,
    graph_features,
    memory_features,
    tir_features,
)
from gnncc.tune.task import op_task

CPU, CUDA = Target("cpu"), Target("cuda", "sm_90")


def star(leaves: int) -> Graph:
    """Every leaf points at node 0: one node of in-degree ``leaves``, the rest 0."""
    src = torch.arange(1, leaves + 1)
    return Graph(torch.stack([src, torch.zeros_like(src)]), leaves + 1)


def test_graph_features_describe_size_and_skew():
    f = graph_features(star(15), 15)
    assert f["graph.log_nodes"] == 4.0 and f["graph.log_nnz"] == math.log2(15)
    assert f["graph.zero_frac"] == 15 / 16
    assert f["graph.hist0"] == 15 / 16 and f["graph.hist4"] == 1 / 16  # degree 15 is in bucket [8, 15]
    assert sum(f[f"graph.hist{i}"] for i in range(HIST_BUCKETS)) == pytest.approx(1.0)
    assert f["graph.degree_skew"] == pytest.approx(15 / (15 / 16))
    ring = Graph(torch.stack([torch.arange(8), (torch.arange(8) + 1) % 8]), 8)
    assert graph_features(ring, 8)["graph.degree_cv"] == 0.0


def test_tir_features_follow_the_schedule():
    task = op_task("spmm", star(15), 64, CPU)
    base = {"parallel": True, "feat_tile": 16, "vectorize": True, "serial_below": 0}
    f = tir_features(task.spec, base, CPU)
    assert f["tir.vector_width"] == 16 and f["tir.loops_parallel"] >= 1 and f["tir.loops_dynamic"] >= 1
    assert f["tir.bytes_per_dynamic_iter"] > 0
    assert tir_features(task.spec, {**base, "vectorize": False}, CPU)["tir.vector_width"] == 0
    assert tir_features(task.spec, {**base, "parallel": False}, CPU)["tir.loops_parallel"] == 0
    wide = tir_features(task.spec, {**base, "feat_tile": 64}, CPU)
    assert wide["tir.local_elems"] > f["tir.local_elems"]
    gpu = op_task("spmm", star(15), 64, CUDA)
    g = tir_features(gpu.spec, {"rows_per_block": 2, "lanes": 16, "feat_tile": 64}, CUDA)
    assert g["tir.threads_per_block"] == 32


def test_featurizer_names_are_stable_across_configs():
    task = op_task("sddmm", star(15), 32, CPU)
    fz = Featurizer(task.spec, task.space, task.graph, task.nnz, CPU)
    names = None
    for config in list(task.space.points())[:5]:
        f = fz(config)
        assert all(isinstance(v, float) for v in f.values())
        assert names is None or list(f) == names
        names = list(f)
    assert {"knob.feat_tile", "graph.avg_degree", "op.width", "tir.vector_width"} <= set(names)


def test_memory_features_compare_the_gathered_rows_with_the_cache(tmp_path):
    caches = [("index0", "Data", "32K"), ("index1", "Instruction", "64M"), ("index3", "Unified", "32768K")]
    for name, kind, size in caches:
        (tmp_path / name).mkdir()
        (tmp_path / name / "type").write_text(kind + "\n")
        (tmp_path / name / "size").write_text(size + "\n")
    assert cpu_cache_bytes(tmp_path) == 32 << 20  # the instruction cache does not count
    assert cpu_cache_bytes(tmp_path / "missing") is None
    rows = 64 << 20  # twice the cache
    feats = memory_features(rows, 32 << 20, {"col_parts": 4})
    assert feats == {"mem.log_cache": 25.0, "mem.log_rows_over_cache": 1.0, "mem.log_pass_rows_over_cache": -1.0}
    assert memory_features(rows, 32 << 20, {"feat_tile": 8})["mem.log_pass_rows_over_cache"] == 1.0
    assert memory_features(rows, None, {}) == {}  # unknown cache: the model sees missing values
