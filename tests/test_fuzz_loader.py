"""Fuzz of gnncc.load on malformed libraries: mutated bytes anywhere (the checksum must reject
them), and mutated metadata, plan, data and trailer offsets behind a valid checksum (the parsers
must reject them). Every input gives a working model or a gnncc error; the run happens in a child
process so that a crash fails the test instead of killing pytest. The count of inputs tried is
printed and recorded (``record_property("fuzz_inputs")``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from graphs import random_graph
from torch_geometric.nn import GATConv, GCNConv

import gnncc

HERE = Path(__file__).resolve().parent


class TwoLayer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = GCNConv(6, 8)
        self.conv2 = GATConv(8, 3, heads=2)

    def forward(self, x, edge_index):
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index)


def _fuzz(tmp_path: Path, record_property, n_inputs: int, seed: int) -> None:
    graph = random_graph(30, 120, seed=seed)
    torch.manual_seed(seed)
    lib = gnncc.compile(TwoLayer().eval(), graph).export(tmp_path / "model.so")
    npz = tmp_path / "graph.npz"
    ei = graph.edge_index.numpy()
    np.savez(npz, src=ei[0], dst=ei[1], num_nodes=np.int64(graph.num_nodes))
    proc = subprocess.run(
        [sys.executable, str(HERE / "fuzz_loader_child.py"), str(lib), str(npz), str(n_inputs), str(seed)],
        capture_output=True, text=True, timeout=1800,
    )
    assert proc.returncode == 0, f"loader fuzz child failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    counts = dict(item.split("=") for item in proc.stdout.split())
    assert int(counts["tried"]) == n_inputs
    assert int(counts["rejected"]) > 0
    record_property("fuzz_inputs", n_inputs)
    print(f"loader fuzz: {proc.stdout.strip()}")


def test_fuzz_loader(tmp_path, record_property):
    _fuzz(tmp_path, record_property, n_inputs=150, seed=0)


@pytest.mark.slow
def test_fuzz_loader_long(tmp_path, record_property):
    _fuzz(tmp_path, record_property, n_inputs=int(os.environ.get("GNNCC_FUZZ_INPUTS", "3000")), seed=1)
