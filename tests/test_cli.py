"""The gnncc command: help that teaches, and the demo end to end."""

import subprocess
import sys

from gnncc.cli.main import main


def test_help_lists_commands_and_examples(capsys):
    assert main([]) == 2
    text = capsys.readouterr().out
    assert "demo" in text and "examples:" in text


def test_demo_runs_and_matches_pyg(capsys):
    assert main(["demo", "--repeat", "2"]) == 0
    text = capsys.readouterr().out
    assert "gcn" in text and "gat" in text and "all outputs match PyG" in text


def test_errors_are_reported_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "gnncc", "demo", "--target", "tpu"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "gnncc: error: unknown target 'tpu'" in proc.stderr
    assert "Traceback" not in proc.stderr
