"""Runs a compiled function: kernels in order on torch tensors, zero-copy.

At construction the executor plans memory once: every intermediate gets a slice
of a pooled buffer, reused as soon as its last reader has run (greedy best fit
over value lifetimes), reshapes become views, and constants move to the device.
Kernels whose operands are all fixed are pre-bound, so a call does no Python
work for them beyond the packed-function call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from gnncc.errors import InputError
from gnncc.ir.adjacency import Adjacency
from gnncc.ir.function import Function, Node, Value
from gnncc.ir.types import TensorType


class DeviceTarget(Protocol):
    """What the executor needs of a target (``gnncc.codegen.Target`` or a loaded library's): its device,
    and a name for messages."""

    @property
    def device(self) -> torch.device: ...


ALIGN = 64  # bytes; buffers are at least this large so every slice of them stays aligned

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64, "int32": torch.int32, "int64": torch.int64}


def _nbytes(t: TensorType) -> int:
    return t.numel() * torch.empty((), dtype=TORCH_DTYPES[t.dtype]).element_size()


@dataclass(frozen=True)
class BufferPlan:
    """Where each intermediate lives: ``slot[value] = buffer index``, and buffer sizes in bytes."""

    sizes: tuple[int, ...]
    slot: dict[Value, int]

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes)


def plan_buffers(fn: Function, computed: list[Node]) -> BufferPlan:
    """Greedy best-fit assignment of computed values to reusable buffers.

    A value's buffer is released after the last node reading it (or reading a view
    of it); function outputs keep their buffer to the end.
    """
    root: dict[Value, Value] = {}
    for node in fn.nodes:
        if node.op == "reshape":
            root[node.output] = root.get(node.inputs[0], node.inputs[0])
    last_use: dict[Value, int] = {}
    for i, node in enumerate(fn.nodes):
        for v in node.inputs:
            last_use[root.get(v, v)] = i
    pinned = {root.get(v, v) for v in fn.outputs}
    order = {node: i for i, node in enumerate(fn.nodes)}

    sizes: list[int] = []
    free: list[int] = []
    slot: dict[Value, int] = {}
    releases: dict[int, list[int]] = {}
    for node in computed:
        i = order[node]
        for done in [k for k in releases if k < i]:
            free.extend(releases.pop(done))
        need = _nbytes(node.output.type)
        fitting = [b for b in free if sizes[b] >= need]
        if fitting:
            buf = min(fitting, key=lambda b: sizes[b])
        elif free:  # grow the largest free buffer rather than adding one
            buf = max(free, key=lambda b: sizes[b])
            sizes[buf] = need
        else:
            buf = len(sizes)
            sizes.append(need)
        if buf in free:
            free.remove(buf)
        slot[node.output] = buf
        if node.output not in pinned:
            releases.setdefault(last_use.get(node.output, i), []).append(buf)
    return BufferPlan(tuple(sizes), slot)


class Executor:
    """Callable that runs ``fn``'s kernels; built by ``gnncc.compile``."""

    def __init__(self, fn: Function, kernels: dict[Node, Callable], target: DeviceTarget) -> None:
        if len(fn.inputs) != 1 or len(fn.outputs) != 1:
            raise InputError("the executor runs functions with one feature input and one output")
        self.fn = fn
        self.target = target
        self.device = target.device
        self.input_type: TensorType = fn.inputs[0].type
        computed = [n for n in fn.nodes if n in kernels]
        self.plan = plan_buffers(fn, computed)
        self.buffers = [
            torch.empty(max(size, ALIGN), dtype=torch.uint8, device=self.device) for size in self.plan.sizes
        ]
        self._input = fn.inputs[0]
        static: dict[Value, object] = {}
        per_call: set[Value] = {self._input}
        self._per_call_views: list[tuple[Value, Value, tuple]] = []
        for node in fn.nodes:
            v = node.output
            if node.op == "const":
                data = fn.const_data(v)
                static[v] = data.to(self.device) if isinstance(data, Adjacency) else data.to(self.device).contiguous()
            elif node.op == "reshape":
                shape = tuple(v.type.shape)
                if node.inputs[0] in per_call:
                    per_call.add(v)
                    self._per_call_views.append((v, node.inputs[0], shape))
                else:
                    static[v] = static[node.inputs[0]].view(shape)
            elif node in kernels:
                t = v.type
                raw = self.buffers[self.plan.slot[v]][: _nbytes(t)]
                static[v] = raw.view(TORCH_DTYPES[t.dtype]).view(tuple(t.shape))
        self._static = static
        # (prebound call, or None for steps reading the input; kernel, operand values, output value)
        self._steps: list[tuple[Callable[[], None] | None, Callable, list[Value], Value]] = []
        for node in computed:
            kernel = kernels[node]
            per_call_step = any(v in per_call for v in node.inputs)
            # per-graph layouts (neighbour groups) are built now, not in the first call; kernels that
            # take none need no ``prepare``
            prepare = getattr(kernel, "prepare", None)
            if prepare is not None:
                prepare([static[v] for v in node.inputs if v in static])
            bound = None if per_call_step else kernel.bind([static[v] for v in node.inputs], static[node.output])
            self._steps.append((bound, kernel, node.inputs, node.output))
        self._output = fn.outputs[0]
        # the last kernel writes the result straight into a new tensor of the caller's when nothing
        # reads it after: copying it out of its planned buffer ran on torch's thread pool, whose
        # threads then spun on the cores while TVM's ran the next call's kernels (GCN, ogbn_arxiv,
        # 2 cores: 34 ms a call with the copy, 24 ms without)
        self._direct_output = bool(self._steps) and self._steps[-1][3] is self._output and not any(
            self._output in step[2] for step in self._steps)

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """Validate features and return them contiguous (kernels assume only element alignment)."""
        if not isinstance(x, torch.Tensor):
            raise InputError(f"features must be a torch.Tensor, got {type(x).__name__}")
        want = self.input_type
        if x.dim() != want.rank or tuple(x.shape) != tuple(want.shape):
            hint = ""
            if x.dim() == 2 and x.shape[0] == want.shape[0]:
                hint = f"; the model was compiled for {want.shape[1]} input features, x has {x.shape[1]}"
            elif x.dim() == 2:
                hint = f"; the graph has {want.shape[0]} nodes, x has {x.shape[0]} rows"
            raise InputError(f"features x must have shape {list(want.shape)}, got {list(x.shape)}{hint}")
        if x.dtype != TORCH_DTYPES[want.dtype]:
            raise InputError(
                f"features x must be {want.dtype}, got {str(x.dtype).removeprefix('torch.')}; "
                "convert with x.float()"
            )
        if x.device.type != self.device.type:
            raise InputError(
                f"features x are on {x.device}, but the model was compiled for {self.target}; "
                f"move them with x.to('{self.device.type}')"
            )
        return x.contiguous()

    def _env(self, x: torch.Tensor) -> dict[Value, object]:
        """Every value's tensor for a call on ``x``: the static ones plus the input and its views."""
        env = dict(self._static)
        env[self._input] = x
        for v, src, shape in self._per_call_views:
            env[v] = env[src].view(shape)
        return env

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = self.check_input(x)
        env = self._static
        if self._per_call_views or any(s[0] is None for s in self._steps):
            env = self._env(x)
        steps = self._steps[:-1] if self._direct_output else self._steps
        for bound, kernel, inputs, output in steps:
            if bound is not None:
                bound()
            else:
                kernel([env[v] for v in inputs], env[output])
        if self._direct_output:
            _, kernel, inputs, output = self._steps[-1]
            t = output.type
            result = torch.empty(tuple(t.shape), dtype=TORCH_DTYPES[t.dtype], device=self.device)
            kernel([env[v] for v in inputs], result)
            return result
        result = env[self._output] if self._output in env else x
        return result.clone()

    def step_times(self, x: torch.Tensor, repeat: int = 20) -> list[tuple[Value, float]]:
        """Each kernel of a call on ``x`` timed alone (median ms over ``repeat`` runs, after whole calls
        that set every buffer and wake the thread pool), in execution order, by the value it computes."""
        from gnncc.runtime.timing import measure_ms

        x = self.check_input(x)
        env = self._env(x)
        for _ in range(3):
            self(x)
        times = []
        for bound, kernel, inputs, output in self._steps:
            run = bound if bound is not None else (lambda k=kernel, i=inputs, o=output: k([env[v] for v in i], env[o]))
            times.append((output, measure_ms(run, self.device, repeat=repeat)))
        return times

    def trace(self, x: torch.Tensor) -> tuple[list[tuple[str, list[torch.Tensor]]], torch.Tensor]:
        """Without running anything: each packed call of a run on ``x`` (function name, argument
        tensors), and the tensor the output is read from. Needs kernels with a ``binding``
        (``gnncc.runtime.binding``); ``gnncc.export`` writes this as the plan of the C++ runtime."""
        env = self._env(self.check_input(x))
        calls: list[tuple[str, list[torch.Tensor]]] = []
        for _, kernel, inputs, output in self._steps:
            binding = kernel.binding  # type: ignore[attr-defined]
            flat = binding.flatten([env[v] for v in inputs], env[output])
            calls += [(name, [flat[i] for i in args]) for name, args in binding.calls]
        return calls, env[self._output]  # type: ignore[return-value]

    def held_bytes(self) -> int:
        """Bytes of device memory this executor keeps between calls: the planned buffers and every
        constant (weights, graph layouts, neighbour-group layouts), each storage counted once."""
        storages: dict[int, int] = {}

        def add(t: object) -> None:
            if isinstance(t, torch.Tensor):
                st = t.untyped_storage()
                storages[st.data_ptr()] = st.nbytes()
            elif isinstance(t, Adjacency):
                add(t.indptr)
                add(t.indices)
                for layout in t.computed_layouts().values():
                    for part in layout:
                        add(part)

        for t in [*self.buffers, *self._static.values()]:
            add(t)
        return sum(storages.values())

    def describe_memory(self) -> str:
        sizes = ", ".join(f"{s / 1024:.1f} KiB" for s in self.plan.sizes)
        n_values = len(self.plan.slot)
        return (
            f"{n_values} intermediate value(s) in {len(self.plan.sizes)} reused buffer(s): "
            f"{self.plan.total_bytes / 1024:.1f} KiB in all ({sizes})"
        )
