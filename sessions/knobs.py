"""The knobs: named, typed settings a run can fix or compare, each defined here once.

A knob has a name, a parser that turns command-line text into its one canonical value
(what sample rows store and screens show), the families it applies to, a one-line meaning,
and an ``apply`` that takes effect between two samples without reloading the model. The
three runtime policies (cache, warmup, timing) are knobs like the rest.

``apply`` acts on an :class:`ArmTarget`, the worker's handle on the loaded model, so this
module needs neither torch nor a model: `vlmtop knobs`, the dashboard and compare read it.

Several values of a knob make *arms*; several multi-valued knobs make their cartesian
product. The worker runs every arm on the same sample in a randomized order per block
(sessions/run/worker.py), which is exactly paired and cancels the process's own offset.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol

from vlmtop.core.errors import VlmtopError
from vlmtop.core.limits import MAX_IMAGES, MAX_NEW_TOKENS, MAX_THREADS
from vlmtop.sessions.policies import KINDS, POLICIES
from vlmtop.sessions.policies import validate as validate_policy

QWEN_FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")
# image_splitting: each family's own processor switch for cropping an image into tiles.
# LLaVA-NeXT tiles by image_grid_pinpoints and has no on/off switch, so it is not listed.
SPLITTING_SWITCH = {
    "idefics3": "do_image_splitting",
    "smolvlm": "do_image_splitting",
    "gemma3": "do_pan_and_scan",  # only acts on images past its aspect ratio (1.2:1 by default)
}
SPLITTING_FAMILIES = tuple(SPLITTING_SWITCH)
# the families vlmtop feeds a video to with the built-in inputs (core/inputs.py, core/zoo/)
VIDEO_FAMILIES = ("qwen2_vl", "qwen2_5_vl", "smolvlm")


class ArmTarget(Protocol):
    """What a knob's apply can change (implemented by the worker)."""

    family: str | None  # the loaded model's family (config.model_type)
    image_size: tuple[int, int] | int | None  # (w, h) exact, or the longest edge
    image_count: int | None  # images per synthetic sample (None: one)
    frame_count: int | None  # frames per video (a synthetic sample's, or taken from a manifest's)
    image_kwargs: dict  # passed to the image processor with every sample
    generate_kwargs: dict  # passed to generate() with every sample

    def set_attention(self, implementation: str) -> None: ...
    def set_threads(self, threads: int) -> None: ...
    def set_policy(self, kind: str, value: str) -> None: ...
    def pixel_budget(self) -> dict: ...  # the image processor's size dict (Qwen)


@dataclass(frozen=True)
class Knob:
    name: str
    values: str  # the allowed values, in words (`vlmtop knobs`)
    meaning: str
    parse: Callable[[str], Any]  # text -> canonical value; raises VlmtopError
    apply: Callable[[ArmTarget, Any], None]
    families: tuple[str, ...] | None = None  # None: every family
    needs_warmup: bool = False  # its first use loads something: keep --warmup >= 1 (the worker's per-arm warm-up)
    choices: Callable[[], tuple[str, ...]] | None = None  # a closed set of values, as available HERE

    def values_here(self) -> str:
        """The allowed values in words, narrowed to what this installation has (attn
        offers flash_attention_2 only where flash_attn is installed)."""
        return " | ".join(self.choices()) if self.choices else self.values

    def applies_to(self, family: str | None) -> bool:
        return family is None or self.families is None or family in self.families

    def check_family(self, family: str | None) -> None:
        """Refuse a knob that does nothing for this model, in one line."""
        if not self.applies_to(family):
            raise VlmtopError(
                f"knob {self.name} does not apply to {family} models (it applies to {', '.join(self.families)}); "
                "`vlmtop knobs --model M` lists what does"
            )


# -- parsers ----------------------------------------------------------------------------


def _size(text: str) -> str:
    """`448x336` (exact width x height) or `448` (the longest edge, aspect kept)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[x×]\s*(\d+))?\s*", text)
    if not match or int(match[1]) < 1 or (match[2] and int(match[2]) < 1) or int(match[1]) > 16384:
        raise VlmtopError(f"image_size {text!r}: use WxH (e.g. 448x448) or a longest edge in px (e.g. 448)")
    return f"{int(match[1])}x{int(match[2])}" if match[2] else str(int(match[1]))


def _pixels(text: str) -> int:
    """A pixel count: `200704`, or `448x448` for its product."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[x×*]\s*(\d+))?\s*", text)
    if not match:
        raise VlmtopError(f"pixel budget {text!r}: use a count (200704) or WxH (448x448)")
    value = int(match[1]) * (int(match[2]) if match[2] else 1)
    if value < 28 * 28:
        raise VlmtopError(f"pixel budget {text!r}: at least 784 (one 28x28 patch)")
    return value


def _positive(name: str, limit: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not (text.strip().isascii() and text.strip().isdigit()) or not 1 <= int(text) <= limit:
            raise VlmtopError(f"{name} {text!r}: use a whole number from 1 to {limit}")
        return int(text)

    return parse


def _switch(name: str) -> Callable[[str], bool]:
    def parse(text: str) -> bool:
        value = text.strip().lower()
        if value in ("on", "true", "1", "yes"):
            return True
        if value in ("off", "false", "0", "no"):
            return False
        raise VlmtopError(f"{name} {text!r}: use on or off")

    return parse


def _choice(name: str, choices: Callable[[], tuple[str, ...]]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices():
            raise VlmtopError(f"{name} {text!r}: use {' | '.join(choices())}")
        return value

    return parse


def attention_choices() -> tuple[str, ...]:
    """sdpa and eager always; flash_attention_2 where the flash_attn package is installed."""
    found = importlib.util.find_spec("flash_attn") is not None
    return ("sdpa", "eager", "flash_attention_2") if found else ("sdpa", "eager")


def _policy(kind: str) -> Callable[[str], str]:
    return lambda text: validate_policy(kind, text)


def _set_policy(kind: str) -> Callable[[ArmTarget, str], None]:
    return lambda target, value: target.set_policy(kind, value)


# -- apply ------------------------------------------------------------------------------


def _apply_image_size(target: ArmTarget, value: str) -> None:
    w, _, h = value.partition("x")
    target.image_size = (int(w), int(h)) if h else int(w)


def _image_count(text: str) -> int:
    if not (text.strip().isascii() and text.strip().isdigit()) or int(text) > MAX_IMAGES:
        raise VlmtopError(f"images {text!r}: use a whole number from 0 (a text-only prompt) to {MAX_IMAGES}")
    return int(text)


def _apply_image_count(target: ArmTarget, value: int) -> None:
    target.image_count = value


def _apply_frame_count(target: ArmTarget, value: int) -> None:
    target.frame_count = value


def _apply_splitting(target: ArmTarget, value: bool) -> None:
    target.image_kwargs[SPLITTING_SWITCH.get(target.family or "", "do_image_splitting")] = value


def _apply_pixels(which: str) -> Callable[[ArmTarget, int], None]:
    def apply(target: ArmTarget, value: int) -> None:
        size = {**target.pixel_budget(), **target.image_kwargs.get("size", {})}
        size[which] = value
        target.image_kwargs["size"] = size

    return apply


def _apply_generate(key: str, convert: Callable[[Any], Any] = lambda v: v) -> Callable[[ArmTarget, Any], None]:
    def apply(target: ArmTarget, value: Any) -> None:
        converted = convert(value)
        if converted is None:
            target.generate_kwargs.pop(key, None)
        else:
            target.generate_kwargs[key] = converted

    return apply


KNOBS: dict[str, Knob] = {
    knob.name: knob
    for knob in (
        Knob("image_size", "WxH | N (longest edge)", "resize every input image before the processor",
             _size, _apply_image_size),
        Knob("images", f"0..{MAX_IMAGES}", "images per synthetic prompt (0: text-only), each of the "
             "sample's size: vision and prefill against the image count", _image_count, _apply_image_count),
        Knob("frames", f"1..{MAX_IMAGES}", "frames per video: a synthetic prompt carries a video of N frames "
             "(and no image unless images= says), a manifest's video is sampled to N frames",
             _positive("frames", MAX_IMAGES), _apply_frame_count, VIDEO_FAMILIES),
        Knob("max_pixels", "pixels, or WxH", "the processor's upper pixel budget: caps the visual tokens",
             _pixels, _apply_pixels("longest_edge"), QWEN_FAMILIES),
        Knob("min_pixels", "pixels, or WxH", "the processor's lower pixel budget: a floor on visual tokens",
             _pixels, _apply_pixels("shortest_edge"), QWEN_FAMILIES),
        Knob("image_splitting", "on | off", "split large images into crops plus a global view "
             "(do_image_splitting; gemma3: do_pan_and_scan, on images past 1.2:1)",
             _switch("image_splitting"), _apply_splitting, SPLITTING_FAMILIES, choices=lambda: ("on", "off")),
        Knob("max_new_tokens", "1..8192", "tokens generated per sample (the decode length)",
             _positive("max_new_tokens", MAX_NEW_TOKENS), _apply_generate("max_new_tokens")),
        Knob("attn", "sdpa | eager [| flash_attention_2]", "the attention kernel (set_attn_implementation)",
             _choice("attn", attention_choices), lambda t, v: t.set_attention(v), needs_warmup=True,
             choices=attention_choices),
        Knob("kv_cache", "dynamic | static", "the KV-cache implementation generate() uses",
             _choice("kv_cache", lambda: ("dynamic", "static")),
             _apply_generate("cache_implementation", lambda v: "static" if v == "static" else None),
             needs_warmup=True, choices=lambda: ("dynamic", "static")),
        Knob("threads", "1..1024", "torch intra-op threads of the worker (CPU work)",
             _positive("threads", MAX_THREADS), lambda t, v: t.set_threads(v)),
        # the policies as knobs: their words and closed sets are sessions/policies.py's
        *(Knob(kind, policy.values, f"policy: {policy.effect}", _policy(kind), _set_policy(kind),
               choices=None if policy.accepts else (lambda cycle=policy.cycle: cycle))
          for kind, policy in POLICIES.items()),
    )
}

POLICY_KNOBS = KINDS


def knob(name: str) -> Knob:
    if name not in KNOBS:
        raise VlmtopError(f"unknown knob {name!r}: one of {', '.join(KNOBS)} (`vlmtop knobs` explains them)")
    return KNOBS[name]


# -- arms -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arm:
    """One combination of knob values; `values` holds every knob the run set."""

    label: str  # the varied knobs only, e.g. "attn=eager,max_new_tokens=8"; "" with one arm
    values: dict[str, Any]

    def with_value(self, name: str, value: Any) -> "Arm":
        """The same arm with one fixed knob set anew (a policy switched from a dashboard)."""
        return Arm(self.label, {**self.values, name: value})

    def to_dict(self) -> dict:
        return {"label": self.label, "values": dict(self.values)}


def split_setting(text: str, family: str | None, usage: str) -> tuple[Knob, str]:
    """`NAME=VALUE` -> (the knob, the value as typed), the knob known and applying to the
    family; ``usage`` is the error when the text is not of that form."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name or not value.strip():
        raise VlmtopError(usage)
    spec = knob(name)
    spec.check_family(family)
    return spec, value


def parse_knob_options(items: list[str], family: str | None = None) -> dict[str, list[Any]]:
    """`--knob NAME=V1[,V2...]` options -> {name: [values]} in the given order, validated."""
    out: dict[str, list[Any]] = {}
    for item in items:
        spec, text = split_setting(item, family, f"--knob {item!r}: expected NAME=VALUE[,VALUE...], e.g. attn=sdpa,eager")
        name = spec.name
        if name in out:
            raise VlmtopError(f"--knob {name} given twice: put every value in one option ({name}=A,B)")
        values = [spec.parse(part) for part in text.split(",")]
        if len(set(map(str, values))) != len(values):
            raise VlmtopError(f"--knob {item!r}: a value is repeated")
        out[name] = values
    return out


def make_arms(knob_values: dict[str, list[Any]]) -> list[Arm]:
    """The cartesian product of the multi-valued knobs; the first arm is the baseline
    (every knob at its first value). Single-valued knobs are in every arm's values.

    The ONE definition of an arm's label: the varied knobs in the order of ``knob_values``
    (the command line's), each ``name=value``, joined by commas. Readers that only hold a
    label compare arms by :func:`arm_key`, never by the label's text."""
    varied = [name for name, values in knob_values.items() if len(values) > 1]
    arms = []
    for combo in itertools.product(*(knob_values[name] for name in varied)):
        values = {name: vals[0] for name, vals in knob_values.items()}
        values.update(zip(varied, combo))
        label = ",".join(f"{name}={format_value(values[name])}" for name in varied)
        arms.append(Arm(label, values))
    return arms or [Arm("", {})]


def format_value(value: Any) -> str:
    """How a knob value is written in labels and on screen."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def arm_key(label: str | None) -> frozenset[tuple[str, str]]:
    """What an arm IS, whatever order its label names the knobs in: its ``(name, value)``
    pairs. ``max_new_tokens=8,attn=sdpa`` and ``attn=sdpa,max_new_tokens=8`` (a session
    recorded when the stored settings sorted the knobs) are one arm. No value contains a
    comma or an ``=`` (the parsers refuse them), so a label splits back unambiguously."""
    if not label:
        return frozenset()
    return frozenset(tuple(part.partition("=")[::2]) for part in label.split(","))


def label_names(label: str | None) -> list[str]:
    """The knob names a label gives, in its order."""
    return [part.partition("=")[0] for part in label.split(",")] if label else []


def arm_labels_in_order(knob_values: dict | None, recorded: Iterable[str | None] = ()) -> list[str]:
    """The labels of a run's arms, baseline first, in the run's order; where a row already
    recorded an arm, its label exactly as recorded.

    ``knob_values``: the session's ``settings["knobs"]``. Planned arms are matched to the
    ``recorded`` labels by :func:`arm_key` (their knob values), so a session whose settings
    were stored with the knobs sorted still finds its arms, under the labels its rows
    carry; the knob order is then taken from those labels (the worker wrote them in
    command-line order), and the baseline stays the arm of every knob's first value. A
    recorded label the settings do not plan follows, in order of first appearance. A
    planned arm nothing recorded yet (a live run's first block) keeps its planned label."""
    present = [label for label in dict.fromkeys(recorded) if label]
    try:
        knobs = {name: list(values) for name, values in dict(knob_values or {}).items() if isinstance(values, list)}
        varied = [name for name, values in knobs.items() if len(values) > 1]
        written = next((label_names(label) for label in present if sorted(label_names(label)) == sorted(varied)), None)
        if written:  # the order the worker wrote them in
            knobs = {**{name: knobs[name] for name in written}, **knobs}
        planned = [arm.label for arm in make_arms(knobs)]
    except Exception:  # settings of another version: the rows' own order still holds
        planned = []
    by_key = {arm_key(label): label for label in present}
    ordered = [by_key.get(arm_key(label), label) for label in planned if label]
    return list(dict.fromkeys(ordered + present))


def arm_order(settings: dict | None, recorded: Iterable[str | None] = (), *, recorded_only: bool = False) -> list[str]:
    """The arm labels of a session, baseline first, in the run's order: every reader's one
    order (compare, the dashboard, the report, the headless summary).

    ``settings``: the session's settings (their ``knobs`` plan the arms, see
    :func:`arm_labels_in_order`); ``recorded``: the arm of each row, in seq order, so a
    planned arm goes under the label its rows carry. [] for a run of one arm. With
    ``recorded_only`` only the arms some row recorded: what stored samples can compare."""
    knob_values = settings.get("knobs") if isinstance(settings, dict) else None
    recorded = list(recorded)
    ordered = arm_labels_in_order(knob_values if isinstance(knob_values, dict) else None, recorded)
    if not recorded_only:
        return ordered
    present = set(recorded)
    return [label for label in ordered if label in present]
