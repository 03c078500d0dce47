"""`vlmtop model SESSION... [--holdout K=V] [--predict K=V ...] [--json]`: per-stage cost
models fitted from a sweep, predictions at settings not measured, and their test on an arm
left out. The statistics are in :mod:`vlmtop.sessions.costmodel`; this module reads the
database and prints tables, or JSON for scripts.
"""

from __future__ import annotations

import argparse
import json

from vlmtop.cli.parser import add_db_option
from vlmtop.core.errors import VlmtopError

# Shared with the dashboard's cost-model screen, which shows the same figures in the same text.
from vlmtop.sessions.costmodel.text import QUALITY_COLUMNS, coefficient_cells, quality_cells
from vlmtop.sessions.costmodel.text import num as _num


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "model",
        help="per-stage cost models from a sweep: coefficients, predictions, held-out test",
        description=(
            "Fit each stage's latency against the token counts that drive it (vision and projector: "
            "image tokens; prefill: prompt tokens, squared too with 4+ settings; decode: ms per step "
            "against context; other: prompt tokens and steps), robustly, with 95%% bootstrap CIs over "
            "sample ids. Several sessions of one model and device are pooled."
        ),
    )
    p.add_argument("sessions", metavar="SESSION", nargs="+", help="session id, unique id prefix, or `last`")
    add_db_option(p)
    p.add_argument("--json", action="store_true", help="print JSON for scripts instead of tables")
    p.add_argument("--predict", action="append", nargs="+", metavar="KNOB=VALUE", default=[],
                   help="predict the per-stage medians at this setting (e.g. image_size=896x896 max_new_tokens=32, "
                   "or image_tokens=N); repeat the option for more settings")
    p.add_argument("--holdout", metavar="KNOB=VALUE",
                   help="fit without the arm with this knob value, then predict it and compare with what it measured")
    p.add_argument("--only", action="append", metavar="KNOB=VALUE", default=[],
                   help="fit only the samples with this knob value (repeatable): for sweeps that also vary "
                   "a knob such as attn")
    p.add_argument("--boot", type=int, default=None, metavar="N", help="bootstrap resamples (default 200)")
    p.set_defaults(func=run)


def build(args: argparse.Namespace, store) -> dict:
    """The whole report as plain data: what --json prints and the tables are drawn from."""
    from vlmtop.sessions.costmodel import fit as costmodel
    from vlmtop.sessions.costmodel.drivers import load_points, parse_assignment

    only = [parse_assignment(item, "--only") for item in args.only]
    settings = [[parse_assignment(item, "--predict") for item in group] for group in args.predict]
    held = parse_assignment(args.holdout, "--holdout") if args.holdout else None
    if args.boot is not None and args.boot < 20:
        raise VlmtopError(f"--boot {args.boot}: use at least 20 resamples (200 by default)")
    options = {"n_boot": args.boot or costmodel.N_BOOT}
    infos, points, notes = load_points(store, args.sessions, only)
    out: dict = {"sessions": [i.id for i in infos], "model": infos[0].model, "device": infos[0].device,
                 "dtype": infos[0].dtype, "notes": notes}
    if held:
        model, result = costmodel.holdout(points, *held, **options)
        out["holdout"] = result.to_dict()
    else:
        model = costmodel.CostModel(points, **options)
    out["fit"] = model.to_dict()
    out["predictions"] = []
    for group in settings:
        drivers, assumptions = model.map.drivers(dict(group))
        out["predictions"].append({
            "setting": {name: value for name, value in group}, "drivers": drivers.to_dict(), "notes": assumptions,
            "n": model.typical_n, "stages": [pred.to_dict() for pred in model.predict(drivers)],
        })
    if len({p.image_count for p in points}) > 1:  # an `images` sweep: what one more image costs
        out["per_extra_image"] = per_extra_image(model)
    return out


def per_extra_image(model) -> dict:
    """Each stage's fitted cost of one more image at the measured images' median count:
    the difference of the model's point predictions at images=k+1 and k."""
    count = int(round(model.map.image_count))
    (low, _), (high, _) = (model.map.drivers({"images": k}) for k in (count, count + 1))
    before = {p.stage: p.value for p in model.predict(low)}
    after = {p.stage: p.value for p in model.predict(high)}
    return {"at_images": count, "image_tokens": model.map.tokens_per_image,
            "stages": {stage: round(after[stage] - before[stage], 4) for stage in after if stage in before}}


def run(args: argparse.Namespace) -> int:
    from vlmtop.sessions.store import SessionStore
    from vlmtop.sessions.store.paths import db_path

    with SessionStore.open(db_path(args.db), create=False) as store:
        report = build(args, store)
    if args.json:
        print(json.dumps(report, indent=2, allow_nan=False, default=str))
    else:
        print_report(report)
    return 0


# --- tables ------------------------------------------------------------------------------


def print_report(report: dict) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from vlmtop.core.text import markup_safe_tree
    from vlmtop.sessions.records import stage_label

    console = Console(highlight=False)
    # Model, device, session ids, knob values and notes come from the database: escaped
    # once, so every line below shows them as text and none acts on the terminal.
    report = markup_safe_tree(report)
    for note in report["notes"]:
        console.print(f"[yellow]{note}[/]")
    fit = report["fit"]
    held = report.get("holdout")
    title = (f"{report['model']} on {report['device']} ({report['dtype']}): {fit['samples']} samples, "
             f"{fit['settings']} settings, session {', '.join(report['sessions'])}"
             + (f"; without {held['knob']}={held['value']}" if held else ""))
    console.print(title)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("stage", "term", "value", "95% CI"):
        table.add_column(name, justify="left" if name in ("stage", "term") else "right", no_wrap=True)
    quality = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("stage", *QUALITY_COLUMNS):
        quality.add_column(name, justify="left" if name == "stage" else "right", no_wrap=True)
    for stage in fit["stages"]:
        for i, cells in enumerate(coefficient_cells(stage)):
            table.add_row(stage["label"] if i == 0 else "", *cells)
        quality.add_row(stage["label"], *(quality_cells(stage)[name] for name in QUALITY_COLUMNS))
    console.print(table)
    console.print(quality)
    console.print(f"[dim]{fit['image_tokens_map']}. Robust fit (soft-L1, then Cauchy), 95% CI from a bootstrap over sample ids; "
                  "resid and noise are robust SDs relative to the value (noise: the same sample id measured "
                  "again under one setting; † no repeats: the spread within a setting, inputs included).[/]")
    for stage in fit["stages"]:
        for note in stage["notes"]:
            console.print(f"[dim]{stage['label']}: {note}[/]")
    if held:
        console.print(*_prediction_table(
            f"held out {held['knob']}={held['value']} ({held['n']} samples; image tokens mapped "
            f"{_num(held['drivers']['image_tokens'])}, measured {_num(held['measured_image_tokens'])})",
            held["stages"], measured=True))
    for pred in report["predictions"]:
        setting = " ".join(f"{k}={v}" for k, v in pred["setting"].items())
        d = pred["drivers"]
        console.print(*_prediction_table(
            f"predicted at {setting}: {_num(d['image_tokens'])} image tokens, {_num(d['prompt_tokens'])} prompt "
            f"tokens, {d['steps']} decode steps (median of {pred['n']} samples)", pred["stages"]))
        for note in pred["notes"]:
            console.print(f"[dim]{note}[/]")
    extra = report.get("per_extra_image")
    if extra:
        parts = ", ".join(f"{stage_label(stage)} {value:+.3g} ms" for stage, value in extra["stages"].items())
        console.print(f"each extra image ({_num(extra['image_tokens'])} image tokens, from {extra['at_images']} "
                      f"images): {parts} [dim](the fit's point predictions; intervals with --predict images=N)[/]")


def _prediction_table(title: str, stages: list[dict], measured: bool = False) -> tuple:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("stage")
    table.add_column("predicted ms", justify="right")
    table.add_column("95% interval", justify="right")
    if measured:
        table.add_column("measured ms", justify="right")
        table.add_column("error", justify="right")
        table.add_column("inside", justify="center")
    for s in stages:
        row = [s["stage"].removesuffix("_ms"), _num(s["value"]), f"{_num(s['low'])}..{_num(s['high'])}"]
        if measured:
            row += [_num(s["measured"]), "-" if s["error"] is None else f"{s['error']:+.0%}",
                    "[green]yes[/]" if s["inside"] else "[red]no[/]"]
        table.add_row(*row)
    return title, table
