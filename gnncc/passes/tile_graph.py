"""Tile-graph memory scheduling (Welder/Roller): an aggregation and the dense transform that follows
it, scheduled as one kernel when a traffic estimate says it pays.

For ``matmul(agg, W)`` where ``agg`` is an ``spmm``/``fused_spmm`` over ``[N, F]`` rows and has no
other reader, the pair can run as one ``spmm_matmul``: a block of ``tile_rows`` destination rows is
aggregated into an on-chip tile (CUDA shared memory; a cache-resident buffer on CPU) and multiplied
by ``W`` there, so the ``[N, F]`` aggregate is never written to and read back from DRAM. The price
is that every tile re-reads ``W`` from L2. The pass counts the bytes each memory level moves for the
separate kernels and for every tile height that fits on chip (rows rounded up to whole memory
transactions, as the hardware moves them), turns them into time with per-level bandwidths, and
fuses with the best tile only when it beats the separate kernels; otherwise it keeps them apart.
``explain()`` shows both estimates per level. The other direction, ``spmm(A, x @ W)``, is estimated
and reported too: fused, every edge would recompute its source row's transform.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gnncc.ir.function import Function, Node
from gnncc.ir.types import TensorType
from gnncc.passes.cost import WORD
from gnncc.passes.manager import PassContext, register_pass, rewrite, single_use

NAME = "schedule_tile_graph"
TILE_ROWS = (1, 2, 4, 8, 16, 32)  # candidate tile heights (CUDA: threadIdx.y of the fused kernel)
LEVELS = ("dram", "l2", "onchip")


@dataclass(frozen=True)
class Machine:
    """What the estimate assumes of a target: bandwidth (bytes/s) and capacity per memory level."""

    name: str
    bandwidth: dict[str, float]  # per level in LEVELS
    l2_bytes: int  # an operand up to this size is read from DRAM once, then from L2
    onchip_bytes: int  # capacity of one tile (CUDA shared memory per block; CPU cache per task)
    transaction: int  # bytes a gathered row is rounded up to
    flops: float  # FP32 flop/s of the separate matmul kernel (tiled for registers and cache)
    fused_flops: float  # FP32 flop/s of the fused kernel's transform (one row's dot products at a time)


MACHINES = {
    # H100/H200 class: HBM3 ~3 TB/s (measured copy), L2 ~10 TB/s, shared memory ~30 TB/s over the SMs;
    # 48 KiB static shared memory per block; 128-byte transactions; FP32 without tensor cores. Not yet
    # calibrated on a GPU (none was lent): the flop rates are the TVM kernels' expected share of peak
    "cuda": Machine("cuda (H100/H200 class)", {"dram": 3.0e12, "l2": 10e12, "onchip": 30e12},
                    50 * 2**20, 48 * 2**10, 128, 20e12, 15e12),
    # two server cores: ~8 GB/s DRAM, ~100 GB/s L2, ~300 GB/s L1; a 256 KiB tile stays in L2; 64-byte
    # lines. The fused transform (one row's dot products at a time) is set 10x slower per flop than
    # the matmul kernel: measured, a GIN layer 1433 -> 4 on Cora ran 8.7 ms fused vs 7.0 ms apart
    "cpu": Machine("cpu (2 cores)", {"dram": 8e9, "l2": 100e9, "onchip": 300e9}, 2 * 2**20, 256 * 2**10, 64,
                   50e9, 5e9),
}


@dataclass(frozen=True)
class Traffic:
    """Bytes moved per memory level and flops of one schedule."""

    bytes: dict[str, float]
    flops: float  # of the aggregation
    transform_flops: float
    fused: bool

    def seconds(self, machine: Machine) -> float:
        rate = machine.fused_flops if self.fused else machine.flops
        return sum(self.bytes[lv] / machine.bandwidth[lv] for lv in LEVELS) + self.flops / machine.flops + \
            self.transform_flops / rate

    def describe(self, machine: Machine) -> str:
        parts = ", ".join(f"{lv} {self.bytes[lv] / 2**20:.3g} MiB" for lv in LEVELS)
        return f"{parts} ~ {self.seconds(machine) * 1e6:.3g} us"


def _row_bytes(width: int, machine: Machine) -> int:
    """Bytes one gathered row of ``width`` floats costs: whole transactions."""
    return math.ceil(width * WORD / machine.transaction) * machine.transaction


def _aggregation_reads(nnz: int, rows: int, src_rows: int, width: int, weighted: bool,
                       machine: Machine) -> dict[str, float]:
    """CSR walk: indices (and edge values) stream from DRAM; each edge gathers a source row, from L2
    when all of ``x`` fits there (DRAM then sees each row once), else from DRAM."""
    index = WORD * (rows + 1 + nnz * (2 if weighted else 1))
    gathered = nnz * _row_bytes(width, machine)
    x_bytes = src_rows * width * WORD
    if x_bytes <= machine.l2_bytes:
        return {"dram": index + x_bytes, "l2": gathered, "onchip": 0.0}
    return {"dram": index + gathered, "l2": 0.0, "onchip": 0.0}


def separate_traffic(nnz: int, rows: int, src_rows: int, width: int, out: int, weighted: bool,
                     machine: Machine) -> Traffic:
    """spmm then matmul: the ``[rows, width]`` aggregate is written to DRAM and read back."""
    t = _aggregation_reads(nnz, rows, src_rows, width, weighted, machine)
    t["dram"] += 2 * rows * width * WORD + width * out * WORD + rows * out * WORD
    return Traffic(t, 2.0 * nnz * width, 2.0 * rows * width * out, fused=False)


def fused_traffic(nnz: int, rows: int, src_rows: int, width: int, out: int, weighted: bool, tile_rows: int,
                  machine: Machine) -> Traffic:
    """spmm_matmul with ``tile_rows`` rows per tile: the aggregate stays on chip, ``W`` is re-read per tile."""
    t = _aggregation_reads(nnz, rows, src_rows, width, weighted, machine)
    t["dram"] += width * out * WORD + rows * out * WORD
    t["l2"] += math.ceil(rows / tile_rows) * width * out * WORD
    t["onchip"] += 2 * rows * width * WORD
    return Traffic(t, 2.0 * nnz * width, 2.0 * rows * width * out, fused=True)


@dataclass(frozen=True)
class Decision:
    fuse: bool
    tile_rows: int
    separate: Traffic
    fused: Traffic | None  # the best tile's, or None when no tile fits on chip


def decide(nnz: int, rows: int, src_rows: int, width: int, out: int, weighted: bool, machine: Machine) -> Decision:
    """The tile height with the least estimated time among those that fit on chip, and whether it
    beats the separate kernels."""
    separate = separate_traffic(nnz, rows, src_rows, width, out, weighted, machine)
    fitting = [r for r in TILE_ROWS if r * width * WORD <= machine.onchip_bytes]
    if not fitting:
        return Decision(False, 0, separate, None)
    options = {r: fused_traffic(nnz, rows, src_rows, width, out, weighted, r, machine) for r in fitting}
    best = min(fitting, key=lambda r: (options[r].seconds(machine), -r))
    return Decision(options[best].seconds(machine) < separate.seconds(machine), best, separate, options[best])


def _aggregation(node: Node) -> bool:
    if node.op == "spmm":
        return node.inputs[1].type.rank == 2 and node.attrs["reduce"] in ("sum", "mean", "max")
    # an [E, F] edge term (edge_op "add") and destination rows (dst_op) are traffic the estimate does not count
    return node.op == "fused_spmm" and node.attrs["edge_op"] == "mul" and not node.attrs["dst_op"]


def _weighted(node: Node) -> bool:
    return node.attrs["weighted"] if node.op == "fused_spmm" else len(node.inputs) == 3


@register_pass(NAME, "an aggregation feeding a dense transform -> one kernel with its tile on chip, "
                     "when the per-level traffic estimate says so")
def schedule_tile_graph(fn: Function, ctx: PassContext) -> Function:
    machine = MACHINES[ctx.target_kind]
    users = fn.users()
    outputs = set(fn.outputs)
    chosen: dict[Node, tuple[Node, int]] = {}  # matmul -> (its aggregation, tile rows)
    for node in fn.nodes:
        if node.op != "matmul" or not all(isinstance(v.type, TensorType) and v.type.is_concrete
                                          for v in node.inputs):
            continue
        _consider_aggregate_first(ctx, machine, users, outputs, chosen, node, node.inputs[0].node)
        for reader in users[node.output]:
            if _aggregation(reader) and reader.inputs[1] is node.output:
                _report_transform_first(ctx, machine, node, reader)
    if not chosen:
        return fn
    absorbed = {agg for agg, _ in chosen.values()}

    def rule(node, b, new):
        if node not in chosen:
            return None
        agg, rows = chosen[node]
        return b.emit("spmm_matmul", [*map(new, agg.inputs), new(node.inputs[1])], reduce=agg.attrs["reduce"],
                      weighted=_weighted(agg), epilogue=list(agg.attrs.get("epilogue", ())), tile_rows=rows,
                      message_act=agg.attrs.get("message_act", ""))

    return rewrite(fn, rule, keep=lambda n: n not in absorbed)


def _consider_aggregate_first(ctx, machine, users, outputs, chosen, matmul: Node, agg: Node) -> None:
    if not _aggregation(agg) or not single_use(agg.output, users, outputs):
        return
    adj = agg.inputs[0].type
    rows, width = agg.output.type.shape
    out = matmul.output.type.shape[1]
    d = decide(int(adj.nnz), rows, adj.num_src, width, out, _weighted(agg), machine)
    what = f"{agg.op} [{rows}, {width}] -> matmul [{width}->{out}] on {machine.name}"
    if d.fused is None:
        ctx.note(NAME, f"{what}: separate (no tile of {width}-wide rows fits {machine.onchip_bytes // 1024} KiB "
                       f"on chip); separate {d.separate.describe(machine)}")
        return
    verdict = f"fused, tile {d.tile_rows} rows" if d.fuse else f"separate (best tile {d.tile_rows} rows)"
    ctx.note(NAME, f"{what}: {verdict}; separate {d.separate.describe(machine)}; "
                   f"fused {d.fused.describe(machine)}")
    if d.fuse:
        chosen[matmul] = (agg, d.tile_rows)


def _report_transform_first(ctx, machine, matmul: Node, agg: Node) -> None:
    """Transform-then-aggregate: a fused kernel would recompute ``x[src] @ W`` per edge."""
    adj = agg.inputs[0].type
    rows, width = matmul.inputs[0].type.shape
    out = matmul.output.type.shape[1]
    recompute = 2.0 * int(adj.nnz) * width * out
    once = 2.0 * rows * width * out
    ctx.note(NAME, f"matmul [{width}->{out}] -> {agg.op} over {adj.nnz} edges: separate (fusing recomputes "
                   f"the transform per edge: {recompute / max(once, 1.0):.3g}x its flops, "
                   f"~{recompute / machine.fused_flops * 1e6:.3g} us vs ~{once / machine.flops * 1e6:.3g} us)")
