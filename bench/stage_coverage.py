"""Coverage: how much of each generate() the stages account for, for every built-in preset.

``other_ms`` is e2e minus the stages. It is not an error term: it is generate()'s own work,
and the spans say where it sits. Each sample's uncovered time is split by position:

- setup: before the first stage starts (argument checks, cache creation, the processor's
  tensors moved, Qwen's rope index computed in Python);
- merge: gaps up to the end of prefill (image features scattered into the text embeddings);
- loop: gaps between prefill and the last decode step (per step: logits processors,
  stopping criteria, the streamer, preparing the next step's inputs);
- tail: after the last decode step (stopping, building the output).

    python bench/stage_coverage.py                    # every tiny preset + the shapes that fit a CPU run
    python bench/stage_coverage.py --preset qwen2-vl-2b-shape --device cuda
    python bench/stage_coverage.py --quick --json     # the CI smoke
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _common import bench_parser, prepare, run, spread
from transformers.generation.logits_process import MinNewTokensLengthLogitsProcessor

from vlmtop.core import StageTimer, locate_stages
from vlmtop.core.zoo import PRESETS

PARTS = ("setup", "merge", "loop", "tail")


def uncovered_parts(timing) -> dict:
    """The time no span covers, split into PARTS (spans may nest: their union is taken)."""
    parts = dict.fromkeys(PARTS, 0.0)
    spans = sorted(timing.spans, key=lambda span: span.start_ms)
    prefill_end = next(span.end_ms for span in spans if span.stage == "prefill")
    covered_to = 0.0
    for span in spans:
        gap = span.start_ms - covered_to
        if gap > 0:
            part = "setup" if covered_to == 0.0 else "merge" if span.start_ms <= prefill_end else "loop"
            parts[part] += gap
        covered_to = max(covered_to, span.end_ms)
    parts["tail"] = max(0.0, timing.e2e_ms - covered_to)
    return parts


# Real-size shapes a 2-core CPU with 24 GiB runs in float32 in seconds per generate; the
# others (7-8B, or Gemma3's 896 px vision) need a GPU: on CUDA every shape runs in bfloat16.
CPU_SHAPES = ("smolvlm-256m-shape", "qwen2-vl-2b-shape", "paligemma-3b-shape")


def logits_step_ms(vocab: int, prompt_tokens: int, new_tokens: int, device: torch.device) -> float:
    """What generate() does per step with the logits, timed alone at this vocabulary size:
    copy the last position to float32, the fixed-length processor (it masks EOS over the
    whole vocabulary), argmax, append the token. It grows with the vocabulary, not the model."""
    processor = MinNewTokensLengthLogitsProcessor(prompt_tokens, prompt_tokens + new_tokens, eos_token_id=[0])
    ids = torch.ones(1, prompt_tokens, dtype=torch.long, device=device)
    logits = torch.randn(1, 1, vocab, device=device)

    def step():
        scores = processor(ids, logits[:, -1, :].to(copy=True, dtype=torch.float32))
        torch.cat([ids, torch.argmax(scores, dim=-1)[:, None]], dim=-1)

    times = []
    for index in range(60):
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if index >= 10:  # warm
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def measure(preset: str, device: str, rounds: int, new_tokens: int) -> dict:
    prepared = prepare(preset, device, new_tokens, dtype="float32" if device == "cpu" else None)
    rows = []
    with torch.inference_mode(), StageTimer(prepared.model, locate_stages(prepared.model)) as timer:
        timer.generate(**prepared.inputs, **prepared.generate_kwargs)  # warm
        for _ in range(rounds):
            rows.append(timer.generate(**prepared.inputs, **prepared.generate_kwargs)[0])
    shares = [t.other_ms / t.e2e_ms for t in rows]
    return {
        **prepared.describe(),
        "rounds": rounds,
        "prompt_tokens": rows[0].prompt_tokens,
        "new_tokens": rows[0].new_tokens,
        "e2e_ms": spread([t.e2e_ms for t in rows]),
        "other_ms": spread([t.other_ms for t in rows]),
        "other_share": spread(shares),
        "parts_ms": {part: statistics.median(uncovered_parts(t)[part] for t in rows) for part in PARTS},
        "loop_ms_per_step": statistics.median(uncovered_parts(t)["loop"] / max(1, len(t.decode_steps_ms)) for t in rows),
        "vocab": prepared.model.config.get_text_config().vocab_size,
        "logits_step_ms": logits_step_ms(
            prepared.model.config.get_text_config().vocab_size, rows[0].prompt_tokens, new_tokens, prepared.loaded.device
        ),
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--preset", action="append", help="preset(s) (default: every tiny preset + a shape)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--new-tokens", type=int, default=16)
    args = parser.parse_args(argv)
    tiny = [name for name in PRESETS if name.startswith("tiny-")]
    if args.quick:  # every tiny preset still runs: the smoke checks each one's spans resolve
        args.rounds = 1
    shapes = CPU_SHAPES if args.device == "cpu" else [name for name in PRESETS if name.endswith("-shape")]
    args.preset = args.preset or (tiny if args.quick else [*tiny, *shapes])
    return args


def figures(args: argparse.Namespace) -> dict:
    """What `--json` prints (run_all calls this in its own process for --quick)."""
    results = []
    for preset in args.preset:
        # a real-size model on CPU takes a second or more per generate: fewer rounds
        rounds = args.rounds if preset.startswith("tiny-") or args.device != "cpu" else max(3, args.rounds // 5)
        results.append(measure(preset, args.device, rounds, args.new_tokens))
    return {"presets": results}


def show(result: dict, args) -> None:
    results = result["presets"]
    print(f"{'preset':<22}{'e2e ms':>10}{'other ms':>10}{'share':>8}" + "".join(f"{p:>9}" for p in PARTS) + f"{'loop/step':>11}")
    for r in results:
        print(f"{r['preset']:<22}{r['e2e_ms']['median']:>10.2f}{r['other_ms']['median']:>10.2f}"
              f"{r['other_share']['median']:>8.1%}" + "".join(f"{r['parts_ms'][p]:>9.2f}" for p in PARTS)
              + f"{r['loop_ms_per_step']:>11.3f}")


def main() -> int:
    return run(parse, figures, show)


if __name__ == "__main__":
    raise SystemExit(main())
