"""What a non-editable install gets: the wheel holds every schedule space and the demo graph."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gnncc.codegen.spec import DENSE_FAMILIES, SPARSE_FAMILIES

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_ships_the_schedule_spaces(tmp_path):
    """``gnncc/codegen/schedule.py`` reads ``gnncc/schedules``; in a checkout that is a link to the
    top-level ``schedules/``, and the wheel must carry the files themselves, or ``gnncc.compile``
    fails after ``pip install .``."""
    if importlib.util.find_spec("setuptools") is None:  # the build backend, needed without build isolation
        pytest.skip("setuptools is not installed: cannot build the wheel without fetching it")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, f"pip wheel failed:\n{build.stderr[-2000:]}"
    (wheel,) = tmp_path.glob("gnncc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    families = set(SPARSE_FAMILIES + DENSE_FAMILIES)
    assert {f"gnncc/schedules/{f}.json" for f in families} <= names
    assert {n.removeprefix("gnncc/schedules/") for n in names if n.startswith("gnncc/schedules/")} == {
        p.name for p in (ROOT / "schedules").glob("*.json")}
    assert "gnncc/datasets/cora.npz" in names
