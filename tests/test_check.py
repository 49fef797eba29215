"""gnncc.check.relative_error: the comparison every correctness test relies on."""

import math

import torch

from gnncc.check import relative_error


def test_scaled_by_largest_reference_entry():
    ref = torch.tensor([10.0, -20.0, 0.0])
    assert math.isclose(relative_error(ref + torch.tensor([0.0, 0.2, 0.0]), ref), 0.01, rel_tol=1e-5)


def test_nan_and_inf_must_match_in_place():
    ref = torch.tensor([1.0, float("nan"), float("inf"), -float("inf")])
    assert relative_error(ref.clone(), ref) == 0.0
    assert relative_error(torch.tensor([1.0, 0.0, float("inf"), -float("inf")]), ref) == math.inf
    assert relative_error(torch.tensor([1.0, float("nan"), -float("inf"), -float("inf")]), ref) == math.inf
    assert relative_error(torch.tensor([float("inf"), float("nan"), float("inf"), -float("inf")]), ref) == math.inf


def test_shape_mismatch_is_infinite():
    assert relative_error(torch.zeros(2, 3), torch.zeros(3, 2)) == math.inf
