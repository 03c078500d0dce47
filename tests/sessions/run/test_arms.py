"""Knobs and interleaved arms in one worker: parsing, the product, the block order, and
real runs on tiny models. Only deterministic facts are asserted here (which samples ran
under which arm, image tokens, decode lengths); how the verdicts behave on this machine's
noise is measured in bench/arms.py."""

from __future__ import annotations

import collections
import json

import pytest

from vlmtop.cli import main
from vlmtop.core.errors import VlmtopError
from vlmtop.sessions.knobs import KNOBS, make_arms, parse_knob_options
from vlmtop.sessions.run.arms import BlockSchedule
from vlmtop.sessions.run.worker import RunSettings, Worker
from vlmtop.sessions.store import SessionStore


def test_knob_values_parse_to_one_canonical_form():
    parsed = parse_knob_options(["image_size=448x448,336", "image_splitting=on,OFF", "attn=SDPA", "max_pixels=448x448"],
                                family=None)
    assert parsed == {"image_size": ["448x448", "336"], "image_splitting": [True, False], "attn": ["sdpa"],
                      "max_pixels": [200704]}


@pytest.mark.parametrize("item, problem", [
    ("image_size=big", "image_size 'big'"),
    ("attn=fast", "use sdpa | eager"),
    ("warmup=²", "invalid warmup policy"),
    ("nosuch=1", "unknown knob 'nosuch'"),
    ("max_new_tokens=8,8", "repeated"),
    ("max_new_tokens", "expected NAME=VALUE"),
])
def test_bad_knob_values_are_one_line(item, problem):
    with pytest.raises(VlmtopError, match=problem.replace("|", r"\|").replace("(", r"\(")):
        parse_knob_options([item])


def test_a_knob_for_another_family_is_refused_naming_both():
    with pytest.raises(VlmtopError, match="image_splitting does not apply to qwen2_vl"):
        parse_knob_options(["image_splitting=on,off"], family="qwen2_vl")
    parse_knob_options(["image_splitting=on,off"], family="idefics3")  # applies there


def test_arms_are_the_product_of_the_varied_knobs_baseline_first():
    arms = make_arms({"max_new_tokens": [8, 16], "attn": ["sdpa", "eager"], "cache": ["keep"]})
    assert [a.label for a in arms] == ["max_new_tokens=8,attn=sdpa", "max_new_tokens=8,attn=eager",
                                       "max_new_tokens=16,attn=sdpa", "max_new_tokens=16,attn=eager"]
    assert all(a.values["cache"] == "keep" for a in arms)  # a fixed knob is in every arm
    assert make_arms({"cache": ["keep"]})[0].label == ""


def test_every_block_runs_each_arm_once_on_one_sample_in_a_seeded_order():
    orders = []
    for seed in (1, 1, 2):
        schedule = BlockSchedule(3, seed)
        samples = iter(range(40))
        steps = [schedule.next(samples) for _ in range(120)]
        blocks = [steps[i:i + 3] for i in range(0, 120, 3)]
        assert all(sorted(arm for arm, _ in b) == [0, 1, 2] and len({s for _, s in b}) == 1 for b in blocks)
        orders.append([arm for arm, _ in steps])
    assert orders[0] == orders[1] != orders[2]  # the seed fixes the order, and it does vary
    first_arm = collections.Counter(order[0] for order in (orders[0][i:i + 3] for i in range(0, 120, 3)))
    assert len(first_arm) == 3  # no arm always goes first


def _run(tmp_path, *argv):
    db = tmp_path / "s.db"
    assert main(["run", "--headless", "--json", "--db", str(db), *argv]) == 0
    with SessionStore.open(db, create=False) as store:
        (info,) = store.sessions()
        return info, store.samples(info.id)


def test_two_decode_lengths_measure_the_same_samples_and_are_recorded_per_row(tmp_path, capsys):
    info, rows = _run(tmp_path, "--knob", "max_new_tokens=2,4", "--count", "3", "--warmup", "1")
    report = json.loads(capsys.readouterr().out)
    measured = [r for r in rows if not r.is_warmup]
    by_arm = collections.defaultdict(list)
    for row in measured:
        by_arm[row.arm].append(row)
    assert set(by_arm) == {"max_new_tokens=2", "max_new_tokens=4"}
    # exact pairs: every arm measured the same sample ids
    assert [r.sample_id for r in by_arm["max_new_tokens=2"]] == [r.sample_id for r in by_arm["max_new_tokens=4"]]
    assert {r.new_tokens for r in by_arm["max_new_tokens=2"]} == {2} and {r.new_tokens for r in by_arm["max_new_tokens=4"]} == {4}
    assert all(r.knobs["max_new_tokens"] == r.new_tokens and r.knobs["cache"] == "keep" for r in measured)
    assert sum(r.is_warmup for r in rows) == 2  # one warm-up per arm
    assert [s["arm"] for s in report["segments"]] == ["max_new_tokens=2", "max_new_tokens=4"]
    assert info.settings["knobs"] == {"max_new_tokens": [2, 4]}


def test_image_size_on_a_dynamic_resolution_family_scales_image_tokens(tmp_path, capsys):
    info, rows = _run(tmp_path, "--knob", "image_size=224x224,448x448", "--count", "2", "--warmup", "none",
                      "--max-new-tokens", "2")
    tokens = {r.arm: r.image_tokens for r in rows}
    assert {r.arm: (r.image_width, r.image_height) for r in rows} == {
        "image_size=224x224": (224, 224), "image_size=448x448": (448, 448)}
    assert tokens["image_size=448x448"] == 4 * tokens["image_size=224x224"]  # 28x28 px per token


def test_a_pixel_budget_caps_visual_tokens_on_qwen(tmp_path, capsys):
    info, rows = _run(tmp_path, "--knob", "max_pixels=112x112,448x448", "--knob", "image_size=448x448",
                      "--count", "1", "--warmup", "none", "--max-new-tokens", "2")
    tokens = {r.arm: r.image_tokens for r in rows}
    assert tokens["max_pixels=12544"] == 16 and tokens["max_pixels=200704"] == 256


def test_attention_and_kv_cache_knobs_run_and_warm_up_before_their_first_timed_sample(tmp_path, capsys):
    info, rows = _run(tmp_path, "--knob", "attn=sdpa,eager", "--knob", "kv_cache=dynamic,static",
                      "--count", "2", "--warmup", "1", "--max-new-tokens", "2", "--model", "tiny-llava")
    assert all(r.status == "ok" for r in rows), [r.error for r in rows if r.error]
    measured = [r for r in rows if not r.is_warmup]
    assert collections.Counter(r.arm for r in measured) == {label: 2 for label in (
        "attn=sdpa,kv_cache=dynamic", "attn=sdpa,kv_cache=static", "attn=eager,kv_cache=dynamic",
        "attn=eager,kv_cache=static")}
    # one warm-up per arm before its first timed sample; switching back later reuses the
    # loaded kernel and the cached static cache, so no warm-up rows on every switch
    assert sum(r.is_warmup for r in rows) == 4


def test_an_invalid_knob_is_one_line_exit_2_and_nothing_is_written(tmp_path, capsys):
    db = tmp_path / "s.db"
    assert main(["run", "--headless", "--knob", "image_splitting=on,off", "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "image_splitting does not apply to qwen2_vl" in err[0]
    assert not db.exists()


def test_a_dashboard_cannot_fix_a_knob_the_arms_vary(tmp_path):
    db = tmp_path / "s.db"

    def on_sample(record):
        if record.seq == 0:
            SessionStore.open(db, create=False).add_control(record.session_id, "cache", "empty")

    Worker(RunSettings(count=1, warmup="none", max_new_tokens=2, knobs={"cache": ["keep", "empty"]}), db,
           on_sample=on_sample).run()
    with SessionStore.open(db, create=False) as store:
        (info,) = store.sessions()
        events = store.events(info.id)
    assert any(e.kind == "rejected" and "varied by this run's arms" in e.detail for e in events)


def test_vlmtop_knobs_lists_every_knob_and_marks_what_applies(capsys):
    assert main(["knobs", "--model", "tiny-idefics3", "--json"]) == 0
    listed = {k["knob"]: k for k in json.loads(capsys.readouterr().out)["knobs"]}
    assert set(listed) == set(KNOBS)
    assert listed["image_splitting"]["applies"] and not listed["max_pixels"]["applies"]


def test_the_warmup_knob_sets_the_warm_up_rows_of_each_arm(tmp_path, capsys):
    info, rows = _run(tmp_path, "--knob", "warmup=none", "--count", "2", "--max-new-tokens", "2")
    assert not any(r.is_warmup for r in rows) and {r.warmup_policy for r in rows} == {"none"}
    assert info.settings["warmup"] == "none"  # the fixed knob is the run's policy (start event, dashboard)
    (tmp_path / "s.db").unlink()
    info, rows = _run(tmp_path, "--knob", "warmup=1,3", "--count", "1", "--max-new-tokens", "2")
    warmups = collections.Counter(r.arm for r in rows if r.is_warmup)
    assert warmups == {"warmup=1": 1, "warmup=3": 3}
    assert all(r.warmup_policy == r.arm.partition("=")[2] for r in rows)


def test_a_warmup_knob_and_a_different_warmup_option_are_refused_in_one_line(tmp_path, capsys):
    db = tmp_path / "s.db"
    for argv in (["--warmup", "3", "--knob", "warmup=none"], ["--warmup", "1", "--knob", "warmup=1,3"]):
        assert main(["run", "--headless", "--db", str(db), *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "disagree" in err[0] and "--warmup" in err[0]
    assert not db.exists()


def test_a_static_cache_is_sized_for_each_arm_not_the_longest_before_it(tmp_path):
    db = tmp_path / "s.db"
    cache_len = {}
    seen = {}

    def on_loaded(loaded):
        seen["model"] = loaded.model

    def on_sample(record):  # what transformers sized this sample's StaticCache to
        cache_len[record.seq] = seen["model"]._previous_max_cache_length

    Worker(RunSettings(count=2, warmup="1", threads=1, knobs={"kv_cache": ["static"], "max_new_tokens": [2, 40]}),
           db, on_sample=on_sample, on_loaded=on_loaded).run()
    with SessionStore.open(db, create=False) as store:
        (info,) = store.sessions()
        rows = store.samples(info.id)
    assert {r.arm for r in rows} == {"max_new_tokens=2", "max_new_tokens=40"} and all(r.status == "ok" for r in rows)
    for row in rows:  # generate's max_cache_length: prompt + max_new_tokens - 1, the arm's own
        assert cache_len[row.seq] == row.prompt_tokens + row.knobs["max_new_tokens"] - 1, row.arm


def test_vlmtop_knobs_says_applies_in_words_and_the_values_available_here(capsys):
    from vlmtop.sessions.knobs import attention_choices

    assert main(["knobs", "--model", "tiny-idefics3"]) == 0
    text = capsys.readouterr().out  # captured: no terminal, no colour, no dimming to read
    cells = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.strip("│┃ ").split("│")]
        if len(parts) >= 3 and parts[0] in KNOBS:
            cells[parts[0]] = parts
    assert set(cells) == set(KNOBS)  # every name whole, none cut to "image_splitti…"
    assert cells["image_splitting"][1] == "yes" and cells["max_pixels"][1] == "no" and cells["attn"][1] == "yes"
    assert cells["attn"][2] == " | ".join(attention_choices())[:len(cells["attn"][2])]
    assert "[| flash_attention_2]" not in text  # the values this installation has, not a maybe
    assert main(["knobs", "--json"]) == 0
    listed = {k["knob"]: k for k in json.loads(capsys.readouterr().out)["knobs"]}
    assert listed["attn"]["values"] == " | ".join(attention_choices())


def test_image_splitting_on_gemma3_is_pan_and_scan_and_adds_crops(tmp_path, capsys):
    # pan and scan crops only images past 1.2:1, so the image is made 2:1
    info, rows = _run(tmp_path, "--model", "tiny-gemma3", "--knob", "image_splitting=off,on",
                      "--knob", "image_size=896x448", "--count", "1", "--warmup", "none", "--max-new-tokens", "2")
    assert all(r.status == "ok" for r in rows), [r.error for r in rows]
    tokens = {r.arm: r.image_tokens for r in rows}
    assert tokens["image_splitting=on"] > tokens["image_splitting=off"] > 0
