"""Hugging Face ids: the local cache first, and one fast line when the Hub is out of reach.

The test machine has no route to the Hub, which is exactly the case under test: without the
cache-first rule, the hub client retries for ~25 s and prints `Retrying in 8s` lines.
"""

from __future__ import annotations

import subprocess

from helpers import vlmtop_command, vlmtop_env
from tiny_models import tiny

HUB_ID = "vlmtop-test/tiny-llava"


def _vlmtop(args, env_extra, tmp_path):
    return subprocess.run(vlmtop_command(*args), capture_output=True, text=True,
                          env=vlmtop_env(tmp_path, **env_extra), timeout=300, stdin=subprocess.DEVNULL)


def test_an_uncached_id_with_no_network_fails_in_one_line_naming_hf_hub_offline(tmp_path):
    done = _vlmtop(["run", "--headless", "--model", "nobody-here/no-such-vlm", "--db", str(tmp_path / "s.db")],
                   {"HF_HUB_OFFLINE": "0", "HF_HUB_CACHE": str(tmp_path / "hub")}, tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "HF_HUB_OFFLINE" in lines[0] and "not in the Hugging Face cache" in lines[0]
    assert "Retrying" not in done.stderr
    assert not (tmp_path / "s.db").exists()  # refused before any session was opened


def test_a_cached_id_loads_from_the_cache_without_touching_the_network(tmp_path):
    # lay out a tiny checkpoint exactly as `hf download` leaves it in the cache
    snapshot = tmp_path / "hub" / "models--vlmtop-test--tiny-llava" / "snapshots" / "0123abcd"
    source = tiny("tiny-llava")
    source.model.save_pretrained(snapshot)
    source.inputs.processor.save_pretrained(snapshot)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0123abcd")

    done = _vlmtop(["run", "--headless", "--json", "--model", HUB_ID, "--count", "1", "--warmup", "none",
                    "--max-new-tokens", "2", "--device", "cpu", "--db", str(tmp_path / "s.db")],
                   {"HF_HUB_OFFLINE": "0", "HF_HUB_CACHE": str(tmp_path / "hub")}, tmp_path)
    assert done.returncode == 0, done.stderr[-1500:]
    assert "Retrying" not in done.stderr
    assert '"status": "completed"' in done.stdout
