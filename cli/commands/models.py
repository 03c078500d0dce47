"""`vlmtop models`: the built-in presets and the architectures the timer knows."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    models = subparsers.add_parser("models", help="built-in presets and supported architectures")
    models.set_defaults(func=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from vlmtop.core.locate import LANGUAGE_NAMES, PROJECTOR_NAMES, VISION_NAMES
    from vlmtop.core.zoo import DEFAULT_PRESET, PRESETS
    from vlmtop.core.zoo.families import FAMILIES

    console = Console()
    presets = Table(title="Built-in presets (random weights, nothing downloaded)", title_justify="left")
    for column in ("preset", "family", "dtype", "what"):
        presets.add_column(column)
    for preset in PRESETS.values():
        name = preset.name + (" (default)" if preset.name == DEFAULT_PRESET else "")
        presets.add_row(name, preset.family, preset.default_dtype, preset.summary)
    console.print(presets)
    families = Table(title="Families with a built-in preset", title_justify="left")
    families.add_column("model_type")
    families.add_column("layout")
    for name, family in FAMILIES.items():
        families.add_row(name, family.description)
    console.print(families)
    console.print(
        "Any Hugging Face VLM (--model ORG/NAME or a local folder) whose parts follow these names works: "
        f"vision {', '.join(VISION_NAMES)}; projector {', '.join(PROJECTOR_NAMES)}; "
        f"language {', '.join(LANGUAGE_NAMES)} (under the model or its .model), or is found through "
        "config.vision_config / config.text_config. Others: --stage NAME=dotted.path."
    )
    return 0
