"""concat kernels on CPU against the interpreter, along every axis."""

import pytest
import torch

from gnncc.codegen.testing import check_node, dense_node, neighbour_configs

G = torch.Generator().manual_seed(0)


@pytest.mark.parametrize("shapes,axis", [
    ([(4, 3), (4, 5)], -1),
    ([(4, 3), (2, 3), (1, 3)], 0),
    ([(2, 3, 4), (2, 1, 4), (2, 2, 4)], 1),
    ([(2, 3, 4), (2, 3, 1)], 2),
    ([(5,)], 0),
    ([(3,), (0,), (2,)], 0),
])
def test_concat(shapes, axis):
    check_node(*dense_node("concat", [torch.randn(s, generator=G) for s in shapes], axis=axis))


def test_concat_int():
    check_node(*dense_node("concat", [torch.arange(6).view(2, 3), torch.arange(4).view(2, 2)], axis=1))


@pytest.mark.parametrize("config", neighbour_configs("concat"), ids=str)
def test_concat_configs(config):
    operands = [torch.randn(37, 5, generator=G), torch.randn(37, 11, generator=G)]
    check_node(*dense_node("concat", operands, axis=1), config)
