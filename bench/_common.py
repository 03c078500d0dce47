"""What every bench script shares: the machine's description, one prepared model and input,
and medians with their spread.

Figures are medians; the spread is the 10th..90th percentile of the same values. A/B figures
are ratios taken per round on rounds that alternate which side goes first (AB, BA, ...), so
slow drift on a noisy machine hits both sides alike.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import transformers

import vlmtop
from vlmtop.core.device_info import cpu_name
from vlmtop.core.model_loading import LoadedModel, load_model
from vlmtop.core.samples import synthetic_samples


def machine() -> dict:
    """Where and with what the figures were taken: written at the top of the report."""
    cuda = torch.cuda.is_available()
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "vlmtop": vlmtop.__version__,
    }


def bench_parser(doc: str, device: bool = True) -> argparse.ArgumentParser:
    """The options every bench shares: --quick (CI smoke sizes), --json, and --device."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke sizes: the suite runs, the figures mean little")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON (what run_all reads)")
    if device:
        parser.add_argument("--device", default=default_device())
    return parser


def log_sd_line(sd: dict) -> str:
    """The process log-SD of each stage, as the benches that measure it print it."""
    return "  process log-SD: " + ", ".join(f"{k} {v:.3f}" for k, v in sd.items())


def run(parse, figures, show) -> int:
    """What a bench does when run: its figures, printed as JSON (--json) or by
    ``show(result, args)``."""
    args = parse()
    result = figures(args)
    if args.json:
        print_json(result)
    else:
        show(result, args)
    return 0


def print_json(result: dict) -> None:
    json.dump({"machine": machine(), **result}, sys.stdout, indent=2)
    print()


def spread(values: Sequence[float]) -> dict:
    """Median and 10th..90th percentile of `values` (nearest rank: no interpolation)."""
    ordered = sorted(values)
    rank = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"median": statistics.median(ordered), "p10": rank(0.1), "p90": rank(0.9), "n": len(ordered)}


def fmt(figure: dict, digits: int = 2) -> str:
    """`12.34 (11.9..13.1)`: a median and its spread in one cell."""
    return f"{figure['median']:.{digits}f} ({figure['p10']:.{digits}f}..{figure['p90']:.{digits}f})"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Prepared:
    """A loaded model with one ready sample: what a bench times again and again."""

    loaded: LoadedModel
    inputs: dict
    generate_kwargs: dict

    def describe(self) -> dict:
        """What the figures were taken on: preset, device, dtype."""
        loaded = self.loaded
        return {"preset": loaded.name, "device": str(loaded.device), "dtype": str(loaded.dtype).removeprefix("torch.")}

    @property
    def model(self) -> torch.nn.Module:
        return self.loaded.model

    def sync(self) -> None:
        if self.loaded.device.type == "cuda":
            torch.cuda.synchronize()


def prepare(preset: str, device: str, new_tokens: int, image_size: int = 224, dtype: str | None = None) -> Prepared:
    loaded = load_model(preset, device=device, dtype=dtype)
    if loaded.family in ("idefics3", "smolvlm") and loaded.device.type == "cpu":
        # SmolVLM splits every image into up to 16 crops of 512 px (~25 s of vision on a
        # 2-core CPU); one crop keeps the real model size and a generate near a second.
        loaded.inputs.processor.image_processor.do_image_splitting = False
    sample = next(synthetic_samples(((image_size, image_size),)))
    inputs = loaded.prepare(sample.image(), sample.prompt)
    return Prepared(loaded, inputs, loaded.generation_kwargs(new_tokens))


def bare_and_timed(prepared: Prepared, timer, kwargs: dict, keep: list | None = None):
    """(bare, timed): one generate() each, returning its wall seconds, synchronized so a GPU's
    work is inside (the timer synchronizes once itself). ``keep`` collects the timings."""
    model, inputs, sync = prepared.model, prepared.inputs, prepared.sync

    def bare() -> float:
        sync()
        start = time.perf_counter()
        model.generate(**inputs, **kwargs)
        sync()
        return time.perf_counter() - start

    def timed() -> float:
        sync()
        start = time.perf_counter()
        timing = timer.generate(**inputs, **kwargs)[0]
        if keep is not None:
            keep.append(timing)
        return time.perf_counter() - start

    return bare, timed


def alternating(bare, timed, rounds: int) -> dict:
    """``rounds`` of both, the order alternating so drift hits both alike: their spreads in
    ms and the per-round ratio timed / bare."""
    bare_ms, timed_ms = [], []
    for index in range(rounds):
        if index % 2:
            t, b = timed(), bare()
        else:
            b, t = bare(), timed()
        bare_ms.append(b * 1e3)
        timed_ms.append(t * 1e3)
    return {"bare_ms": spread(bare_ms), "timed_ms": spread(timed_ms),
            "ratio": spread([t / b for t, b in zip(timed_ms, bare_ms)])}


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"
