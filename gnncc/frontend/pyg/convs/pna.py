"""PNAConv: principal neighbourhood aggregation, several aggregators times several degree scalers.

Per tower ``t``: messages ``pre_nns[t]([x_i, x_j(, edge_encoder(e_ji))])``; each aggregator (sum,
mean, min, max, var, std) over a node's in-edges, concatenated; each scaler (identity,
amplification ``log(d + 1) / avg_log``, attenuation ``avg_log / log(max(d, 1) + 1)``, linear
``d / avg_lin``, inverse_linear ``avg_lin / max(d, 1)``, with ``d`` the in-degree) applied to that,
concatenated; ``post_nns[t]([x, scaled])``. The towers' outputs are concatenated and go through
``lin``. The scalers are graph-only (folded per graph); ``min`` is ``-max(-h)``, ``var`` is
``mean(h^2) - mean(h)^2`` and ``std`` is ``sqrt(var)`` where ``var > 1e-5``, else 0, as PyG's.
With ``divide_input``, tower ``t`` reads the slice ``x_t = x[:, t * F : (t + 1) * F]`` (``F`` the input
width over ``towers``) in place of ``x``, both in its messages ``[x_i_t, x_j_t(, e)]`` (the encoded
edge features, ``F`` wide, are the same for every tower) and in ``[x_t, scaled]``. The slice is
``x @ S_t``, ``S_t`` the constant 0/1 ``[towers * F, F]`` matrix picking its columns: exact for
finite ``x`` (each output is one entry of ``x`` plus zeros).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch_geometric.nn import PNAConv
from torch_geometric.nn.aggr import (
    MaxAggregation,
    MeanAggregation,
    MinAggregation,
    MultiAggregation,
    StdAggregation,
    SumAggregation,
    VarAggregation,
)

from gnncc.frontend.pyg.convs.common import degree, edge_features_of, scale_rows, unsupported
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext

_AGGREGATORS = {SumAggregation: "sum", MeanAggregation: "mean", MaxAggregation: "max", MinAggregation: "min",
                VarAggregation: "var", StdAggregation: "std"}
_STD_FLOOR = 1e-5  # PyG's StdAggregation: variances up to this give 0


def _aggregators(conv: PNAConv, qualname: str) -> list[str]:
    inner = conv.aggr_module.aggr
    if isinstance(inner, MultiAggregation):
        if inner.mode != "cat":
            raise unsupported(conv, qualname, f"combines its aggregators by {inner.mode!r}; only 'cat' is supported")
        modules = list(inner.aggrs)
    else:
        modules = [inner]
    kinds = [_AGGREGATORS.get(type(m)) for m in modules]
    if None in kinds:
        names = [type(m).__name__ for m, k in zip(modules, kinds) if k is None]
        raise unsupported(conv, qualname, f"aggregates with {names}; supported: sum, mean, min, max, var, std")
    return kinds


def _aggregate(ctx: LoweringContext, kind: str, h: Value, adj: Value) -> Value:
    """One aggregator over the in-edges of each node (0 for a node without any); the mean that var and
    std share with a mean aggregator is emitted once."""

    def reduce(v: Value, how: str) -> Value:
        return ctx.memo(("pna_reduce", v, adj, how), lambda: ctx.emit("scatter", [v, adj], reduce=how))

    if kind in ("sum", "mean", "max"):
        return reduce(h, kind)
    if kind == "min":
        return ctx.emit("neg", [reduce(ctx.emit("neg", [h]), "max")])
    mean = reduce(h, "mean")
    var = ctx.memo(("pna_var", h, adj), lambda: ctx.emit("sub", [reduce(ctx.emit("mul", [h, h]), "mean"),
                                                                  ctx.emit("mul", [mean, mean])]))
    if kind == "var":
        return var
    kept = ctx.emit("mul", [var, ctx.emit("step", [ctx.emit("sub", [var, ctx.scalar(_STD_FLOOR)])])])
    return ctx.emit("sqrt", [kept])


def _scaler(ctx: LoweringContext, conv: PNAConv, qualname: str, kind: str, adj: Value) -> Value | None:
    """The per-node factor of a scaler (``[N]``; None for identity), from the in-degrees."""
    aggr = conv.aggr_module
    avg_lin, avg_log = float(aggr.avg_deg_lin), float(aggr.avg_deg_log)

    def build() -> Value:
        deg = degree(ctx, adj)
        at_least_one = ctx.emit("maximum", [deg, ctx.scalar(1.0)])
        if kind == "amplification":
            return ctx.emit("div", [ctx.emit("log", [ctx.emit("add", [deg, ctx.scalar(1.0)])]), ctx.scalar(avg_log)])
        if kind == "attenuation":
            return ctx.emit("div", [ctx.scalar(avg_log), ctx.emit("log", [ctx.emit("add", [at_least_one,
                                                                                          ctx.scalar(1.0)])])])
        if kind == "linear":
            return ctx.emit("div", [deg, ctx.scalar(avg_lin)])
        return ctx.emit("div", [ctx.scalar(avg_lin), at_least_one])

    if kind == "identity":
        return None
    if kind not in ("amplification", "attenuation", "linear", "inverse_linear"):
        raise unsupported(conv, qualname, f"has scaler {kind!r}; supported: identity, amplification, attenuation, "
                          "linear, inverse_linear")
    return ctx.memo(("pna_scaler", adj, kind, avg_lin, avg_log), build)


def _tower_slice(ctx: LoweringContext, conv: PNAConv, qualname: str, x: Value, t: int) -> Value:
    """``x[:, t * F : (t + 1) * F]`` for ``divide_input`` (``F = conv.F_in``), as ``x`` times a 0/1 matrix."""
    width, part = x.type.shape[1], conv.F_in
    if width != conv.towers * part:
        raise unsupported(conv, qualname, f"has divide_input=True with in_channels={conv.in_channels} and "
                          f"towers={conv.towers}, but is given x of width {width}")
    if conv.towers == 1:
        return x
    select = torch.eye(width)[:, t * part:(t + 1) * part]
    return ctx.emit("matmul", [x, ctx.param(qualify(qualname, f"tower_slice.{t}"), select)])


def lower(ctx: LoweringContext, conv: PNAConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    kinds = _aggregators(conv, qualname)
    scalers = [_scaler(ctx, conv, qualname, s, adj) for s in conv.aggr_module.scaler]
    encoded = None
    if conv.edge_dim is not None:
        edge = edge_features_of(ctx, conv, qualname, edge, conv.edge_dim)
        encoded = ctx.linear_module(conv.edge_encoder, qualify(qualname, "edge_encoder"), edge)
    elif edge is not None:
        raise unsupported(conv, qualname, "is given edge features but has no edge_dim to encode them")

    def messages_input(x_t: Value) -> Value:
        """``[x_i, x_j(, e_ji)]`` per edge for a tower reading ``x_t`` (once for all towers reading ``x``)."""

        def build() -> Value:
            parts = [ctx.emit("gather", [x_t, adj], end="dst"), ctx.emit("gather", [x_t, adj], end="src")]
            return ctx.emit("concat", [*parts, *([] if encoded is None else [encoded])], axis=-1)

        return ctx.memo(("pna_pair", x_t, adj, encoded), build)

    outs = []
    for t, (pre, post) in enumerate(zip(conv.pre_nns, conv.post_nns)):
        x_t = _tower_slice(ctx, conv, qualname, x, t) if conv.divide_input else x
        h = ctx.call_module(pre, qualify(qualname, f"pre_nns.{t}"), [messages_input(x_t)], {})
        aggregated = [_aggregate(ctx, kind, h, adj) for kind in kinds]
        combined = aggregated[0] if len(aggregated) == 1 else ctx.emit("concat", aggregated, axis=-1)
        scaled = [combined if s is None else scale_rows(ctx, combined, s) for s in scalers]
        outs.append(ctx.call_module(post, qualify(qualname, f"post_nns.{t}"),
                                    [ctx.emit("concat", [x_t, *scaled], axis=-1)], {}))
    out = outs[0] if len(outs) == 1 else ctx.emit("concat", outs, axis=-1)
    return ctx.linear_module(conv.lin, qualify(qualname, "lin"), out)
