"""IR text snapshots: compare with a file under tests/snapshots/, or rewrite it when
GNNCC_UPDATE_SNAPSHOTS=1."""

from __future__ import annotations

import os
from pathlib import Path


def assert_matches_snapshot(path: Path, text: str, what: str) -> None:
    """``text`` must equal the stored snapshot; ``what`` names it in the failure message."""
    if os.environ.get("GNNCC_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} is missing; run with GNNCC_UPDATE_SNAPSHOTS=1 to create it"
    assert text == path.read_text(), f"{what} changed; run with GNNCC_UPDATE_SNAPSHOTS=1 to accept"
