"""`vlmtop attach` and `vlmtop replay`: the dashboard on a session someone else records,
or on a recorded one. (`vlmtop run` starts it on a new worker: see commands/run.py.)"""

from __future__ import annotations

import argparse

from vlmtop.cli.argtypes import number, positive_float
from vlmtop.cli.parser import add_db_option

# A number, checked as every number option is (argtypes); its range is checked where the
# dashboard starts (tui/launch.py), which callers of run_dashboard() go through too.
INTERVAL = number(float, what="the refresh interval in seconds (e.g. --interval 1)")


def register(subparsers) -> None:
    attach = subparsers.add_parser(
        "attach",
        help="open (and steer) a session another process is recording",
        description="Watch a running session (e.g. a --headless run on a GPU box) and steer its policies; "
        "given an experiment id (exp-...), watch every session of it live (`run --ray`, --repeat).",
    )
    attach.add_argument("session", nargs="?", default="last",
                        help="id, unique prefix or `last` (default); or an experiment id exp-... (its fleet)")
    add_db_option(attach)
    add_interval_option(attach)
    attach.set_defaults(func=cmd_attach)

    replay = subparsers.add_parser("replay", help="replay a recorded session in the dashboard")
    replay.add_argument("session", nargs="?", default="last", help="id, unique prefix or `last` (default)")
    add_db_option(replay)
    replay.add_argument("--speed", type=positive_float, help="samples per second (default 10; + and - change it)")
    add_interval_option(replay)
    replay.set_defaults(func=cmd_replay)


def add_interval_option(parser: argparse.ArgumentParser) -> None:
    """`--interval`, as htop's and nvitop's refresh interval (also for `vlmtop run`)."""
    parser.add_argument(
        "--interval", type=INTERVAL, metavar="SECONDS",
        help="how often the dashboard reads the database for new samples (default 0.2); "
        "it redraws only when something changed",
    )


def cmd_attach(args: argparse.Namespace) -> int:
    from vlmtop.sessions.store.paths import db_path
    from vlmtop.tui.launch import attach_dashboard

    return attach_dashboard(args.session, db_path(args.db), args.interval)


def cmd_replay(args: argparse.Namespace) -> int:
    from vlmtop.sessions.store.paths import db_path
    from vlmtop.tui.launch import replay_dashboard

    return replay_dashboard(args.session, db_path(args.db), args.speed, args.interval)
