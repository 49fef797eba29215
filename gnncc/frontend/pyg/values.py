"""Values the fx walk passes around besides IR ``Value``s and plain Python objects."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True, eq=False)
class Param:
    """A tensor of the model itself (parameter, buffer, or one computed only from those).

    It becomes an IR constant named ``name`` only where an IR op uses it, so attribute reads
    that never reach the output leave no trace in the IR.
    """

    name: str
    tensor: torch.Tensor


def qualify(qualname: str, attr: str) -> str:
    """``qualname.attr``, or ``attr`` for the top-level model (whose qualified name is empty)."""
    return f"{qualname}.{attr}" if qualname else attr
