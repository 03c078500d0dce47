"""`vlmtop run`: record a session, watched in the dashboard or --headless."""

from __future__ import annotations

import argparse
import sys

from vlmtop.cli.argtypes import nonnegative_float, number, positive_float, positive_int
from vlmtop.cli.parser import add_db_option
from vlmtop.core.errors import VlmtopError
from vlmtop.core.limits import MAX_NEW_TOKENS, MAX_THREADS
from vlmtop.sessions.policies import POLICIES, Policies


class _DefaultsHelp(argparse.HelpFormatter):
    """`--help` shows each real default; None/False (\"not set\") are left unsaid."""

    def _get_help_string(self, action):
        text = action.help or ""
        unset = action.default is None or action.default is False or action.default in ([], argparse.SUPPRESS)
        if "default" in text or unset:  # (not `in (None, False)`: 0 == False, and --seed's 0 is a value)
            return text
        return f"{text} (default: %(default)s)"


def register(subparsers) -> None:
    run = subparsers.add_parser(
        "run",
        help="record a session: the dashboard, or --headless",
        description="Time a VLM sample by sample and record every sample to the session database.",
        formatter_class=_DefaultsHelp,
    )
    add_run_options(run)
    run.set_defaults(func=cmd_run)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    from vlmtop.core.datasets import PROMPT_COLUMNS
    from vlmtop.core.samples import DEFAULT_PROMPT
    from vlmtop.core.zoo import DEFAULT_PRESET

    what = parser.add_argument_group("what to run")
    what.add_argument("--model", default=DEFAULT_PRESET, help="preset name, Hugging Face id or local path")
    what.add_argument("--random-weights", action="store_true", help="build a checkpoint from its config alone")
    what.add_argument("--trust-remote-code", action="store_true",
                      help="run the checkpoint's own Python code (auto_map); off by default: read it first")
    what.add_argument("--samples", default="synthetic", help="synthetic, a folder of images, a .jsonl manifest, or "
                      "a Hugging Face dataset saved as parquet (a .parquet file or a folder of shards)")
    what.add_argument("--prompt", help=f"prompt for folder samples (and manifest lines or dataset rows without one; "
                      f"default: {DEFAULT_PROMPT!r}; synthetic samples bring their own)")
    what.add_argument("--prompt-column", metavar="NAME", help="a parquet dataset's prompt column (default: the one "
                      f"of {', '.join(PROMPT_COLUMNS)} it has)")
    what.add_argument("--image-column", metavar="NAME", help="a parquet dataset's image column, where it has several")
    what.add_argument("--count", type=positive_int, help="measured samples to record per arm (default: until "
                      "stopped; --headless on synthetic samples: 50)")
    what.add_argument("--duration", type=positive_float, metavar="SECONDS", help="stop after this many seconds")
    what.add_argument("--max-new-tokens", type=number(int, low=1, high=MAX_NEW_TOKENS + 1, what="a whole number "
                      f"from 1 to {MAX_NEW_TOKENS}"), default=16, metavar="N",
                      help="tokens generated per sample (a manifest line's max_new_tokens wins)")
    what.add_argument("--free-length", action="store_true", help="let EOS end generation early (default: fixed length)")
    what.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda when available)")
    what.add_argument("--dtype", choices=("float32", "bfloat16", "float16"),
                      help="default: the preset's, else bfloat16 on cuda and float32 on cpu")
    what.add_argument("--stage", action="append", default=[], metavar="NAME=PATH",
                      help="declare a stage module (vision, projector, language, or a new name); repeatable")
    what.add_argument("--threads", type=number(int, low=1, high=MAX_THREADS + 1, what="a whole number "
                      f"from 1 to {MAX_THREADS}"),
                      help="torch threads of the worker (default: all cores headless, one left for the dashboard)")
    what.add_argument("--seed", type=int, default=0,
                      help="seed of the synthetic images, random weights and the arms' order")
    what.add_argument("--sample-timeout", type=positive_float, metavar="SECONDS",
                      help="a sample running longer is abandoned and recorded as an error row")
    arms = parser.add_argument_group("knobs and arms (`vlmtop knobs` lists them)")
    arms.add_argument("--knob", action="append", default=[], metavar="NAME=V1[,V2...]",
                      help="fix a knob (one value) or compare its values as interleaved arms in this one "
                           "process (several values; several such knobs: every combination, in the order given, "
                           "the first value of each the baseline); repeatable")
    arms.add_argument("--repeat", type=positive_int, metavar="N",
                      help="run N fresh worker processes one after another as one experiment (implies "
                           "--headless); compare then treats the process as the unit of evidence")
    arms.add_argument("--alternate-model", metavar="MODEL",
                      help="with --repeat: also run N processes of this model, in pairs with --model, each "
                      "pair's order drawn from --seed")
    fleet = parser.add_argument_group("scale out on Ray (`pip install 'vlmtop[ray]'`; docs/scaling.md)")
    fleet.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                       help="run each replicate process (--repeat) as a fresh Ray actor; this process is the one "
                            "database writer. ADDRESS: auto, ray://HOST:10001 or HOST:PORT; none: a local Ray")
    fleet.add_argument("--workers", type=positive_int, help="actors at a time (default: as many as the cluster holds)")
    fleet.add_argument("--gpus-per-worker", type=nonnegative_float, metavar="N",
                       help="GPUs Ray gives each actor (default: 1 where the cluster has GPUs, else 0)")
    fleet.add_argument("--cpus-per-worker", type=positive_float, metavar="N",
                       help="CPUs Ray gives each actor, and its torch threads (default: 1)")
    fleet.add_argument("--spread", action="store_true",
                       help="put the actors running at once on distinct nodes (a STRICT_SPREAD placement group)")
    policy = parser.add_argument_group("policies (switchable at runtime from the dashboard)")
    cache, warmup, timing = (POLICIES[kind] for kind in ("cache", "warmup", "timing"))
    policy.add_argument("--cache-policy", default=cache.default, help=f"{cache.values} ({cache.effect})")
    # no argparse default: settings_from must tell an explicit --warmup from none (a --knob warmup=X clash)
    policy.add_argument("--warmup", help=f"{warmup.values}: {warmup.effect} (default: {warmup.default})")
    policy.add_argument("--timing", default=timing.default, help=f"{timing.values} ({timing.effect})")
    out = parser.add_argument_group("output")
    add_db_option(out)
    out.add_argument("--headless", action="store_true",
                     help="no dashboard: a progress bar, then a summary (implied when there is no terminal)")
    out.add_argument("--json", action="store_true", help="print the summary as JSON (implies --headless)")
    from vlmtop.cli.commands.dashboard import add_interval_option

    add_interval_option(out)


def settings_from(args: argparse.Namespace, family: str | None = None):
    from vlmtop.sessions.knobs import parse_knob_options
    from vlmtop.sessions.policies import validate
    from vlmtop.sessions.run.worker import RunSettings

    stages = {}
    for item in args.stage:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise VlmtopError(f"--stage {item!r}: expected NAME=dotted.module.path, e.g. vision=model.vision_tower")
        stages[name.strip()] = path.strip()
    knobs = parse_knob_options(args.knob, family)
    warmup = validate("warmup", args.warmup) if args.warmup is not None else None
    if "warmup" in knobs and warmup is not None and knobs["warmup"] != [warmup]:
        raise VlmtopError(f"--warmup {warmup} and --knob warmup={','.join(knobs['warmup'])} disagree: "
                          "give the warm-up once (the knob to compare values as arms)")
    if len(knobs.get("warmup", ())) == 1:  # a fixed knob IS the run's warm-up policy (start event, dashboard)
        warmup = knobs["warmup"][0]
    return RunSettings(
        model=args.model,
        random_weights=args.random_weights,
        samples=args.samples,
        prompt=args.prompt,
        prompt_column=args.prompt_column,
        image_column=args.image_column,
        count=args.count,
        duration_s=args.duration,
        max_new_tokens=args.max_new_tokens,
        fixed_length=not args.free_length,
        device=args.device,
        dtype=args.dtype,
        cache_policy=validate("cache", args.cache_policy),
        warmup=warmup or Policies().warmup,
        timing=validate("timing", args.timing),
        stages=stages,
        threads=args.threads,
        seed=args.seed,
        sample_timeout_s=args.sample_timeout,
        trust_remote_code=args.trust_remote_code,
        knobs=knobs,
    )


def has_terminal() -> bool:
    """The dashboard needs a terminal to draw on and to read keys from."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def cmd_run(args: argparse.Namespace) -> int:
    from vlmtop.core.model_loading import check_model_spec, model_family
    from vlmtop.core.samples import check_sample_options
    from vlmtop.sessions.store.paths import db_path

    # refuse a misspelt model, knob or sample path in one line, before a session or a screen opens
    check_model_spec(args.model, args.device, args.dtype)
    settings = settings_from(args, model_family(args.model))
    if args.alternate_model is not None:
        if not args.repeat:
            raise VlmtopError("--alternate-model needs --repeat N (N processes per model, in pairs of A and B in a seeded order)")
        check_model_spec(args.alternate_model, args.device, args.dtype)
        settings_from(args, model_family(args.alternate_model))  # its knobs must apply too
    check_sample_options(settings.samples, "images" in settings.knobs, settings.prompt_column, settings.image_column,
                         "frames" in settings.knobs)
    db = db_path(args.db)
    if args.ray is not None or args.workers or args.gpus_per_worker is not None or args.cpus_per_worker or args.spread:
        if args.ray is None:
            raise VlmtopError("--workers, --gpus-per-worker, --cpus-per-worker and --spread go with --ray [ADDRESS]")
        from vlmtop.cli.commands.run_ray import run_on_ray

        return run_on_ray(settings, db, args.ray or None, args.repeat, args.alternate_model, args.workers,
                          args.gpus_per_worker, args.cpus_per_worker, args.spread, as_json=args.json)
    if args.repeat:
        from vlmtop.cli.commands.run_headless import run_replicated

        return run_replicated(settings, db, args.repeat, args.alternate_model, as_json=args.json)
    headless = args.headless or args.json
    if not headless and not has_terminal():
        # cron, CI, a pipe: a dashboard would write escape codes nobody reads and never end
        print("vlmtop: no terminal: running headless (pass --headless to say so)", file=sys.stderr)
        headless = True
    if headless:
        from vlmtop.cli.commands.run_headless import run_headless

        return run_headless(settings, db, as_json=args.json)
    from vlmtop.tui.launch import run_dashboard

    return run_dashboard(settings, db, interval=args.interval)
