"""`vlmtop run` on the workloads beyond one image per prompt, end to end on real tiny
models: an `images` sweep (text-only arm included) summarised, compared and modelled, and a
parquet dataset in the Hugging Face layout read row by row."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import error_line
from PIL import Image

from vlmtop.cli import main
from vlmtop.sessions.compare import is_measured
from vlmtop.sessions.store import SessionStore

QUICK = ["--model", "tiny-qwen2-vl", "--max-new-tokens", "2", "--threads", "1"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    db = tmp_path_factory.mktemp("images") / "s.db"
    assert main(["run", "--headless", "--db", str(db), "--knob", "images=0,1,2,4", "--count", "3", "--warmup", "1",
                 *QUICK]) == 0
    with SessionStore.open(db, create=False) as store:
        (info,) = store.sessions()
        rows = [row for row in store.samples(info.id) if is_measured(row)]
    return db, info.id, rows


def test_an_images_sweep_records_counts_and_tokens_that_scale(sweep):
    _, _, rows = sweep
    for row in rows:
        assert row.image_count == int(row.arm.removeprefix("images="))
        assert (row.vision_ms is None) == (row.image_count == 0) == (row.image_tokens == 0)
    by_sample = {}
    for row in rows:
        by_sample.setdefault(row.sample_id, {})[row.image_count] = row.image_tokens
    for tokens in by_sample.values():  # the same sample: each extra image of its size adds as many tokens
        assert tokens[2] == 2 * tokens[1] and tokens[4] == 4 * tokens[1]


def test_the_summary_and_compare_say_what_each_arm_fed_the_model(sweep, capsys):
    db, session_id, _ = sweep
    capsys.readouterr()
    assert main(["compare", session_id, "--db", str(db), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    first = report["comparisons"][0]
    assert (first["baseline"], first["arm"]) == ("images=0", "images=1")
    assert first["not_compared"] == {"vision_ms": "not run in images=0", "projector_ms": "not run in images=0"}
    assert "prefill_ms" in {stage["stage"] for stage in first["stages"]}
    assert all("vision_ms" in pair["not_compared"] for pair in report["comparisons"])  # each against images=0
    assert main(["compare", session_id, "--db", str(db)]) == 0
    assert "vision: not run in images=0, not compared" in capsys.readouterr().out


def test_the_cost_model_prices_one_more_image(sweep, capsys):
    db, _, rows = sweep
    capsys.readouterr()
    assert main(["model", "last", "--db", str(db), "--json", "--boot", "20", "--predict", "images=3"]) == 0
    out = json.loads(capsys.readouterr().out)
    (prediction,) = out["predictions"]
    per_image = out["per_extra_image"]
    assert prediction["drivers"]["image_tokens"] == 3 * per_image["image_tokens"]
    assert set(per_image["stages"]) >= {"vision_ms", "prefill_ms", "e2e_ms"}
    assert main(["model", "last", "--db", str(db), "--boot", "20"]) == 0
    assert "each extra image (" in capsys.readouterr().out


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(out, format="PNG")
    return out.getvalue()


def test_a_parquet_dataset_runs_row_by_row_and_a_bad_row_is_one_error_row(tmp_path, capsys):
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    pq.write_table(pa.table({
        "image": pa.array([{"bytes": _png(64, 48), "path": "a.png"}, {"bytes": b"junk", "path": "b.png"},
                           {"bytes": _png(56, 56), "path": "c.png"}], image),
        "question": ["What colour is it?", "Broken?", "And this one?"],
    }), tmp_path / "val.parquet")
    db = tmp_path / "s.db"
    assert main(["run", "--headless", "--db", str(db), "--samples", str(tmp_path / "val.parquet"), "--warmup", "none",
                 *QUICK]) == 0
    with SessionStore.open(db, create=False) as store:
        (info,) = store.sessions()
        rows = store.samples(info.id)
    assert [row.sample_id for row in rows] == ["val.parquet:0", "val.parquet:1", "val.parquet:2"]
    assert [row.status for row in rows] == ["ok", "error", "ok"] and "val.parquet:1" in rows[1].error
    assert rows[0].image_count == 1 and (rows[0].image_width, rows[0].image_height) == (64, 48)
    assert "BytesIO" not in rows[1].error
    capsys.readouterr()
    assert main(["run", "--headless", "--db", str(db), "--samples", str(tmp_path / "val.parquet"),
                 "--knob", "images=1,2", *QUICK]) == 2
    assert "--knob images sets how many images a synthetic sample carries" in error_line(capsys)


def test_a_frames_sweep_records_the_video_and_its_tokens(tmp_path, capsys):
    db = tmp_path / "v.db"
    assert main(["run", "--headless", "--db", str(db), "--knob", "frames=2,4", "--count", "2", "--warmup", "none",
                 *QUICK]) == 0
    with SessionStore.open(db, create=False) as store:
        (info,) = store.sessions()
        rows = [row for row in store.samples(info.id) if is_measured(row)]
    assert {(row.arm, row.video_frames, row.image_count) for row in rows} == {("frames=2", 2, 0), ("frames=4", 4, 0)}
    tokens = {(row.sample_id, row.video_frames): row.image_tokens for row in rows}
    assert all(tokens[sample, 4] == 2 * tokens[sample, 2] for sample, frames in tokens if frames == 2)
    assert all(row.vision_ms is not None for row in rows)
    capsys.readouterr()
    assert main(["run", "--headless", "--db", str(db), "--model", "tiny-llava", "--knob", "frames=2"]) == 2
    assert "knob frames does not apply to llava models" in error_line(capsys)
