"""Reading commands need no torch: `vlmtop --help`, `sessions`, `export`, `compare` and the
dashboard's modules run on a laptop that only has the session database.

Each check runs in a fresh interpreter whose import system refuses torch and transformers,
so a stray import anywhere on those paths fails loudly here instead of costing seconds and
hundreds of MB for every user.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from recorded_session import COUNT, SESSION_ID, record_fixed_session

# Runs before anything else in the child: importing torch or transformers raises.
BLOCK_TORCH = textwrap.dedent(
    """
    import importlib.abc, sys
    class _NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "transformers"):
                raise ImportError(f"{name} imported on a path that must not need it")
    sys.meta_path.insert(0, _NoTorch())
    """
)


def _run_without_torch(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(code)],
        capture_output=True, text=True, timeout=120,
    )


def test_cli_parser_and_dashboard_modules_import_without_torch():
    done = _run_without_torch(
        """
        import vlmtop.cli, vlmtop.tui.app, vlmtop.tui.launch, vlmtop.sessions.export
        import vlmtop.sessions.compare, vlmtop.sessions.playback, vlmtop.sessions.summary
        from vlmtop.core import StageTiming, VlmtopError
        from vlmtop.core.zoo import DEFAULT_PRESET, PRESETS
        vlmtop.cli.build_parser()
        print("ok", len(PRESETS))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")


def test_reading_commands_run_without_torch(tmp_path):
    db = tmp_path / "s.db"
    record_fixed_session(db).close()
    out = tmp_path / "s.csv"
    done = _run_without_torch(
        f"""
        from vlmtop.cli import main
        for argv in (["--help"], ["sessions", "--db", {str(db)!r}],
                     ["export", {SESSION_ID!r}, "--db", {str(db)!r}, "--format", "csv", "-o", {str(out)!r}],
                     ["compare", {SESSION_ID!r}, "--db", {str(db)!r}, "--json"]):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse's --help
                code = exc.code
            assert code == 0, (argv, code)
        print("all ran")
        """
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "all ran" in done.stdout
    assert out.read_text().count("\n") > 100


# Command modules that still import the store (numpy, sqlite3) when their parser is built;
# each is owned elsewhere: make its store imports lazy, as cmd_store does, then drop it here.
STILL_HEAVY: tuple[str, ...] = ()
LOADED = "import sys; print(' '.join(m for m in ('numpy', 'sqlite3', 'torch', 'transformers') if m in sys.modules))"


def _loaded_after(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code) + "\n" + LOADED],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(done.stdout.split())


def test_help_loads_neither_torch_nor_the_store():
    """`vlmtop --help` builds every parser and runs nothing: no torch, transformers, and
    (once STILL_HEAVY is empty) no numpy or sqlite3."""
    loaded = _loaded_after(
        """
        import contextlib, io
        from vlmtop.cli import main
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            main(["--help"])
        """
    )
    assert not loaded & {"torch", "transformers"}
    if not STILL_HEAVY:
        assert not loaded & {"numpy", "sqlite3"}


def test_command_parsers_load_no_numpy_or_sqlite3():
    from vlmtop.cli import COMMAND_MODULES

    for name in COMMAND_MODULES:
        loaded = _loaded_after(f"import {name}")
        if name in STILL_HEAVY:  # an honest list: a module made light must leave it
            assert {"numpy", "sqlite3"} <= loaded, f"{name} is light now: remove it from STILL_HEAVY"
        else:
            assert not loaded, f"importing {name} loads {sorted(loaded)}"


def test_replay_and_attach_run_without_torch(tmp_path):
    """The dashboard on a recorded session (replay) and on a live tail (attach), in an
    interpreter where importing torch or transformers raises."""
    db = tmp_path / "s.db"
    record_fixed_session(db).close()
    done = _run_without_torch(
        f"""
        import asyncio, json
        from vlmtop.sessions.playback import LiveTail, ReplaySource
        from vlmtop.sessions.store import SessionStore
        from vlmtop.tui.app import VlmtopApp

        async def show(source_of):
            store = SessionStore.open({str(db)!r}, create=False, readonly=True)
            try:
                source = source_of(store)
                app = VlmtopApp(store, source, steerable=False)
                async with app.run_test(size=(100, 30)) as pilot:
                    await pilot.press("end")
                    await pilot.pause()
                    await pilot.pause(0.5)  # a live tail reads on its poller's thread
                    return [app.state.position, app.state.total]
            finally:
                store.close()

        replayed = asyncio.run(show(lambda store: ReplaySource(store, {SESSION_ID!r}, playing=False)))
        attached = asyncio.run(show(lambda store: LiveTail(store, {SESSION_ID!r})))
        print("shown", json.dumps([replayed, attached]))
        """
    )
    assert done.returncode == 0, done.stderr[-2000:]
    replayed, attached = json.loads(done.stdout.split("shown", 1)[1])
    assert replayed == attached == [COUNT - 1, COUNT]  # every recorded sample reached the screen
