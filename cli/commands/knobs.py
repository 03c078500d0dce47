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
    from rich.table import Table

    from vlmtop.core.text import markup_safe
    from vlmtop.sessions.knobs import KNOBS

    family = None
    if args.model:
        from vlmtop.core.model_loading import check_model_spec, model_family

        check_model_spec(args.model)
        family = model_family(args.model)
    rows = []
    for knob in KNOBS.values():
        applies = knob.applies_to(family)
        # the values this installation offers (attn: flash_attention_2 only with flash_attn)
        rows.append({"knob": knob.name, "values": knob.values_here(), "meaning": knob.meaning,
                     "families": list(knob.families) if knob.families else "all",
                     "applies": applies, "warms_up_first": knob.needs_warmup})
    if args.json:
        print(json.dumps({"model": args.model, "family": family, "knobs": rows}, indent=2))
        return 0
    title = f"Knobs for {markup_safe(args.model)} ({family or 'family known once loaded'})" if args.model else "Knobs"
    table = Table(title=title, title_justify="left")
    # With a model, an explicit applies column: dimming alone is lost in a pipe or a log.
    columns = ("knob", *(("applies",) if family else ()), "values", "what it does", "applies to")
    for column in columns:
        # names and yes/no whole: a pipe's 80 columns must not turn image_splitting into "image_splitti…"
        whole = column in ("knob", "applies")
        table.add_column(column, no_wrap=whole, overflow="fold", min_width=max(len(k) for k in KNOBS) if column == "knob" else None)
    for row in rows:
        scope = "all families" if row["families"] == "all" else ", ".join(row["families"])
        applies = ("yes" if row["applies"] else "no",) if family else ()
        table.add_row(row["knob"], *applies, markup_safe(row["values"]), row["meaning"] + (" (its first use loads something: keep --warmup >= 1)" if row["warms_up_first"] else ""),
                      scope, style=None if row["applies"] else "dim")
    console = Console()
    console.print(table)
    console.print("`vlmtop run --knob NAME=A,B` runs both values interleaved on the same samples; "
                  "`vlmtop compare SESSION` compares the arms." + (" Rows with applies=no (dim) do not apply to this model." if family else ""))
    return 0
