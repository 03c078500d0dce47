"""Running arms inside one worker: the model-side target knobs act on, and the randomized
block order.

Every block takes ONE sample and runs it under every arm, in a fresh random order drawn
from a seeded RNG (the seed is the session's, so a run can be replayed). Every arm thus
measures the same sample ids (exact pairs), and slow drifts of the process (clock, thermal,
allocator) fall on all arms alike instead of on whichever ran later.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Iterator

from PIL import Image

from vlmtop.core.model_loading import LoadedModel
from vlmtop.core.samples import Sample
from vlmtop.sessions.knobs import KNOBS, Arm


class ModelTarget:
    """The worker's side of :class:`vlmtop.sessions.knobs.ArmTarget` for a loaded model."""

    def __init__(self, loaded: LoadedModel, set_policy: Callable[[str, str], None]):
        self.loaded = loaded
        self.set_policy = set_policy
        self.image_size: tuple[int, int] | int | None = None
        self.image_count: int | None = None  # images per synthetic sample; None: one
        self.frame_count: int | None = None  # frames per video; None: a synthetic sample has none
        self.image_kwargs: dict = {}
        self.generate_kwargs: dict = {}
        self._threads_set: int | None = None

    @property
    def family(self) -> str:
        return self.loaded.family

    def apply(self, arm: Arm) -> None:
        """Put every knob of `arm` in force (each arm carries every knob the run set)."""
        self.image_size, self.image_kwargs, self.generate_kwargs = None, {}, {}
        self.image_count = self.frame_count = None
        for name, value in arm.values.items():
            KNOBS[name].apply(self, value)

    # -- what knobs call ----------------------------------------------------------------

    def set_attention(self, implementation: str) -> None:
        model = self.loaded.model
        if getattr(model.config, "_attn_implementation", None) != implementation:
            model.set_attn_implementation(implementation)

    def set_threads(self, threads: int) -> None:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)

    def pixel_budget(self) -> dict:
        processor = self.loaded.inputs.image_processor
        size = getattr(processor, "size", None)
        if processor is None or size is None:
            return {}
        return {key: size[key] for key in ("shortest_edge", "longest_edge") if size.get(key) is not None}

    # -- what the worker calls per sample -----------------------------------------------

    def before_generate(self) -> None:
        """Forget the static-cache length of earlier generate() calls.

        transformers (generation/utils.py, ``_prepare_static_cache``) sizes each new
        StaticCache by ``max(this call's length, model._previous_max_cache_length)``, to spare
        torch.compile a recompile. Between arms that carries the longest arm's cache into
        every shorter one (a 2-token arm ran with the 40-token arm's 99 slots), so the arms
        would not measure their own setting. We do not compile, so nothing is lost."""
        if self.generate_kwargs.get("cache_implementation") == "static":
            model = self.loaded.model
            if hasattr(model, "_previous_max_cache_length"):
                delattr(model, "_previous_max_cache_length")

    def resize(self, image: Image.Image) -> Image.Image:
        if self.image_size is None:
            return image
        if isinstance(self.image_size, tuple):
            return image.resize(self.image_size)
        scale = self.image_size / max(image.size)
        return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))


@dataclass
class BlockSchedule:
    """Yields (arm index, sample) pairs: each sample under every arm, arms shuffled per
    block. Indices, not arms: a policy switched mid-run updates the worker's arms in place."""

    arm_count: int
    seed: int
    _rng: random.Random = field(init=False)
    _pending: list[tuple[int, Sample]] = field(default_factory=list, init=False)
    blocks: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def at_block_start(self) -> bool:
        return not self._pending

    def next(self, samples: Iterator[Sample]) -> tuple[int, Sample] | None:
        if not self._pending:
            sample = next(samples, None)
            if sample is None:
                return None
            order = self._rng.sample(range(self.arm_count), self.arm_count) if self.arm_count > 1 else [0]
            self._pending = [(index, sample) for index in order]
            self.blocks += 1
        return self._pending.pop(0)

