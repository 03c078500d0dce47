"""`vlmtop report SESSION... -o report.html`: one self-contained HTML page (inline SVG, no
script, no network) with the stages per arm, one sample's timeline, the arms compared, the
cost model with its held-out test, and the settings and versions. Built by
:mod:`vlmtop.sessions.report`.
"""

from __future__ import annotations

import argparse

from vlmtop.cli.parser import add_db_option
from vlmtop.core.text import printable


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="write one self-contained HTML report of sessions (opens offline)",
        description=(
            "Write one HTML file that opens offline: per-stage distributions per arm, the timeline of one "
            "sample, a forest plot of the arms against the first, the per-stage cost model with a held-out "
            "arm, and the sessions' settings and versions. Several sessions of one model and device are pooled."
        ),
    )
    p.add_argument("sessions", metavar="SESSION", nargs="+", help="session id, unique id prefix, or `last`")
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="the HTML file to write (e.g. report.html)")
    add_db_option(p)
    p.add_argument("--sample", type=int, metavar="SEQ",
                   help="the sample (seq, in the first session) whose timeline is shown (default: the median-e2e one)")
    p.add_argument("--holdout", metavar="KNOB=VALUE",
                   help="the arm the cost model leaves out and predicts (default: the largest image_size or "
                   "max_new_tokens of a sweep with 4+ values)")
    p.add_argument("--no-holdout", action="store_true", help="fit the cost model on every arm")
    p.add_argument("--only", action="append", metavar="KNOB=VALUE", default=[],
                   help="report only the samples with this knob value (repeatable)")
    p.add_argument("--boot", type=int, default=None, metavar="N", help="cost-model bootstrap resamples (default 200)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vlmtop.core.errors import VlmtopError
    from vlmtop.sessions.report import Report, write
    from vlmtop.sessions.store import SessionStore
    from vlmtop.sessions.store.paths import db_path

    if args.boot is not None and args.boot < 20:
        raise VlmtopError(f"--boot {args.boot}: use at least 20 resamples (200 by default)")
    if args.holdout and args.no_holdout:
        raise VlmtopError("--holdout and --no-holdout together: give one")
    with SessionStore.open(db_path(args.db), create=False) as store:
        report = Report(store, args.sessions, sample=args.sample, holdout=args.holdout,
                        auto_holdout=not args.no_holdout, only=args.only, n_boot=args.boot)
        html = report.html()
    path = write(args.output, html)
    for note in report.notes:
        print(printable(note, limit=0))
    print(printable(f"wrote {path} ({len(html.encode()) / 1024:,.0f} KB): open it in any browser, no server needed", limit=0))
    return 0
