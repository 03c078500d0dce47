"""An extra --stage on the module of a standard stage is refused in one line, before any
sample runs (two stages on one module closed each other: every sample failed)."""

from __future__ import annotations

from vlmtop.cli import main
from vlmtop.sessions.store import SessionStore


def test_a_stage_on_a_standard_stages_module_is_refused_in_one_line(tmp_path, capsys):
    db = tmp_path / "s.db"
    argv = ["run", "--headless", "--count", "2", "--max-new-tokens", "2", "--warmup", "none", "--db", str(db)]
    assert main([*argv, "--stage", "foo=model.visual"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--stage foo=model.visual: that module is already the vision stage" in err[0], err
    with SessionStore.open(db, readonly=True) as store:
        assert all(info.sample_count == 0 for info in store.sessions())
    # A stage on a module no other stage uses is measured as before.
    assert main([*argv, "--stage", "foo=model.visual.blocks"]) == 0
    with SessionStore.open(db, readonly=True) as store:
        assert store.sessions()[-1].measured_count == 2
