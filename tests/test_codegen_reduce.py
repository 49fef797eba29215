"""reduce_sum/mean/max kernels on CPU against the interpreter, over every axis."""

import pytest
import torch

from gnncc.codegen.testing import check_node, dense_node, neighbour_configs
from gnncc.ir.ops import REDUCE_KINDS

G = torch.Generator().manual_seed(0)


@pytest.mark.parametrize("kind", REDUCE_KINDS)
@pytest.mark.parametrize("shape,axis", [((7,), 0), ((4, 9), 0), ((4, 9), -1), ((3, 4, 5), 1), ((3, 4, 5), -3),
                                        ((1, 1), 1)])
def test_reduce(kind, shape, axis):
    check_node(*dense_node(f"reduce_{kind}", [torch.randn(shape, generator=G)], axis=axis))


@pytest.mark.parametrize("config", neighbour_configs("reduce"), ids=str)
def test_reduce_configs(config):
    check_node(*dense_node("reduce_mean", [torch.randn(30, 17, generator=G)], axis=0), config)
