"""The stages, each listed ONCE: its name, the column that holds it, whether it is a part
of e2e, its theme colour and its place in every table.

What reads stages derives from this table: the stored columns' order, summary rows,
compare stages, the dashboard's rows, colours and share bar, trace tracks, and which times
SampleRecord.set_timing copies. Adding a stage (an encoder, a per-stage memory figure) is
one line here, plus what measures and holds its value, which are typed fields:

* core/locate.py locates it in a model, core/timer.py times it;
* a ``<name>_ms`` field on core/stage_timing.py's StageTiming (what the timer returns), and on
  sessions/records.py's SampleRecord when it is stored (the store adds the column);
* only if the separate-pass method measures it too: core/multipass.py's
  MultipassTiming, records.py's MULTIPASS_COLUMNS and an ``mp_<name>_ms`` field;
* only if the cost model predicts it: sessions/costmodel/fit.py's SPECS and PREDICTED,
  and the Point of sessions/costmodel/drivers.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlmtop.core.errors import VlmtopError


@dataclass(frozen=True)
class StageDef:
    name: str  # the one name: on screen, in --stage, in JSON and CSV (column = name + "_ms")
    additive: bool  # a part of e2e: vision + projector + prefill + decode + other == e2e
    color: str  # the theme colour it is drawn in (Textual theme attribute, or "muted")
    meaning: str
    stored: bool = True  # False: derived from other columns when read (decode_per_token)
    on_dashboard: bool = True  # a row of the dashboard's stage table (decode shows per token)
    span: bool = False  # a span on a sample's timeline: a report lane and a trace track
    reliability: bool = False  # its test-retest reliability is reported (compare --reliability)
    priority: int = 99  # which stage column a narrow arms panel adds first (0 first)
    needs_images: bool = False  # runs only on a prompt with images: not run (None) on a text-only one

    @property
    def column(self) -> str:
        return f"{self.name}_ms"


STAGES: tuple[StageDef, ...] = (
    StageDef("vision", True, "primary", "the vision encoder (all images and crops of the sample)",
             span=True, reliability=True, priority=3, needs_images=True),
    StageDef("projector", True, "secondary", "the projector/connector from image features to text embeddings",
             span=True, reliability=True, priority=6, needs_images=True),
    StageDef("prefill", True, "accent", "the language model's first call: the whole prompt, image tokens included",
             span=True, reliability=True, priority=0),
    StageDef("decode", True, "success", "every later language-model call together",
             on_dashboard=False, span=True, reliability=True, priority=2),
    StageDef("decode_per_token", False, "success",
             "decode time per generated token (vLLM's TPOT)", stored=False, priority=4),
    StageDef("ttft", False, "foreground", "time to first token: from generate() to the first new token",
             priority=5),
    StageDef("e2e", False, "foreground", "the whole generate() call", reliability=True, priority=1),
    StageDef("other", True, "muted", "what no stage covers: the generate loop's own work (e2e minus the parts)",
             priority=7),
)

ADDITIVE = tuple(stage for stage in STAGES if stage.additive)  # other last: they sum to e2e
STORED = tuple(stage for stage in STAGES if stage.stored)
BY_NAME = {stage.name: stage for stage in STAGES}
DASHBOARD = tuple(stage for stage in STAGES if stage.on_dashboard)  # the dashboard's rows
SPANS = tuple(stage for stage in STAGES if stage.span)  # report lanes, trace tracks after e2e
RELIABILITY = tuple(stage for stage in STAGES if stage.reliability)
IMAGE_STAGES = tuple(stage.name for stage in STAGES if stage.needs_images)  # not run on text-only prompts
BY_PRIORITY = tuple(sorted(STAGES, key=lambda stage: stage.priority))  # arms panel columns

# Other spellings people type, accepted wherever a stage is named (`--stage`, compare).
ALIASES = {"tpot": "decode_per_token", "decode/tok": "decode_per_token", "decode_per_tok": "decode_per_token"}


def stage_def(text: str) -> StageDef:
    """The stage a user named: its name, column, or an alias; one line when unknown."""
    name = text.strip().lower().removesuffix("_ms")
    name = ALIASES.get(name, name)
    if name not in BY_NAME:
        raise VlmtopError(f"unknown stage {text!r}: one of {', '.join(BY_NAME)}")
    return BY_NAME[name]
