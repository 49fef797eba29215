"""Shared fixtures (graph builders live in graphs.py)."""

from __future__ import annotations

import pytest
from graphs import EDGE_CASE_GRAPHS

from gnncc.graph import Graph


@pytest.fixture(params=sorted(EDGE_CASE_GRAPHS))
def edge_case_graph(request) -> Graph:
    return EDGE_CASE_GRAPHS[request.param]()
