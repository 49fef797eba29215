"""``gnncc.compile``: model -> IR -> passes -> kernels -> runtime, in one call."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from gnncc import codegen
from gnncc.codegen.target import Target, resolve_target
from gnncc.errors import GnnccError
from gnncc.graph import Graph
from gnncc.ir.function import Builder, Function, Node, Value
from gnncc.ir.printer import print_function
from gnncc.ir.types import AdjType
from gnncc.ir.verifier import verify
from gnncc.passes import DEFAULT_PIPELINE, PassContext, PassManager, PassRecord
from gnncc.passes.fold import GraphProgram
from gnncc.passes.manager import copy_node
from gnncc.reorder import Reordering, check_method, gather_adjacency
from gnncc.runtime import Executor
from gnncc.runtime.profile import KernelTime, Profile

# Families that need no kernel: sources are data, reshapes are views.
_NO_KERNEL = {"source", "reshape"}


def _pipeline(passes: Sequence[str] | Mapping[str, bool] | None) -> list[str]:
    """``None``: the default pipeline; a list: exactly those passes; a dict: default with passes on/off."""
    if passes is None:
        return list(DEFAULT_PIPELINE)
    if isinstance(passes, Mapping):
        off = {name for name, on in passes.items() if not on}
        unknown = set(passes) - set(DEFAULT_PIPELINE)
        if unknown:
            raise GnnccError(f"unknown pass(es) {sorted(unknown)}; the default pipeline is {list(DEFAULT_PIPELINE)}")
        return [p for p in DEFAULT_PIPELINE if p not in off]
    if isinstance(passes, str):
        raise GnnccError("passes must be a list of pass names or a dict {name: bool}, not a string")
    return list(passes)


def lower_model(model: Any, graph: Graph, in_features: int | None) -> Function:
    """Pick the frontend for ``model`` and lower it to IR."""
    if isinstance(model, torch.nn.Module):
        from gnncc.frontend.pyg import lower_pyg

        edge_shape = None if graph.edge_data is None else tuple(graph.edge_data.shape[1:])
        return lower_pyg(model, graph.num_nodes, graph.num_edges, in_features, edge_shape,
                         edge_types=graph.edge_type is not None)
    raise GnnccError(f"cannot compile a {type(model).__name__}; gnncc compiles torch.nn.Module (PyG) models")


class CompiledModel:
    """A model compiled for one graph and target. Call it with node features."""

    def __init__(
        self,
        graph: Graph,
        target: Target,
        frontend_ir: Function,
        ir: Function,
        records: list[PassRecord],
        kernels: dict[Node, codegen.Kernel],
        compile_seconds: float,
        graph_program: GraphProgram | None = None,
        config_sources: Mapping[Node, str] | None = None,
        reordering: Reordering | None = None,
    ) -> None:
        self.graph = graph  # the user's graph; with a reordering the kernels run on reordering.graph
        self.target = target
        self.frontend_ir = frontend_ir
        self.ir = ir
        self.pass_records = records
        self.kernels = kernels
        self.compile_seconds = compile_seconds
        self.graph_program = graph_program  # recomputes per-graph constants for another graph
        self.config_sources = dict(config_sources or {})  # node -> "given" | "tuned" | "model" | "default"
        self.reordering = reordering
        self.executor = Executor(ir, kernels, target)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Run the model on features ``x`` ``[num_nodes, in_features]``; returns a new tensor."""
        return self.executor(x)

    def profile(self, x: torch.Tensor, repeat: int = 20) -> Profile:
        """Time each kernel of a call on ``x`` alone, and a whole call; ``print(cm.profile(x))`` shows
        where the time goes (the op, the kernel, its output shape, ms and share)."""
        from gnncc.runtime.timing import measure_ms

        steps = tuple(KernelTime(v.node.op, self.kernels[v.node].name, tuple(v.type.shape), ms)
                      for v, ms in self.executor.step_times(x, repeat))
        return Profile(steps, measure_ms(lambda: self(x), self.target.device, repeat=repeat))

    @property
    def in_features(self) -> int:
        return int(self.ir.inputs[0].type.shape[1])

    def explain(self) -> str:
        """The graph, what each pass did, the optimised IR, the kernels chosen and the memory plan."""
        lines = [
            f"gnncc compiled model  target={self.target}  compile={self.compile_seconds:.2f}s",
            f"graph: {self.graph.summary()}",
            "reorder: " + (f"{self.reordering.summary()}; the IR gathers input rows by perm and output "
                           "rows by its inverse" if self.reordering else "none"),
            "",
            "passes:",
            *(f"  {r.summary()}" for r in self.pass_records),
            "",
            "optimised IR:",
            print_function(self.ir),
            "",
            "kernels (in execution order):",
        ]
        for node, kernel in self.kernels.items():
            source = self.config_sources.get(node, "default")
            lines.append(f"  {node.op:<14} -> {node.output.type}  {kernel.describe()}  ({source} config)")
        lines += ["", f"memory: {self.executor.describe_memory()}"]
        return "\n".join(lines)

    def permutation_constants(self) -> tuple[str, str] | None:
        """Names of the (perm, inverse) row-gather adjacencies in ``ir``; None without a reordering."""
        if self.reordering is None:
            return None
        first = next(n for n in self.ir.nodes if n.op == "gather" and n.inputs[0] is self.ir.inputs[0])
        return first.inputs[1].node.attrs["name"], self.ir.outputs[0].node.inputs[1].node.attrs["name"]

    def export(self, path: str | Path) -> Path:
        """Write one shared library (kernels, weights, metadata) that ``gnncc.load`` serves with only
        the TVM runtime; see docs/serving.md. Returns the path written."""
        from gnncc.export import export_library

        return export_library(self, path)

    def __repr__(self) -> str:
        return f"CompiledModel(target={self.target}, kernels={len(self.kernels)}, graph={self.graph.summary()})"


def compile(  # noqa: A001 - mirrors torch.compile
    model: Any,
    graph: Any,
    target: str | Target = "cpu",
    *,
    in_features: int | None = None,
    passes: Sequence[str] | Mapping[str, bool] | None = None,
    configs: Mapping[str, dict] | None = None,
    tuning_log: str | Path | None = None,
    reorder: str = "none",
) -> CompiledModel:
    """Compile ``model`` for ``graph`` on ``target`` ("cpu" or "cuda").

    ``graph`` is a ``gnncc.Graph`` or anything ``Graph.coerce`` accepts (edge_index,
    PyG Data, scipy sparse, networkx). ``in_features`` is needed only when the model's
    first layer does not declare its input width. ``passes`` selects the pass pipeline;
    ``configs`` maps an op family (e.g. "spmm") to a schedule config overriding tuning and defaults;
    ``tuning_log`` is the records file of ``gnncc tune`` (default ``$GNNCC_TUNING_LOG`` or
    ``tuning_logs/records.jsonl``): the best record of each kernel on this graph is used when one exists.
    ``reorder`` relabels the nodes for locality before compiling ("none", "degree", "rcm"; see
    ``gnncc.reorder``): the kernels run on the relabelled graph, and the compiled model permutes the
    features in and the result back out, so callers see their own node order.
    """
    start = time.perf_counter()
    resolved = resolve_target(target)
    graph = Graph.coerce(graph)
    reordering = None if check_method(reorder) == "none" else Reordering.of(graph, reorder)
    work = reordering.graph if reordering else graph
    ctx = PassContext(work.csc, target_kind=resolved.kind)
    frontend_ir, ir, records = optimise(model, work, in_features=in_features, passes=passes, ctx=ctx)
    if reordering:
        ir = permute_rows(ir, reordering)
    kernels, sources = build_kernels(ir, resolved, configs, graph=work, tuning_log=tuning_log)
    return CompiledModel(graph, resolved, frontend_ir, ir, records, kernels, time.perf_counter() - start,
                         ctx.graph_program, sources, reordering)


# Names of the permutation constants that ``permute_rows`` adds (made unique if a weight has one).
PERM_CONSTANT, INVERSE_CONSTANT = "reorder.perm", "reorder.inverse"


def permute_rows(fn: Function, reordering: Reordering) -> Function:
    """``fn`` (compiled for ``reordering.graph``) behind a row gather of its input by ``perm`` and of
    its output by ``inverse``, so it takes and returns rows in the user's node order. The gathers are
    kernels on constant one-edge-per-row adjacencies: they run on the target device, into pooled
    buffers, and an exported library (C++ plan included) carries them like any other call."""
    if len(fn.inputs) != 1 or len(fn.outputs) != 1:
        raise GnnccError("reordering needs a model with one feature input and one output")
    b = Builder()
    mapping: dict[Value, Value] = {}
    for node in fn.nodes:
        value = copy_node(node, b, mapping.__getitem__, fn)
        if node.op == "input":
            value = b.emit("gather", [value, b.const(PERM_CONSTANT, gather_adjacency(reordering.perm))], end="src")
        mapping[node.output] = value
    inverse = b.const(INVERSE_CONSTANT, gather_adjacency(reordering.inverse))
    out = b.finish([b.emit("gather", [mapping[fn.outputs[0]], inverse], end="src")])
    verify(out)
    return out


def optimise(
    model: Any,
    graph: Graph,
    *,
    in_features: int | None = None,
    passes: Sequence[str] | Mapping[str, bool] | None = None,
    ctx: PassContext | None = None,
) -> tuple[Function, Function, list[PassRecord]]:
    """Frontend and passes: (IR as lowered, optimised IR, what each pass did). ``ctx`` (for ``graph``)
    keeps what passes recorded, e.g. the graph program."""
    frontend_ir = lower_model(model, graph, in_features)
    ir, records = PassManager(_pipeline(passes)).run(frontend_ir, ctx or PassContext(graph.csc))
    return frontend_ir, ir, records


def build_kernels(
    ir: Function,
    target: Target,
    configs: Mapping[str, dict] | None = None,
    *,
    graph: Graph | None = None,
    tuning_log: str | Path | None = None,
) -> tuple[dict[Node, codegen.Kernel], dict[Node, str]]:
    """One kernel per compute node of ``ir``, in execution order, and where each config came from.

    A family's config is, in order: given in ``configs`` ("given"); the best tuning record for this
    kernel on ``graph`` ("tuned"); the cost model's pick ("model"); the family default ("default").
    Without ``graph`` tuning records are not consulted.
    """
    from gnncc.tune import select_config

    kernels: dict[Node, codegen.Kernel] = {}
    sources: dict[Node, str] = {}
    for node in ir.nodes:
        family = node.family
        if family in _NO_KERNEL:
            continue
        if family == "graph":
            raise GnnccError(f"{node.op} survived constant folding; graph-only ops must be folded before codegen")
        index_dtype = _index_dtype(ir, node)
        config = (configs or {}).get(family)
        if config is not None:
            sources[node] = "given"
        elif graph is not None:
            config, sources[node] = select_config(node, graph, target, tuning_log, index_dtype)
        else:
            sources[node] = "default"
        kernels[node] = codegen.build_kernel(node, target, config, index_dtype=index_dtype)
    return kernels, sources


def _index_dtype(ir: Function, node: Node) -> str | None:
    """The index dtype of the (folded) adjacency a sparse node reads, if any."""
    for v in node.inputs:
        if isinstance(v.type, AdjType) and v.node.op == "const":
            return str(ir.const_data(v).indices.dtype).removeprefix("torch.")
    return None
