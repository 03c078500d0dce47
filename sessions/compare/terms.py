"""The words of a comparison: verdicts, thresholds, evidence levels, errors and stage names.

Apart from sessions/compare/two_sets.py (which holds the statistics) so that a command line can name
them without loading numpy and scipy: `vlmtop --help` builds compare's parser from these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vlmtop.core.errors import VlmtopError
from vlmtop.core.stage_table import BY_NAME, STAGES, stage_def

if TYPE_CHECKING:  # the floor is read from the store, with numpy: not for a command line's parser
    from vlmtop.sessions.compare.noise_floor import NoiseFloor

DECODE_PER_TOKEN = BY_NAME["decode_per_token"].column
# Every stage a comparison covers by default: all of core/stage_table.py, in its order.
COMPARE_STAGES = tuple(stage.column for stage in STAGES)

ALPHA = 0.05
# Changes of the median smaller than 2 % are called `same` even when significant. Inside
# one process, samples recorded minutes apart drift by about that much (GPU clocks,
# thermal and allocator state), so a smaller change is not one a setting can be credited
# with. criterion.rs uses 1 % for micro-benchmarks in a tight loop; our noise floor is
# higher. Between processes the floor is larger and measured (sessions/compare/noise_floor.py).
NOISE_THRESHOLD = 0.02
N_BOOT = 2000  # resamples: the 2.5 % / 97.5 % quantiles are then stable to ~0.1 % of ratio
SEED = 0  # fixed, so the same data always gives the same interval
MIN_VALUES = 2  # per side and stage
# Fewer values (or pairs) than this and a percentile bootstrap has too few distinct resamples
# for its interval to hold its level: 2 pairs give 3 resamples, whose extremes are the two
# pairs themselves. Below it a comparison shows its figures but claims nothing.
MIN_INTERVAL_VALUES = 8
MIN_PAIRS = 8  # fewer common ids than this: compare unpaired


@dataclass(frozen=True)
class CompareOptions:
    """How a comparison is made, whatever it compares: `vlmtop compare`'s flags, and what the
    dashboard and the report choose. A caller that changes one field makes a copy with
    :func:`dataclasses.replace`."""

    threshold: float = NOISE_THRESHOLD  # the band ±threshold a verdict's interval is judged against
    alpha: float = ALPHA  # the intervals are (1 - alpha), shared by the family's stages
    n_boot: int = N_BOOT
    seed: int | None = SEED
    pair: bool = True  # pair on sample ids where the ids allow it (`--unpaired`: never)
    floor: NoiseFloor | None = None  # one process per side: the process noise that widens its interval
    family: int | None = None  # stages whose intervals hold together; None: those compared in one call

    @property
    def confidence(self) -> float:
        """Each interval's own level: 1 - alpha / family (0.95 for one stage)."""
        return 1.0 - self.alpha / (self.family or 1)


FASTER, SLOWER, SAME = "faster", "slower", "same"
INCONCLUSIVE = "inconclusive"  # a difference the evidence cannot tell from process noise
DIFFERENT = "different"  # what `--fail-on` calls either of faster and slower

# What a verdict rests on: every verdict names its level of evidence.
PAIRED_ARMS = "paired in one process (interleaved arms)"
PAIRED_SEGMENTS = "paired in one process (consecutive segments)"
ONE_PROCESS_SEGMENTS = "one process (consecutive segments, unpaired)"
ONE_PROCESS_PER_SIDE = "one process per side"


class CompareError(VlmtopError):
    """A comparison cannot be made; the message says why and what to do."""


class NotEnoughSamplesError(CompareError):
    """A side has fewer than 2 measured values of a stage."""


class NothingToCompareError(CompareError):
    """One session ran under one policy only: there are no segments to compare."""


def canonical_stage(text: str) -> str:
    """A stage as a person writes it (``prefill``, ``e2e_ms``, ``decode/tok``, ``tpot``) -> its
    column name, as in JSON (``decode_per_token_ms``): core/stage_table.py's names and aliases."""
    try:
        return stage_def(text.replace("-", "_")).column
    except VlmtopError:
        raise CompareError(f"unknown stage {text!r}: one of {', '.join(stage_option_names())}") from None


def stage_option_names() -> list[str]:
    """The canonical spelling of every stage for ``--stage``: the column without ``_ms``."""
    return [stage.removesuffix("_ms") for stage in COMPARE_STAGES]
