"""Node reordering (gnncc.reorder): valid permutations, compiled models that equal PyG under every
method, the permutation in exported libraries (compile graph and new graphs), and the CLI flag."""

from __future__ import annotations

import json

import pytest
import torch
from graphs import EDGE_CASE_GRAPHS, random_graph

import gnncc
from gnncc import datasets
from gnncc.check import relative_error
from gnncc.cli import zoo
from gnncc.cli.main import main
from gnncc.errors import GnnccError, GraphError, InputError
from gnncc.graph import Graph
from gnncc.reorder import METHODS, Reordering, edge_span, permutation

TOL = 1e-4
MODELS = ("gcn", "sage", "gat", "gin")


@pytest.fixture(scope="module")
def cora():
    return datasets.load("cora")


def _edges(graph: Graph) -> list[tuple[int, int]]:
    return [tuple(e) for e in graph.edge_index.t().tolist()]


@pytest.mark.parametrize("method", METHODS)
def test_permutation_is_a_bijection_keeping_every_edge(edge_case_graph, method):
    g = edge_case_graph
    r = Reordering.of(g, method)
    assert r.perm.dtype == torch.int64 and sorted(r.perm.tolist()) == list(range(g.num_nodes))
    assert torch.equal(r.inverse[r.perm], torch.arange(g.num_nodes))
    # the same edges in the same order (duplicates and self-loops kept), under the new names
    assert _edges(Graph(r.perm[r.graph.edge_index], g.num_nodes)) == _edges(g)
    assert r.graph.num_self_loops == g.num_self_loops and r.graph.num_nodes == g.num_nodes


def test_degree_puts_heavy_rows_first():
    g = EDGE_CASE_GRAPHS["hub"]()
    deg = Reordering.of(g, "degree").graph.csc.in_degrees()
    assert bool((deg[1:] <= deg[:-1]).all()) and int(deg[0]) == g.in_degree.max


def test_rcm_improves_locality_on_cora(cora):
    before, after = Reordering.of(cora.graph, "rcm").spans
    assert before == pytest.approx(edge_span(cora.graph)) and after < 0.5 * before


def test_bad_method_names_the_choices(cora):
    with pytest.raises(GnnccError, match=r"unknown node reordering 'bfs'; choose one of 'none', 'degree', 'rcm'"):
        gnncc.compile(zoo.build("gcn", cora.x.shape[1], 7), cora.graph, reorder="bfs")
    with pytest.raises(GnnccError, match="unknown node reordering None"):
        permutation(cora.graph, None)


@pytest.mark.parametrize("perm, message", [
    ([0, 0, 1], "not a permutation"), ([0, 1, 3], "not a permutation"), ([0, 1], "of 3 node ids"),
    ([0.0, 1.0, 2.0], "integer tensor"),
])
def test_permuted_rejects_a_non_permutation(perm, message):
    with pytest.raises(GraphError, match=message):
        Graph(torch.tensor([[0, 1], [1, 2]]), 3).permuted(torch.tensor(perm))


def _graphs(cora):
    """Cora, and a random multigraph (a hub, self-loops, duplicates, isolated nodes) of Cora's node
    count, so its dense kernels are Cora's (built once per process)."""
    g = random_graph(cora.graph.num_nodes, 12000, seed=7, hub=True, self_loops=30, duplicates=200, isolated=40)
    return {"cora": (cora.graph, cora.x), "random": (g, cora.x)}


@pytest.mark.parametrize("model_name", MODELS)
def test_reordered_models_equal_pyg(cora, model_name):
    for graph_name, (graph, x) in _graphs(cora).items():
        torch.manual_seed(0)
        model = zoo.build(model_name, x.shape[1], 7).eval()
        with torch.no_grad():
            want = model(x, graph.edge_index)
        for method in METHODS:
            got = gnncc.compile(model, graph, reorder=method)(x)
            err = relative_error(got, want)
            assert err < TOL, f"{model_name} on {graph_name} with reorder={method}: relative error {err:.1e}"


def test_explain_and_errors_speak_of_the_users_graph(cora):
    cm = gnncc.compile(zoo.build("gcn", cora.x.shape[1], 7), cora.graph, reorder="rcm")
    text = cm.explain()
    assert "reorder: rcm: mean |src-dst| edge span 836.4 -> " in text and '"reorder.perm"' in text
    assert cm.graph is cora.graph and "reorder: none" in gnncc.compile(
        zoo.build("gcn", cora.x.shape[1], 7), cora.graph).explain()
    with pytest.raises(InputError, match="the graph has 2708 nodes, x has 10 rows"):
        cm(cora.x[:10])


@pytest.fixture(scope="module")
def rcm_library(cora, tmp_path_factory):
    torch.manual_seed(0)
    model = zoo.build("gat", cora.x.shape[1], 7).eval()
    cm = gnncc.compile(model, cora.graph, reorder="rcm")
    return model, cm, gnncc.load(cm.export(tmp_path_factory.mktemp("lib") / "gat_rcm.so"))


def test_library_uses_the_stored_permutation_on_the_compile_graph(cora, rcm_library, monkeypatch):
    model, cm, m = rcm_library
    assert m.metadata["reorder"]["method"] == "rcm" and "node reordering rcm" in m.describe()
    import gnncc.runtime.library as library

    monkeypatch.setattr(library.Reordering, "of", None)  # the compile graph must not recompute it
    assert torch.allclose(m(cora.x, cora.graph), cm(cora.x), rtol=1e-5, atol=1e-6)


def test_library_reorders_a_new_graph_with_the_same_method(cora, rcm_library):
    model, _, m = rcm_library
    g = random_graph(cora.graph.num_nodes, 9000, seed=11, self_loops=30, duplicates=100, isolated=50)
    with torch.no_grad():
        want = model(cora.x, g.edge_index)
    assert relative_error(m(cora.x, g), want) < TOL
    with pytest.raises(InputError, match="serves graphs of 2708 nodes"):
        m(cora.x, random_graph(100, 300))


def test_bench_reorder_flag(tmp_path):
    out = tmp_path / "spmm.json"
    assert main(["bench", "--op", "spmm", "--graph", "cora", "--feat", "8", "--repeat", "2", "--reorder", "rcm",
                 "--json", str(out)]) == 0
    (record,) = json.loads(out.read_text())
    assert record["reorder"] == "rcm" and record["edge_span_after"] < record["edge_span_before"]
