"""Schedule spaces as the tuner sees them: every point valid, invalid configs rejected, search stays inside."""

import random

import numpy as np
import pytest

from gnncc.codegen.schedule import load_space
from gnncc.codegen.spec import DENSE_FAMILIES, SPARSE_FAMILIES
from gnncc.errors import CodegenError
from gnncc.tune.database import config_id
from gnncc.tune.search import EvolutionarySearch, mutate

SPACES = [(f, k) for f in SPARSE_FAMILIES + DENSE_FAMILIES for k in ("cpu", "cuda")]


@pytest.mark.parametrize(("family", "kind"), SPACES)
def test_every_point_validates(family, kind):
    space = load_space(family, kind)
    points = list(space.points())
    assert points and space.validate(space.default) in points
    for p in points:
        assert space.validate(p) == p


def test_the_matmul_default_follows_the_vector_registers():
    """AVX2 (256-bit): a 4 x 16 register tile; AVX-512 (twice the registers, each twice as wide): 6 x 32."""
    assert load_space("matmul", "cpu", 256).default["tile_m"] == 4
    assert {k: load_space("matmul", "cpu", 512).default[k] for k in ("tile_m", "tile_n")} == {"tile_m": 6, "tile_n": 32}
    assert load_space("matmul", "cpu").default == load_space("matmul", "cpu", 256).default


def test_a_default_override_outside_the_space_is_refused(tmp_path, monkeypatch):
    import json

    from gnncc.codegen import schedule

    data = json.loads((schedule.SCHEDULE_DIR / "matmul.json").read_text())
    data["cpu"]["defaults_by_vector_bits"] = {"512": {"tile_m": 5}}
    (tmp_path / "matmul.json").write_text(json.dumps(data))
    monkeypatch.setattr(schedule, "SCHEDULE_DIR", tmp_path)
    load_space.cache_clear()
    try:
        assert load_space("matmul", "cpu", 256).default["tile_m"] == 4
        with pytest.raises(CodegenError, match="tile_m=5 is not allowed"):
            load_space("matmul", "cpu", 512)
    finally:
        load_space.cache_clear()


def test_invalid_configs_are_rejected():
    cuda = load_space("spmm", "cuda")
    with pytest.raises(CodegenError, match="a block needs at least one full warp"):
        cuda.validate({"rows_per_block": 1, "lanes": 16})
    with pytest.raises(CodegenError, match="not allowed"):
        cuda.validate({"lanes": 64})
    with pytest.raises(CodegenError, match="unknown schedule knob"):
        load_space("spmm", "cpu").validate({"tile": 8})
    with pytest.raises(CodegenError, match="not allowed"):  # a bool knob does not take 1
        load_space("spmm", "cpu").validate({"parallel": 1})


@pytest.mark.parametrize(("family", "kind"), [("spmm", "cuda"), ("matmul", "cpu"), ("matmul", "cuda")])
def test_mutation_changes_one_knob_and_stays_valid(family, kind):
    space = load_space(family, kind)
    points = {config_id(p) for p in space.points()}
    rng = random.Random(0)
    config = dict(space.default)
    for _ in range(200):
        child = mutate(space, config, rng)
        assert child is not None and config_id(child) in points
        assert sum(child[k] != config[k] for k in config) == 1
        config = child


def test_search_proposes_unmeasured_configs_the_model_ranks_best():
    space = load_space("spmm", "cpu")
    # a fake model: smaller feat_tile is faster, nothing else matters
    score = lambda configs: np.array([c["feat_tile"] for c in configs], dtype=float)  # noqa: E731
    search = EvolutionarySearch(space, score, random.Random(0), epsilon=0.0, generations=6)
    measured = {config_id(space.default): 1.0}
    batch = search.propose(measured, 8)
    ids = [config_id(c) for c in batch]
    assert len(set(ids)) == 8 and not set(ids) & set(measured)
    assert all(space.validate(c) == c for c in batch)
    assert sum(c["feat_tile"] == 4 for c in batch) >= 6
    # with no model the search explores: the default comes first, then random unmeasured points
    blind = EvolutionarySearch(space, lambda configs: None, random.Random(1))
    first = blind.propose({}, 5)
    assert first[0] == space.validate(space.default) and len({config_id(c) for c in first}) == 5
    # an exhausted space proposes what is left, then nothing
    everything = {config_id(p): 1.0 for p in space.points()}
    assert blind.propose(everything, 4) == []
