"""bench/dashboard.py leaves no folder behind."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dashboard_bench_deletes_its_folders(tmp_path):
    """Its lag and CPU parts, each a short real run in a temporary folder of their own."""
    import os
    import subprocess
    import sys

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    code = (
        "import sys, shutil; sys.path.insert(0, 'bench'); import dashboard\n"
        "lag = dashboard.measure_lag(100.0, 1.0)\n"
        "cpu = dashboard.dashboard_cpu(sys.executable, 'idle', (80, 24), 1.0, 0.3, None) "
        "if shutil.which('tmux') else 0.0\n"
        "print(lag['rows_written'], cpu >= 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TMPDIR": str(scratch)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[0]) > 0 and done.stdout.split()[1] == "True"
    assert list(scratch.iterdir()) == [], "the bench left its temporary folders behind"
