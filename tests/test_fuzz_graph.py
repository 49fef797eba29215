"""Fuzz of the Graph constructors on malformed input: every input gives a usable Graph or a GnnccError.

Two drivers share one oracle (``_attempt``): hypothesis strategies over edge_index-like values and
graph objects, and a seeded byte mutator over .npz files (truncation, bit flips, spliced members,
wrong keys/dtypes/shapes). A graph that constructs must also give its layouts (csc, csr, summary,
signature) without error and agree with the edges it was given. Each test prints how many inputs it
tried (``pytest -s``) and records the count as a ``fuzz_inputs`` property in the junit report.

Default runs stay well under a minute; ``pytest -m slow -k fuzz`` runs more, sized by
``GNNCC_FUZZ_INPUTS`` (inputs per driver, default 20000).
"""

from __future__ import annotations

import io
import os
import random
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gnncc import GnnccError, Graph

SLOW_INPUTS = int(os.environ.get("GNNCC_FUZZ_INPUTS", "20000"))
# Layouts are built only for graphs this small: a Graph is lazy, and a huge num_nodes is a valid Graph
# whose CSC index pointer alone would not fit in memory.
MAX_LAYOUT_NODES = 1 << 20

FUZZ = settings(deadline=None, print_blob=True, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


class Tally:
    """Counts inputs and outcomes; reports them with print and record_property."""

    def __init__(self, name: str, record_property) -> None:
        self.name, self.record = name, record_property
        self.outcomes: Counter[str] = Counter()

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] += 1

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    def report(self) -> None:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(self.outcomes.items()))
        print(f"\n[fuzz] {self.name}: {self.total} inputs tried ({detail})")
        self.record("fuzz_inputs", self.total)
        self.record("fuzz_outcomes", detail)


def _check_usable(g: Graph) -> None:
    """A constructed graph must be internally consistent (and its layouts buildable when small)."""
    assert isinstance(g, Graph)
    assert isinstance(g.num_nodes, int) and g.num_nodes >= 0
    ei = g.edge_index
    assert ei.dtype == torch.int64 and ei.shape == (2, g.num_edges)
    if g.num_edges:
        assert int(ei.min()) >= 0 and int(ei.max()) < g.num_nodes
    if g.num_nodes > MAX_LAYOUT_NODES:
        return
    for adj in (g.csc, g.csr):
        assert adj.indptr.shape == (g.num_nodes + 1,) and adj.nnz == g.num_edges
        assert int(adj.indptr[-1]) == g.num_edges
    assert int(g.csc.in_degrees().sum()) == g.num_edges
    g.summary()
    assert len(g.signature) == 16


def _attempt(tally: Tally, make) -> Graph | None:
    """Run ``make()``; a GnnccError is fine, any other exception fails the test with the input."""
    try:
        g = make()
    except GnnccError as e:
        assert str(e), "a GnnccError must say what is wrong"
        tally.add(type(e).__name__)
        return None
    _check_usable(g)
    tally.add("graph")
    return g


# ---- hypothesis: edge_index-like values --------------------------------------------------------

_INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
_OTHER_DTYPES = [np.float16, np.float32, np.float64, np.complex64, np.bool_, np.object_, "U3", "S2", "M8[s]"]
_ids = st.one_of(
    st.integers(0, 20),
    st.integers(-3, -1),
    st.sampled_from([2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 2**70, -(2**63)]),
)
_junk = st.one_of(st.none(), st.floats(allow_nan=True), st.text(max_size=3), st.booleans(), st.just([]),
                  st.just(object()), st.complex_numbers(max_magnitude=5))


@st.composite
def _numpy_edges(draw):
    shape = draw(st.one_of(
        st.tuples(st.just(2), st.integers(0, 6)),
        st.lists(st.integers(0, 3), min_size=0, max_size=3).map(tuple),
    ))
    dtype = np.dtype(draw(st.sampled_from(_INT_DTYPES + _OTHER_DTYPES)))
    n = int(np.prod(shape)) if shape else 1
    vals = draw(st.lists(st.integers(0, 9), min_size=n, max_size=n))
    a = np.array(vals, dtype=np.int64).reshape(shape)
    try:
        a = a.astype(dtype)
    except (TypeError, ValueError):
        a = a.astype(object)
    layout = draw(st.sampled_from(["plain", "fortran", "reversed", "byteswapped", "strided"]))
    if layout == "fortran":
        a = np.asfortranarray(a)
    elif layout == "reversed" and a.ndim:
        a = a[..., ::-1]
    elif layout == "byteswapped" and a.dtype.kind in "iuf":
        a = a.astype(a.dtype.newbyteorder())
    elif layout == "strided" and a.ndim:
        a = np.repeat(a, 2, axis=-1)[..., ::2]
    return a


@st.composite
def _torch_edges(draw):
    e = draw(st.integers(0, 6))
    rows = draw(st.sampled_from([2, 2, 2, 1, 3]))
    dtype = draw(st.sampled_from([torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.uint16,
                                  torch.uint32, torch.uint64, torch.float32, torch.bool, torch.complex64]))
    vals = torch.tensor(draw(st.lists(st.integers(0, 9), min_size=rows * e, max_size=rows * e)), dtype=torch.int64)
    t = vals.reshape(rows, e).to(dtype)
    kind = draw(st.sampled_from(["plain", "transposed_view", "slice", "sparse", "meta", "nested", "scalar",
                                 "expanded", "requires_grad"]))
    if kind == "transposed_view":
        t = t.t().contiguous().t()
    elif kind == "slice":
        t = torch.cat([t, t], dim=1)[:, e:]
    elif kind == "sparse" and t.dtype != torch.uint16 and t.dtype != torch.uint32 and t.dtype != torch.uint64:
        t = t.to_sparse()
    elif kind == "meta":
        t = torch.empty(t.shape, dtype=t.dtype, device="meta")
    elif kind == "nested" and e:
        t = torch.nested.nested_tensor([t[0, :e].long(), t[0, : max(e - 1, 0)].long()])
    elif kind == "scalar":
        t = torch.tensor(draw(st.integers(0, 5)))
    elif kind == "expanded":
        t = t[:, :1].expand(rows, e)
    elif kind == "requires_grad" and t.is_floating_point():
        t = t.clone().requires_grad_(True)
    return t


_list_edges = st.one_of(
    st.lists(st.lists(_ids, max_size=5), max_size=3),  # ragged / wrong row count
    st.integers(0, 5).flatmap(lambda e: st.lists(st.lists(_ids, min_size=e, max_size=e), min_size=2, max_size=2)),
    st.lists(st.lists(st.one_of(_ids, _junk), max_size=4), max_size=3),
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=4),  # pairs: the [E, 2] mistake
    st.integers(0, 4).flatmap(lambda e: st.tuples(st.lists(st.integers(0, 9), min_size=e, max_size=e),
                                                  st.lists(st.integers(0, 9), min_size=e, max_size=e))),
)

_num_nodes = st.one_of(
    st.none(), st.integers(-2, 25), st.sampled_from([2**31 - 1, 2**31, 2**40, 2**63 - 1, 2**63, 2**64]),
    st.sampled_from([np.int64(7), np.uint64(12), np.int32(3), True, 3.0, "5", torch.tensor(4), [4]]),
)

_edge_values = st.one_of(_numpy_edges(), _torch_edges(), _list_edges, _junk, st.integers())


def _run_given(tally: Tally, strategy, check, max_examples: int) -> None:
    @settings(FUZZ, max_examples=max_examples)
    @given(strategy)
    def run(args):
        check(tally, *args)

    run()


def _graph_call(tally: Tally, edge_index, num_nodes, via):
    def make():
        if via == "Graph":
            return Graph(edge_index, num_nodes)
        if via == "coerce":
            return Graph.coerce(edge_index, num_nodes)
        return Graph.from_edge_index(edge_index, num_nodes)

    g = _attempt(tally, make)
    if g is not None and isinstance(edge_index, (torch.Tensor, np.ndarray)):
        ref = torch.as_tensor(np.asarray(edge_index.tolist(), dtype=np.int64)).reshape(2, -1)
        assert torch.equal(g.edge_index, ref), "the graph's edges differ from the input's"


def _object_call(tally: Tally, obj, kind):
    ctor = {"coerce": Graph.coerce, "pyg": Graph.from_pyg, "scipy": Graph.from_scipy,
            "networkx": Graph.from_networkx}[kind]
    _attempt(tally, lambda: ctor(obj))


class _DataLike:
    """A PyG-Data-like object: any attributes, as user code may hand over."""

    def __init__(self, **attrs):
        self.__dict__.update(attrs)

    def __repr__(self):
        return f"DataLike({self.__dict__!r})"


@st.composite
def _graph_objects(draw):
    import networkx as nx
    import scipy.sparse as sp

    kind = draw(st.sampled_from(["pyg", "datalike", "scipy", "networkx", "junk"]))
    ctor = draw(st.sampled_from(["coerce", kind if kind in ("pyg", "scipy", "networkx") else "pyg"]))
    if kind == "pyg":
        from torch_geometric.data import Data

        ei = draw(_torch_edges())
        nn_ = draw(st.one_of(st.none(), st.integers(0, 12)))
        return Data(edge_index=ei, num_nodes=nn_), ctor
    if kind == "datalike":
        attrs = {}
        if draw(st.booleans()):
            attrs["edge_index"] = draw(st.one_of(_torch_edges(), _numpy_edges(), st.none(), _junk))
        if draw(st.booleans()):
            attrs["num_nodes"] = draw(_num_nodes)
        return _DataLike(**attrs), ctor
    if kind == "scipy":
        rows, cols = draw(st.integers(0, 6)), draw(st.integers(0, 6))
        rows = draw(st.sampled_from([rows, cols]))
        fmt = draw(st.sampled_from(["csr", "csc", "coo", "lil", "dok", "bsr", "dia"]))
        density = draw(st.sampled_from([0.0, 0.3, 1.0]))
        m = sp.random(rows, cols, density=density, format=fmt, random_state=draw(st.integers(0, 99)))
        if draw(st.booleans()):
            m = sp.csr_array(m)  # the sparse-array API
        if draw(st.booleans()) and m.nnz:  # explicit zeros / duplicates in COO
            coo = sp.coo_matrix(m)
            m = sp.coo_matrix((np.concatenate([coo.data, [0.0]]), (np.concatenate([coo.row, coo.row[:1]]),
                                                                  np.concatenate([coo.col, coo.col[:1]]))),
                              shape=m.shape)
        return m, ctor
    if kind == "networkx":
        cls = draw(st.sampled_from([nx.Graph, nx.DiGraph, nx.MultiGraph, nx.MultiDiGraph]))
        g = cls()
        labels = draw(st.lists(st.one_of(st.integers(-5, 5), st.text(max_size=2), st.tuples(st.integers(0, 2))),
                               max_size=6, unique=True))
        g.add_nodes_from(labels)
        if labels:
            for u, v in draw(st.lists(st.tuples(st.sampled_from(labels), st.sampled_from(labels)), max_size=8)):
                g.add_edge(u, v)
        return g, ctor
    junk = draw(st.one_of(_junk, st.dictionaries(st.text(max_size=2), st.integers(), max_size=2), st.integers(),
                          st.just(np.float32(1.0)), st.just(io.BytesIO(b"x"))))
    return junk, draw(st.sampled_from(["coerce", "pyg", "scipy", "networkx"]))


def _graph_fuzz(record_property, n_values: int, n_objects: int) -> None:
    tally = Tally("Graph(edge_index, num_nodes) / from_edge_index / coerce", record_property)
    _run_given(tally, st.tuples(_edge_values, _num_nodes, st.sampled_from(["Graph", "coerce", "from_edge_index"])),
               _graph_call, n_values)
    tally.report()
    assert tally.outcomes["graph"] > 0 and tally.outcomes["GraphError"] > 0
    objs = Tally("from_pyg / from_scipy / from_networkx / coerce on objects", record_property)
    _run_given(objs, _graph_objects(), _object_call, n_objects)
    objs.report()
    assert objs.outcomes["graph"] > 0 and objs.outcomes["GraphError"] > 0


@pytest.mark.filterwarnings("ignore::UserWarning")  # PyG's num_nodes inference, prototype nested tensors
def test_fuzz_graph_constructors(record_property):
    _graph_fuzz(record_property, 1500, 600)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fuzz_graph_constructors_long(record_property):
    _graph_fuzz(record_property, SLOW_INPUTS, SLOW_INPUTS // 2)


# ---- seeded mutator: .npz files ------------------------------------------------------------------

def _npz_bytes(arrays: dict, compressed: bool) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


def _seed_files(rng: random.Random) -> list[bytes]:
    """Well-formed and subtly malformed .npz archives to mutate."""
    n = rng.randint(1, 8)
    e = rng.randint(0, 10)
    src = np.array([rng.randrange(n) for _ in range(e)], dtype=np.int64)
    dst = np.array([rng.randrange(n) for _ in range(e)], dtype=np.int64)
    good = {"src": src, "dst": dst, "num_nodes": np.int64(n)}
    variants = [
        good,
        {**good, "src": src.astype(np.int32), "dst": dst.astype(np.uint16)},
        {**good, "x": np.ones((n, 3), np.float32)},
        {"src": src, "dst": dst},  # missing num_nodes
        {"src": src, "num_nodes": np.int64(n)},  # missing dst
        {**good, "src": src.astype(np.float32)},  # wrong dtype
        {**good, "dst": dst[:-1] if e else np.zeros(1, np.int64)},  # lengths differ
        {**good, "num_nodes": np.array([n, n])},  # num_nodes not a scalar
        {**good, "num_nodes": np.float64(n + 0.5)},
        {**good, "num_nodes": np.int64(0)},  # ids out of range
        {**good, "src": -src - 1},  # negative ids
        {**good, "src": np.stack([src, src])},  # 2-D
        {**good, "src": src.astype(np.uint64) + np.uint64(2**63)},  # beyond int64
        {**good, "num_nodes": np.array("seven")},
        {**good, "src": np.array([str(v) for v in src])},
    ]
    files = [_npz_bytes(v, rng.random() < 0.5) for v in variants]
    one = io.BytesIO()
    np.save(one, src)  # a .npy, not an .npz
    files.append(one.getvalue())
    pickled = io.BytesIO()
    np.savez(pickled, src=np.array([1, "a", None], dtype=object), dst=dst, num_nodes=np.int64(n))
    files.append(pickled.getvalue())
    return files + [b"", b"PK\x03\x04", b"not a zip at all", bytes(rng.randrange(256) for _ in range(64))]


def _mutate(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    """One to three random edits of a file's bytes, or a rebuilt archive with a corrupted member."""
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(8)
        if op == 0 and data:  # truncate
            del data[rng.randrange(len(data)):]
        elif op == 1 and data:  # flip bits
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(data))
                data[i] ^= 1 << rng.randrange(8)
        elif op == 2 and data:  # overwrite a run with random or boundary bytes
            i = rng.randrange(len(data))
            fill = rng.choice([b"\x00", b"\xff", b"\x7f", bytes([rng.randrange(256)])])
            data[i:i + rng.randint(1, 16)] = fill * rng.randint(1, 16)
        elif op == 3 and data:  # delete a run
            i = rng.randrange(len(data))
            del data[i:i + rng.randint(1, 64)]
        elif op == 4:  # splice in part of another file
            other = rng.choice(seeds)
            if other:
                a = rng.randrange(len(other))
                i = rng.randrange(len(data) + 1)
                data[i:i] = other[a:a + rng.randint(1, 256)]
        elif op == 5 and data:  # duplicate a run
            i = rng.randrange(len(data))
            data[i:i] = data[i:i + rng.randint(1, 128)]
        elif op == 6:  # rebuild: re-zip members, corrupting one member's .npy header or body
            data = bytearray(_rezip(rng, bytes(data)))
        elif op == 7 and len(data) > 8:  # mutate a 4-byte field (zip sizes/offsets, npy header lengths)
            i = rng.randrange(len(data) - 4)
            data[i:i + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x00\x00\x00\x80",
                                        int(rng.randrange(2**32)).to_bytes(4, "little")])
    return bytes(data)


def _rezip(rng: random.Random, data: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = {name: z.read(name) for name in z.namelist()}
    except Exception:
        return data
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])) as z:
        for name, body in members.items():
            if rng.random() < 0.5 and body:
                body = bytearray(body)
                where = rng.randrange(min(len(body), 128))  # mostly the npy magic/header
                body[where] = rng.randrange(256)
                if rng.random() < 0.3:
                    body = body[: rng.randrange(len(body))]
                body = bytes(body)
            if rng.random() < 0.1:
                name = rng.choice(["src.npy", "dst.npy", "num_nodes.npy", "x.npy", "src", "../evil.npy"])
            z.writestr(name, body)
    return out.getvalue()


def _npz_fuzz(tmp_path: Path, record_property, n_inputs: int, seed: int) -> None:
    rng = random.Random(seed)
    tally = Tally(f"Graph.from_npz (seed {seed})", record_property)
    seeds = _seed_files(rng)
    path = tmp_path / "fuzz.npz"
    for i in range(n_inputs):
        if i % 50 == 0:
            seeds = _seed_files(rng) + seeds[:8]
        base = seeds[i % len(seeds)] if i < len(seeds) else rng.choice(seeds)
        data = base if i < len(seeds) else _mutate(rng, base, seeds)
        path.write_bytes(data)
        try:
            _attempt(tally, lambda: Graph.from_npz(path))
        except AssertionError:
            raise
        except Exception as e:  # report the input that broke it
            keep = tmp_path / f"crash_{i}.npz"
            keep.write_bytes(data)
            raise AssertionError(f"input {i} ({keep}): {type(e).__name__}: {e}") from e
    tally.report()
    assert tally.outcomes["graph"] > 0 and tally.outcomes["GraphError"] > 0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy parsing corrupt .npy headers
def test_fuzz_from_npz(tmp_path, record_property):
    _npz_fuzz(tmp_path, record_property, 5000, seed=0)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fuzz_from_npz_long(tmp_path, record_property):
    _npz_fuzz(tmp_path, record_property, SLOW_INPUTS, seed=int(os.environ.get("GNNCC_FUZZ_SEED", "1")))


def test_from_npz_names_file_and_key(tmp_path):
    path = tmp_path / "g.npz"
    np.savez(path, src=np.array([0, 1]), num_nodes=np.int64(2))
    with pytest.raises(GnnccError, match=r"g\.npz lacks key\(s\) \['dst'\]"):
        Graph.from_npz(path)
    np.savez(path, src=np.array([0.0, 1.0]), dst=np.array([1, 0]), num_nodes=np.int64(2))
    with pytest.raises(GnnccError, match=r"g\.npz: 'src' must be a 1-D integer array, got float64"):
        Graph.from_npz(path)
    path.write_bytes(_npz_bytes({"src": np.array([0]), "dst": np.array([1]), "num_nodes": np.int64(2)}, False)[:40])
    with pytest.raises(GnnccError, match=r"g\.npz is not a readable \.npz file"):
        Graph.from_npz(path)
    np.savez(path, src=np.array([0, 5]), dst=np.array([1, 0]), num_nodes=np.int64(2))
    with pytest.raises(GnnccError, match=r"g\.npz: edge_index has node id 5"):
        Graph.from_npz(path)
    with pytest.raises(FileNotFoundError):
        Graph.from_npz(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    "edge_index, message",
    [
        ([[0, 1], [1]], "not a rectangular [2, E] array"),
        ([[0, "a"], [1, 0]], "got dtype <U"),
        ([[0, None], [1, 0]], "numpy object array"),
        ([[2**70], [0]], "numpy object array"),
        ([[0.5, 1], [1, 0]], "integer node ids, got dtype float64"),
        (np.array([[2**63 + 5], [0]], dtype=np.uint64), "node id 9223372036854775813, beyond int64"),
        (torch.tensor([[2**63 + 5], [0]], dtype=torch.uint64), "beyond int64"),
        (torch.empty(2, 3, dtype=torch.long, device="meta"), "meta tensor"),
        (torch.tensor([[0, 1], [1, 0]]).to_sparse(), "dense tensor"),
    ],
)
def test_malformed_edge_index_is_a_graph_error(edge_index, message):
    with pytest.raises(GnnccError) as info:
        Graph(edge_index, 4)
    assert message in str(info.value)


def test_numpy_layouts_are_accepted():
    ref = Graph(torch.tensor([[0, 1, 2], [2, 1, 0]]), 3)
    a = np.array([[2, 1, 0], [0, 1, 2]])
    for arr in (a[:, ::-1], a[:, ::-1].astype(">i8"), np.asfortranarray(a[:, ::-1]), a[:, ::-1].astype(np.uint8)):
        assert torch.equal(Graph(arr, 3).edge_index, ref.edge_index)
    assert Graph([], num_nodes=3).num_edges == 0


def test_huge_num_nodes_is_lazy_and_bounded():
    g = Graph(torch.tensor([[0], [1]]), num_nodes=2**31 + 7)  # constructs without allocating layouts
    assert g.num_nodes == 2**31 + 7 and g.num_edges == 1
    with pytest.raises(GnnccError, match="does not fit in int64"):
        Graph(torch.tensor([[0], [1]]), num_nodes=2**63)
    with pytest.raises(GnnccError, match="cannot allocate the sparse layout"):
        _ = Graph(torch.tensor([[0], [1]]), num_nodes=2**50).csc
