"""The documentation stays in step with the code."""

from pathlib import Path

from gnncc.ir.ops import OPS
from gnncc.passes import DEFAULT_PIPELINE

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_ir_op_is_documented():
    text = (DOCS / "ir.md").read_text()
    missing = [name for name in OPS if f"| `{name}` |" not in text]
    assert not missing, f"docs/ir.md does not list {missing}"


def test_every_default_pass_is_documented():
    text = (DOCS / "passes.md").read_text()
    missing = [name for name in DEFAULT_PIPELINE if f"`{name}`" not in text]
    assert not missing, f"docs/passes.md does not describe {missing}"
