"""What the `cache` policy does before a sample, outside the timed region.

It lives in core (not beside the policy values in sessions/policies.py) because it needs
torch, and the policy values are read by the dashboard, which must not load torch.
"""

from __future__ import annotations

import gc

import torch


def apply_cache_policy(policy: str, device: torch.device) -> str:
    """Run the cache policy before a sample; say what was done (stored on the sample row)."""
    if policy != "empty":
        return ""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        return "gc.collect+empty_cache"
    return "gc.collect (cpu: no CUDA cache to empty)"
