"""Cost models: the fitting code on synthetic data with known coefficients (seeded, exact
enough to check), the knob -> driver mapping, the one-line refusals, and `vlmtop model` on
a real image-size sweep of tiny-qwen2-vl. No timing is asserted: on this shared machine
whether a held-out arm lands inside its interval is measured in bench/costmodel.py."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vlmtop.cli import main
from vlmtop.core.errors import VlmtopError
from vlmtop.sessions.costmodel import CostModel, holdout, robust_fit
from vlmtop.sessions.costmodel.drivers import DriverMap, parse_assignment, points_from_rows
from vlmtop.sessions.records import SampleRecord

TEXT = 40  # text tokens of every synthetic prompt
STEPS = 7
SIDES = (112, 168, 224, 280, 336)  # 16, 36, 64, 100, 144 image tokens on the 28 px grid


def truth(image_tokens: float, steps: int = STEPS) -> dict:
    prompt = TEXT + image_tokens
    context = prompt + 1 + (steps - 1) / 2
    return {
        "vision_ms": 5.0 + 0.2 * image_tokens + 5e-4 * image_tokens**2,  # 200 ms/1k, 500 ms/(1k)^2
        "projector_ms": 0.5 + 0.01 * image_tokens,
        "prefill_ms": 3.0 + 0.1 * prompt + 4e-4 * prompt**2,  # 100 ms/1k, 400 ms/(1k)^2
        "decode_per_step": 2.0 + 0.004 * context,  # 4 ms per step per 1k context
        "other_ms": 1.0 + 0.01 * prompt,
    }


def synthetic_rows(seed: int = 0, repeats: int = 2, outliers: float = 0.1, sides=SIDES) -> list[SampleRecord]:
    """Every sample id under every image size, `repeats` times, with 2 % multiplicative
    noise and a share of 3x spikes (a preempted stage)."""
    rng = np.random.default_rng(seed)
    rows, seq = [], 0
    for _ in range(repeats):
        for sample in range(12):
            for side in sides:
                tokens = (side // 28) ** 2
                t = truth(tokens)

                def noisy(v):
                    return v * (1 + rng.normal(0, 0.02)) * (3.0 if rng.random() < outliers else 1.0)

                # Steps get the 2 % noise only: spikes inside a sample's steps are part of its
                # decode total (what the model predicts), not outliers of it.
                steps = [t["decode_per_step"] * (1 + rng.normal(0, 0.02)) for _ in range(STEPS)]
                stages = {"vision_ms": noisy(t["vision_ms"]), "projector_ms": noisy(t["projector_ms"]),
                          "prefill_ms": noisy(t["prefill_ms"]), "decode_ms": sum(steps), "other_ms": noisy(t["other_ms"])}
                rows.append(SampleRecord(
                    "s", seq, f"synthetic-{sample}", arm=f"image_size={side}x{side}",
                    knobs={"image_size": f"{side}x{side}", "attn": "sdpa"}, image_width=side, image_height=side,
                    image_tokens=tokens, prompt_tokens=TEXT + tokens, new_tokens=STEPS + 1,
                    e2e_ms=sum(stages.values()), decode_steps_ms=steps, **stages))
                seq += 1
    return rows


@pytest.fixture(scope="module")
def synthetic_model() -> CostModel:
    return CostModel(points_from_rows(synthetic_rows()), n_boot=60, seed=0)


def _coef(model: CostModel, stage: str, term: str):
    fit = model.stage(stage)
    return next(c for c in fit.coefficients if c.term == term)


@pytest.mark.parametrize("stage, term, expected", [
    ("vision_ms", "intercept", 5.0), ("vision_ms", "image_tokens", 200.0), ("vision_ms", "image_tokens^2", 500.0),
    ("prefill_ms", "prompt_tokens", 100.0), ("prefill_ms", "prompt_tokens^2", 400.0),
    ("decode_per_step_ms", "intercept", 2.0), ("decode_per_step_ms", "context", 4.0),
    ("other_ms", "prompt_tokens", 10.0),
])
def test_the_robust_fit_recovers_known_coefficients_despite_spikes(synthetic_model, stage, term, expected):
    c = _coef(synthetic_model, stage, term)
    assert c.value == pytest.approx(expected, rel=0.08)  # 10 % of the points are 3x spikes
    assert c.ci_low <= expected <= c.ci_high
    assert c.unit.startswith("ms")


def test_quality_statistics_see_the_noise_that_was_put_in(synthetic_model):
    vision = synthetic_model.stage("vision_ms")
    assert vision.noise_source == "repeats"  # each sample id ran twice per setting
    assert vision.noise == pytest.approx(0.02 * math.sqrt(2), rel=0.5)  # two draws of 2 % noise differ by ~2.8 %
    assert vision.residual_spread == pytest.approx(0.02, rel=0.5)
    assert 0 < vision.r2 <= 1  # plain R², pulled down by the 3x spikes the robust fit ignores
    assert synthetic_model.stage("prefill_ms").notes == []  # 5 settings: the square is fitted


def test_a_prediction_lands_on_the_truth_and_inside_its_interval(synthetic_model):
    drivers, _ = synthetic_model.map.drivers({"image_size": "392x392"})  # 14x14 = 196 tokens, beyond the sweep
    assert drivers.image_tokens == 196 and drivers.prompt_tokens == TEXT + 196
    t = truth(196)
    expected = {"vision_ms": t["vision_ms"], "prefill_ms": t["prefill_ms"], "decode_ms": STEPS * t["decode_per_step"]}
    for pred in synthetic_model.predict(drivers):
        assert pred.low <= pred.value <= pred.high
        if pred.stage in expected:
            assert pred.value == pytest.approx(expected[pred.stage], rel=0.05)
            assert pred.low <= expected[pred.stage] <= pred.high


def test_holdout_leaves_the_arm_out_of_the_fit_and_predicts_it():
    points = points_from_rows(synthetic_rows(repeats=1, outliers=0.0))  # spikes: tested above
    model, held = holdout(points, "image_size", "280x280", n_boot=40)
    assert held.n == 12 and len(model.points) == len(points) - 12
    assert all(p.knobs["image_size"] != "280x280" for p in model.points)
    assert held.drivers.image_tokens == held.measured_image_tokens == 100
    assert model.stage("prefill_ms").notes == []  # 4 settings left: still quadratic
    rows = {r["stage"]: r for r in held.rows}
    assert set(rows) == {"vision_ms", "projector_ms", "prefill_ms", "decode_ms", "other_ms", "e2e_ms"}
    assert all(r["inside"] for r in rows.values())  # synthetic, seeded: deterministic


def test_robust_fit_keeps_cost_terms_non_negative():
    x = np.column_stack([np.ones(6), np.arange(6.0)])
    coef, _ = robust_fit(x, 10 - np.arange(6.0), np.ones(6))  # a stage that "gets cheaper"
    assert coef[1] == pytest.approx(0.0, abs=1e-9)


def test_fits_are_the_same_for_the_same_seed():
    points = points_from_rows(synthetic_rows(repeats=1))
    a, b = CostModel(points, n_boot=20, seed=3), CostModel(points, n_boot=20, seed=3)
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())


# --- the knob -> driver map -------------------------------------------------------------


def _map(sizes_tokens, fixed=None) -> DriverMap:
    rows = [SampleRecord("s", i, f"x{i}", image_width=w, image_height=h, image_tokens=t, prompt_tokens=t + 10,
                         new_tokens=4, decode_steps_ms=[1.0] * 3, e2e_ms=1.0)
            for i, (w, h, t) in enumerate(sizes_tokens)]
    return DriverMap(points_from_rows(rows), fixed or {})


def test_a_28px_grid_is_found_and_maps_sizes_exactly():
    m = _map([(224, 224, 64), (448, 336, 192)])
    assert m.relation == "grid" and m.grid == 28
    assert m.image_tokens_for(896, 896) == 1024
    assert m.image_tokens_for(500, 500) == 18 * 18  # Qwen rounds each side to the nearest 28 px
    drivers, notes = m.drivers({"image_size": "672"})  # the longest edge, at the measured aspect
    assert m.aspect == pytest.approx((1 + 448 / 336) / 2)
    assert drivers.image_tokens == 24 * round(672 / m.aspect / 28) and notes


def test_a_grid_capped_by_a_pixel_limit_is_found_and_predicts_both_sides_of_the_cap():
    # qwen2-vl-2b-shape: images above 448x448 are shrunk to 256 tokens (max_pixels)
    m = _map([(336, 336, 144), (448, 448, 256), (560, 560, 256), (672, 672, 256)])
    assert (m.relation, m.grid, m.cap) == ("capped grid", 28, 256)
    assert "at most 256" in m.describe()
    assert m.image_tokens_for(224, 224) == 64 and m.image_tokens_for(896, 896) == 256
    # no size above the cap measured: a plain grid, never a cap guessed from the data
    assert _map([(224, 224, 64), (336, 336, 144)]).relation == "grid"


def test_fixed_token_models_and_unmappable_knobs():
    m = _map([(224, 224, 576), (640, 480, 576)], fixed={"attn": "sdpa"})
    assert m.relation == "constant" and m.image_tokens_for(1000, 1000) == 576
    assert m.drivers({"attn": "sdpa"})[0].image_tokens == 576  # what it was measured under
    with pytest.raises(VlmtopError, match=r"attn=eager cannot be mapped .*measured under attn=sdpa"):
        m.drivers({"attn": "eager"})
    with pytest.raises(VlmtopError, match="predict with image_tokens=N"):
        m.drivers({"max_pixels": 200704})
    assert m.drivers({"max_new_tokens": 9})[0].steps == 8  # the first token comes from prefill


@pytest.mark.parametrize("item, problem", [
    ("image_size", "expected KNOB=VALUE"), ("nosuch=1", "unknown knob"), ("image_size=a,b", "one value per option"), ("image_size=big", "image_size 'big'"),
    ("image_tokens=x", "whole number"),
])
def test_bad_assignments_are_one_line(item, problem):
    with pytest.raises(VlmtopError, match=problem):
        parse_assignment(item, "--predict")


def test_refusals_name_the_problem():
    rows = synthetic_rows(repeats=1)
    for row in rows[::2]:
        row.knobs = {**row.knobs, "attn": "eager"}
    with pytest.raises(VlmtopError, match="mix attn=eager and attn=sdpa.*--only attn=eager"):
        CostModel(points_from_rows(rows))
    one = [r for r in synthetic_rows(repeats=1) if r.knobs["image_size"] == "224x224"]
    with pytest.raises(VlmtopError, match="at least 2 settings"):
        CostModel(points_from_rows(one))
    with pytest.raises(VlmtopError, match="no measured samples with image_size=999x999.*224x224"):
        holdout(points_from_rows(synthetic_rows(repeats=1)), "image_size", "999x999")


# --- a real sweep --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    db = tmp_path_factory.mktemp("sweep") / "s.db"
    assert main(["run", "--headless", "--db", str(db), "--knob", "image_size=56x56,112x112,168x168,224x224",
                 "--count", "3", "--max-new-tokens", "3", "--warmup", "1"]) == 0
    return db


def _model_json(capsys, db, *argv) -> dict:
    capsys.readouterr()
    assert main(["model", "last", "--db", str(db), "--json", "--boot", "30", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_real_sweep_predicts_a_held_out_size_with_an_interval(sweep, capsys):
    out = _model_json(capsys, sweep, "--holdout", "image_size=168x168", "--predict", "image_size=896x896")
    held, fit = out["holdout"], out["fit"]
    assert held["n"] == 3 and fit["samples"] == 9  # 12 measured, the held-out arm's 3 not fitted
    assert held["drivers"]["image_tokens"] == held["measured_image_tokens"] == 36  # exact 28 px grid
    assert fit["image_tokens_map"].startswith("image tokens = (width/28) x (height/28)")
    stages = {s["stage"]: s for s in fit["stages"]}
    assert {"vision_ms", "prefill_ms", "decode_per_step_ms"} <= set(stages)
    for stage in stages.values():
        assert all(math.isfinite(c["value"]) and c["ci_low"] <= c["ci_high"] for c in stage["coefficients"])
    for row in held["stages"]:
        assert row["low"] <= row["value"] <= row["high"] and isinstance(row["inside"], bool)
        assert row["measured"] is not None
    (pred,) = out["predictions"]
    assert pred["drivers"]["image_tokens"] == 1024
    assert [s["stage"] for s in pred["stages"]][-1] == "e2e_ms"


def test_the_table_output_and_bad_input(sweep, capsys):
    assert main(["model", "last", "--db", str(sweep), "--boot", "20", "--holdout", "image_size=224x224"]) == 0
    text = capsys.readouterr().out
    assert "held out image_size=224x224" in text and "ms per 1k image tokens" in text
    assert main(["model", "last", "--db", str(sweep), "--predict", "attn=flash"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "attn 'flash'" in err
    assert main(["model", "last", "--db", str(sweep), "--holdout", "image_size=999x999"]) == 2
    assert "56x56, 112x112, 168x168, 224x224" in capsys.readouterr().err
