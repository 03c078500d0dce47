"""Where samples come from: synthetic images, a folder of images, a JSONL manifest, or a
Hugging Face dataset saved as parquet (core/datasets.py).

A sample is a prompt with 0..N images. A source yields :class:`Sample` objects whose images
are read only when the sample runs, so a missing or corrupt image is an error of that one
sample (the worker records it and goes on), never a crash of the whole session.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from PIL import Image, UnidentifiedImageError

from vlmtop.core.errors import SampleError, VlmtopError, first_line
from vlmtop.core.limits import MAX_IMAGES, MAX_NEW_TOKENS

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
DEFAULT_PROMPT = "Describe this image in detail."
SYNTHETIC_PROMPTS = (
    "Describe this image in detail.",
    "What objects are in the picture?",
    "Is there any text in this image? Read it.",
    "What colors dominate the scene?",
    "Write a one-sentence caption.",
)


Loader = Callable[[int | None], list[Image.Image]]  # images (0..N) for a count; raises SampleError


VIDEO_SEED = 1_000_003  # keeps a synthetic video's frames apart from the sample's images
DEFAULT_FRAMES = 8  # frames taken from a video file when the `frames` knob does not say


def images_knob_refused(source: str) -> str:
    return (f"--knob images sets how many images a synthetic sample carries; {source} brings its own images: "
            "drop the knob, or use --samples synthetic")


@dataclass
class Sample:
    id: str  # stable identity: the same id means the same input (paired comparisons)
    prompt: str
    load: Loader
    max_new_tokens: int | None = None  # per-sample override from a manifest
    synthetic: bool = False  # its image count follows the `images` knob; others bring their own
    video: Loader | None = None  # a video's frames for a count (None: the source's own); None: no video

    def images(self, count: int | None = None) -> list[Image.Image]:
        """The sample's images, in prompt order; ``count`` sets how many a synthetic sample
        draws (the `images` knob; None: one). [] for a text-only sample."""
        if count is not None and not self.synthetic:
            raise SampleError(images_knob_refused(self.id))
        return self.load(count)

    def frames(self, count: int | None = None) -> list[Image.Image]:
        """The video's frames, ``count`` of them where given (the `frames` knob); [] when the
        sample has no video. A synthetic sample has one only when a count is asked."""
        if self.video is None or (self.synthetic and count is None):
            return []
        return self.video(count)

    def image(self) -> Image.Image:
        """The first image, for callers that time one image per prompt."""
        images = self.images()
        if not images:
            raise SampleError(f"sample {self.id} has no image (a text-only prompt)")
        return images[0]


def synthetic_samples(sizes: tuple[tuple[int, int], ...], seed: int = 0) -> Iterator[Sample]:
    """Endless seeded images cycling through `sizes`, each with a prompt.

    Smooth gradients plus noise and a few shapes: enough structure that the image
    processor has real work, and the same index always gives the same image. A sample
    asked for several images gets that many of its size, the first always the one it has
    alone: arms `images=1,2` share their first image, and each extra image costs the same.
    """
    for index in itertools.count():
        width, height = sizes[index % len(sizes)]
        prompt = SYNTHETIC_PROMPTS[index % len(SYNTHETIC_PROMPTS)]
        yield Sample(f"synthetic-{index}", prompt, _synthetic_loader(width, height, seed + index), synthetic=True,
                     video=_synthetic_loader(width, height, seed + index, video=True))


def _synthetic_loader(width: int, height: int, seed: int, video: bool = False) -> Loader:
    def load(count: int | None) -> list[Image.Image]:
        # the k-th image's seed pairs the sample's with k (k = 0 keeps the one-image seed);
        # a video's frames are seeded apart from the images
        seeds = [(seed, VIDEO_SEED, k) if video else seed if k == 0 else (seed, k) for k in range(1 if count is None else count)]
        return [synthetic_image(width, height, one) for one in seeds]

    return load


def synthetic_image(width: int, height: int, seed) -> Image.Image:
    """One seeded synthetic image: the same seed always draws the same pixels."""
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


def folder_samples(folder: str | Path, prompt: str = DEFAULT_PROMPT) -> list[Sample]:
    """Every image file in `folder` (sorted by name), each with the same prompt."""
    root = Path(folder)
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise VlmtopError(f"no images in {root} (looked for {', '.join(sorted(IMAGE_SUFFIXES))}, "
                          "or parquet files of a dataset)")
    return [Sample(p.name, prompt, _files_loader([p])) for p in files]


def manifest_samples(path: str | Path, prompt: str = DEFAULT_PROMPT) -> list[Sample]:
    """One sample per line of a JSONL manifest: ``{"image": PATH, "prompt": ..., "max_new_tokens": ...}``,
    ``"images": [PATH, ...]`` for several images in one prompt, ``"video": FILE`` or
    ``"video": [FRAME, ...]`` for a video, or none of them for a text-only prompt (which
    then needs its ``prompt``).

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
            images = _manifest_images(entry)
            video = _manifest_video(entry, manifest.parent, number, manifest)
            if not images and video is None and not isinstance(entry.get("prompt"), str):
                raise ValueError('a line without "image", "images" or "video" is a text-only prompt: give its "prompt"')
            samples.append(
                Sample(
                    sample_id + _images_suffix(images) + (":video" if video else ""),
                    entry.get("prompt", prompt),
                    _files_loader([manifest.parent / name for name in images]),
                    _decode_length(entry.get("max_new_tokens")),
                    video=video,
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            problem = f"line {number} of {manifest}: {type(exc).__name__}: {exc}"
            samples.append(Sample(sample_id, prompt, failing_loader(problem)))
    if not samples:
        raise VlmtopError(f"manifest {manifest} has no samples")
    return samples


def _manifest_images(entry: dict) -> list[str]:
    """A manifest line's image paths, in prompt order: ``image`` (one) or ``images`` (a list)."""
    if "image" in entry and "images" in entry:
        raise ValueError('give "image" (one path) or "images" (a list of paths), not both')
    if "images" in entry:
        images = entry["images"]
        if not isinstance(images, list) or not all(isinstance(name, str) for name in images):
            raise ValueError('"images" must be a list of paths, e.g. ["page1.png", "page2.png"]')
        if len(images) > MAX_IMAGES:
            raise ValueError(f'"images" lists {len(images)} images; at most {MAX_IMAGES} per prompt')
        return images
    if "image" in entry:
        if not isinstance(entry["image"], str):
            raise ValueError('"image" must be a path; several images go in "images": [...]')
        return [entry["image"]]
    return []


def _manifest_video(entry: dict, folder: Path, number: int, manifest: Path) -> Loader | None:
    """A manifest line's ``video``: a video file (decoded with PyAV when the sample runs), or
    its frames as a list of image files; None without one."""
    if "video" not in entry:
        return None
    video = entry["video"]
    if isinstance(video, list) and video and all(isinstance(name, str) for name in video):
        return _frames_loader([folder / name for name in video])
    if not isinstance(video, str):
        raise ValueError('"video" must be a video file or a list of its frames as image files')
    if importlib.util.find_spec("av") is None:  # the whole run: every video line needs it
        raise VlmtopError(f"line {number} of {manifest} gives a video file ({video}); decoding it needs PyAV, "
                          "which is not installed: pip install av (or list its frames as image files)")
    return _video_file_loader(folder / video)


def _frames_loader(paths: list[Path]) -> Loader:
    def load(count: int | None) -> list[Image.Image]:
        return [read_image_file(path) for path in evenly(paths, count)]

    return load


def _video_file_loader(path: Path) -> Loader:
    def load(count: int | None) -> list[Image.Image]:
        from transformers.video_utils import load_video

        if not path.is_file():
            raise SampleError(f"video not found: {path}" if not path.exists() else f"not a regular file: {path}")
        try:
            frames, _ = load_video(str(path), num_frames=count or DEFAULT_FRAMES, backend="pyav")
        except Exception as exc:  # noqa: BLE001 - PyAV raises its own error types for a bad file
            raise SampleError(f"cannot read video {path}: {first_line(exc)}") from None
        return [Image.fromarray(frame).convert("RGB") for frame in frames]

    return load


def evenly(items: list, count: int | None) -> list:
    """``count`` items spread evenly over ``items`` (all of them without a count, or when
    there are no more): how a video's frames are sampled."""
    if count is None or count >= len(items):
        return list(items)
    return [items[round(i * (len(items) - 1) / max(1, count - 1))] for i in range(count)] if count > 1 else [items[0]]


def _images_suffix(images: list[str]) -> str:
    """The part of a manifest sample's id that names its images: ``:a.png`` for one (as it
    always was, so older sessions still pair), ``:a.png+2`` for three, nothing for none."""
    if not images:
        return ""
    return f":{images[0]}" + (f"+{len(images) - 1}" if len(images) > 1 else "")


# MAX_NEW_TOKENS (core/limits.py): a manifest line asking for more is an error row.


def _decode_length(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) \
            or not 1 <= value <= MAX_NEW_TOKENS:
        raise ValueError(f"max_new_tokens {value!r}: a whole number from 1 to {MAX_NEW_TOKENS}")
    return int(value)


def _files_loader(paths: list[Path]) -> Loader:
    def load(count: int | None) -> list[Image.Image]:
        return [read_image_file(path) for path in paths]

    return load


def read_image_file(path: Path) -> Image.Image:
    """An image file as RGB; SampleError (one line, naming the file) when it cannot be."""
    if not path.is_file():  # a FIFO or device named *.png would block or never end
        raise SampleError(f"not a regular file: {path}" if path.exists() else f"image not found: {path}")
    return decode_image(lambda: path, str(path))


def decode_image(source: Callable[[], Any], name: str) -> Image.Image:
    """The image ``source()`` opens (a path or a file object) as RGB; SampleError naming
    ``name`` when it is missing or is no image PIL can read."""
    try:
        with Image.open(source()) as image:
            return image.convert("RGB")
    except FileNotFoundError:
        raise SampleError(f"image not found: {name}") from None
    except UnidentifiedImageError:  # its message names a Python object for in-memory bytes
        raise SampleError(f"cannot read image {name}: not in an image format PIL reads") from None
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise SampleError(f"cannot read image {name}: {exc}") from None


def failing_loader(problem: str) -> Loader:
    """A loader for a sample that cannot be read: it raises ``problem`` when the sample runs."""
    def load(count: int | None) -> list[Image.Image]:
        raise SampleError(problem)

    return load


def open_samples(spec: str, sizes: tuple[tuple[int, int], ...], prompt: str | None = None, seed: int = 0,
                 prompt_column: str | None = None, image_column: str | None = None):
    """The source named on the command line: ``synthetic``, a folder of images, a ``.jsonl``
    manifest, or a parquet dataset (a file, or a folder of shards).

    Returns ``(samples, finite)``: an iterator of samples and whether it ends by itself.
    """
    kind = check_samples_spec(spec)
    if kind == "synthetic":
        return synthetic_samples(sizes, seed), False
    if kind == "dataset":
        from vlmtop.core.datasets import dataset_samples

        return dataset_samples(spec, prompt or DEFAULT_PROMPT, prompt_column, image_column), True
    if kind == "folder":
        return iter(folder_samples(spec, prompt or DEFAULT_PROMPT)), True
    return iter(manifest_samples(spec, prompt or DEFAULT_PROMPT)), True


def check_sample_options(spec: str, image_count_knob: bool = False, prompt_column: str | None = None,
                         image_column: str | None = None, frames_knob: bool = False) -> str:
    """:func:`check_samples_spec`, and the options that go with some sources only: one line
    before anything runs. Returns the kind of source."""
    kind = check_samples_spec(spec)
    if image_count_knob and kind != "synthetic":
        raise VlmtopError(images_knob_refused(spec))
    if frames_knob and kind in ("folder", "dataset"):
        raise VlmtopError(f"--knob frames sets how many frames a video gives; {spec} holds no video: use "
                          "--samples synthetic, or a manifest with \"video\" lines")
    if kind == "dataset":
        from vlmtop.core.datasets import layout_of, parquet_files

        layout_of(parquet_files(spec), prompt_column, image_column)  # an ambiguous column, said now
    elif prompt_column or image_column:
        raise VlmtopError(f"--prompt-column and --image-column name a parquet dataset's columns; {spec} is not one")
    return kind


def check_samples_spec(spec: str) -> str:
    """synthetic | folder | manifest | dataset; raises VlmtopError for a path that is none of them."""
    from vlmtop.core.datasets import is_dataset

    if spec == "synthetic":
        return "synthetic"
    if not os.path.exists(spec):
        raise VlmtopError(f"samples {spec!r} not found: give `synthetic`, a folder of images, a .jsonl manifest "
                          "or a parquet dataset")
    if os.path.isdir(spec):
        has_images = any(p.suffix.lower() in IMAGE_SUFFIXES for p in Path(spec).iterdir())
        return "dataset" if not has_images and is_dataset(spec) else "folder"
    if spec.endswith(".jsonl"):
        return "manifest"
    if is_dataset(spec):
        return "dataset"
    raise VlmtopError(f"samples {spec!r}: expected a folder of images, a .jsonl manifest or a .parquet dataset")
