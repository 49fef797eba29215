"""ARMAConv: ``mean_k X_k^(T)``, ``X_k^(t+1) = act(L_hat X_k^(t) W_kt + x V_kt + b_kt)``, ``X_k^(0) = x``.

``L_hat = D^-1/2 A D^-1/2`` is ``gcn_norm`` without self-loops (its edge weights, when given, in
``A`` and ``D``). The ``K`` stacks are side by side in one ``[N, K * out]`` tensor, so each of the
``T`` (unrolled) steps aggregates once for all stacks: the first step's ``init_weight`` and each
``root_weight`` are the stacks' matrices concatenated, the later ``weight`` block-diagonal (exact:
the other blocks add zeros). The mean over the stacks is a reshape to ``[N, K, out]`` and a
reduction. ``shared_weights`` reuses step 0's parameters; dropout of the skip is off in eval mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch.nn.parameter import is_lazy
from torch_geometric.nn import ARMAConv

from gnncc.frontend.pyg.convs.common import activation, propagate, reduce_of, unsupported
from gnncc.frontend.pyg.convs.gcn import gcn_weights
from gnncc.frontend.pyg.values import qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext


def _side_by_side(weights: torch.Tensor) -> torch.Tensor:
    """``[K, A, F]`` per-stack matrices as one ``[A, K * F]``: stack ``k`` in columns ``k F .. (k + 1) F``."""
    return weights.detach().permute(1, 0, 2).reshape(weights.shape[1], -1)


def lower(ctx: LoweringContext, conv: ARMAConv, qualname: str, x: Value, adj: Value,
          edge: Value | None = None) -> Value:
    if is_lazy(conv.init_weight):
        raise unsupported(conv, qualname, "has in_channels=-1 and has not been run yet: run the model once so "
                          "that its weights get their shapes, then compile it")
    reduce = reduce_of(conv, qualname)
    adj, weight = gcn_weights(ctx, conv, qualname, adj, edge, self_loops=False)
    out = x
    for t in range(conv.num_layers):
        step = 0 if conv.shared_weights else t
        if t == 0:
            w = ctx.param(qualify(qualname, "init_weight"), _side_by_side(conv.init_weight))
        else:
            index = 0 if conv.shared_weights else t - 1
            w = ctx.param(qualify(qualname, f"weight.{index}"), torch.block_diag(*conv.weight[index].detach()))
        out = propagate(ctx, ctx.emit("matmul", [out, w]), adj, reduce, weight)
        root = ctx.param(qualify(qualname, f"root_weight.{step}"), _side_by_side(conv.root_weight[step]))
        out = ctx.emit("add", [out, ctx.emit("matmul", [x, root])])
        if conv.bias is not None:
            out = ctx.emit("add", [out, ctx.param(qualify(qualname, f"bias.{step}"),
                                                  conv.bias[step].detach().reshape(-1))])
        out = activation(ctx, conv, qualname, out)
    if conv.num_stacks == 1:
        return out
    stacks = ctx.emit("reshape", [out], shape=[x.type.shape[0], conv.num_stacks, conv.out_channels])
    return ctx.emit("reduce_mean", [stacks], axis=1)
