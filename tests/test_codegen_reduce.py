"""reduce_sum/mean/max kernels on CPU against the interpreter, over every axis."""

import pytest
import torch

from gnncc.codegen.testing import check_node, dense_node, neighbour_configs
from gnncc.errors import IRError
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


@pytest.mark.parametrize("shape,weight,axis", [
    ((50, 8, 8), (1, 8, 8), -1),  # GAT's per-head attention projection
    ((50, 1, 7), (1, 1, 7), -1),
    ((5, 3, 4), (3, 1), 1),  # a weight broadcast along the reduced and the kept axes
    ((7, 6), (6,), -1),
    ((7, 6), (7, 1), 0),
    ((4, 5), (4, 5), 1),  # same shape: a row-wise dot
])
def test_reduce_dot(shape, weight, axis):
    check_node(*dense_node("reduce_dot", [torch.randn(shape, generator=G), torch.randn(weight, generator=G)],
                           axis=axis))


@pytest.mark.parametrize("config", neighbour_configs("reduce"), ids=str)
def test_reduce_dot_configs(config):
    operands = [torch.randn(300, 4, 9, generator=G), torch.randn(1, 4, 9, generator=G)]
    check_node(*dense_node("reduce_dot", operands, axis=-1), config)


def test_reduce_dot_needs_a_weight_that_broadcasts_to_x():
    with pytest.raises(IRError, match=r"reduce_dot: weight f32\[1, 3\] must broadcast to x f32\[4, 5\]"):
        dense_node("reduce_dot", [torch.randn(4, 5), torch.randn(1, 3)])
    with pytest.raises(IRError, match=r"reduce_dot: weight f32\[2, 4, 5\] must broadcast to x f32\[4, 5\]"):
        dense_node("reduce_dot", [torch.randn(4, 5), torch.randn(2, 4, 5)])
