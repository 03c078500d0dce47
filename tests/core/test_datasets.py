"""Parquet datasets in the Hugging Face layout (an Image feature is a struct of bytes and
path), built here with real PNG bytes: read a batch at a time, ids FILE:ROW, the prompt
column picked or named, and each bad row or bad column one line."""

from __future__ import annotations

import io
import itertools

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from vlmtop.core import SampleError, VlmtopError
from vlmtop.core.datasets import READ_BATCH_ROWS, dataset_samples
from vlmtop.core.samples import check_sample_options, open_samples

IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def png(width: int, height: int, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


def write_vqa(path, rows: int, row_group_size: int | None = None, **extra_columns) -> None:
    """A VQA-style split: one image, a question, an answer."""
    table = pa.table({
        "image": pa.array([{"bytes": png(32 + i, 24), "path": f"img{i}.png"} for i in range(rows)], IMAGE),
        "question": [f"What is in picture {i}?" for i in range(rows)],
        "answer": ["a square"] * rows,
        **extra_columns,
    })
    pq.write_table(table, path, row_group_size=row_group_size)


def test_a_vqa_split_reads_as_samples_with_ids_file_and_row(tmp_path):
    write_vqa(tmp_path / "val.parquet", 3)
    samples, finite = open_samples(str(tmp_path / "val.parquet"), ((8, 8),))
    samples = list(samples)
    assert finite and [s.id for s in samples] == ["val.parquet:0", "val.parquet:1", "val.parquet:2"]
    assert samples[2].prompt == "What is in picture 2?"
    assert [im.size for im in samples[2].images()] == [(34, 24)]


def test_a_folder_of_shards_is_read_lazily_in_name_order(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = 2 * READ_BATCH_ROWS + 3
    write_vqa(data / "test-00001-of-00002.parquet", rows, row_group_size=READ_BATCH_ROWS)
    write_vqa(data / "test-00000-of-00002.parquet", 2)
    samples = dataset_samples(tmp_path, "unused")
    first = list(itertools.islice(samples, 3))  # a generator: nothing past what was asked is decoded
    assert [s.id for s in first] == ["data/test-00000-of-00002.parquet:0", "data/test-00000-of-00002.parquet:1",
                                     "data/test-00001-of-00002.parquet:0"]
    rest = list(samples)
    assert rest[-1].id == f"data/test-00001-of-00002.parquet:{rows - 1}" and len(rest) == rows - 1
    assert check_sample_options(str(tmp_path)) == "dataset"


def test_several_images_per_row_and_a_bad_cell_is_that_rows_error(tmp_path):
    pages = pa.list_(IMAGE)
    table = pa.table({
        "images": pa.array([
            [{"bytes": png(20, 20), "path": None}, {"bytes": png(30, 20), "path": None}],
            [{"bytes": b"\x89PNG not really", "path": "broken.png"}],
            [],
        ], pages),
        "prompt": ["Which page?", "Broken?", "No pages at all."],
    })
    pq.write_table(table, tmp_path / "docs.parquet")
    samples = list(open_samples(str(tmp_path / "docs.parquet"), ((8, 8),))[0])
    assert [im.size for im in samples[0].images()] == [(20, 20), (30, 20)]
    with pytest.raises(SampleError, match="cannot read image docs.parquet:1: "):
        samples[1].images()
    assert samples[2].images() == [] and samples[2].prompt == "No pages at all."


def test_the_prompt_column_is_picked_named_or_refused_in_one_line(tmp_path):
    write_vqa(tmp_path / "two.parquet", 2, text=["caption"] * 2)  # question AND text
    with pytest.raises(VlmtopError, match=r"several prompt columns \(question, text\): pick one with --prompt-column"):
        check_sample_options(str(tmp_path / "two.parquet"))
    assert check_sample_options(str(tmp_path / "two.parquet"), prompt_column="text") == "dataset"
    samples = list(open_samples(str(tmp_path / "two.parquet"), ((8, 8),), prompt_column="answer")[0])
    assert samples[0].prompt == "a square"
    with pytest.raises(VlmtopError, match=r"--prompt-column 'query'.*text columns: question, answer, text"):
        check_sample_options(str(tmp_path / "two.parquet"), prompt_column="query")


def test_a_dataset_without_an_image_column_runs_text_only_and_a_null_prompt_is_its_rows_error(tmp_path):
    pq.write_table(pa.table({"question": ["What is 2+2?", None]}), tmp_path / "text.parquet")
    samples = list(open_samples(str(tmp_path / "text.parquet"), ((8, 8),))[0])
    assert samples[0].images() == [] and samples[0].prompt == "What is 2+2?"
    with pytest.raises(SampleError, match="text.parquet:1: its question is empty"):
        samples[1].images()


def test_options_that_do_not_fit_the_source_are_one_line(tmp_path):
    write_vqa(tmp_path / "val.parquet", 1)
    with pytest.raises(VlmtopError, match="--knob images sets how many images a synthetic sample carries"):
        check_sample_options(str(tmp_path / "val.parquet"), image_count_knob=True)
    with pytest.raises(VlmtopError, match="--prompt-column and --image-column name a parquet dataset's columns"):
        check_sample_options("synthetic", prompt_column="question")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(VlmtopError, match="cannot read .*junk.parquet as parquet"):
        check_sample_options(str(tmp_path / "junk.parquet"))
