"""--interval that is not a number is refused with one kind of message, saying what to give."""

from __future__ import annotations


def test_interval_that_is_not_a_number_says_what_to_give(tmp_path):
    import subprocess
    import sys

    for text in ("abc", "1s"):
        done = subprocess.run([sys.executable, "-m", "vlmtop", "replay", "--interval", text,
                               "--db", str(tmp_path / "none.db")], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert f"argument --interval: expected the refresh interval in seconds (e.g. --interval 1), got {text!r}" \
            in done.stderr
        assert not (tmp_path / "none.db").exists()
