"""elementwise kernels on CPU against the interpreter: every unary op, broadcasting binary ops."""

import pytest
import torch

from gnncc.codegen.testing import check_node, dense_node, neighbour_configs
from gnncc.ir.ops import BINARY_OPS, UNARY_OPS

G = torch.Generator().manual_seed(0)
X = torch.randn(13, 7, generator=G) * 3
X[0, :4] = torch.tensor([0.0, -0.0, 1e-3, -1e-3])


@pytest.mark.parametrize("op", UNARY_OPS)
def test_unary(op):
    x = X.abs() + 0.1 if op in ("log", "sqrt") else X
    check_node(*dense_node(op, [x]))


@pytest.mark.parametrize("op,alpha", [("leaky_relu", 0.2), ("elu", 0.5)])
def test_unary_alpha(op, alpha):
    check_node(*dense_node(op, [X], alpha=alpha))


def test_unary_scalar_and_empty():
    check_node(*dense_node("sigmoid", [torch.tensor(0.3)]))
    check_node(*dense_node("relu", [torch.zeros(0, 4)]))


BROADCASTS = [((4, 5), (4, 5)), ((4, 5), (5,)), ((4, 1), (1, 5)), ((3, 4, 5), (4, 1)), ((2, 1, 5), (3, 1)),
              ((), (6,)), ((7,), ()), ((0, 2, 5), (0, 2, 1))]  # last: an edge tensor of a graph without edges


@pytest.mark.parametrize("op", BINARY_OPS)
@pytest.mark.parametrize("lhs,rhs", BROADCASTS)
def test_binary(op, lhs, rhs):
    a = torch.randn(lhs, generator=G)
    b = torch.randn(rhs, generator=G)
    if op == "div":
        b = b.sign() * (b.abs() + 0.5)
    check_node(*dense_node(op, [a, b]))


def test_binary_int():
    a = torch.randint(-9, 9, (5, 3), dtype=torch.int32)
    check_node(*dense_node("maximum", [a, torch.randint(-9, 9, (3,), dtype=torch.int32)]))


@pytest.mark.parametrize("config", neighbour_configs("elementwise"), ids=str)
def test_elementwise_configs(config):
    x = torch.randn(101, 13, generator=G)
    check_node(*dense_node("gelu", [x]), config)
    check_node(*dense_node("add", [x, torch.randn(13, generator=G)]), config)
