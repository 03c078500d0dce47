"""`vlmtop knobs [--model M]`: every knob, its values and what it does (for that model)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    knobs = subparsers.add_parser(
        "knobs",
        help="knobs, their values and meaning for a model",
        description="The settings `vlmtop run --knob NAME=V1,V2` can fix or compare as interleaved arms.",
    )
    knobs.add_argument("--model", help="preset name, Hugging Face id or local path: say which knobs apply to it")
    knobs.add_argument("--json", action="store_true", help="print as JSON")
    knobs.set_defaults(func=cmd_knobs)


def cmd_knobs(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from vlmtop.core.errors import VlmtopError
    from vlmtop.sessions.knobs import KNOBS

    family = None
    if args.model:
        from vlmtop.core.models import check_model_spec, model_family

        check_model_spec(args.model)
        family = model_family(args.model)
    rows = []
    for knob in KNOBS.values():
        try:
            knob.check_family(family)
            applies = True
        except VlmtopError:
            applies = False
        rows.append({"knob": knob.name, "values": knob.values, "meaning": knob.meaning,
                     "families": list(knob.families) if knob.families else "all",
                     "applies": applies, "warms_up_first": knob.needs_warmup})
    if args.json:
        print(json.dumps({"model": args.model, "family": family, "knobs": rows}, indent=2))
        return 0
    title = f"Knobs for {escape(args.model)} ({family or 'family known once loaded'})" if args.model else "Knobs"
    table = Table(title=title, title_justify="left")
    for column in ("knob", "values", "what it does", "applies to"):
        table.add_column(column)
    for row in rows:
        scope = "all families" if row["families"] == "all" else ", ".join(row["families"])
        table.add_row(row["knob"], escape(row["values"]), row["meaning"] + (" (its first use loads something: keep --warmup >= 1)" if row["warms_up_first"] else ""),
                      scope, style=None if row["applies"] else "dim")
    console = Console()
    console.print(table)
    console.print("`vlmtop run --knob NAME=A,B` runs both values interleaved on the same samples; "
                  "`vlmtop compare SESSION` compares the arms." + (" Dim rows do not apply to this model." if family else ""))
    return 0
