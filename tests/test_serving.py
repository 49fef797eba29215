"""Serving a library: no compiler in the loading process (and its load time), concurrent calls, and
``gnncc build``."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

import gnncc
from gnncc import datasets
from gnncc.check import relative_error
from gnncc.cli import zoo
from gnncc.cli.main import main

ROOT = Path(__file__).resolve().parents[1]

NO_COMPILER = """
import sys, time
start = time.perf_counter()
import gnncc
import torch
from gnncc import datasets
imported = time.perf_counter()
m = gnncc.load(sys.argv[1])
loaded = time.perf_counter()
cora = datasets.load("cora")
y = m(cora.x, cora.graph)
torch.save(y, sys.argv[2])
maps = open("/proc/self/maps").read()
assert "libtvm_compiler" not in maps, "libtvm_compiler was loaded"
forbidden = [k for k in sys.modules if k == "tvm" or k.startswith(("tvm.", "gnncc.compiler", "gnncc.codegen",
                                                                    "gnncc.frontend"))]
assert not forbidden, forbidden
print(f"import gnncc+torch {imported - start:.3f}s, gnncc.load {loaded - imported:.3f}s")
"""


@pytest.fixture(scope="module")
def gat_lib(tmp_path_factory):
    cora = datasets.load("cora")
    model = zoo.build("gat", cora.x.shape[1], 7)
    cm = gnncc.compile(model, cora.graph)
    return cm, cm.export(tmp_path_factory.mktemp("lib") / "gat.so")


def test_load_needs_no_compiler(gat_lib, tmp_path):
    cm, path = gat_lib
    proc = subprocess.run([sys.executable, "-c", NO_COMPILER, str(path), str(tmp_path / "y.pt")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    print("load time in a fresh process:", proc.stdout.strip())
    cora = datasets.load("cora")
    assert torch.allclose(torch.load(tmp_path / "y.pt"), cm(cora.x), rtol=1e-5, atol=1e-6)


def test_concurrent_calls_from_8_threads(gat_lib):
    cm, path = gat_lib
    m = gnncc.load(path)
    cora = datasets.load("cora")
    xs = [torch.randn_like(cora.x) for _ in range(8)]
    want = [cm(x) for x in xs]
    barrier = threading.Barrier(8)
    errors: list[str] = []

    def worker(i: int) -> None:
        barrier.wait()
        for _ in range(5):
            got = m(xs[i], cora.graph)
            if not torch.allclose(got, want[i], rtol=1e-5, atol=1e-6):
                errors.append(f"thread {i}: wrong result")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_build_cli(tmp_path, capsys):
    factory = tmp_path / "my_model.py"
    factory.write_text(
        "import torch\nfrom torch_geometric.nn import SAGEConv\n\n"
        "def make():\n    torch.manual_seed(0)\n    return SAGEConv(1433, 4)\n"
    )
    out = tmp_path / "sage.so"
    log = tmp_path / "log.jsonl"
    log.write_text("")
    assert main(["build", "--model", f"{factory}:make", "--graph", "cora", "-o", str(out), "--log", str(log)]) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}" in text
    assert re.search(r"schedules: \d+ default$", text, re.M)  # an empty log has no records
    cora = datasets.load("cora")
    assert gnncc.load(out)(cora.x, cora.graph).shape == (2708, 4)
    # the same model built for the RCM-relabelled graph serves the caller's node order
    reordered = tmp_path / "sage_rcm.so"
    assert main(["build", "--model", f"{factory}:make", "--graph", "cora", "-o", str(reordered),
                 "--reorder", "rcm"]) == 0
    assert "node reordering rcm" in capsys.readouterr().out
    assert gnncc.load(reordered).metadata["reorder"]["method"] == "rcm"
    want = gnncc.load(out)(cora.x, cora.graph)
    assert relative_error(gnncc.load(reordered)(cora.x, cora.graph), want) < 1e-5


def test_build_cli_edge_model_serves_the_graphs_edge_data(tmp_path, capsys):
    """``gnncc build --model gine`` compiles with the zoo's random edge features; the library then reads
    the edge features of each graph it is called with."""
    from gnncc.cli import zoo

    out = tmp_path / "gine.so"
    assert main(["build", "--model", "gine", "--graph", "cora", "-o", str(out)]) == 0
    assert re.search(r"edge_attr=float32\[\d+, 8\]", capsys.readouterr().out)
    cora = datasets.load("cora")
    graph = zoo.with_edge_data("gine", cora.graph, seed=1)
    model = zoo.build("gine", cora.x.shape[1], 7)
    with torch.no_grad():
        want = model(cora.x, graph.edge_index, graph.edge_attr)
    assert relative_error(gnncc.load(out)(cora.x, graph), want) < 1e-4


def test_build_cli_help_and_errors(capsys):
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    assert "examples:" in capsys.readouterr().out
    proc = subprocess.run([sys.executable, "-m", "gnncc", "build", "--model", "mlp", "--graph", "cora", "-o", "x.so"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1 and "--model must be one of gcn, sage, gin, gat" in proc.stderr
