"""``tools/device_check.sh``, the one-call GPU session, runs its steps on the CPU too: a broken
script would waste a lent GPU's few minutes."""

import json
import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "device_check.sh"


def test_device_check_runs_the_chosen_steps_and_keeps_their_results(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "TARGET": "cpu", "GRAPHS": "cora", "FEATS": "8",
           "STEPS": "spmm sddmm", "TVM_NUM_THREADS": "2"}
    proc = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=600)
    log = (tmp_path / "device_check.log").read_text()
    assert proc.returncode == 0, log
    assert "== spmm: exit status 0" in log and "== sddmm: exit status 0" in log and "done" in log
    assert "== correctness" not in log and "== models" not in log  # not among STEPS
    for op in ("spmm", "sddmm"):
        (record,) = json.loads((tmp_path / f"{op}.json").read_text())
        assert record["op"] == op and record["graph"] == "cora" and record["feat"] == 8
