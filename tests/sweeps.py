"""Knob sweeps for the kernel tests: every non-default value of every knob, the ends of each knob's
range in the default run and the values between them with the slow tests (``pytest -m slow``).

A value between two others builds the same code with another constant (a tile, a group size, a
threshold), so the default run still covers every knob and every schedule family, in half the builds.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from gnncc.codegen.schedule import load_space


def knob_sweep(family: str, kind: str = "cpu") -> list[Any]:
    """``neighbour_configs(family, kind)`` as pytest params (ids as ``str(config)``), the values strictly
    inside each knob's range marked slow."""
    by_knob: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for knob, config in load_space(family, kind).knob_neighbours():
        by_knob[knob].append(config)
    return [pytest.param(config, id=str(config), marks=() if i in (0, len(configs) - 1) else pytest.mark.slow)
            for configs in by_knob.values() for i, config in enumerate(configs)]
