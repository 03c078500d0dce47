"""Reading commands need no torch: `vlmtop --help`, `sessions`, `export`, `compare` and the
dashboard's modules run on a laptop that only has the session database.

Each check runs in a fresh interpreter whose import system refuses torch and transformers,
so a stray import anywhere on those paths fails loudly here instead of costing seconds and
hundreds of MB for every user.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from recorded_session import SESSION_ID, record_fixed_session

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
        import vlmtop.sessions.compare, vlmtop.sessions.source, vlmtop.sessions.summary
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
