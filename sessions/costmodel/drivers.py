"""What a cost model is fitted on and predicts from: the drivers of each sample, and how a
knob value becomes drivers.

A stage's latency is driven by token counts, not by knob values: vision by the image
tokens, prefill by the prompt length (image tokens included), decode by the context each
step attends over. Each measured row becomes a :class:`Point` holding those counts; a knob
value asked about (``image_size=896x896``) is translated into the same counts by
:class:`DriverMap`, learned from the rows themselves, so the model never needs the
processor or torch.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from vlmtop.core.errors import VlmtopError
from vlmtop.sessions.compare import is_measured
from vlmtop.sessions.knobs import knob
from vlmtop.sessions.records import SampleRecord

# Knobs whose effect on latency goes through the drivers: rows with different values of
# these can share one cost model. Any other knob (attn, kv_cache, threads, timing, cache)
# changes the cost per token itself, so a fit must hold it fixed. `warmup` only decides
# which samples are warm-up, never the cost of a measured one.
DRIVER_KNOBS = ("images", "frames", "image_size", "max_pixels", "min_pixels", "image_splitting", "max_new_tokens")
NEUTRAL_KNOBS = ("warmup",)
# Directly named drivers, accepted by --predict beside knobs.
DIRECT_DRIVERS = ("image_tokens", "new_tokens")
# Patch grids tried for an exact (width, height) -> image tokens relation: Qwen2-VL's 28 px
# (14 px patches merged 2x2), plain ViT patch sizes, and coarser merges.
GRIDS = (28, 14, 16, 32, 56, 64)


@dataclass(frozen=True)
class Point:
    """One measured sample as the cost model sees it."""

    session_id: str
    seq: int
    sample_id: str
    setting: str  # the sample's drivers setting: (image tokens, steps) as text; arms differ here
    knobs: dict
    width: int | None
    height: int | None
    image_tokens: float
    prompt_tokens: float
    steps: int  # decode steps (language-model calls after prefill)
    image_count: int  # images in the prompt (rows from before it was kept: 1)
    new_tokens: int
    vision_ms: float
    projector_ms: float
    prefill_ms: float
    decode_ms: float
    other_ms: float
    e2e_ms: float

    @property
    def context(self) -> float:
        """Mean context of a decode step: step k (from 0) attends over prompt + 1 + k keys.
        For a model linear in context, the mean step cost is the cost at this context."""
        return self.prompt_tokens + 1 + (self.steps - 1) / 2.0

    @property
    def decode_per_step_ms(self) -> float:
        return self.decode_ms / self.steps if self.steps else float("nan")


def _num(value) -> float:
    return float("nan") if value is None else float(value)


def points_from_rows(rows: Iterable[SampleRecord]) -> list[Point]:
    """The measured rows that carry token counts, as points (others are left out)."""
    out = []
    for row in rows:
        if not is_measured(row) or row.prompt_tokens is None:
            continue
        steps = len(row.decode_steps_ms or ()) or max(0, (row.new_tokens or 0) - 1)
        image_tokens = row.image_tokens or 0
        out.append(
            Point(
                row.session_id, row.seq, row.sample_id or f"seq-{row.seq}",
                f"image_tokens={image_tokens},steps={steps}", dict(row.knobs or {}),
                row.image_width, row.image_height, float(image_tokens), float(row.prompt_tokens),
                steps, 1 if row.image_count is None else row.image_count, int(row.new_tokens or 0), _num(row.vision_ms), _num(row.projector_ms),
                _num(row.prefill_ms), _num(row.decode_ms), _num(row.other_ms), _num(row.e2e_ms),
            )
        )
    return out


def parse_assignment(item: str, option: str) -> tuple[str, object]:
    """``KNOB=VALUE`` -> (name, canonical value) through the knob's own parser."""
    name, sep, text = item.partition("=")
    name = name.strip()
    if not sep or not name or not text.strip():
        raise VlmtopError(f"{option} {item!r}: expected KNOB=VALUE, e.g. image_size=896x896")
    if name in DIRECT_DRIVERS:
        if not text.strip().isdigit():
            raise VlmtopError(f"{option} {item!r}: {name} takes a whole number")
        return name, int(text)
    if "," in text:
        raise VlmtopError(f"{option} {item!r}: one value per option (repeat the option for more)")
    return name, knob(name).parse(text)


def natural(text: str) -> list:
    """Sort key that puts 56x56 before 112x112."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(text))]


def select(points: list[Point], name: str, value) -> tuple[list[Point], list[Point]]:
    """(points whose knob `name` equals `value`, the rest)."""
    inside = [p for p in points if str(p.knobs.get(name)) == str(value)]
    return inside, [p for p in points if str(p.knobs.get(name)) != str(value)]


def check_poolable(points: list[Point]) -> dict:
    """The knobs every point shares (fixed for the fit); refuse points that differ in a
    knob the model cannot express as a driver, naming it and the way out."""
    names = {name for p in points for name in p.knobs}
    fixed = {}
    for name in sorted(names - set(DRIVER_KNOBS) - set(NEUTRAL_KNOBS)):
        values = sorted({str(p.knobs.get(name)) for p in points})
        if len(values) > 1:
            raise VlmtopError(
                f"the samples mix {' and '.join(f'{name}={v}' for v in values)}: that knob changes the cost per token "
                f"itself, not a driver the model uses; fit one value at a time with --only {name}={values[0]}"
            )
        fixed[name] = points[0].knobs.get(name)
    return fixed


@dataclass(frozen=True)
class Drivers:
    """The token counts one setting gives a typical sample."""

    image_tokens: float
    prompt_tokens: float
    steps: int
    new_tokens: int
    width: float | None = None
    height: float | None = None

    @property
    def context(self) -> float:
        return self.prompt_tokens + 1 + (self.steps - 1) / 2.0

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def _grid_tokens(width: float, height: float, grid: int) -> int:
    """Patches of ``grid`` px, each side rounded to the nearest patch (as Qwen2-VL does)."""
    return max(1, round(width / grid)) * max(1, round(height / grid))


class DriverMap:
    """Knob values -> drivers, learned from the points a model was fitted on."""

    def __init__(self, points: list[Point], fixed: dict):
        self.fixed = fixed
        self.text_tokens = statistics.median(p.prompt_tokens - p.image_tokens for p in points)
        self.steps = int(statistics.median(p.steps for p in points))
        self.first_token = int(statistics.median(p.new_tokens - p.steps for p in points))  # prefill's token
        self.image_tokens = statistics.median(p.image_tokens for p in points)
        self.image_count = statistics.median(p.image_count for p in points)
        with_images = [p for p in points if p.image_count]
        # what one image brings: a prompt's image tokens over its images (the same size each)
        self.tokens_per_image = statistics.median(p.image_tokens / p.image_count for p in with_images) \
            if with_images else 0.0
        sized = [p for p in with_images if p.width and p.height]
        self.aspect = statistics.median(p.width / p.height for p in sized) if sized else 1.0
        self.cap: float | None = None  # a capped grid's most tokens (the processor's pixel limit)
        self.relation, self.grid, self._line = self._learn(
            {(p.width, p.height, p.image_tokens / p.image_count) for p in sized})

    def _learn(self, seen: set) -> tuple[str, int | None, tuple[float, float] | None]:
        """How (width, height) gives image tokens in these measurements: a constant, an
        exact patch grid, a grid capped at the most tokens measured (a processor that
        shrinks images above a pixel limit, as Qwen2-VL's max_pixels does), or (failing
        all) a straight line in pixels."""
        if not seen:
            return "none", None, None
        if len({t for _, _, t in seen}) == 1:
            return "constant", None, (next(iter(seen))[2], 0.0)
        for grid in GRIDS:
            if all(_grid_tokens(w, h, grid) == t for w, h, t in seen):
                return "grid", grid, None
        cap = max(t for _, _, t in seen)
        for grid in GRIDS:
            # capped only where the data shows it: a size above the cap measured AT the cap,
            # and every size below it exactly on the grid
            at_cap = [(w, h) for w, h, t in seen if t == cap and _grid_tokens(w, h, grid) > cap]
            if len(at_cap) and all(min(_grid_tokens(w, h, grid), cap) == t for w, h, t in seen):
                self.cap = cap
                return "capped grid", grid, None
        pixels = np.array([w * h for w, h, _ in seen], dtype=float)
        tokens = np.array([t for _, _, t in seen], dtype=float)
        if np.ptp(pixels) == 0:
            return "none", None, None
        slope, intercept = np.polyfit(pixels, tokens, 1)
        return "linear", None, (float(intercept), float(slope))

    def describe(self) -> str:
        if self.relation == "grid":
            return f"image tokens = (width/{self.grid}) x (height/{self.grid}), exact on every measured size"
        if self.relation == "capped grid":
            return (f"image tokens = (width/{self.grid}) x (height/{self.grid}), at most {self.cap:g} (larger images "
                    f"are shrunk: a pixel limit), exact on every measured size")
        if self.relation == "constant":
            return f"image tokens do not depend on the image size here ({self._line[0]:g} on every measured size)"
        if self.relation == "linear":
            return f"image tokens ~ {self._line[0]:.4g} + {self._line[1] * 1e3:.4g} per 1k pixels (fitted, approximate)"
        return "image tokens cannot be mapped from image sizes (fewer than two measured sizes)"

    def image_tokens_for(self, width: float, height: float) -> float:
        if self.relation == "grid":
            return float(_grid_tokens(width, height, self.grid))
        if self.relation == "capped grid":
            return float(min(_grid_tokens(width, height, self.grid), self.cap))
        if self.relation in ("constant", "linear"):
            return max(0.0, self._line[0] + self._line[1] * width * height)
        raise VlmtopError(f"image_size cannot be mapped to image tokens: {self.describe()}; use --predict image_tokens=N")

    def drivers(self, values: dict) -> tuple[Drivers, list[str]]:
        """The drivers for these knob values (others at the fitted data's typical values),
        and one note per assumption made. Raises on a knob that cannot be mapped."""
        image_tokens, steps, notes = self.image_tokens, self.steps, []
        width = height = per_image = count = None
        for name, value in values.items():
            if name == "image_size":
                w, _, h = str(value).partition("x")
                if h:
                    width, height = float(w), float(h)
                else:  # the longest edge: the measured images' typical aspect
                    edge = float(w)
                    width, height = (edge, edge / self.aspect) if self.aspect >= 1 else (edge * self.aspect, edge)
                    notes.append(f"image_size={value}: aspect {self.aspect:.3g} of the measured images")
                per_image = self.image_tokens_for(width, height)
            elif name == "images":
                count = int(value)
            elif name == "image_tokens":
                image_tokens = float(value)
            elif name in ("max_new_tokens", "new_tokens"):
                steps = max(0, int(value) - self.first_token)
                notes.append(f"{name}={value}: {steps} decode steps, assuming no early stop (fixed length)")
            elif name in self.fixed and str(self.fixed[name]) == str(value):
                continue  # what the model was measured under
            elif name in self.fixed or name not in DRIVER_KNOBS:
                measured = f" (measured under {name}={self.fixed[name]})" if name in self.fixed else ""
                raise VlmtopError(
                    f"{name}={value} cannot be mapped to the model's drivers{measured}: it changes the cost "
                    f"per token itself; measure it as an arm (vlmtop run --knob {name}=...)"
                )
            else:
                raise VlmtopError(
                    f"{name} cannot be mapped to token counts without the processor; "
                    f"predict with image_tokens=N (the count `vlmtop run --knob {name}={value}` records)"
                )
        if per_image is not None or count is not None:  # image tokens = images x tokens per image
            if per_image is None:
                per_image = self.tokens_per_image
                notes.append(f"images={count}: {per_image:g} image tokens each (the measured images' median)")
            image_tokens = per_image * (self.image_count if count is None else count)
        prompt = self.text_tokens + image_tokens
        return Drivers(image_tokens, prompt, steps, steps + self.first_token, width, height), notes


def load_points(store, refs: list[str], only: list[tuple[str, object]] = ()) -> tuple[list, list[Point], list[str]]:
    """The sessions named (SessionInfo list), their points with every `only` knob value
    kept, and the notes `last` lookups gave. One model, device and dtype at a time."""
    infos, points, notes = [], [], []
    for ref in refs:
        resolved = store.lookup(ref)
        if resolved.note:
            notes.append(resolved.note)
        info = store.session(resolved.id)
        if info.id in {i.id for i in infos}:
            continue
        if infos and (info.model, info.device, info.dtype) != (infos[0].model, infos[0].device, infos[0].dtype):
            raise VlmtopError(
                f"session {info.id} ran {info.model} on {info.device} ({info.dtype}), session {infos[0].id} "
                f"{infos[0].model} on {infos[0].device} ({infos[0].dtype}): fit one model and device at a time"
            )
        infos.append(info)
        points += points_from_rows(store.iter_samples(info.id))
    for name, value in only:
        points, _ = select(points, name, value)
        if not points:
            raise VlmtopError(f"--only {name}={value}: no measured sample of these sessions has that value")
    return infos, points, notes
