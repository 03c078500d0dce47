"""The runtime policies: what they may be and how they cycle (no torch here: the dashboard
reads them; what the cache policy does to a device is core/cache_policy.py).

Every sample row records the policies it ran under, so segments and comparisons can be
derived from the samples themselves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from vlmtop.core.errors import VlmtopError


@dataclass(frozen=True)
class Policy:
    """One policy, the one place its values, default, cycle order and words are written:
    the CLI's options, the `--knob` table, the dashboard's steering keys, policy bar and
    help are all read from here."""

    kind: str
    cycle: tuple[str, ...]  # the order the dashboard's key steps through; cycle[0] is the default
    title: str  # what the dashboard's help calls it
    label: str  # its short name on the footer and in the help
    effect: str  # what it does, in one line
    accepts: str = ""  # the values in words, where they are more than the cycle's

    @property
    def default(self) -> str:
        return self.cycle[0]

    @property
    def values(self) -> str:
        """The values a user may give, in words: `keep | empty`, `none | N | per-sample`."""
        return self.accepts or " | ".join(self.cycle)

    def describe_cycle(self) -> str:
        """`cycle the cache policy: keep → empty`, as the key does from the default on."""
        return f"cycle the {self.title}: {' → '.join(self.cycle)}"


POLICIES = {
    policy.kind: policy
    for policy in (
        Policy("cache", ("keep", "empty"), "cache policy", "cache",
               "empty: empty_cache + gc.collect before each sample, outside the timing"),
        Policy("warmup", ("2", "none", "3", "per-sample"), "warm-up policy", "warm-up",
               "untimed warm-up samples at start and after each change (per-sample: each sample once untimed)",
               accepts="none | N | per-sample"),
        Policy("timing", ("events", "sync", "multipass"), "timing mode", "timing", "how stages are clocked"),
    )
}
KINDS = tuple(POLICIES)  # ("cache", "warmup", "timing"): the order of Policies' fields and segments' key
CACHE = POLICIES["cache"].cycle
TIMING = POLICIES["timing"].cycle
WARMUP_CYCLE = POLICIES["warmup"].cycle
# The one mapping to the other spellings, both public (docs/store.md): each policy's column in
# `samples` (and SampleRecord field), and its key in the session's settings (RunSettings).
COLUMNS = {"cache": "cache_policy", "warmup": "warmup_policy", "timing": "timing_mode"}
SETTINGS_KEYS = {"cache": "cache_policy", "warmup": "warmup", "timing": "timing"}


@dataclass(frozen=True)
class Policies:
    cache: str = POLICIES["cache"].default
    warmup: str = POLICIES["warmup"].default  # none | N (warm-up samples at start and after each change) | per-sample
    timing: str = POLICIES["timing"].default

    @classmethod
    def from_row(cls, row) -> "Policies":
        """The policies a sample ran under (a SampleRecord, or anything with its fields), as
        recorded: not validated, so an old or odd value is shown, not refused."""
        return cls(*(getattr(row, COLUMNS[kind]) for kind in KINDS))

    @classmethod
    def from_settings(cls, settings: dict | None) -> "Policies":
        """The policies a session's settings asked for (defaults where a key is absent)."""
        settings, default = settings or {}, cls()
        return cls(*(str(settings.get(SETTINGS_KEYS[kind], getattr(default, kind))) for kind in KINDS))

    @property
    def values(self) -> tuple[str, str, str]:
        """(cache, warmup, timing): the order of KINDS, segments' key."""
        return tuple(getattr(self, kind) for kind in KINDS)

    def columns(self) -> dict[str, str]:
        """The sample columns they are stored in: {"cache_policy": ..., ...}."""
        return {COLUMNS[kind]: getattr(self, kind) for kind in KINDS}

    # Read by kind, as the dashboard's policy bar and steering do: policies["cache"].
    def __getitem__(self, kind: str) -> str:
        if kind not in KINDS:
            raise KeyError(kind)
        return getattr(self, kind)

    def get(self, kind: str, default=None):
        return getattr(self, kind) if kind in KINDS else default

    def keys(self) -> tuple[str, ...]:
        return KINDS

    def with_value(self, kind: str, value: str) -> "Policies":
        """A copy with `kind` set to `value`, validated; raises VlmtopError when invalid."""
        if kind not in KINDS:
            raise VlmtopError(f"unknown policy {kind!r}: one of {', '.join(KINDS)}")
        return replace(self, **{kind: validate(kind, value)})

    def next_value(self, kind: str) -> str:
        """The value after the current one, for cycling keys."""
        order = POLICIES[kind].cycle
        current = getattr(self, kind)
        return order[(order.index(current) + 1) % len(order)] if current in order else order[0]

    @property
    def warmup_count(self) -> int:
        """Warm-up samples to run at start and after every policy change."""
        return int(self.warmup) if self.warmup.isascii() and self.warmup.isdigit() else 0

    def as_knobs(self) -> dict[str, list[str]]:
        """The policies as single-valued knobs (sessions/knobs.py), for every arm's values."""
        return {kind: [value] for kind, value in asdict(self).items()}

    def describe(self) -> str:
        return " ".join(f"{k}={v}" for k, v in asdict(self).items())


def validate(kind: str, value: str) -> str:
    value = str(value).strip().lower()
    if kind == "cache" and value in CACHE:
        return value
    if kind == "timing" and value in TIMING:
        return value
    if kind == "warmup" and (value in ("none", "per-sample") or (value.isascii() and value.isdigit() and int(value) < 10_000)):
        return "none" if value == "0" else value
    allowed = POLICIES[kind].values if kind in POLICIES else "?"
    raise VlmtopError(f"invalid {kind} policy {value!r}: use {allowed}")

