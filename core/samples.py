"""Where samples come from: synthetic images, a folder of images, or a JSONL manifest.

A source yields :class:`Sample` objects whose image is read only when the sample runs, so a
missing or corrupt image is an error of that one sample (the worker records it and goes
on), never a crash of the whole session.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from PIL import Image, UnidentifiedImageError

from vlmtop.core.errors import SampleError, VlmtopError
from vlmtop.core.limits import MAX_NEW_TOKENS

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
DEFAULT_PROMPT = "Describe this image in detail."
SYNTHETIC_PROMPTS = (
    "Describe this image in detail.",
    "What objects are in the picture?",
    "Is there any text in this image? Read it.",
    "What colors dominate the scene?",
    "Write a one-sentence caption.",
)


@dataclass
class Sample:
    id: str  # stable identity: the same id means the same input (paired comparisons)
    prompt: str
    load: Callable[[], Image.Image]  # raises SampleError
    max_new_tokens: int | None = None  # per-sample override from a manifest

    def image(self) -> Image.Image:
        return self.load()


def synthetic_samples(sizes: tuple[tuple[int, int], ...], seed: int = 0) -> Iterator[Sample]:
    """Endless seeded images cycling through `sizes`, each with a prompt.

    Smooth gradients plus noise and a few shapes: enough structure that the image
    processor has real work, and the same index always gives the same image.
    """
    for index in itertools.count():
        width, height = sizes[index % len(sizes)]
        prompt = SYNTHETIC_PROMPTS[index % len(SYNTHETIC_PROMPTS)]
        yield Sample(f"synthetic-{index}", prompt, _synthetic_loader(width, height, seed + index))


def _synthetic_loader(width: int, height: int, seed: int) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        import numpy as np  # here, not at import: `vlmtop --help` reads this module's defaults

        rng = np.random.default_rng(seed)
        y, x = np.mgrid[0:height, 0:width]
        base = rng.uniform(0, 255, 3)
        slope = rng.uniform(-1, 1, (3, 2))
        pixels = base + x[..., None] * slope[:, 0] * 255 / width + y[..., None] * slope[:, 1] * 255 / height
        pixels += rng.normal(0, 12, pixels.shape)
        for _ in range(3):  # a few rectangles
            x0, y0 = rng.integers(0, width), rng.integers(0, height)
            pixels[y0 : y0 + height // 4, x0 : x0 + width // 4] = rng.uniform(0, 255, 3)
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")

    return load


def folder_samples(folder: str | Path, prompt: str = DEFAULT_PROMPT) -> list[Sample]:
    """Every image file in `folder` (sorted by name), each with the same prompt."""
    root = Path(folder)
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise VlmtopError(f"no images in {root} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return [Sample(p.name, prompt, _file_loader(p)) for p in files]


def manifest_samples(path: str | Path, prompt: str = DEFAULT_PROMPT) -> list[Sample]:
    """One sample per line of a JSONL manifest: ``{"image": ..., "prompt": ..., "max_new_tokens": ...}``.

    Image paths are relative to the manifest's folder. A malformed line becomes a sample
    whose loading fails with that line's problem, so it is recorded as an error row.
    """
    manifest = Path(path)
    samples = []
    for number, line in enumerate(manifest.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        sample_id = f"{manifest.name}:{number}"
        try:
            entry = json.loads(line)
            image_path = manifest.parent / entry["image"]
            samples.append(
                Sample(
                    f"{sample_id}:{entry['image']}",
                    entry.get("prompt", prompt),
                    _file_loader(image_path),
                    _decode_length(entry.get("max_new_tokens")),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            problem = f"line {number} of {manifest}: {type(exc).__name__}: {exc}"
            samples.append(Sample(sample_id, prompt, _failing_loader(problem)))
    if not samples:
        raise VlmtopError(f"manifest {manifest} has no samples")
    return samples


# MAX_NEW_TOKENS (core/limits.py): a manifest line asking for more is an error row.


def _decode_length(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) \
            or not 1 <= value <= MAX_NEW_TOKENS:
        raise ValueError(f"max_new_tokens {value!r}: a whole number from 1 to {MAX_NEW_TOKENS}")
    return int(value)


def _file_loader(path: Path) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        try:
            if not path.is_file():  # a FIFO or device named *.png would block or never end
                raise SampleError(f"not a regular file: {path}" if path.exists() else f"image not found: {path}")
            with Image.open(path) as image:
                return image.convert("RGB")
        except FileNotFoundError:
            raise SampleError(f"image not found: {path}") from None
        except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
            raise SampleError(f"cannot read image {path}: {exc}") from None

    return load


def _failing_loader(problem: str) -> Callable[[], Image.Image]:
    def load() -> Image.Image:
        raise SampleError(problem)

    return load


def open_samples(spec: str, sizes: tuple[tuple[int, int], ...], prompt: str | None = None, seed: int = 0):
    """The source named on the command line: ``synthetic``, a folder, or a ``.jsonl`` file.

    Returns ``(samples, finite)``: an iterator of samples and whether it ends by itself.
    """
    kind = check_samples_spec(spec)
    if kind == "synthetic":
        return synthetic_samples(sizes, seed), False
    if kind == "folder":
        return iter(folder_samples(spec, prompt or DEFAULT_PROMPT)), True
    return iter(manifest_samples(spec, prompt or DEFAULT_PROMPT)), True


def check_samples_spec(spec: str) -> str:
    """synthetic | folder | manifest; raises VlmtopError for a path that is none of them."""
    if spec == "synthetic":
        return "synthetic"
    if not os.path.exists(spec):
        raise VlmtopError(f"samples {spec!r} not found: give `synthetic`, a folder of images or a .jsonl manifest")
    if os.path.isdir(spec):
        return "folder"
    if spec.endswith(".jsonl"):
        return "manifest"
    raise VlmtopError(f"samples {spec!r}: expected a folder of images or a .jsonl manifest")
