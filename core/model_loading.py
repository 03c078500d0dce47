"""Loading a model to time: a built-in preset, a Hugging Face id, or a local path.

Whatever the source, the result is a :class:`LoadedModel`: the model in eval mode on its
device, and a function that turns (image, prompt) into ``generate()`` arguments there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from PIL import Image
from torch import nn

from vlmtop.core.errors import ModelLoadError, first_line
from vlmtop.core.inputs import InputBuilder, ProcessorInputs, no_video
from vlmtop.core.zoo import DEFAULT_PRESET, PRESETS, Preset
from vlmtop.core.zoo.families import make_config
from vlmtop.core.zoo.llava_qwen import QwenInputs

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class LoadedModel:
    name: str  # preset name, Hugging Face id or local path, as given
    family: str  # config.model_type
    model: nn.Module
    inputs: InputBuilder
    device: torch.device
    dtype: torch.dtype
    source: str  # preset | hub | local
    random_weights: bool
    eos_token_id: int | None = None
    pad_token_id: int | None = None
    image_sizes: tuple[tuple[int, int], ...] = field(default_factory=tuple)  # for synthetic samples

    @property
    def image_token_id(self) -> int | None:
        """The placeholder id the image features replace in the prompt (names vary by family)."""
        config = self.model.config
        for name in ("image_token_id", "image_token_index", "image_patch_id"):
            value = getattr(config, name, None)
            if isinstance(value, int):
                return value
        return None

    def count_image_tokens(self, inputs: dict) -> int | None:
        """The prompt's visual placeholder tokens: every image's, and a video's where the
        family gives video its own token (Qwen's <|video_pad|>)."""
        ids = inputs.get("input_ids")
        if ids is None or self.image_token_id is None:
            return None
        video = getattr(self.model.config, "video_token_id", None)
        count = (ids == self.image_token_id).sum() + ((ids == video).sum() if isinstance(video, int) else 0)
        return int(count)

    def prepare(self, images: list[Image.Image] | Image.Image, prompt: str, image_kwargs: dict | None = None,
                video: list[Image.Image] | None = None) -> dict:
        """``generate()`` inputs for one sample (its 0..N images, or one image, and a video's
        frames where given), on the model's device and dtype."""
        if video and not self.inputs.takes_video:
            raise no_video(self.family)
        prepared = {}
        # `video` only when there is one: a builder written before it existed still works
        for key, value in self.inputs(images, prompt, image_kwargs, **({"video": video} if video else {})).items():
            if isinstance(value, torch.Tensor):
                value = value.to(self.device, dtype=self.dtype if value.is_floating_point() else None)
            prepared[key] = value
        return prepared

    def generation_kwargs(self, max_new_tokens: int, fixed_length: bool = True) -> dict:
        """Greedy decoding; with `fixed_length` exactly `max_new_tokens` tokens are produced
        (EOS is suppressed until then), so decode times of different samples compare."""
        kwargs = {"max_new_tokens": max_new_tokens, "do_sample": False}
        if fixed_length:
            kwargs["min_new_tokens"] = max_new_tokens
        if self.pad_token_id is not None:
            kwargs["pad_token_id"] = self.pad_token_id
        if self.eos_token_id is not None:
            kwargs["eos_token_id"] = self.eos_token_id
        return kwargs


def quiet_transformers() -> None:
    """Silence transformers' warnings in vlmtop's own processes (the worker, a headless run).

    It warns on every PIL fallback (no torchvision) and deprecation; a one-line error policy
    means the terminal shows vlmtop's messages, not theirs. Library users keep their own.
    """
    import warnings

    from transformers.utils import logging

    logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=UserWarning, module="transformers")
    warnings.filterwarnings("ignore", category=FutureWarning)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(
    spec: str = DEFAULT_PRESET,
    *,
    device: str | None = None,
    dtype: str | None = None,
    random_weights: bool = False,
    seed: int = 0,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load `spec`: a preset name (see ``vlmtop models``), a Hugging Face id or a local path.

    A checkpoint's own Python code (``auto_map``) runs only with `trust_remote_code`: it is
    passed explicitly, so transformers never asks a half-hidden [y/N] question.

    `random_weights` builds a checkpoint from its config alone (no weight download).
    Presets always have random weights. Raises :class:`ModelLoadError` with one line.
    """
    source = check_model_spec(spec, device, dtype)
    device_obj = _device(device or default_device())
    if source == "preset":
        preset = PRESETS[spec]
        return _load_preset(preset, device_obj, _dtype(dtype or preset.default_dtype), seed)
    torch_dtype = _dtype(dtype or ("bfloat16" if device_obj.type == "cuda" else "float32"))
    return _load_pretrained(spec, source, device_obj, torch_dtype, random_weights, seed, trust_remote_code)


def check_model_spec(spec: str, device: str | None = None, dtype: str | None = None) -> str:
    """What `spec` names (preset | local | hub), checked without loading anything.

    Lets a command refuse a misspelt model, device or dtype in one line before it opens a
    session or a dashboard. Raises :class:`ModelLoadError`.
    """
    _device(device or default_device())
    if dtype is not None:
        _dtype(dtype)
    if spec in PRESETS:
        return "preset"
    if os.path.isdir(spec):
        return "local"
    if os.path.exists(spec) or not is_hub_id(spec):
        # a path-like spec (./nope, name/) is most likely a folder that is not there
        folder = " (no folder at that path)" if spec.startswith((".", "/", "~")) or spec.endswith("/") else ""
        raise ModelLoadError(
            f"unknown model {spec!r}: not a built-in preset (list them with `vlmtop models`), "
            f"not a local model folder{folder}, and not a Hugging Face id of the form org/name"
        )
    if not _in_hub_cache(spec):
        check_hub_reachable(spec)
    return "hub"


def model_family(spec: str) -> str | None:
    """The family (config.model_type) of `spec` without loading it; None when that would
    need the network (an uncached Hub id): the worker checks again once it has loaded."""
    import json

    if spec in PRESETS:
        return PRESETS[spec].family
    path = os.path.join(spec, "config.json") if os.path.isdir(spec) else None
    if path is None and is_hub_id(spec):
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(spec, "config.json")
        path = cached if isinstance(cached, str) else None
    try:
        with open(path) as config:
            return json.load(config).get("model_type")
    except (TypeError, OSError, ValueError, AttributeError):
        return None


def is_hub_id(spec: str) -> bool:
    """Whether `spec` can be a Hugging Face repo id (org/name, the characters the Hub
    allows): the hub client raises a validation error with a traceback on anything else."""
    if spec.count("/") != 1:
        return False
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(spec)
    except HFValidationError:
        return False
    return True


HUB_PROBE_S = 3.0  # a reachable Hub answers a TCP connect well within this


def _in_hub_cache(spec: str) -> bool:
    """Whether the checkpoint's config is in the local Hugging Face cache (no network)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(spec, "config.json"), str)


def check_hub_reachable(spec: str) -> None:
    """Fail in one line, at once, when the Hub cannot be reached: left to itself the hub
    client retries for ~25 s with a `Retrying in 8s` line per attempt."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    advice = (f"download it where there is network (`hf download {spec}`), pass a local folder, "
              "or use a built-in preset (`vlmtop models`)")
    if constants.HF_HUB_OFFLINE:
        raise ModelLoadError(f"could not load {spec!r}: it is not in the Hugging Face cache and "
                             f"HF_HUB_OFFLINE is set; {advice}")
    if _https_proxy():
        return  # only the proxy can reach the Hub: a direct connect would be refused; let the client try
    endpoint = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=HUB_PROBE_S).close()
    except OSError as exc:
        raise ModelLoadError(
            f"could not load {spec!r}: it is not in the Hugging Face cache and {endpoint.hostname} cannot be "
            f"reached ({exc.strerror or exc}); {advice}. Set HF_HUB_OFFLINE=1 to never try the network"
        ) from None


def _https_proxy() -> str | None:
    """The proxy HTTPS requests go through (HTTPS_PROXY, ALL_PROXY, either case), if any."""
    from urllib.request import getproxies

    proxies = getproxies()
    return proxies.get("https") or proxies.get("all")


def _device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ModelLoadError(f"unknown device {name!r}: use cpu, cuda or cuda:N ({exc})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"device {name!r} asked for, but this torch has no CUDA device; use --device cpu")
    return device


def _dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ModelLoadError(f"unknown dtype {name!r}: choose one of {', '.join(DTYPES)}")
    return DTYPES[name]


def _load_preset(preset: Preset, device: torch.device, dtype: torch.dtype, seed: int) -> LoadedModel:
    family = preset.family_spec
    tokenizer = family.tokenizer()
    config = make_config(family, preset.dims, tokenizer)
    model = build_random(config, device, dtype, seed)
    return LoadedModel(
        name=preset.name,
        family=preset.family,
        model=model,
        inputs=family.make_inputs(config, tokenizer, preset.dims),
        device=device,
        dtype=dtype,
        source="preset",
        random_weights=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        image_sizes=preset.image_sizes,
    )


def build_random(config, device: torch.device, dtype: torch.dtype, seed: int) -> nn.Module:
    """A model from `config` with seeded random weights, built directly on `device`.

    The transformers initialisers are skipped (minutes on CPU for billions of weights);
    matrices get N(0, 0.02), norms 1 and biases 0, which keeps activations in a normal
    range: no NaN or denormals that would make latency unrepresentative.
    """
    from transformers import AutoModelForImageTextToText
    from transformers.initialization import no_init_weights

    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.device(device), no_init_weights():
        model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.ndim >= 2:
                parameter.normal_(0.0, 0.02, generator=generator)
            elif name.endswith("bias"):
                parameter.zero_()
            else:
                parameter.fill_(1.0)
    return model.eval()


def _load_pretrained(
    spec: str, source: str, device: torch.device, dtype: torch.dtype, random_weights: bool, seed: int,
    trust_remote_code: bool = False,
) -> LoadedModel:
    from transformers import AutoConfig, AutoModelForImageTextToText

    # A cached checkpoint loads without a single network request (no ETag checks either).
    hub = {"local_files_only": True} if source == "hub" and _in_hub_cache(spec) else {}
    hub["trust_remote_code"] = trust_remote_code
    try:
        config = AutoConfig.from_pretrained(spec, **hub)
        if random_weights:
            model = build_random(config, device, dtype, seed)
        else:
            model = AutoModelForImageTextToText.from_pretrained(spec, dtype=dtype, **hub).to(device).eval()
        inputs, tokenizer = _pretrained_inputs(spec, config, hub)
    except ModelLoadError:
        raise
    except (OSError, ValueError, ImportError, KeyError) as exc:
        raise ModelLoadError(_explain(spec, source, exc)) from None
    return LoadedModel(
        name=spec,
        family=config.model_type,
        model=model,
        inputs=inputs,
        device=device,
        dtype=dtype,
        source=source,
        random_weights=random_weights,
        eos_token_id=getattr(tokenizer, "eos_token_id", None),
        pad_token_id=getattr(tokenizer, "pad_token_id", None) or getattr(tokenizer, "eos_token_id", None),
        image_sizes=((448, 448), (640, 480), (1024, 768), (336, 336), (800, 600)),
    )


def _pretrained_inputs(spec: str, config, hub: dict):
    """The checkpoint's own processor; for Qwen-style processors that cannot construct here
    (their video slot), the image processor and tokenizer with the text expanded by hand."""
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    try:
        processor = AutoProcessor.from_pretrained(spec, **hub)
        return ProcessorInputs(processor), processor.tokenizer
    except (OSError, ValueError, ImportError, AttributeError, TypeError) as exc:
        if config.model_type not in ("qwen2_vl", "qwen2_5_vl"):
            raise ModelLoadError(f"could not build the processor of {spec!r}: {first_line(exc)}") from None
    tokenizer = AutoTokenizer.from_pretrained(spec, **hub)
    return QwenInputs(tokenizer, AutoImageProcessor.from_pretrained(spec, **hub)), tokenizer


def _explain(spec: str, source: str, exc: Exception) -> str:
    text = first_line(exc)
    if "trust_remote_code" in str(exc) or "custom code" in str(exc):
        return (f"could not load {spec!r}: it ships its own Python code (auto_map), which vlmtop runs only "
                "with --trust-remote-code; read that code first")
    if source == "hub" and ("offline" in text.lower() or "connect" in text.lower() or "cache" in text.lower()
                            or "huggingface.co" in text.lower() or isinstance(exc, OSError)):
        return (
            f"could not load {spec!r}: it is not in the Hugging Face cache and the Hub cannot be reached "
            f"(offline?). Download it where there is network (`hf download {spec}`), pass a local folder, "
            "or use a built-in preset (`vlmtop models`)"
        )
    return f"could not load {spec!r}: {text}"
