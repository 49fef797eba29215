"""Numerical comparison used by tests, ``gnncc demo`` and benchmarks."""

from __future__ import annotations

import torch


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """max |out - ref| / max |ref| over finite entries; NaNs and infinities must match position for
    position (else inf), as must the shapes."""
    if out.shape != ref.shape:
        return float("inf")
    out, ref = out.detach().double().cpu(), ref.detach().double().cpu()
    nan_out, nan_ref = torch.isnan(out), torch.isnan(ref)
    if not torch.equal(nan_out, nan_ref):
        return float("inf")
    inf_ref = torch.isinf(ref)
    if not torch.equal(out[inf_ref], ref[inf_ref]):
        return float("inf")
    keep = ~(nan_ref | inf_ref)
    out, ref = out[keep], ref[keep]
    if ref.numel() == 0:
        return 0.0
    scale = ref.abs().max().clamp_min(1e-30)
    return float((out - ref).abs().max() / scale)
