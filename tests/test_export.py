"""CompiledModel.export -> gnncc.load: round trips against PyG, serving new graphs, and every way a
library can fail to load or be misused (each a clear gnncc error)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from test_compile_pyg import CONVS, FIN, FOUT, Single

import gnncc
from gnncc import datasets
from gnncc.check import relative_error
from gnncc.cli import zoo
from gnncc.errors import GraphError, InputError, TargetError
from gnncc.runtime import libformat
from gnncc.runtime.library import LibraryError

TOL = 1e-4
ROOT = Path(__file__).resolve().parents[1]


def random_graph(n: int, e: int, seed: int) -> gnncc.Graph:
    """``e`` random edges without self-loops (so GAT's edge count after self-loops is ``e + n``)."""
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n, (e,), generator=gen)
    dst = (src + torch.randint(1, n, (e,), generator=gen)) % n
    return gnncc.Graph(torch.stack([src, dst]), n)


def pyg(model: torch.nn.Module, x: torch.Tensor, graph: gnncc.Graph) -> torch.Tensor:
    with torch.no_grad():
        return model(x, graph.edge_index)


@pytest.fixture(scope="module")
def cora():
    return datasets.load("cora")


@pytest.fixture(scope="module")
def cora_libs(cora, tmp_path_factory):
    """{name: (model, library path)} for the demo GCN and GAT on Cora, SAGE (its merged matmuls read
    through column windows), APPNP (its scalar constants are 0-dim tensors), the GCN with RCM reordering, and
    the GCN with neighbour grouping and degree buckets (its SpMMs take the adjacency's derived layouts)."""
    out = {}
    for name, options in (("gcn", {}), ("gat", {}), ("sage", {}), ("appnp", {}), ("gcn_rcm", {"reorder": "rcm"}),
                          ("gcn_grouped", {"configs": {"spmm": {"group": 8, "buckets": True}}}),
                          ("gcn_colparts", {"configs": {"spmm": {"col_parts": 4}}})):
        model = zoo.build(name.split("_")[0], cora.x.shape[1], 7)
        path = gnncc.compile(model, cora.graph, **options).export(tmp_path_factory.mktemp("lib") / f"{name}.so")
        out[name] = (model, path)
    return out


@pytest.mark.parametrize("name", ["gcn", "gat", "sage", "appnp", "gcn_grouped", "gcn_colparts"])
def test_cora_round_trip(cora, cora_libs, name):
    model, path = cora_libs[name]
    m = gnncc.load(path)
    print(f"{name}: gnncc.load took {m.load_seconds * 1e3:.1f} ms")
    assert relative_error(m(cora.x, cora.graph), pyg(model, cora.x, cora.graph)) < TOL
    assert relative_error(m(cora.x, cora.graph.edge_index), pyg(model, cora.x, cora.graph)) < TOL


def test_metadata_records_what_serving_needs(cora, cora_libs):
    meta = gnncc.load(cora_libs["gcn"][1]).metadata
    assert meta["format_version"] == libformat.FORMAT_VERSION
    assert meta["gnncc_version"] == gnncc.__version__ and meta["tvm_version"]
    assert meta["input"] == {"name": "x", "shape": [2708, 1433], "dtype": "float32"}
    assert meta["graph"]["signature"] == cora.graph.signature
    assert len(meta["ir_hash"]) == 64 and meta["target"]["kind"] == "cpu"
    assert {k["family"] for k in meta["kernels"]} >= {"matmul", "spmm"}
    assert all(k["config"] for k in meta["kernels"])  # the schedule config of each kernel


@pytest.mark.parametrize("conv", ["gcn", "sage_mean", "gin", "gat"])
def test_random_graph_round_trip_and_new_graph(conv, tmp_path):
    torch.manual_seed(0)
    model = Single(CONVS[conv](FIN, FOUT)).eval()
    graph, x = random_graph(40, 160, seed=1), torch.randn(40, FIN)
    m = gnncc.load(gnncc.compile(model, graph).export(tmp_path / "m.so"))
    assert relative_error(m(x, graph), pyg(model, x, graph)) < TOL
    # a new graph with the same schema: same node count (and edge count, which GAT's dense
    # edge kernels need); per-graph data is recomputed from the stored graph program
    other = random_graph(40, 160, seed=2)
    assert relative_error(m(x, other), pyg(model, x, other)) < TOL
    assert relative_error(m(x, graph), pyg(model, x, graph)) < TOL  # and back
    if conv != "gat":  # sparse kernels serve any edge count
        denser = random_graph(40, 300, seed=3)
        assert relative_error(m(x, denser), pyg(model, x, denser)) < TOL


# ---- errors -----------------------------------------------------------------------------------

def _rewrite(src: Path, dst: Path, edit_meta=None, version: int | None = None) -> Path:
    """Copy a library with its metadata edited (or format version changed), checksum redone."""
    data = src.read_bytes()
    blob_off, blob_len, _, _ = libformat._TRAILER.unpack_from(data, len(data) - libformat.TRAILER_SIZE)
    raw = bytearray(data[: -libformat.TRAILER_SIZE])
    header = libformat._HEADER
    fields = list(header.unpack_from(raw, blob_off))
    meta_off, meta_len = fields[4], fields[5]
    if edit_meta is not None:
        meta = json.loads(bytes(raw[blob_off + meta_off: blob_off + meta_off + meta_len]))
        edit_meta(meta)
        text = json.dumps(meta, separators=(",", ":")).encode()
        assert len(text) <= meta_len
        raw[blob_off + meta_off: blob_off + meta_off + meta_len] = text.ljust(meta_len)
    if version is not None:
        fields[2] = version
        header.pack_into(raw, blob_off, *fields)
    blob = bytes(raw[blob_off: blob_off + blob_len])
    dst.write_bytes(libformat.seal(bytes(raw), blob))
    return dst


def test_truncated_library(cora_libs, tmp_path):
    data = cora_libs["gcn"][1].read_bytes()
    (tmp_path / "t.so").write_bytes(data[: len(data) // 2])
    with pytest.raises(LibraryError, match="not a gnncc library, or truncated"):
        gnncc.load(tmp_path / "t.so")


def test_corrupt_library(cora_libs, tmp_path):
    data = bytearray(cora_libs["gcn"][1].read_bytes())
    mid = len(data) // 2
    data[mid: mid + 8] = bytes(b ^ 0xFF for b in data[mid: mid + 8])
    (tmp_path / "c.so").write_bytes(data)
    with pytest.raises(LibraryError, match="corrupt: its SHA-256 does not match"):
        gnncc.load(tmp_path / "c.so")


def test_not_a_library(tmp_path):
    (tmp_path / "x.so").write_bytes(b"hello" * 100)
    with pytest.raises(LibraryError, match="not a gnncc library"):
        gnncc.load(tmp_path / "x.so")
    with pytest.raises(LibraryError, match="no such file"):
        gnncc.load(tmp_path / "missing.so")


def test_other_format_version(cora_libs, tmp_path):
    path = _rewrite(cora_libs["gcn"][1], tmp_path / "v.so", version=libformat.FORMAT_VERSION + 1)
    with pytest.raises(LibraryError, match=f"format version {libformat.FORMAT_VERSION + 1}.*export the model again"):
        gnncc.load(path)


def test_other_tvm_version(cora_libs, tmp_path):
    def patch(meta):
        meta["tvm_version"] = "0.1.0"

    with pytest.raises(LibraryError, match="built with TVM 0.1.0, but TVM .* is installed"):
        gnncc.load(_rewrite(cora_libs["gcn"][1], tmp_path / "tvm.so", patch))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_library_without_gpu(cora_libs, tmp_path):
    def patch(meta):
        meta["target"] = {"kind": "cuda", "key": "cuda:sm_90", "arch": "sm_90"}

    with pytest.raises(TargetError, match=r"built for CUDA \(sm_90\), but no CUDA GPU is visible"):
        gnncc.load(_rewrite(cora_libs["gcn"][1], tmp_path / "cuda.so", patch))


def test_library_for_another_cpu(cora_libs, tmp_path):
    def patch(meta):
        meta["target"]["cpu_features"].append("avx9000")

    if not libformat.cpu_isa_features():
        pytest.skip("no /proc/cpuinfo here: CPU features cannot be compared")
    with pytest.raises(TargetError, match="instruction-set features this CPU lacks: avx9000"):
        gnncc.load(_rewrite(cora_libs["gcn"][1], tmp_path / "cpu.so", patch))

    def other_arch(meta):
        meta["target"]["machine"] = "riscv64"

    with pytest.raises(TargetError, match="built for riscv64 CPUs"):
        gnncc.load(_rewrite(cora_libs["gcn"][1], tmp_path / "arch.so", other_arch))


def test_wrong_schema(cora, cora_libs):
    m = gnncc.load(cora_libs["gcn"][1])
    with pytest.raises(InputError, match="compiled for 1433 input features, x has 12"):
        m(cora.x[:, :12], cora.graph)
    with pytest.raises(InputError, match="must be float32, got float64"):
        m(cora.x.double(), cora.graph)
    with pytest.raises(InputError, match="serves graphs of 2708 nodes .* got a graph of 10"):
        m(cora.x, random_graph(10, 20, seed=0))
    with pytest.raises(GraphError, match="out of range for num_nodes=2708"):
        m(cora.x, torch.tensor([[0, 5000], [1, 2]]))


def test_dense_kernels_on_edge_tensors_fix_the_edge_count(tmp_path):
    # without fusion passes GAT keeps an elementwise kernel (leaky_relu) on [edges, heads]
    unfused = ["canonicalize_message_passing", "dead_code_elimination", "fold_graph_constants",
               "dead_code_elimination"]
    torch.manual_seed(0)
    model = Single(CONVS["gat"](FIN, FOUT)).eval()
    graph, x = random_graph(40, 160, seed=1), torch.randn(40, FIN)
    m = gnncc.load(gnncc.compile(model, graph, passes=unfused).export(tmp_path / "gat.so"))
    with pytest.raises(InputError, match="specialised to the compile graph's edge count"):
        m(x, random_graph(40, 100, seed=2))


# ---- C++ ---------------------------------------------------------------------------------------

def test_cpp_example_matches_python(cora, cora_libs, tmp_path):
    cmake, cxx = shutil.which("cmake"), shutil.which("g++") or shutil.which("c++")
    if cmake is None or cxx is None:
        pytest.skip("cmake or a C++ compiler is missing: cannot build examples/cpp")
    import tvm_ffi

    site = Path(tvm_ffi.__file__).resolve().parents[1]
    build = tmp_path / "build"
    for cmd in ([cmake, "-S", str(ROOT / "examples" / "cpp"), "-B", str(build), f"-DTVM_FFI_ROOT={site / 'tvm_ffi'}",
                 f"-DTVM_ROOT={site / 'tvm'}", "-DCMAKE_BUILD_TYPE=Release"], [cmake, "--build", str(build)]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    # the plan of a reordered model holds its row gathers; a grouped (column-partitioned) one reads the
    # stored segment (partition) layout
    for name in ("gcn", "gat", "gcn_rcm", "gcn_grouped", "gcn_colparts"):
        _, path = cora_libs[name]
        cora.x.numpy().tofile(tmp_path / "x.bin")
        proc = subprocess.run([str(build / "gnncc_infer"), str(path), str(tmp_path / "x.bin"), str(tmp_path / "y.bin")],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        want = gnncc.load(path)(cora.x, cora.graph)
        got = torch.from_numpy(np.fromfile(tmp_path / "y.bin", dtype=np.float32)).view(want.shape)
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)
    bad = subprocess.run([str(build / "gnncc_infer"), str(path), str(tmp_path / "y.bin"), str(tmp_path / "z.bin")],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "features.bin has" in bad.stderr


def test_grouped_library_rebuilds_segments_for_a_new_graph(cora_libs, tmp_path):
    """Segment layouts in the file serve the C++ plan; the loader recomputes them from the validated CSR."""
    model, path = cora_libs["gcn_grouped"]
    m = gnncc.load(path)
    spmm = [k["binding"] for k in m.metadata["kernels"] if k["family"] == "spmm"]
    assert spmm and all(b["segments"] == 8 and b["buckets"] for b in spmm)
    other = random_graph(2708, 20000, seed=4)  # in-degrees up to 21: rows of up to 3 segments
    x = torch.randn(2708, 1433)
    fresh = copy.deepcopy(model)  # the demo GCN is cached=True: PyG would reuse Cora's normalisation
    for conv in fresh.modules():
        if hasattr(conv, "_cached_edge_index"):
            conv._cached_edge_index = None
    assert relative_error(m(x, other), pyg(fresh, x, other)) < TOL
