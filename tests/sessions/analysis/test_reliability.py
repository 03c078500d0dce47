"""Test-retest reliability of repeated sample ids: known truths on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from vlmtop.sessions.analysis.reliability import reliability, variance_components
from vlmtop.sessions.records import SampleRecord


def repeated(n_ids=20, repeats=3, between=0.5, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.exp(rng.normal(2.0, between, n_ids))
    ids = [f"img-{i}" for i in range(n_ids)] * repeats
    values = [float(truth[i % n_ids] * np.exp(rng.normal(0, noise))) for i in range(n_ids * repeats)]
    return ids, values


def test_variance_components_recover_known_variances():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(200), 5)
    values = rng.normal(0, 2.0, 200)[groups] + rng.normal(0, 1.0, groups.size)
    vc = variance_components(values, groups)
    assert vc.between == pytest.approx(4.0, rel=0.25) and vc.within == pytest.approx(1.0, rel=0.1)
    assert vc.share == pytest.approx(0.8, abs=0.05)
    assert variance_components([1.0, 2.0], ["a", "b"]) is None  # no group of 2 values


def test_signal_and_noise_are_told_apart():
    ids, values = repeated(noise=0.02)
    signal = reliability({"sample_id": ids, "prefill_ms": values})
    figures = signal["stages"]["prefill_ms"]
    assert figures["icc"] > 0.95 and figures["icc_ci_low"] <= figures["icc"] <= figures["icc_ci_high"]
    assert figures["retest_cv"] == pytest.approx(0.02, rel=0.35) and figures["samples"] == 20
    assert figures["repeatability_ms"] == pytest.approx(2.77 * figures["retest_sd_ms"], rel=0.01)
    assert signal["measurements"] == 60 and signal["line"].startswith("reliability of prefill over 20 samples x 3")
    ids, values = repeated(between=0.0, noise=0.1)  # every sample the same: all of the spread is noise
    assert reliability({"sample_id": ids, "prefill_ms": values})["stages"]["prefill_ms"]["icc"] < 0.2


def test_rows_warmups_arms_and_no_repeats():
    ids, values = repeated(n_ids=5, repeats=2)
    rows = [SampleRecord("s", i, sample_id=sid, prefill_ms=v) for i, (sid, v) in enumerate(zip(ids, values))]
    rows.append(SampleRecord("s", 99, sample_id="img-0", is_warmup=True, prefill_ms=1e6))  # left out
    result = reliability(rows)
    assert result["measurements"] == 10 and result["stages"]["prefill_ms"]["icc"] > 0.8
    # the same id under two arms is two settings, not a repeat
    arms = [SampleRecord("s", i, sample_id=f"img-{i // 2}", arm=f"a={i % 2}", prefill_ms=1.0 + i) for i in range(10)]
    assert reliability(arms) == {}
    assert reliability({"sample_id": ["a", "b"], "prefill_ms": [1.0, 2.0]}) == {}


def test_when_samples_differ_less_than_their_noise_the_interval_still_holds_the_estimate():
    # three ids whose means are nearly equal while repeats scatter widely: F << 1, so the
    # raw F-interval lies wholly below 0 while the estimate (a variance share) is 0
    ids = ["a", "b", "c"] * 4
    values = [10.0, 10.01, 10.02, 14.0, 14.01, 13.99, 6.0, 6.02, 6.01, 10.0, 9.99, 10.0]
    figures = reliability({"sample_id": ids, "prefill_ms": values})["stages"]["prefill_ms"]
    assert figures["icc"] == 0.0
    assert figures["icc_ci_low"] <= figures["icc"] <= figures["icc_ci_high"]
