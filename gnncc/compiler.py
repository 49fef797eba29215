"""``gnncc.compile``: model -> IR -> passes -> kernels -> runtime, in one call."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
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
    ) -> None:
        self.graph = graph
        self.target = target
        self.frontend_ir = frontend_ir
        self.ir = ir
        self.pass_records = records
        self.kernels = kernels
        self.compile_seconds = compile_seconds
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
            lines.append(f"  {node.op:<14} -> {node.output.type}  {kernel.describe()}")
        lines += ["", f"memory: {self.executor.describe_memory()}"]
        return "\n".join(lines)

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
) -> CompiledModel:
    """Compile ``model`` for ``graph`` on ``target`` ("cpu" or "cuda").

    ``graph`` is a ``gnncc.Graph`` or anything ``Graph.coerce`` accepts (edge_index,
    PyG Data, scipy sparse, networkx). ``in_features`` is needed only when the model's
    first layer does not declare its input width. ``passes`` selects the pass pipeline;
    ``configs`` maps an op family (e.g. "spmm") to a schedule config overriding the default.
    """
    start = time.perf_counter()
    resolved = resolve_target(target)
    graph = Graph.coerce(graph)
    frontend_ir, ir, records = optimise(model, graph, in_features=in_features, passes=passes)
    kernels = build_kernels(ir, resolved, configs)
    return CompiledModel(graph, resolved, frontend_ir, ir, records, kernels, time.perf_counter() - start)


def optimise(
    model: Any,
    graph: Graph,
    *,
    in_features: int | None = None,
    passes: Sequence[str] | Mapping[str, bool] | None = None,
) -> tuple[Function, Function, list[PassRecord]]:
    """Frontend and passes: (IR as lowered, optimised IR, what each pass did)."""
    frontend_ir = lower_model(model, graph, in_features)
    ir, records = PassManager(_pipeline(passes)).run(frontend_ir, PassContext(graph.csc))
    return frontend_ir, ir, records


def build_kernels(
    ir: Function, target: Target, configs: Mapping[str, dict] | None = None
) -> dict[Node, codegen.Kernel]:
    """One kernel per compute node of ``ir``, in execution order."""
    kernels: dict[Node, codegen.Kernel] = {}
    for node in ir.nodes:
        family = node.family
        if family in _NO_KERNEL:
            continue
        if family == "graph":
            raise GnnccError(f"{node.op} survived constant folding; graph-only ops must be folded before codegen")
        kernels[node] = codegen.build_kernel(
            node, target, (configs or {}).get(family), index_dtype=_index_dtype(ir, node)
        )
    return kernels


def _index_dtype(ir: Function, node: Node) -> str | None:
    """The index dtype of the (folded) adjacency a sparse node reads, if any."""
    for v in node.inputs:
        if isinstance(v.type, AdjType) and v.node.op == "const":
            return str(ir.const_data(v).indices.dtype).removeprefix("torch.")
    return None
