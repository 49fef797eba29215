"""softmax, log_softmax and l2_normalize kernels on CPU against the interpreter."""

import pytest
import torch

from gnncc.codegen.testing import check_node, dense_node, neighbour_configs

G = torch.Generator().manual_seed(0)


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "l2_normalize"])
@pytest.mark.parametrize("shape", [(1,), (9,), (6, 7), (2, 3, 40), (5, 1)])
def test_rowwise(op, shape):
    check_node(*dense_node(op, [torch.randn(shape, generator=G) * 10]))


def test_softmax_stable_and_zero_rows():
    x = torch.randn(4, 8, generator=G) * 1000
    check_node(*dense_node("softmax", [x]))
    check_node(*dense_node("log_softmax", [x]))
    check_node(*dense_node("l2_normalize", [torch.zeros(3, 5)]))
    check_node(*dense_node("l2_normalize", [torch.full((2, 4), 1e-8)], eps=1e-6))


@pytest.mark.parametrize("config", neighbour_configs("rowwise"), ids=str)
def test_rowwise_configs(config):
    check_node(*dense_node("log_softmax", [torch.randn(33, 7, generator=G)]), config)
