"""Shell completion: what the shell hook (`register-python-argcomplete vlmtop`) gets back
when tab is pressed, from a real `vlmtop` process through argcomplete's protocol."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("argcomplete")


def _complete(line: str, tmp_path) -> list[str]:
    out = tmp_path / "completions"
    env = {**os.environ, "_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line)),
           "_ARGCOMPLETE_STDOUT_FILENAME": str(out)}
    done = subprocess.run([sys.executable, "-m", "vlmtop"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out.read_text().split("\v")  # argcomplete's separator (_ARGCOMPLETE_IFS)


def test_commands_and_options_complete(tmp_path):
    assert [c.strip() for c in _complete("vlmtop com", tmp_path)] == ["compare"]
    assert "--knob" in [c.strip() for c in _complete("vlmtop run --kn", tmp_path)]
    assert {"--stage", "--fail-on"} <= {c.strip() for c in _complete("vlmtop compare --", tmp_path)}
