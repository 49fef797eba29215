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


def _documented_commands() -> list[tuple[str, str]]:
    """``(file, line)`` for every line of a fenced code block in README.md and docs/ that runs gnncc."""
    commands = []
    for path in [DOCS.parent / "README.md", *sorted(DOCS.glob("*.md"))]:
        fenced = False
        for line in path.read_text().splitlines():
            if line.startswith("```"):
                fenced = not fenced
            elif fenced and line.startswith("gnncc "):
                commands.append((path.name, line.split(" #")[0].strip()))
    return commands


def test_documented_commands_parse():
    """Every gnncc command the docs show has options the CLI still takes."""
    import shlex

    from gnncc.cli.main import build_parser

    commands = _documented_commands()
    assert len(commands) >= 5
    parser = build_parser()
    wrong = []
    for name, line in commands:
        try:
            parser.parse_args(shlex.split(line)[1:])
        except SystemExit:
            wrong.append(f"{name}: {line}")
    assert not wrong, "commands the CLI rejects:\n" + "\n".join(wrong)
