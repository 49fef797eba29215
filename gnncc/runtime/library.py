"""``gnncc.load``: serve a library written by ``CompiledModel.export`` with only the TVM runtime.

Nothing here imports the compiler (``gnncc.compiler``, ``gnncc.codegen``, ``gnncc.frontend``) or
the ``tvm`` package: kernels are loaded with ``tvm_ffi`` over ``libtvm_runtime``, per-graph data of
a new graph is computed by the reference interpreter (PyTorch) from the stored graph program.

Threads: a ``LoadedModel`` may be called from any number of threads at once. Weights and per-graph
data are shared read-only; every thread gets its own intermediate buffers (allocated on its first
call for a graph), so concurrent calls never share scratch memory.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.metadata
import importlib.util
import platform
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import tvm_ffi

from gnncc.errors import CodegenError, GnnccError, InputError, IRError, LibraryError, TargetError
from gnncc.graph import Graph
from gnncc.ir.function import ConstData, Function
from gnncc.ir.interpreter import evaluate
from gnncc.ir.serialize import function_from_json
from gnncc.reorder import METHODS, Reordering, gather_adjacency
from gnncc.runtime import libformat
from gnncc.runtime.binding import CallBinding, RuntimeKernel
from gnncc.runtime.executor import Executor

__all__ = ["LibraryError", "LoadedModel", "load"]

GRAPH_CACHE = 8  # per-graph plans kept (shared) and executors kept (per thread)


@dataclass(frozen=True)
class LibraryTarget:
    """The target a library was built for, as the executor needs it."""

    key: str
    device: torch.device

    def __str__(self) -> str:
        return self.key


def _installed_tvm() -> str | None:
    """Version of the installed TVM package (read from its metadata, without importing it)."""
    try:
        return importlib.metadata.version("apache-tvm")
    except importlib.metadata.PackageNotFoundError:
        return None


def _load_tvm_runtime(cuda: bool) -> None:
    """Make TVM's runtime (not its compiler) available to ``tvm_ffi.load_module``, once."""
    spec = importlib.util.find_spec("tvm")
    if spec is None or not spec.submodule_search_locations:
        raise LibraryError("the TVM runtime is not installed (pip install apache-tvm)")
    lib_dir = Path(next(iter(spec.submodule_search_locations))) / "lib"
    for name in ("libtvm_runtime.so", *(("libtvm_runtime_cuda.so",) if cuda else ())):
        try:
            ctypes.CDLL(str(lib_dir / name), mode=ctypes.RTLD_GLOBAL)
        except OSError as exc:
            raise LibraryError(f"cannot load the TVM runtime {lib_dir / name}: {exc}") from exc


def check_compatible(meta: dict[str, Any], path: Path) -> LibraryTarget:
    """TVM versions and the machine the code needs; raises ``LibraryError``/``TargetError``."""
    tvm_version = _installed_tvm()
    for what, built, here in (("TVM", meta["tvm_version"], tvm_version),
                              ("tvm-ffi", meta["tvm_ffi_version"], tvm_ffi.__version__)):
        if here is not None and built != here:
            raise LibraryError(
                f"{path}: built with {what} {built}, but {what} {here} is installed; the runtime must "
                f"match the compiler that built the library: install {what} {built} or export again"
            )
    target = meta["target"]
    if target["kind"] == "cuda":
        if not torch.cuda.is_available():
            raise TargetError(
                f"{path}: built for CUDA ({target['arch']}), but no CUDA GPU is visible; run it on a machine "
                "with a GPU, or export for the CPU (gnncc build --target cpu)"
            )
        major, minor = torch.cuda.get_device_capability()
        arch = target["arch"].removeprefix("sm_")
        if int(arch[:-1]) != major or int(arch[-1]) > minor:
            raise TargetError(
                f"{path}: built for {target['arch']}, but the GPU is sm_{major}{minor}; export for this GPU"
            )
        return LibraryTarget(target["key"], torch.device("cuda"))
    machine = platform.machine()
    if target["machine"] != machine:
        raise TargetError(f"{path}: built for {target['machine']} CPUs, this machine is {machine}; export on it")
    here = libformat.cpu_isa_features()
    missing = sorted(set(target["cpu_features"]) - set(here)) if here else []
    if missing:
        raise TargetError(
            f"{path}: built for CPU {target['key']}, which has instruction-set features this CPU lacks: "
            f"{', '.join(missing)}; running it could crash, so export it again on (or for) this machine"
        )
    return LibraryTarget(target["key"], torch.device("cpu"))


class LoadedModel:
    """A model loaded from a library: call it as ``m(x, graph)``.

    ``graph`` is the graph it was compiled for or any graph with the same node count (see
    docs/serving.md); per-graph data of a new graph is computed once and cached.
    """

    def __init__(self, image: libformat.LibraryImage, target: LibraryTarget, module: Any,
                 private_copy: tempfile.TemporaryDirectory | None = None) -> None:
        meta = image.metadata
        self._private_copy = private_copy  # the loaded file; removed when the model is freed
        self.path = image.path
        self.metadata = meta
        self.target = target
        self.num_nodes: int = meta["graph"]["num_nodes"]
        self.in_features: int = meta["input"]["shape"][1]
        self.graph_signature: str = meta["graph"]["signature"]
        self._module = module  # keeps the kernels' code loaded
        self._constants = libformat.decode_constants(meta["constants"], image.data)
        self._ir = meta["ir"]
        program = meta["graph_program"]
        self._program = function_from_json(program["ir"], self._constants)
        self._program_names: list[str] = program["names"]
        # node reordering: {"method", "perm", "inverse"} (constant names), or None
        self._reorder: dict[str, str] | None = meta.get("reorder")
        if self._reorder is not None and self._reorder["method"] not in METHODS:
            raise LibraryError(f"{self.path}: node reordering {self._reorder['method']!r} is unknown to this "
                               f"gnncc (it knows {', '.join(METHODS)}); load it with the gnncc that exported it")
        self._kernels: dict[int, RuntimeKernel] = {}
        for entry in meta["kernels"]:
            binding = CallBinding.from_json(entry["binding"])
            try:
                funcs = [module[name] for name, _ in binding.calls]
            except AttributeError as exc:
                raise LibraryError(f"{self.path}: kernel {binding.name} is missing from the library: {exc}") from exc
            self._kernels[entry["node"]] = RuntimeKernel(binding, funcs)
        self._functions: OrderedDict[str, Function] = OrderedDict()
        self._functions[self.graph_signature] = function_from_json(self._ir, self._constants)
        self._lock = threading.Lock()
        self._local = threading.local()
        self.load_seconds = 0.0  # set by load()

    def __call__(self, x: torch.Tensor, graph: Any) -> torch.Tensor:
        """Run on features ``x`` ``[num_nodes, in_features]`` over ``graph`` (a ``gnncc.Graph``, an
        edge_index ``[2, E]`` or any form ``gnncc.Graph.coerce`` accepts); returns a new tensor."""
        return self._executor(self._graph(graph))(x)

    def _graph(self, graph: Any) -> Graph:
        if not isinstance(graph, Graph):
            graph = Graph.coerce(graph, num_nodes=self.num_nodes)
        if graph.num_nodes != self.num_nodes:
            raise InputError(
                f"this library serves graphs of {self.num_nodes} nodes (its dense kernels are specialised "
                f"to the node count), got a graph of {graph.num_nodes}; export the model again for that graph"
            )
        return graph

    def _executor(self, graph: Graph) -> Executor:
        """This thread's executor for ``graph`` (built on first use)."""
        cache: OrderedDict[str, Executor] = self._local.__dict__.setdefault("executors", OrderedDict())
        sig = graph.signature
        ex = cache.get(sig)
        if ex is None:
            fn = self._function(graph)
            try:
                ex = Executor(fn, {fn.nodes[i]: k for i, k in self._kernels.items()}, self.target)
            except CodegenError as exc:
                raise InputError(
                    f"this library cannot serve this graph: {exc}. Kernels outside the sparse families "
                    "(elementwise ops on edge tensors, e.g. GAT's leaky_relu) are specialised to the compile "
                    "graph's edge count; export the model again for this graph"
                ) from exc
            cache[sig] = ex
            if len(cache) > GRAPH_CACHE:
                cache.popitem(last=False)
        return ex

    def _function(self, graph: Graph) -> Function:
        """The IR with ``graph``'s per-graph data (shared by threads, computed once per graph)."""
        sig = graph.signature
        with self._lock:
            fn = self._functions.get(sig)
            if fn is not None:
                self._functions.move_to_end(sig)
                return fn
        constants: dict[str, ConstData] = dict(self._constants)
        if self._reorder is not None:  # the kernels run on the graph relabelled by the compile method
            reordering = Reordering.of(graph, self._reorder["method"])
            constants[self._reorder["perm"]] = gather_adjacency(reordering.perm)
            constants[self._reorder["inverse"]] = gather_adjacency(reordering.inverse)
            graph = reordering.graph
        try:
            constants.update(zip(self._program_names, evaluate(self._program, {}, graph.csc)))
        except IRError as exc:  # e.g. the model reads edge data this graph lacks
            raise InputError(f"this library cannot serve this graph: {exc}") from exc
        try:
            fn = function_from_json(self._ir, constants)
        except IRError as exc:
            raise InputError(f"this library cannot serve this graph: {exc}; export the model again for it") from exc
        with self._lock:
            self._functions[sig] = fn
            while len(self._functions) > GRAPH_CACHE:
                oldest = next(iter(self._functions))
                if oldest == self.graph_signature:
                    self._functions.move_to_end(oldest)
                    oldest = next(iter(self._functions))
                del self._functions[oldest]
        return fn

    def describe(self) -> str:
        m = self.metadata
        g = m["graph"]
        return (
            f"gnncc library {self.path} (format {m['format_version']}, gnncc {m['gnncc_version']}, "
            f"TVM {m['tvm_version']})\n  target {m['target']['key']}\n  input {m['input']['dtype']}"
            f"{m['input']['shape']} -> output {m['output']['dtype']}{m['output']['shape']}\n"
            f"  compiled for graph {g['signature']} ({g['num_nodes']} nodes, {g['num_edges']} edges)\n"
            f"  node reordering {(m.get('reorder') or {}).get('method', 'none')}\n"
            f"  {len(m['kernels'])} kernel call(s), IR {m['ir_hash'][:16]}"
        )

    def __repr__(self) -> str:
        return f"LoadedModel({self.path}, target={self.target}, num_nodes={self.num_nodes})"


@contextlib.contextmanager
def _metadata_of(path: Path) -> Iterator[None]:
    """Turn errors from reading a damaged metadata section (the checksum matched, so it was edited
    after export or written by a broken exporter) into ``LibraryError``; gnncc's own errors pass."""
    try:
        yield
    except IRError as exc:  # the stored IR does not type-check
        raise LibraryError(f"{path}: corrupt metadata: {exc}") from exc
    except GnnccError:
        raise
    except (LookupError, TypeError, ValueError, AttributeError) as exc:
        raise LibraryError(f"{path}: corrupt metadata: {exc!r}") from exc


def load(path: str | Path) -> LoadedModel:
    """Load a library written by ``CompiledModel.export`` / ``gnncc build``; needs only the TVM runtime.

    Raises ``LibraryError`` for a file that is not a complete, intact gnncc library of this format and
    TVM version, and ``TargetError`` when this machine cannot run its code.
    """
    start = time.perf_counter()
    image = libformat.read_library(path)
    meta = image.metadata
    with _metadata_of(image.path):
        if meta.get("format") != "gnncc-library":
            raise LibraryError(f"{image.path}: not a gnncc library (format {meta.get('format')!r})")
        target = check_compatible(meta, image.path)
    _load_tvm_runtime(target.device.type == "cuda")
    # Load a private copy of the bytes that passed the checksum: the file at ``path`` may change
    # between the check and the load, or be overwritten in place while mapped, which crashes the
    # process. The copy lives, unlinked at the end, as long as the model.
    private = tempfile.TemporaryDirectory(prefix="gnncc-load-")
    copy = Path(private.name) / image.path.name
    copy.write_bytes(image.content)
    try:
        module = tvm_ffi.load_module(str(copy))
    except Exception as exc:  # tvm_ffi raises its own error types
        private.cleanup()
        raise LibraryError(f"{image.path}: TVM cannot load the library: {exc}") from exc
    try:
        with _metadata_of(image.path):
            model = LoadedModel(image, target, module, private)
    except GnnccError:
        private.cleanup()
        raise
    model.load_seconds = time.perf_counter() - start
    return model
