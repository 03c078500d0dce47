"""Finding the stage modules of a vision-language model: vision, projector, language model.

Found by structure, not by a per-class table: transformers VLMs name these parts after a
handful of conventions (``vision_tower`` / ``visual`` / ``vision_model``, ...), usually under
a ``.model`` wrapper, and the vision and text towers carry ``config.vision_config`` and
``config.text_config`` themselves, which is the fallback when no name matches.

A stage is a span: timing starts at the forward pre-hook of its first module and stops at
the forward hook of its last. Usually both are one module; the language model spans from the
decoder to ``lm_head`` (the head is part of producing a token), and a ModuleList given as a
path spans its first to last element (the original remote-code Molmo: ``model.transformer.blocks``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from vlmtop.core.errors import StageNotFoundError

# Aliases users may type for a standard stage in overrides / --stage.
ALIASES = {"llm": "language", "text": "language", "lm": "language", "encoder": "vision", "connector": "projector"}

# Where each part lives in the families we know, most common first. Projectors also
# nest inside the vision module (Qwen2/2.5/3-VL: visual.merger).
VISION_NAMES = (
    "vision_tower", "visual", "vision_model", "vision_encoder", "vision_backbone", "image_encoder",
    "vision_embed_tokens",  # Fuyu: image patches are embedded by one linear layer
)
PROJECTOR_NAMES = (
    "multi_modal_projector",
    "connector",
    "merger",
    "mm_projector",
    "multimodal_projector",
    "vision_projection",
    "image_projector",
    "projector",
    "adapter",
    "aligner",  # Janus
)
LANGUAGE_NAMES = ("language_model", "text_model", "llm", "transformer")
WRAPPERS = ("", "model.")  # VLM heads usually keep their parts under `.model`


@dataclass(frozen=True)
class Stage:
    """A stage: the modules whose hooks open and close its time, and how it was found."""

    name: str
    path: str  # dotted path, or "first..last" for a span
    first: nn.Module = field(compare=False, repr=False)
    last: nn.Module = field(compare=False, repr=False)


@dataclass(frozen=True)
class StageMap:
    """The stages of one model. `vision` and `projector` may be None (text-only parts)."""

    language: Stage
    vision: Stage | None = None
    projector: Stage | None = None
    extra: tuple[Stage, ...] = ()  # user-declared stages, reported inclusive in extra_ms

    @property
    def unlocated(self) -> tuple[str, ...]:
        """Standard stages not found: their time is in `other`, and records say so."""
        return tuple(name for name in ("vision", "projector") if getattr(self, name) is None)

    def all(self) -> list[Stage]:
        return [s for s in (self.vision, self.projector, self.language) if s is not None] + list(self.extra)

    def describe(self) -> dict[str, str]:
        return {s.name: s.path for s in self.all()}


def locate_stages(model: nn.Module, overrides: dict[str, str] | None = None) -> StageMap:
    """Find the vision encoder, projector and language model of `model`.

    `overrides` maps a stage name to a dotted module path (``{"vision":
    "model.vision_backbone"}``); other names add extra stages. Raises
    :class:`StageNotFoundError` naming what was looked for and how to declare it.
    """
    if getattr(getattr(model, "config", None), "is_encoder_decoder", False):
        raise StageNotFoundError(
            f"{type(model).__name__} is an encoder-decoder model (e.g. Florence-2): vlmtop times decoder-only "
            "VLMs (LLaVA, Qwen2-VL, Idefics3, PaliGemma, Gemma3, ... `vlmtop models` lists the layouts)"
        )
    declared = {ALIASES.get(k, k): v for k, v in (overrides or {}).items()}
    found: dict[str, Stage] = {name: stage_at(model, name, path) for name, path in declared.items()}

    if "vision" not in found:
        vision = (_find(model, VISION_NAMES) or _find_by_config(model, "vision_config")
                  or _find_pixel_consumer(model))
        if vision is not None:
            found["vision"] = _single("vision", *vision)
    if "projector" not in found:
        inside = [found["vision"].path + "."] if "vision" in found else []
        projector = _find(model, PROJECTOR_NAMES, prefixes=WRAPPERS + tuple(inside))
        if projector is not None:
            found["projector"] = _single("projector", *projector)
    if "language" not in found:
        language = _find(model, LANGUAGE_NAMES) or _find_by_config(model, "text_config")
        if language is None:
            raise StageNotFoundError(_not_found(model, "language model", LANGUAGE_NAMES, "language"))
        found["language"] = _language_span(model, *language)
    if "vision" not in found:
        raise StageNotFoundError(_not_found(model, "vision encoder", VISION_NAMES, "vision"))

    _refuse_shared_modules(found)
    return StageMap(
        language=found.pop("language"),
        vision=found.pop("vision", None),
        projector=found.pop("projector", None),
        extra=tuple(found.values()),
    )


def _refuse_shared_modules(found: dict[str, Stage]) -> None:
    """One module's hooks open and close one stage: two stages on the same module (an extra
    `--stage foo=model.visual` on the vision encoder's own module) would close each other
    and make every sample fail, so the run is refused before it starts, saying which."""
    owner: dict[int, Stage] = {}
    for stage in found.values():
        for module in {id(stage.first), id(stage.last)}:
            other = owner.setdefault(module, stage)
            if other is not stage:
                first, second = sorted((other, stage), key=lambda s: s.name not in ("vision", "projector", "language"))
                raise StageNotFoundError(
                    f"--stage {second.name}={second.path}: that module is already the {first.name} stage "
                    f"({first.path}); its time is measured there. Give {second.name} another module, or "
                    f"move the {first.name} stage with --stage {first.name}=PATH"
                )


def stage_at(model: nn.Module, name: str, path: str) -> Stage:
    """The stage `name` at dotted `path`; a ModuleList/Sequential spans first..last."""
    module = resolve_module(model, path)
    if isinstance(module, (nn.ModuleList, nn.Sequential)):
        if len(module) == 0:
            raise StageNotFoundError(f"stage {name}: {path} is an empty {type(module).__name__}")
        return Stage(name, f"{path}[0]..{path}[{len(module) - 1}]", module[0], module[-1])
    return Stage(name, path, module, module)


def resolve_module(model: nn.Module, path: str) -> nn.Module:
    """The submodule at dotted `path` (``a.b.0.c``), or an error naming the children there."""
    module = model
    walked: list[str] = []
    for part in path.split("."):
        child = module._modules.get(part)
        if child is None:
            where = ".".join(walked) or type(model).__name__
            children = ", ".join(module._modules) or "none"
            raise StageNotFoundError(
                f"no module {path!r} in {type(model).__name__}: {where} has no child {part!r} "
                f"(its children: {children})"
            )
        module = child
        walked.append(part)
    return module


def _single(name: str, path: str, module: nn.Module) -> Stage:
    return Stage(name, path, module, module)


def _find(model: nn.Module, names: tuple[str, ...], prefixes: tuple[str, ...] = WRAPPERS):
    for prefix in prefixes:
        for name in names:
            path = prefix + name
            module = _get(model, path)
            if module is not None:
                return path, module
    return None


def _get(model: nn.Module, path: str) -> nn.Module | None:
    module = model
    for part in path.split("."):
        module = module._modules.get(part) if isinstance(module, nn.Module) else None
        if module is None:
            return None
    return module


def _find_by_config(model: nn.Module, attribute: str):
    """The module carrying the top config's sub-config `attribute` (e.g. vision_config)."""
    target = getattr(getattr(model, "config", None), attribute, None)
    if target is None:
        return None
    for path, module in model.named_modules():
        if path and getattr(module, "config", None) is target:
            return path, module
    return None


def _find_pixel_consumer(model: nn.Module):
    """The shallowest submodule (below the model and its `.model` wrapper) whose forward
    takes `pixel_values`: the vision encoder of a family with names we do not know."""
    import inspect

    wrapper = model._modules.get("model")
    for path, module in sorted(model.named_modules(), key=lambda item: item[0].count(".")):
        if not path or module is wrapper:
            continue
        try:
            if "pixel_values" in inspect.signature(module.forward).parameters:
                return path, module
        except (TypeError, ValueError):
            continue
    return None


def _language_span(model: nn.Module, path: str, module: nn.Module) -> Stage:
    """The language model through the LM head, when the head sits outside it."""
    head = _get(model, "lm_head")
    if head is not None and head not in set(module.modules()):
        return Stage("language", f"{path}..lm_head", module, head)
    return Stage("language", path, module, module)


def _not_found(model: nn.Module, what: str, names: tuple[str, ...], stage: str) -> str:
    looked = ", ".join(p + n for p in WRAPPERS for n in names)
    return (
        f"could not find the {what} of {type(model).__name__} (looked for {looked}, and for a module "
        f"holding config.{'vision' if stage == 'vision' else 'text'}_config); declare it with "
        f"--stage {stage}=DOTTED.PATH (Python: locate_stages(model, {{'{stage}': 'dotted.path'}}))"
    )
