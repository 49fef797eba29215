"""The XGBoost cost model on a tiny synthetic log: fit, predict, transfer to an unseen graph, persist."""

import math

import numpy as np

from gnncc.tune.cost_model import CostModel

TILES = [4, 8, 16, 32, 64, 128, 256]


def synthetic_ms(tile: int, degree: float) -> float:
    """A run time whose best tile grows with the graph's degree: best log2(tile) = 2 + degree / 4."""
    return 1.0 + (math.log2(tile) - (2 + degree / 4)) ** 2


def rows(degree: float) -> list[dict]:
    return [{"knob.feat_tile": float(t), "graph.avg_degree": degree, "knob.parallel": 1.0} for t in TILES]


def test_fit_predict_and_transfer(tmp_path):
    model = CostModel()
    assert model.predict("spmm/cpu", rows(2.0)) is None  # untrained: no prediction
    assert not model.fit("spmm/cpu", rows(2.0)[:2], [1.0, 2.0])  # too few samples
    feats, ms = [], []
    for degree in (2.0, 6.0, 10.0, 14.0):
        feats += rows(degree)
        ms += [synthetic_ms(t, degree) for t in TILES]
    assert model.fit("spmm/cpu", feats, ms)
    seen = model.predict("spmm/cpu", rows(10.0))
    assert TILES[int(np.argmin(seen))] in (16, 32)  # best on a training graph: 2 + 10/4 = 4.5, a tie
    unseen = model.predict("spmm/cpu", rows(8.0))  # a graph it has not seen: best is 16
    assert TILES[int(np.argmin(unseen))] in (8, 16, 32)
    default_rank = sorted(unseen).index(unseen[TILES.index(64)])
    assert default_rank >= 2  # the model would not pick the far-off tile
    path = tmp_path / "cost_model.json"
    model.save(path)
    again = CostModel.load(path)
    assert again.trained("spmm/cpu") and not again.trained("sddmm/cpu")
    np.testing.assert_allclose(again.predict("spmm/cpu", rows(8.0)), unseen, rtol=1e-6)
    # features a row lacks are missing values, not errors
    assert again.predict("spmm/cpu", [{"knob.feat_tile": 16.0}]).shape == (1,)
    assert not CostModel.load(tmp_path / "absent.json").trained("spmm/cpu")
