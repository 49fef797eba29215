"""Shared fixtures (graph builders live in graphs.py)."""

from __future__ import annotations

import os

import pytest
import torch
from graphs import EDGE_CASE_GRAPHS

from gnncc.graph import Graph


@pytest.fixture(params=sorted(EDGE_CASE_GRAPHS))
def edge_case_graph(request) -> Graph:
    return EDGE_CASE_GRAPHS[request.param]()


@pytest.fixture
def knob_only_features(monkeypatch) -> None:
    """No ``tir.*`` features: for tests of the tuning loop and the log with stand-in measurers, where a
    template build per config (50-600 ms each) would be most of the test's time and none of its subject.
    The model still sees the knob, graph and op features (``test_tune_features`` covers the TIR ones)."""
    monkeypatch.setattr("gnncc.tune.features.tir_features", lambda spec, config, target: {})


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``-n 2``: a worker per core), one torch thread per worker: two OpenMP pools
    spinning on two cores slowed the suite more than the second worker sped it up."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)
