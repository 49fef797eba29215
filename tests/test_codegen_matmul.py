"""matmul kernels on CPU against the interpreter: edge tiles in every dimension, every config knob."""

import pytest
import torch

from gnncc.codegen.testing import check_node, dense_node, neighbour_configs
from gnncc.errors import IRError

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


# fused_matmul: every epilogue operand kind, activations, and edge tiles in both output dimensions
EPILOGUES = [
    (["add[feat]", "relu"], ("feat",)),
    (["add[feat]"], ("feat",)),
    (["mul[scalar]", "add[node]", "elu"], ("scalar", "node")),
    (["mul[row]", "leaky_relu[0.2]", "sub[feat]"], ("row", "feat")),
    (["sigmoid"], ()),
]


def _operand(kind: str, m: int, n: int, g: torch.Generator) -> torch.Tensor:
    return torch.randn(*{"scalar": (1, 1), "feat": (1, n), "row": (m, 1), "node": (m, n)}[kind], generator=g)


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (37, 29, 21), (130, 520, 70)])
@pytest.mark.parametrize("steps,kinds", EPILOGUES, ids=lambda v: "-".join(v) if isinstance(v, list) else None)
def test_fused_matmul(m, k, n, steps, kinds):
    g = torch.Generator().manual_seed(m * n + len(steps))
    operands = [torch.randn(m, k, generator=g), torch.randn(k, n, generator=g),
                *(_operand(kind, m, n, g) for kind in kinds)]
    check_node(*dense_node("fused_matmul", operands, epilogue=steps))


def test_fused_matmul_nan_reaches_only_its_row():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(9, 12, generator=g)
    x[4, 7] = float("nan")
    out = check_node(*dense_node("fused_matmul", [x, torch.randn(12, 20, generator=g), torch.randn(1, 20, generator=g)],
                                 epilogue=["add[feat]", "relu"]))
    assert out[4].isnan().all() and not out[torch.arange(9) != 4].isnan().any()


def test_fused_matmul_rejects_a_wrong_epilogue_operand():
    with pytest.raises(IRError, match=r"fused_matmul: epilogue operand 0 \(feat\) f32\[1, 5\] must be \[1, 4\]"):
        dense_node("fused_matmul", [torch.randn(3, 2), torch.randn(2, 4), torch.randn(1, 5)], epilogue=["add[feat]"])
