"""bench/compile.py (compiled model, bare against timed) hands back figures of the right
shape and its report section renders them. Structure only, as in test_bench_smoke.py: a
quick run's figures mean nothing, and no timing or ratio is compared with a bound."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _module(monkeypatch, name: str):
    monkeypatch.syspath_prepend(str(BENCH))  # the benches import their shared _common
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_compile_bench_quick_figures_and_section(monkeypatch):
    bench = _module(monkeypatch, "compile")
    figures = json.loads(json.dumps(bench.figures(bench.parse(["--quick", "--json", "--device", "cpu"]))))
    (result,) = figures["presets"]
    assert figures["fallback"] is None  # --quick asks for eager, which always builds
    assert (result["preset"], result["device"], result["backend"], result["rounds"]) == ("tiny-llava", "cpu", "eager", 2)
    for key in ("bare_ms", "timed_ms", "ratio"):
        assert set(result[key]) == {"median", "p10", "p90", "n"} and result[key]["n"] == 2
        assert all(math.isfinite(result[key][q]) for q in ("median", "p10", "p90"))
    assert result["graph_breaks"] == 0 and result["timer_graph_breaks"] == 0  # the compiled program is the user's
    assert isinstance(result["recompiles"], int)
    assert result["decode_clock"] == ["streamer"]  # decode steps read from the tokens under compile
    section = _module(monkeypatch, "_sections_timing").compiled(figures)
    assert section.startswith("## Compiled models") and "backend **eager**" in section
    assert section.count("| tiny-llava | cpu | eager | 2 |") == 1
