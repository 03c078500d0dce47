"""`vlmtop run` (dashboard or --headless) and `vlmtop models`."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

from vlmtop.cli import add_db_option
from vlmtop.core.errors import VlmtopError
from vlmtop.sessions.policies import CACHE, TIMING, Policies

HEADLESS_DEFAULT_COUNT = 50  # an endless source needs an end when nobody can press q


def register(subparsers) -> None:
    run = subparsers.add_parser(
        "run",
        help="record a session: the dashboard, or --headless",
        description="Time a VLM sample by sample and record every sample to the session database.",
    )
    add_run_options(run)
    run.set_defaults(func=cmd_run)

    models = subparsers.add_parser("models", help="built-in presets and supported architectures")
    models.set_defaults(func=cmd_models)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    from vlmtop.core.zoo import DEFAULT_PRESET

    what = parser.add_argument_group("what to run")
    what.add_argument("--model", default=DEFAULT_PRESET, help=f"preset name, Hugging Face id or local path (default {DEFAULT_PRESET})")
    what.add_argument("--random-weights", action="store_true", help="build a checkpoint from its config alone")
    what.add_argument("--samples", default="synthetic", help="synthetic (default), a folder of images, or a .jsonl manifest")
    what.add_argument("--prompt", help="prompt for folder samples (and manifest lines without one)")
    what.add_argument("--count", type=_positive_int, help="measured samples to record (default: until stopped)")
    what.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this many seconds")
    what.add_argument("--max-new-tokens", type=_positive_int, default=16)
    what.add_argument("--free-length", action="store_true", help="let EOS end generation early (default: fixed length)")
    what.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda when available)")
    what.add_argument("--dtype", choices=("float32", "bfloat16", "float16"))
    what.add_argument("--stage", action="append", default=[], metavar="NAME=PATH",
                      help="declare a stage module (vision, projector, language, or a new name); repeatable")
    what.add_argument("--threads", type=_positive_int, help="torch threads of the worker (default: all cores headless, one left for the dashboard)")
    what.add_argument("--seed", type=int, default=0)
    policy = parser.add_argument_group("policies (switchable at runtime from the dashboard)")
    default = Policies()
    policy.add_argument("--cache-policy", default=default.cache,
                        help=f"{' | '.join(CACHE)} (empty_cache + gc before each sample)")
    policy.add_argument("--warmup", default=default.warmup, help=f"none | N | per-sample (default {default.warmup})")
    policy.add_argument("--timing", default=default.timing, help=" | ".join(TIMING))
    out = parser.add_argument_group("output")
    add_db_option(out)
    out.add_argument("--headless", action="store_true", help="no dashboard: a progress bar, then a summary")
    out.add_argument("--json", action="store_true", help="with --headless: print the summary as JSON")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def settings_from(args: argparse.Namespace):
    from vlmtop.sessions.policies import validate
    from vlmtop.sessions.worker import RunSettings

    stages = {}
    for item in args.stage:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise VlmtopError(f"--stage {item!r}: expected NAME=dotted.module.path, e.g. vision=model.vision_tower")
        stages[name.strip()] = path.strip()
    return RunSettings(
        model=args.model,
        random_weights=args.random_weights,
        samples=args.samples,
        prompt=args.prompt,
        count=args.count,
        duration_s=args.duration,
        max_new_tokens=args.max_new_tokens,
        fixed_length=not args.free_length,
        device=args.device,
        dtype=args.dtype,
        cache_policy=validate("cache", args.cache_policy),
        warmup=validate("warmup", args.warmup),
        timing=validate("timing", args.timing),
        stages=stages,
        threads=args.threads,
        seed=args.seed,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from vlmtop.sessions.paths import db_path

    from vlmtop.core.models import check_model_spec
    from vlmtop.core.samples import check_samples_spec

    settings = settings_from(args)
    # refuse a misspelt model or sample path in one line, before a session or a screen opens
    check_model_spec(settings.model, settings.device, settings.dtype)
    check_samples_spec(settings.samples)
    db = db_path(args.db)
    if args.headless:
        return run_headless(settings, db, as_json=args.json)
    from vlmtop.tui.launch import run_dashboard

    return run_dashboard(settings, db)


def run_headless(settings, db, as_json: bool = False) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from vlmtop.sessions.store import SessionStore
    from vlmtop.sessions.summary import summarize_session
    from vlmtop.sessions.worker import Worker, default_threads

    if settings.count is None and settings.duration_s is None and settings.samples == "synthetic":
        settings.count = HEADLESS_DEFAULT_COUNT
    settings.threads = settings.threads or default_threads(dashboard=False)
    err = Console(stderr=True)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TextColumn("last e2e {task.fields[last]}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )
    task = progress.add_task("loading model", total=settings.count, rate="", last="-")
    started = [time.monotonic()]

    def on_loaded(loaded):
        started[0] = time.monotonic()
        progress.update(task, description=f"{loaded.name} on {loaded.device}")

    def on_sample(record):
        if record.status == "error":
            progress.console.print(f"[red]seq {record.seq} ({record.sample_id}) failed:[/] {record.error}")
        elif not record.is_warmup:
            progress.advance(task)
        elapsed = max(1e-9, time.monotonic() - started[0])
        progress.update(
            task,
            rate=f"{(record.seq + 1) / elapsed:.1f} samples/s",
            last=f"{record.e2e_ms:.1f} ms" if record.e2e_ms is not None else "error",
        )

    worker = Worker(settings, db, on_sample=on_sample, on_loaded=on_loaded)
    with progress:
        status = worker.run()
        store = SessionStore.open(db, create=False)
        info = store.session(worker.session_id)
        if info.failed_before_any_sample:
            progress.live.transient = True  # the reason is the whole story: no bar, no empty table
    if info.failed_before_any_sample:
        raise VlmtopError(info.failed_before_any_sample)
    summary = summarize_session(store, worker.session_id)
    if as_json:
        json.dump(
            {"session": info.to_dict(), "db": str(db), "stages": [s.to_dict() for s in summary]},
            sys.stdout, indent=2, default=str,
        )
        print()
    else:
        out = Console()
        out.print(_summary_table(info, summary))
        out.print(f"session [bold]{info.id}[/] {status} · {info.measured_count} measured, "
                  f"{info.warmup_count} warm-up, {info.error_count} errors · database {db}")
    if status == "failed":
        err.print(f"[red]vlmtop: session {info.id} failed:[/] {info.error}")
        return 1
    return 0


def _summary_table(info, summary):
    from rich.table import Table

    table = Table(title=f"{info.model} on {info.device} ({info.dtype}): ms per sample", title_justify="left")
    table.add_column("stage")
    for name in ("n", "mean", "p50", "p90", "p99", "share of e2e"):
        table.add_column(name, justify="right")
    for row in summary:
        cells = [f"{v:.2f}" if math.isfinite(v) else "-" for v in (row.mean, row.p50, row.p90, row.p99)]
        share = f"{row.share:.1%}" if row.share is not None else ""
        table.add_row(row.stage, str(row.n), *cells, share, style="bold" if row.stage == "e2e" else None)
    return table


def cmd_models(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from vlmtop.core.stages import LANGUAGE_NAMES, PROJECTOR_NAMES, VISION_NAMES
    from vlmtop.core.zoo import DEFAULT_PRESET, FAMILIES, PRESETS

    console = Console()
    presets = Table(title="Built-in presets (random weights, nothing downloaded)", title_justify="left")
    for column in ("preset", "family", "dtype", "what"):
        presets.add_column(column)
    for preset in PRESETS.values():
        name = preset.name + (" (default)" if preset.name == DEFAULT_PRESET else "")
        presets.add_row(name, preset.family, preset.default_dtype, preset.summary)
    console.print(presets)
    families = Table(title="Families with a built-in preset", title_justify="left")
    families.add_column("model_type")
    families.add_column("layout")
    for name, family in FAMILIES.items():
        families.add_row(name, family.description)
    console.print(families)
    console.print(
        "Any Hugging Face VLM (--model ORG/NAME or a local folder) whose parts follow these names works: "
        f"vision {', '.join(VISION_NAMES)}; projector {', '.join(PROJECTOR_NAMES)}; "
        f"language {', '.join(LANGUAGE_NAMES)} (under the model or its .model), or is found through "
        "config.vision_config / config.text_config. Others: --stage NAME=dotted.path."
    )
    return 0
