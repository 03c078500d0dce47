"""What a device is called: recorded on every session, so results name their hardware."""

from __future__ import annotations

import platform
from typing import Any


def describe_device(device: str) -> dict[str, Any]:
    """The model name (and UUID on CUDA) of the device a model loaded on."""
    if device.startswith("cuda"):
        import torch

        index = torch.device(device).index
        props = torch.cuda.get_device_properties(index if index is not None else torch.cuda.current_device())
        uuid = getattr(props, "uuid", None)
        return {"device_name": props.name, "device_uuid": f"GPU-{uuid}" if uuid is not None else None}
    return {"device_name": cpu_name()}


def cpu_name() -> str:
    """The CPU's model name as the kernel reports it (platform.processor() is often empty)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
