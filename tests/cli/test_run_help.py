"""`vlmtop run --help` names every real default, so a user need not read the code."""

from __future__ import annotations

import argparse

from vlmtop.cli import build_parser


def _run_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return subparsers.choices["run"]


def test_every_option_with_a_default_says_it_in_its_help():
    run = _run_parser()
    formatter = run._get_formatter()
    missing = []
    for action in run._actions:
        default = action.default
        if default is None or default is False or default in ([], argparse.SUPPRESS):
            continue  # "not set": nothing to say
        text = formatter._expand_help(action) if action.help else ""
        if "default" not in text:
            missing.append(action.option_strings[0])
    assert missing == []
    assert "(default: 0)" in formatter._expand_help(next(a for a in run._actions if "--seed" in a.option_strings))
