"""Is a change faster? Comparisons of sample sets, arms, processes and hosts.

    terms             the words: verdicts, thresholds, evidence levels, stage names
    verdict           the one rule from a ratio's interval to a verdict
    two_sets          two sample sets (paired or not): ratio, interval, rank test
    arms              the arms of a session, each against the first
    across_processes  replicated processes: the process is the unit of evidence
    noise_floor       how far apart identical processes land
    by_host           hosts and devices as the level they are
    columns           a session's measured samples column by column
    report            what ``vlmtop compare`` reports, as plain dicts (its JSON)

It uses ``analysis`` for the numbers and the public ``store`` API for the samples.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmtop.lazy import lazy_exports

if TYPE_CHECKING:  # the public names; at run time each loads on first use (vlmtop/lazy.py)
    from vlmtop.sessions.analysis.segments import segments as segments
    from vlmtop.sessions.compare.terms import (
        COMPARE_STAGES as COMPARE_STAGES,
    )
    from vlmtop.sessions.compare.terms import (
        FASTER as FASTER,
    )
    from vlmtop.sessions.compare.terms import (
        INCONCLUSIVE as INCONCLUSIVE,
    )
    from vlmtop.sessions.compare.terms import (
        NOISE_THRESHOLD as NOISE_THRESHOLD,
    )
    from vlmtop.sessions.compare.terms import (
        SAME as SAME,
    )
    from vlmtop.sessions.compare.terms import (
        SLOWER as SLOWER,
    )
    from vlmtop.sessions.compare.terms import (
        CompareError as CompareError,
    )
    from vlmtop.sessions.compare.terms import (
        CompareOptions as CompareOptions,
    )
    from vlmtop.sessions.compare.two_sets import Comparison as Comparison
    from vlmtop.sessions.compare.two_sets import compare as compare
    from vlmtop.sessions.compare.two_sets import compare_rows as compare_rows
    from vlmtop.sessions.compare.two_sets import compare_segments as compare_segments
    from vlmtop.sessions.records import is_measured as is_measured

__getattr__, __all__ = lazy_exports(__name__, __file__)
