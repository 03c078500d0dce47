"""Which stage modules a torch.compile'd region swallows, so their hooks cannot mark.

A forward hook runs inside ``Module._call_impl``. Three ways of compiling put that call
inside the compiled graph, where the timer's hooks do nothing (a clock read there would
break the user's graph), so the stage would read 0 ms and its time would land in `other`:

- ``module.compile()`` (in place): ``__call__`` runs ``_compiled_call_impl``, a compiled
  ``_call_impl``, hooks included;
- ``module.forward = torch.compile(module.forward)``: every submodule called by that
  forward runs inside the graph;
- either of these on an ANCESTOR of the stage module.

``module = torch.compile(module)`` assigned back is fine: the returned OptimizedModule
runs its own hooks outside the compiled forward, so the stage is timed as a whole.
"""

from __future__ import annotations

from torch import nn

IN_PLACE = "compiled in place"

WHOLE_MODEL_HINT = (
    "time a compiled model with a static cache and generate(..., compile_config=CompileConfig(...)) "
    "(transformers compiles the decode forward; vlmtop reads decode steps from the tokens), or compile "
    "submodules by assignment (model.model.vision_tower = torch.compile(model.model.vision_tower))"
)


def compiled_how(module: nn.Module) -> str | None:
    """How `module` itself is compiled so that its own hooks run inside the graph, or None."""
    if getattr(module, "_compiled_call_impl", None) is not None:
        return "module.compile()"
    forward = module.__dict__.get("forward")  # an instance attribute: replaced by the user
    if forward is not None and hasattr(forward, "_torchdynamo_orig_callable"):
        return "forward = torch.compile(forward)"
    return None


def swallowing_ancestor(model: nn.Module, target: nn.Module) -> tuple[str, str] | None:
    """(dotted path, how) of `target` or its nearest ancestor in `model` compiled so that
    `target`'s hooks run inside the compiled graph; None when its hooks run in Python.

    A module compiled through ``forward`` swallows its descendants but not its own hooks
    (they run around forward), so for `target` itself only ``module.compile()`` counts."""
    for path, module in model.named_modules():
        if module is target:
            return _walk(model, path.split(".") if path else [], target)
    return None


def _walk(model: nn.Module, parts: list[str], target: nn.Module) -> tuple[str, str] | None:
    chain = [("", model)]
    module = model
    for i, part in enumerate(parts):
        module = module._modules[part]
        chain.append((".".join(parts[: i + 1]), module))
    found = None
    for path, module in chain:  # outermost first: the outermost compiled region is what swallows
        how = compiled_how(module)
        if how is None:
            continue
        if module is target and how.startswith("forward"):
            continue  # its pre-hook and hook run around the compiled forward: still timed
        found = (path or type(model).__name__, how)
        break
    return found
