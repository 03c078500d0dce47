"""Waiting for a device's queued work, the one way every timer here does it.

``torch.cuda.synchronize`` and ``torch.xpu.synchronize`` take the device to wait for, and
must be given it: with no argument they wait for the process's CURRENT device, which is not
the model's with ``--device cuda:1``. ``torch.mps.synchronize`` takes no argument at all
(there is one MPS device), so passing the device raises a TypeError at every mark.
"""

from __future__ import annotations

import torch


def synchronize(device: torch.device) -> None:
    """Block until `device` has finished the work queued on it (nothing to do on CPU)."""
    if device.type in ("cpu", "meta"):
        return
    if device.type == "mps":
        torch.mps.synchronize()
        return
    getattr(torch, device.type).synchronize(device)


def accelerators(devices) -> list[torch.device]:
    """The devices that run work asynchronously: not the CPU, and not ``meta``, where an
    offloaded parameter's placeholder lives while its weights sit elsewhere (it has no clock)."""
    return [d for d in devices if d.type not in ("cpu", "meta")]
