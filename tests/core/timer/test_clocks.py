"""The timer's clocks and device waits, checked on the CPU: which clock a model's
devices get, and that the wait for MPS is called the way torch.mps takes it (no argument).
No GPU is called: the clocks are only constructed, and torch.mps.synchronize is replaced
by a function with its real signature, `()`."""

from __future__ import annotations

import torch
from tiny_models import tiny

from vlmtop.core import StageTimer, locate_stages
from vlmtop.core.multipass import measure_multipass
from vlmtop.core.samples import synthetic_samples
from vlmtop.core.timer import SyncClock, devices_of


def _mps_sync_counter(monkeypatch) -> list[int]:
    calls: list[int] = []

    def synchronize():  # torch.mps.synchronize takes no device: passing one is a TypeError
        calls.append(1)

    monkeypatch.setattr(torch.mps, "synchronize", synchronize)
    return calls


def test_a_mark_on_mps_calls_its_synchronize_without_a_device(monkeypatch):
    calls = _mps_sync_counter(monkeypatch)
    clock = SyncClock([torch.device("mps")], "events")
    assert clock.name == "mps_sync"
    first, second = clock.now(), clock.now()
    clock.settle()
    assert second >= first and len(calls) == 3


def test_the_seed_method_waits_for_mps_the_same_way(monkeypatch):
    from vlmtop.core import multipass

    calls = _mps_sync_counter(monkeypatch)
    # the model runs on the CPU; the device list is what multipass would wait for on a Mac
    monkeypatch.setattr(multipass, "accelerators", lambda devices: [torch.device("mps")])
    loaded = tiny("tiny-llava")
    sample = next(synthetic_samples(loaded.image_sizes))
    with torch.inference_mode():
        timing = measure_multipass(loaded.model, locate_stages(loaded.model), loaded.prepare(sample.image(), sample.prompt),
                                   loaded.generation_kwargs(2), runs=1)
    assert timing.e2e_ms > 0 and calls


def test_each_device_layout_gets_its_clock():
    assert SyncClock([torch.device("cpu")], "events").name == "perf_counter"
    two = SyncClock([torch.device("cuda", 0), torch.device("cuda", 1)], "events")
    assert two.name == "cuda_sync_2_devices" and two.devices == [torch.device("cuda", 0), torch.device("cuda", 1)]
    assert SyncClock([torch.device("xpu", 0)], "events").name == "xpu_sync"
    # offloaded parameters sit on `meta`: they must not make a clock of their own
    assert SyncClock([torch.device("cpu"), torch.device("meta")], "events").name == "perf_counter"


def test_offloaded_meta_parameters_are_not_a_device_of_the_model():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2, device="meta"))
    assert devices_of(model) == [torch.device("cpu")]
    # and the timer built on such a model reads the CPU clock
    loaded = tiny("tiny-llava")
    assert StageTimer(loaded.model, locate_stages(loaded.model))._clock.name == "perf_counter"
