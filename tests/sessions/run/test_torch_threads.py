"""The worker leaves torch's thread count as it found it, and runs with the count asked for."""

from __future__ import annotations


def test_worker_restores_the_torch_thread_count(tmp_path):
    import torch

    from vlmtop.sessions.run.worker import RunSettings, Worker
    from vlmtop.sessions.store import SessionStore

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        db = tmp_path / "s.db"
        assert Worker(RunSettings(count=1, warmup="none", max_new_tokens=2, threads=1), db).run() == "completed"
        assert torch.get_num_threads() == 2  # a library caller's setting survives the run
        with SessionStore.open(db, create=False, readonly=True) as store:
            (info,) = store.sessions()
        assert info.settings["threads"] == 1  # and the run itself used the one asked for
    finally:
        torch.set_num_threads(before)
