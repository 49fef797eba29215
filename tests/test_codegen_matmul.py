"""matmul kernels on CPU against the interpreter: edge tiles in every dimension, every config knob."""

import pytest
import torch

from gnncc.codegen.testing import check_node, dense_node, neighbour_configs

SHAPES = [(1, 1, 1), (1, 5, 3), (7, 1, 9), (37, 29, 21), (64, 300, 16), (130, 520, 70)]


@pytest.mark.parametrize("m,k,n", SHAPES)
def test_matmul(m, k, n):
    g = torch.Generator().manual_seed(m + k + n)
    check_node(*dense_node("matmul", [torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)]))


@pytest.mark.parametrize("config", neighbour_configs("matmul"), ids=str)
def test_matmul_configs(config):
    g = torch.Generator().manual_seed(1)
    operands = [torch.randn(45, 530, generator=g), torch.randn(530, 70, generator=g)]
    check_node(*dense_node("matmul", operands), config)
