"""Ray puts the driver's working folder on each worker's sys.path: the replicate actor
drops it before it imports torch or the worker, so code planted where `vlmtop run --ray`
is started never runs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from vlmtop.sessions.store import SessionStore

PLANTED = """import os
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "RAN"), "w").write(str(os.getpid()))
raise SystemExit("planted module ran")
"""


@pytest.mark.ray
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install 'vlmtop[ray]')")
def test_a_torch_py_in_the_working_folder_is_not_imported_by_the_actor(tmp_path):
    folder = tmp_path / "cwd"
    folder.mkdir()
    for name in ("torch.py", "transformers.py"):
        (folder / name).write_text(PLANTED)
    db = tmp_path / "s.db"
    # -P: the driver itself does not import from the folder; Ray still adds it for workers.
    done = subprocess.run([sys.executable, "-P", "-m", "vlmtop", "run", "--ray", "--repeat", "1", "--count", "2",
                           "--warmup", "none", "--max-new-tokens", "2", "--db", str(db)],
                          cwd=folder, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert not (folder / "RAN").exists(), done.stdout + done.stderr
    assert done.returncode == 0, done.stderr
    with SessionStore.open(db, readonly=True) as store:
        (info,) = store.sessions()
        assert info.status == "completed" and info.versions.get("torch")
