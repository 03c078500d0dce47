"""What one timed ``generate()`` call measured: the result type of :class:`StageTimer`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

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
    construction; ``other_ms`` is the generate loop's own work (logits processing, cache
    bookkeeping, mask building) and is shown, never hidden.
    """

    vision_ms: float
    projector_ms: float
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

    @property
    def decode_per_token_ms(self) -> float | None:
        """Mean time of one decode step (vLLM's TPOT), None without decode steps."""
        if not self.decode_steps_ms:
            return None
        return self.decode_ms / len(self.decode_steps_ms)

    def stage_ms(self) -> dict[str, float]:
        """The additive parts of e2e, in pipeline order, `other` last."""
        return {
            "vision": self.vision_ms,
            "projector": self.projector_ms,
            "prefill": self.prefill_ms,
            "decode": self.decode_ms,
            "other": self.other_ms,
        }

    def to_dict(self) -> dict:
        out = asdict(self)
        out["decode_per_token_ms"] = self.decode_per_token_ms
        return out
