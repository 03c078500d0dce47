"""Built-in presets loaded once per test run (tests do not mutate them)."""

from __future__ import annotations

import torch

_MODELS: dict = {}


def tiny(name: str):
    from vlmtop.core.model_loading import load_model

    if name not in _MODELS:
        torch.manual_seed(0)
        _MODELS[name] = load_model(name, device="cpu")
    return _MODELS[name]
