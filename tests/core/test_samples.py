"""Sample sources: synthetic, folder, manifest; a bad image is that sample's error only."""

from __future__ import annotations

import importlib.util
import itertools
import json

import numpy as np
import pytest
from PIL import Image

from vlmtop.core import SampleError, VlmtopError
from vlmtop.core.samples import open_samples, synthetic_samples

SIZES = ((64, 48), (120, 90))


def test_synthetic_samples_are_seeded_and_cycle_sizes():
    a = [s.image() for s in itertools.islice(synthetic_samples(SIZES), 3)]
    b = [s.image() for s in itertools.islice(synthetic_samples(SIZES), 3)]
    assert [im.size for im in a] == [(64, 48), (120, 90), (64, 48)]
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b))
    assert not np.array_equal(np.asarray(a[0]), np.asarray(a[2]))  # same size, other image


def test_folder_source_reads_images_in_name_order(tmp_path):
    for name in ("b.png", "a.jpg"):
        Image.new("RGB", (32, 32), "red").save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    samples, finite = open_samples(str(tmp_path), SIZES, prompt="What is it?")
    samples = list(samples)
    assert finite and [s.id for s in samples] == ["a.jpg", "b.png"]
    assert samples[0].prompt == "What is it?" and samples[0].image().size == (32, 32)


def test_manifest_errors_belong_to_their_sample(tmp_path):
    Image.new("RGB", (40, 30)).save(tmp_path / "ok.png")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG not really")
    lines = [
        {"image": "ok.png", "prompt": "Count the cats.", "max_new_tokens": 5},
        {"image": "missing.png"},
        {"image": "corrupt.png"},
    ]
    manifest = tmp_path / "set.jsonl"
    manifest.write_text("\n".join(json.dumps(x) for x in lines) + "\n{not json\n")
    samples = list(open_samples(str(manifest), SIZES)[0])
    assert len(samples) == 4
    assert samples[0].image().size == (40, 30) and samples[0].max_new_tokens == 5
    with pytest.raises(SampleError, match="image not found"):
        samples[1].image()
    with pytest.raises(SampleError, match="cannot read image"):
        samples[2].image()
    with pytest.raises(SampleError, match="line 4"):
        samples[3].image()


def test_unknown_sample_source_is_a_clear_error(tmp_path):
    with pytest.raises(VlmtopError, match="not found"):
        open_samples(str(tmp_path / "nope"), SIZES)
    with pytest.raises(VlmtopError, match="no images"):
        open_samples(str(tmp_path), SIZES)


def test_a_synthetic_sample_draws_as_many_images_as_asked_the_first_its_own():
    sample = next(synthetic_samples(SIZES))
    one, three = sample.images(), sample.images(3)
    assert len(one) == 1 and len(three) == 3 and sample.images(0) == []
    assert np.array_equal(np.asarray(one[0]), np.asarray(three[0]))  # arms images=1,3 share it
    assert {im.size for im in three} == {(64, 48)}  # each extra image costs the same
    assert not np.array_equal(np.asarray(three[1]), np.asarray(three[2]))


def test_manifest_lines_with_several_images_or_none(tmp_path):
    for name, size in (("p1.png", (40, 30)), ("p2.png", (50, 40))):
        Image.new("RGB", size).save(tmp_path / name)
    lines = [
        {"images": ["p1.png", "p2.png"], "prompt": "Which page has the table?"},
        {"prompt": "What is the capital of France?"},  # text-only
        {"images": ["p1.png", "gone.png"]},  # one missing among several
        {"image": "p1.png", "images": ["p2.png"]},
        {"images": "p1.png"},
        {"max_new_tokens": 4},  # no image and no prompt
    ]
    manifest = tmp_path / "pages.jsonl"
    manifest.write_text("\n".join(json.dumps(x) for x in lines))
    samples = list(open_samples(str(manifest), SIZES)[0])
    assert [s.id for s in samples] == ["pages.jsonl:1:p1.png+1", "pages.jsonl:2", "pages.jsonl:3:p1.png+1",
                                       "pages.jsonl:4", "pages.jsonl:5", "pages.jsonl:6"]
    assert [im.size for im in samples[0].images()] == [(40, 30), (50, 40)]
    assert samples[1].images() == [] and samples[1].prompt == "What is the capital of France?"
    with pytest.raises(SampleError, match="image not found: .*gone.png"):
        samples[2].images()
    with pytest.raises(SampleError, match="not both"):
        samples[3].images()
    with pytest.raises(SampleError, match="list of paths"):
        samples[4].images()
    with pytest.raises(SampleError, match="text-only prompt: give its"):
        samples[5].images()
    with pytest.raises(SampleError, match="synthetic"):  # the images knob is for synthetic samples
        samples[0].images(2)


def test_a_video_given_as_frames_is_sampled_evenly_and_a_video_file_needs_pyav(tmp_path):
    for k in range(6):
        Image.new("RGB", (32, 24), (40 * k, 0, 0)).save(tmp_path / f"f{k}.png")
    lines = [{"video": [f"f{k}.png" for k in range(6)], "prompt": "What moves?"}, {"video": 3}]
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text("\n".join(json.dumps(x) for x in lines))
    clip, bad = list(open_samples(str(manifest), SIZES)[0])
    assert clip.id == "clips.jsonl:1:video" and clip.images() == []
    assert [im.getpixel((0, 0))[0] for im in clip.frames()] == [0, 40, 80, 120, 160, 200]
    assert [im.getpixel((0, 0))[0] for im in clip.frames(3)] == [0, 80, 200]  # first, middle, last
    with pytest.raises(SampleError, match="a video file or a list of its frames"):
        bad.images()  # the line's problem, when the sample runs
    assert next(synthetic_samples(SIZES)).frames() == []  # a synthetic video only when frames are asked
    assert [im.size for im in next(synthetic_samples(SIZES)).frames(2)] == [(64, 48)] * 2
    if importlib.util.find_spec("av") is None:
        manifest.write_text(json.dumps({"video": "clip.mp4", "prompt": "What happens?"}))
        with pytest.raises(VlmtopError, match="line 1 of .*clips.jsonl gives a video file .*pip install av"):
            open_samples(str(manifest), SIZES)


def test_a_video_file_is_decoded_to_as_many_frames_as_asked(tmp_path):
    av = pytest.importorskip("av")
    with av.open(str(tmp_path / "clip.mp4"), "w") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for k in range(16):
            frame = np.full((48, 64, 3), 15 * k, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    (tmp_path / "clip.jsonl").write_text(json.dumps({"video": "clip.mp4", "prompt": "What happens?"}) + "\n"
                                         + json.dumps({"video": "gone.mp4", "prompt": "And here?"}))
    clip, gone = list(open_samples(str(tmp_path / "clip.jsonl"), SIZES)[0])
    frames = clip.frames(4)
    assert len(frames) == 4 and {im.size for im in frames} == {(64, 48)}
    assert len(clip.frames()) == 8  # DEFAULT_FRAMES without the knob
    brightness = [np.asarray(im).mean() for im in frames]
    assert brightness == sorted(brightness)  # in time order
    with pytest.raises(SampleError, match="video not found: .*gone.mp4"):
        gone.frames()
