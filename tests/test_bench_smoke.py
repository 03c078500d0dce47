"""The benchmark suite still runs end to end (sizes too small for meaningful figures)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_run_all_quick_writes_every_section(tmp_path):
    out = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run_all.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = out.read_text()
    for heading in ("## Agreement", "## The seed's multipass", "## Effect of the cache policy", "## Coverage",
                    "## Timer overhead", "## Worker throughput", "## Dashboard", "## Session database"):
        assert heading in report
    assert "quick smoke run" in report
    figures = json.loads(out.with_suffix(".json").read_text())
    assert figures["machine"]["torch"] and figures["quick"] is True
    # the agreement figures are ratios of two real timings of the same stage
    assert all(0.2 < f["ratio"] < 5 for f in figures["agreement"]["isolation"].values())
    # every tiny preset is covered, and other_ms is a share of e2e
    presets = figures["coverage"]["presets"]
    assert len(presets) == 9 and all(0 <= p["other_share"]["median"] < 1 for p in presets)
