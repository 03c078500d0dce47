"""What one timed ``generate()`` call measured: the result type of :class:`StageTimer`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


def decode_tokens(steps: int, new_tokens: int | None) -> int:
    """Tokens the decode steps produced: every new token but the first (prefill's)."""
    return max(0, new_tokens - 1) if new_tokens else steps


def decode_per_token_ms(decode_ms: float | None, steps: int, new_tokens: int | None) -> float | None:
    """Decode time per generated token (vLLM's TPOT); None without decode steps.

    Divided by tokens, not by steps: one speculative step can emit several tokens (with
    plain decoding the two counts are equal)."""
    tokens = decode_tokens(steps, new_tokens)
    return decode_ms / tokens if steps and tokens and decode_ms is not None else None


def tokens_per_step(steps: int, new_tokens: int | None) -> float | None:
    """Decode tokens per language-model call: 1 in plain decoding, more when speculative
    decoding accepts candidates (its acceptance, counted in tokens)."""
    return decode_tokens(steps, new_tokens) / steps if steps else None


@dataclass(frozen=True)
class Span:
    """One call of a stage module, in ms from the start of ``generate()``.

    Spans are kept so a sample can be drawn on a real timeline (trace export) and so the
    stage totals can be re-derived and checked.
    """

    stage: str  # vision | projector | prefill | decode, or a user-declared stage
    start_ms: float
    end_ms: float

    @property
    def ms(self) -> float:
        return self.end_ms - self.start_ms


@dataclass
class StageTiming:
    """Stage totals of one ``generate()`` call, all from ONE pass, so they add up.

    ``vision_ms + projector_ms + prefill_ms + decode_ms + other_ms == e2e_ms`` by
    construction (a stage that did not run counts as 0 there); ``other_ms`` is the generate
    loop's own work (logits processing, cache bookkeeping, mask building) and is shown,
    never hidden.
    """

    vision_ms: float | None  # None: the vision encoder did not run (a text-only prompt)
    projector_ms: float | None  # None: the projector did not run
    prefill_ms: float
    decode_ms: float
    decode_steps_ms: list[float]
    ttft_ms: float | None  # None only when no new token was produced
    e2e_ms: float
    other_ms: float
    prompt_tokens: int = 0
    new_tokens: int = 0
    vision_calls: int = 0  # several images or crops: their calls are summed in vision_ms
    clock: str = "perf_counter"  # perf_counter | cuda_events | cuda_sync
    spans: list[Span] = field(default_factory=list)
    # Times of stages the user declared beyond the four standard ones, by name.
    extra_ms: dict[str, float] = field(default_factory=dict)
    # hooks: decode steps from the language model's hooks. streamer: from the tokens' marks,
    # where hooks cannot fire (a torch.compile'd decode), so each step includes loop work.
    decode_clock: str = "hooks"
    graph_breaks: int = 0  # Dynamo graph breaks during this call (compiled models)
    # Assisted or prompt-lookup decoding: a decode step may emit several tokens.
    speculative: bool = False
    # Standard stages the locator did not find (their time is in other_ms), e.g. ("projector",).
    unlocated: tuple[str, ...] = ()

    @property
    def decode_per_token_ms(self) -> float | None:
        return decode_per_token_ms(self.decode_ms, len(self.decode_steps_ms), self.new_tokens)

    @property
    def tokens_per_step(self) -> float | None:
        return tokens_per_step(len(self.decode_steps_ms), self.new_tokens)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["decode_per_token_ms"] = self.decode_per_token_ms
        out["tokens_per_step"] = self.tokens_per_step
        return out
