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
from gnncc.ir.function import Function, Node
from gnncc.ir.printer import print_function
from gnncc.ir.types import AdjType
from gnncc.passes import DEFAULT_PIPELINE, PassContext, PassManager, PassRecord
from gnncc.passes.fold import GraphProgram
from gnncc.runtime import Executor

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

        return lower_pyg(model, graph.num_nodes, graph.num_edges, in_features)
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
    ) -> None:
        self.graph = graph
        self.target = target
        self.frontend_ir = frontend_ir
        self.ir = ir
        self.pass_records = records
        self.kernels = kernels
        self.compile_seconds = compile_seconds
        self.graph_program = graph_program  # recomputes per-graph constants for another graph
        self.config_sources = dict(config_sources or {})  # node -> "given" | "tuned" | "model" | "default"
        self.executor = Executor(ir, kernels, target)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Run the model on features ``x`` ``[num_nodes, in_features]``; returns a new tensor."""
        return self.executor(x)

    @property
    def in_features(self) -> int:
        return int(self.ir.inputs[0].type.shape[1])

    def explain(self) -> str:
        """The graph, what each pass did, the optimised IR, the kernels chosen and the memory plan."""
        lines = [
            f"gnncc compiled model  target={self.target}  compile={self.compile_seconds:.2f}s",
            f"graph: {self.graph.summary()}",
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
) -> CompiledModel:
    """Compile ``model`` for ``graph`` on ``target`` ("cpu" or "cuda").

    ``graph`` is a ``gnncc.Graph`` or anything ``Graph.coerce`` accepts (edge_index,
    PyG Data, scipy sparse, networkx). ``in_features`` is needed only when the model's
    first layer does not declare its input width. ``passes`` selects the pass pipeline;
    ``configs`` maps an op family (e.g. "spmm") to a schedule config overriding tuning and defaults;
    ``tuning_log`` is the records file of ``gnncc tune`` (default ``$GNNCC_TUNING_LOG`` or
    ``tuning_logs/records.jsonl``): the best record of each kernel on this graph is used when one exists.
    """
    start = time.perf_counter()
    resolved = resolve_target(target)
    graph = Graph.coerce(graph)
    ctx = PassContext(graph.csc)
    frontend_ir, ir, records = optimise(model, graph, in_features=in_features, passes=passes, ctx=ctx)
    kernels, sources = build_kernels(ir, resolved, configs, graph=graph, tuning_log=tuning_log)
    return CompiledModel(graph, resolved, frontend_ir, ir, records, kernels, time.perf_counter() - start,
                         ctx.graph_program, sources)


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
