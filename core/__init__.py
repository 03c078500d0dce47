"""vlmtop.core: measurement. No screen, no database.

    from vlmtop.core import locate_stages, StageTimer, StageTiming

    locate         which modules are the vision encoder, projector and language model
    timer          StageTimer: every stage of one generate() call, with module hooks
    compiled       which stage modules a torch.compile'd region swallows
    device_sync    waiting for a device's queued work, the one way every timer does it
    device_info    what a device is called, recorded on every session
    stage_timing   StageTiming: what one call measured (no torch)
    stage_table    the one list of stages, their columns and how they add up
    multipass      the separate-pass method, reproduced to show its error beside single-pass
    cache_policy   what the cache policy does before a sample, outside the timed region
    model_loading  a model and its processor: a preset, a hub id or a local path
    inputs         one prompt with 0..N images as the keyword arguments of generate()
    samples        where samples come from: synthetic images, a folder, a JSONL manifest
    datasets       a Hugging Face dataset saved as parquet, read as samples a batch at a time
    zoo/           the built-in presets: small configs with random weights, no download
    limits         bounds on what one run may ask for, checked where each value enters
    format         how every screen writes a time
    text           how outside text is shown: escaped, never parsed as markup
    errors         the errors every layer prints as one line

The public names load on first use (vlmtop/lazy.py), so importing ``vlmtop.core.errors``
or ``vlmtop.core.stage_timing`` from the command line, the session store or the dashboard
never pulls in torch and transformers (seconds and hundreds of MB, and absent on a laptop
that only replays sessions). Only the ``lazy`` helper of the root package is imported from
outside core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlmtop.lazy import lazy_exports

if TYPE_CHECKING:  # the public names; at run time each loads on first use (vlmtop/lazy.py)
    from vlmtop.core.errors import ModelLoadError as ModelLoadError
    from vlmtop.core.errors import SampleError as SampleError
    from vlmtop.core.errors import StageNotFoundError as StageNotFoundError
    from vlmtop.core.errors import VlmtopError as VlmtopError
    from vlmtop.core.locate import Stage as Stage
    from vlmtop.core.locate import StageMap as StageMap
    from vlmtop.core.locate import locate_stages as locate_stages
    from vlmtop.core.stage_timing import Span as Span
    from vlmtop.core.stage_timing import StageTiming as StageTiming
    from vlmtop.core.timer import StageTimer as StageTimer

__getattr__, __all__ = lazy_exports(__name__, __file__)
