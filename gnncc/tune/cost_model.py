"""XGBoost cost model: predicts log run time from features, one booster per (family, target kind).

Trained on every successful record of the family in the log, whatever graph it came from;
graph statistics are features, so a model trained on some graphs ranks configs on graphs it
has not seen. Persisted as one JSON file (``tuning_logs/cost_model.json``), written
atomically so concurrent tuners never leave a half-written model.
"""

from __future__ import annotations

import base64
import json
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MIN_SAMPLES = 4  # fewer successful records than this: no model (the search explores at random)
_PARAMS = {"objective": "reg:squarederror", "max_depth": 6, "eta": 0.2, "subsample": 1.0,
           "min_child_weight": 1, "nthread": 1, "verbosity": 0}
_ROUNDS = 80


def group_of(family: str, kind: str) -> str:
    return f"{family}/{kind}"


class CostModel:
    """Per-group boosters with the feature names each was trained on."""

    def __init__(self) -> None:
        self._boosters: dict[str, Any] = {}
        self._names: dict[str, list[str]] = {}
        self.samples: dict[str, int] = {}

    def trained(self, group: str) -> bool:
        return group in self._boosters

    def fit(self, group: str, features: Sequence[dict[str, float]], ms: Sequence[float]) -> bool:
        """Train ``group`` on features and measured milliseconds; False (no model) with too few samples."""
        if len(features) < MIN_SAMPLES:
            return False
        import xgboost as xgb

        names = sorted({k for f in features for k in f})
        x = _matrix(features, names)
        y = np.log(np.maximum(np.asarray(ms, dtype=np.float64), 1e-6))
        self._boosters[group] = xgb.train(_PARAMS, xgb.DMatrix(x, label=y, feature_names=names),
                                          num_boost_round=_ROUNDS)
        self._names[group] = names
        self.samples[group] = len(features)
        return True

    def predict(self, group: str, features: Sequence[dict[str, float]]) -> np.ndarray | None:
        """Predicted milliseconds (None when ``group`` has no model)."""
        if group not in self._boosters or not features:
            return None
        import xgboost as xgb

        names = self._names[group]
        pred = self._boosters[group].predict(xgb.DMatrix(_matrix(features, names), feature_names=names))
        return np.exp(pred)

    def save(self, path: str | Path) -> None:
        """Write atomically (temp file + rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "version": 1,
            "groups": {
                g: {"names": self._names[g], "samples": self.samples.get(g, 0),
                    "booster": base64.b64encode(bytes(b.save_raw("ubj"))).decode()}
                for g, b in self._boosters.items()
            },
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cost_model.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | Path) -> CostModel:
        """The model saved at ``path``; an empty model when there is none."""
        model = cls()
        path = Path(path)
        if not path.is_file():
            return model
        import xgboost as xgb

        data = json.loads(path.read_text())
        for g, entry in data.get("groups", {}).items():
            booster = xgb.Booster()
            booster.load_model(bytearray(base64.b64decode(entry["booster"])))
            model._boosters[g] = booster
            model._names[g] = list(entry["names"])
            model.samples[g] = int(entry.get("samples", 0))
        return model


def _matrix(features: Sequence[dict[str, float]], names: list[str]) -> np.ndarray:
    """Rows in ``names`` order; a feature a row lacks is NaN (XGBoost's missing value)."""
    return np.array([[float(f.get(n, math.nan)) for n in names] for f in features], dtype=np.float32)
