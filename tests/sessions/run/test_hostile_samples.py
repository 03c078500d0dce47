"""One bad sample is one error row, whatever it raises; user text is data, never markup;
the worker runs no code from the current directory."""

from __future__ import annotations

import json
import os
import subprocess

from PIL import Image

from vlmtop.cli import main
from vlmtop.sessions.run.process import worker_command
from vlmtop.sessions.run.worker import RunSettings
from vlmtop.sessions.store import SessionStore

QUICK = ["--max-new-tokens", "2", "--warmup", "none"]


def _rows(db):
    with SessionStore.open(db, create=False) as store:
        (info,) = store.sessions()
        return info, store.samples(info.id)


def test_hostile_manifest_lines_are_error_rows_and_the_run_goes_on(tmp_path, capsys):
    Image.new("RGB", (64, 48), (0, 90, 200)).save(tmp_path / "ok.png")
    bomb = tmp_path / "bomb.png"  # a tiny PNG whose header claims 30000x30000 pixels
    Image.new("1", (30000, 30000)).save(bomb, optimize=True)
    lines = [
        {"image": "ok.png"},
        {"image": "bomb.png"},
        {"image": "missing[/x].png"},  # Rich markup in user text
        {"image": "ok.png", "prompt": "look <|image_pad|> here"},  # the model's own placeholder
        {"image": "ok.png", "max_new_tokens": 1e9},  # unbounded decode length
        {"image": "ok.png", "prompt": "fine"},
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in lines))
    db = tmp_path / "s.db"
    assert main(["run", "--headless", "--samples", str(manifest), *QUICK, "--db", str(db)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "missing[/x].png" in err  # printed as text, not markup
    info, rows = _rows(db)  # one row per manifest line, in order
    assert info.status == "completed" and len(rows) == 6
    ok, bomb, missing, placeholder, unbounded, fine = rows
    assert ok.status == fine.status == "ok"  # the good lines were measured
    assert bomb.status == "error" and "cannot read image" in bomb.error
    assert missing.status == "error" and "missing[/x].png" in missing.error
    assert unbounded.status == "error" and "max_new_tokens" in unbounded.error
    assert placeholder.status in ("ok", "error")  # whatever the family makes of it: never the session


def test_the_worker_runs_no_code_from_the_current_directory(tmp_path):
    planted = tmp_path / "cwd"
    planted.mkdir()
    marker = tmp_path / "ran"
    (planted / "torch.py").write_text(f"open({str(marker)!r}, 'w').write('planted code ran')\nraise SystemExit(9)\n")
    db = tmp_path / "s.db"
    settings = RunSettings(count=1, max_new_tokens=2, warmup="none", threads=1)
    done = subprocess.run(worker_command(db, "cwdcheck01", settings), cwd=planted, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")})
    assert done.returncode == 0, done.stderr[-1500:]
    assert not marker.exists()
    with SessionStore.open(db, create=False) as store:
        assert store.session("cwdcheck01").measured_count == 1


def test_a_model_name_with_markup_lists_as_text(tmp_path, capsys):
    db = tmp_path / "s.db"
    with SessionStore.open(db) as store:
        store.create_session("models/exp[/old]", "cpu", "float32", {})
    assert main(["sessions", "--db", str(db)]) == 0
    assert "models/exp[/old]" in capsys.readouterr().out


def test_a_model_folder_with_its_own_code_is_not_run_without_trust_remote_code(tmp_path, capsys):
    folder = tmp_path / "remote-model"
    folder.mkdir()
    marker = tmp_path / "ran"
    (folder / "config.json").write_text(json.dumps({
        "model_type": "evil", "auto_map": {"AutoConfig": "configuration_evil.EvilConfig"}}))
    (folder / "configuration_evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\nfrom transformers import PretrainedConfig\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n")
    db = tmp_path / "s.db"
    assert main(["run", "--headless", "--model", str(folder), *QUICK, "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--trust-remote-code" in err[0]
    assert not marker.exists()
