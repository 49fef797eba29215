"""distribute_transforms and factor_aggregations: polynomial filters propagate at the narrow width, once
per power (Horner), with the same result; anything the algebra or the estimate does not allow stays."""

from __future__ import annotations

import pytest
import torch
import torch_geometric.nn as pyg
from graphs import random_graph
from pass_models import Single

import gnncc
from gnncc.check import relative_error
from gnncc.ir import AdjType, Builder, TensorType, evaluate
from gnncc.passes import PASSES, PassContext

N, E, WIDE, NARROW = 40, 160, 48, 6
GRAPH = random_graph(N, E, seed=11, self_loops=4, duplicates=8, isolated=3)


def _aggregations(cm: gnncc.CompiledModel) -> list:
    return [n for n in cm.ir.nodes if n.op in ("spmm", "fused_spmm", "spmm_matmul")]


@pytest.mark.parametrize("conv,powers", [
    (lambda: pyg.TAGConv(WIDE, NARROW, K=3), 3),
    (lambda: pyg.ChebConv(WIDE, NARROW, K=4), None),  # counted below
    (lambda: pyg.MixHopConv(WIDE, NARROW, powers=[0, 1, 2]), 3),  # concatenated: 1 + 2, nothing to factor
], ids=["tag", "cheb", "mixhop"])
def test_polynomial_filters_propagate_narrow(conv, powers: int | None) -> None:
    torch.manual_seed(0)
    model = Single(conv()).eval()
    x = torch.randn(N, WIDE)
    cm = gnncc.compile(model, GRAPH)
    with torch.no_grad():
        assert relative_error(cm(x), model(x, GRAPH.edge_index)) < 1e-4
    aggregations = _aggregations(cm)
    assert all(n.output.type.shape[-1] <= NARROW for n in aggregations), cm.explain()
    if powers is not None:  # TAG's sum of powers: Horner's K propagations
        assert len(aggregations) == powers, cm.explain()
    off = gnncc.compile(model, GRAPH, passes={"distribute_transforms": False})
    assert any(n.inputs[1].type.shape[-1] == WIDE for n in _aggregations(off))
    assert "moved in front of" in cm.explain()
    assert ("summed first: one spmm" in cm.explain()) == (not isinstance(model.conv, pyg.MixHopConv))


def test_chebyshev_recurrence_keeps_fewer_propagations_than_powers_squared() -> None:
    """T_k needs k propagations of its own once moved; factoring the sum leaves K - 1 + (K - 2)(K - 1)/2
    at most, and here fewer than the K (K - 1) / 2 of the distributed chains."""
    model = Single(pyg.ChebConv(WIDE, NARROW, K=4)).eval()
    cm = gnncc.compile(model, GRAPH)
    unfactored = gnncc.compile(model, GRAPH, passes={"factor_aggregations": False})
    assert len(_aggregations(cm)) < len(_aggregations(unfactored)) == 6


def _chain(width_out: int, extra_use: bool = False):
    """``(spmm(A, spmm(A, x)) * 2 - x) @ W`` with ``spmm(A, x) @ V`` beside it, ``x`` ``[N, WIDE]``."""
    b = Builder()
    x = b.input("x", TensorType((N, WIDE)))
    adj = b.const("adj", GRAPH.csc)
    hop1 = b.emit("spmm", [adj, x], reduce="sum")
    hop2 = b.emit("spmm", [adj, hop1], reduce="mean")
    t2 = b.emit("sub", [b.emit("mul", [hop2, b.const("two", torch.tensor(2.0))]), x])
    gen = torch.Generator().manual_seed(3)
    out = b.emit("add", [b.emit("matmul", [t2, b.const("w", torch.randn(WIDE, width_out, generator=gen))]),
                         b.emit("matmul", [hop1, b.const("v", torch.randn(WIDE, width_out, generator=gen))])])
    return b.finish([out, b.emit("relu", [hop1])] if extra_use else [out])


def _run(name: str, fn):
    ctx = PassContext(GRAPH.csc)
    return PASSES[name].run(fn, ctx), ctx.notes.get(name, [])


def _same(fn, other) -> None:
    x = torch.randn(N, WIDE, generator=torch.Generator().manual_seed(4))
    for a, b in zip(evaluate(fn, {"x": x}), evaluate(other, {"x": x})):
        assert relative_error(a, b) < 1e-5


def test_distribute_moves_both_transforms_of_a_shared_chain() -> None:
    fn = _chain(NARROW)
    moved, notes = _run("distribute_transforms", fn)
    assert [n.op for n in moved.nodes].count("spmm") == 3  # hop1 for V; hop1, hop2 again for W
    assert all(n.inputs[1].type.shape[1] == NARROW for n in moved.nodes if n.op == "spmm")
    assert notes and "2 transform(s) [48->6, 6]" in notes[0]
    _same(fn, moved)


@pytest.mark.parametrize("why,fn", [("widening", _chain(WIDE + 8)),
                                    ("wide value used elsewhere", _chain(NARROW, True))])
def test_distribute_leaves_what_it_must(why: str, fn) -> None:
    moved, notes = _run("distribute_transforms", fn)
    assert moved is fn and not notes, why


def _sum_of_aggregations(same_adjacency: bool = True, weighted: bool = False, extra_use: bool = False):
    """``3 * spmm(A, p) - spmm(B, q) + r`` over ``x`` ``[N, WIDE]``."""
    b = Builder()
    x = b.input("x", TensorType((N, WIDE)))
    a = b.const("a", GRAPH.csc)
    other = a if same_adjacency else b.const("b", random_graph(N, E, seed=12).csc)
    edge = [b.const("w", torch.rand(GRAPH.num_edges))] if weighted else []
    p, q, r = (b.emit(op, [x]) for op in ("relu", "tanh", "sigmoid"))
    sp = b.emit("spmm", [a, p, *edge], reduce="sum")
    sq = b.emit("spmm", [other, q, *edge], reduce="sum")
    out = b.emit("add", [b.emit("sub", [b.emit("mul", [b.const("three", torch.tensor(3.0)), sp]), sq]), r])
    return b.finish([out, sq] if extra_use else [out])


@pytest.mark.parametrize("weighted", [False, True])
def test_factor_sums_terms_over_one_adjacency_first(weighted: bool) -> None:
    fn = _sum_of_aggregations(weighted=weighted)
    factored, notes = _run("factor_aggregations", fn)
    assert [n.op for n in factored.nodes].count("spmm") == 1 and "2 sum aggregations" in notes[0]
    assert "neg" not in [n.op for n in factored.nodes]
    _same(fn, factored)


@pytest.mark.parametrize("why,fn", [("two adjacencies", _sum_of_aggregations(same_adjacency=False)),
                                    ("an aggregation used elsewhere", _sum_of_aggregations(extra_use=True))])
def test_factor_leaves_what_it_must(why: str, fn) -> None:
    factored, notes = _run("factor_aggregations", fn)
    assert factored is fn and not notes, why


def test_factor_leaves_max_aggregation() -> None:
    b = Builder()
    x = b.input("x", TensorType((N, WIDE)))
    adj = b.emit("graph.adj", type=AdjType(N, N, E))
    out = b.emit("add", [b.emit("spmm", [adj, x], reduce="max"), b.emit("spmm", [adj, b.emit("relu", [x])],
                                                                            reduce="max")])
    fn = b.finish([out])
    assert _run("factor_aggregations", fn)[0] is fn
