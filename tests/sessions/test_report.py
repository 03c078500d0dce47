"""`vlmtop report`: the page is parsed and its numbers checked against the database; a real
headless Chromium (when installed) renders it without console errors."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

from vlmtop.cli import main
from vlmtop.sessions.compare import compare_rows, is_measured
from vlmtop.sessions.costmodel import CostModel
from vlmtop.sessions.costmodel.drivers import points_from_rows, select
from vlmtop.sessions.store import SessionStore


class Page(HTMLParser):
    """Sections by id, and every element's attributes in order, with the section it is in."""

    def __init__(self, text: str):
        super().__init__()
        self.sections: dict[str, dict] = {}
        self.elements: list[tuple[str, str | None, dict]] = []
        self._section: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self._section = attrs.get("id")
            self.sections[self._section] = attrs
        self.elements.append((tag, self._section, attrs))

    def values(self, section: str, tag: str | None = None, cls: str | None = None) -> list[float]:
        return [float(a["data-value"]) for t, s, a in self.elements
                if s == section and "data-value" in a and (tag is None or t == tag) and (cls is None or a.get("class") == cls)]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    db = tmp_path_factory.mktemp("report") / "s.db"
    assert main(["run", "--headless", "--db", str(db), "--knob", "image_size=56x56,112x112,168x168",
                 "--count", "3", "--max-new-tokens", "3", "--warmup", "1"]) == 0
    with SessionStore.open(db, create=False) as store:
        (info,) = store.sessions()
        return db, info, store.samples(info.id)


@pytest.fixture(scope="module")
def page(sweep, tmp_path_factory):
    db, _, _ = sweep
    out = tmp_path_factory.mktemp("out") / "report.html"
    assert main(["report", "last", "--db", str(db), "-o", str(out), "--holdout", "image_size=168x168",
                 "--boot", "20"]) == 0
    text = out.read_text()
    return out, text, Page(text)


def test_the_page_has_every_section_and_loads_nothing(page):
    _, text, parsed = page
    assert list(parsed.sections) == ["stages", "timeline", "forest", "costmodel", "settings"]
    assert not any(tag == "script" or "src" in a or "href" in a for tag, _, a in parsed.elements)
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text)  # only the SVG namespace
    assert sum(tag == "svg" for tag, _, _ in parsed.elements) >= 8


def test_medians_and_points_are_the_databases(sweep, page):
    _, _, rows = sweep
    parsed = page[2]
    measured = [r for r in rows if is_measured(r)]
    arms = ["image_size=56x56", "image_size=112x112", "image_size=168x168"]
    medians = parsed.values("stages", "td")
    expected = []
    from vlmtop.core.stage_table import STAGES

    for arm in arms:
        arm_rows = [r for r in measured if r.arm == arm]
        expected += [float(np.median([getattr(r, a) for r in arm_rows])) for a in (stage.column for stage in STAGES)]
    assert medians == pytest.approx(expected, rel=1e-12)
    vision_points = [float(a["data-value"]) for t, s, a in parsed.elements if t == "circle" and s == "stages"
                     and "data-value" in a][: len(measured)]
    assert sorted(vision_points) == sorted(r.vision_ms for r in measured)


def test_the_timeline_is_the_median_e2e_sample_and_its_spans(sweep, page):
    _, _, rows = sweep
    parsed = page[2]
    measured = sorted((r for r in rows if is_measured(r)), key=lambda r: r.e2e_ms)
    chosen = measured[(len(measured) - 1) // 2]
    assert int(parsed.sections["timeline"]["data-seq"]) == chosen.seq
    spans = [(a["data-stage"], float(a["data-start"]), float(a["data-end"])) for t, s, a in parsed.elements
             if s == "timeline" and a.get("class") == "span"]
    assert spans == [tuple(span) for span in chosen.spans]


def test_the_forest_plot_holds_compares_ratios(sweep, page):
    _, _, rows = sweep
    measured = [r for r in rows if is_measured(r)]
    base = [r for r in measured if r.arm == "image_size=56x56"]
    expected = []
    for arm in ("image_size=112x112", "image_size=168x168"):
        expected += [c.ratio for c in compare_rows(base, [r for r in measured if r.arm == arm])]
    assert page[2].values("forest", "rect", "ratio") == pytest.approx(expected, rel=1e-12)


def test_the_cost_model_section_is_the_fit_without_the_held_out_arm(sweep, page):
    _, _, rows = sweep
    parsed = page[2]
    _, rest = select(points_from_rows(rows), "image_size", "168x168")
    model = CostModel(rest, n_boot=20)
    expected = [c.value for fit in model.stages for c in fit.coefficients]
    coefficients = [float(a["data-value"]) for t, s, a in parsed.elements if s == "costmodel" and t == "td"
                    and "data-value" in a][: len(expected)]
    assert coefficients == pytest.approx(expected, rel=1e-9)
    assert len(parsed.values("costmodel", cls="predicted")) == len(model.stages)  # a held-out mark per chart
    assert "Held out: image_size=168x168" in page[1]


def test_sample_choice_overwrite_rule_and_bad_input(sweep, tmp_path, capsys):
    db, info, rows = sweep
    out = tmp_path / "r.html"
    seq = [r.seq for r in rows if is_measured(r)][-1]
    assert main(["report", info.id, "--db", str(db), "-o", str(out), "--sample", str(seq), "--no-holdout",
                 "--boot", "20"]) == 0
    assert f'data-seq="{seq}"' in out.read_text()
    assert main(["report", info.id, "--db", str(db), "-o", str(out), "--boot", "20"]) == 0  # its own report: replaced
    mine = tmp_path / "notes.html"
    mine.write_text("<p>my notes</p>")
    capsys.readouterr()
    assert main(["report", info.id, "--db", str(db), "-o", str(mine)]) == 2
    assert "exists and is not a vlmtop report" in capsys.readouterr().err
    assert mine.read_text() == "<p>my notes</p>"
    assert main(["report", info.id, "--db", str(db), "-o", str(out), "--sample", "999"]) == 2
    assert "--sample 999" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (apt-get install chromium)")
def test_chromium_renders_the_page_without_console_errors(page, tmp_path):
    path = page[0]
    shot = tmp_path / "r.png"
    common = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([*common, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0
    assert dom.stdout.count("<svg") == page[1].count("<svg")  # every chart is in the rendered DOM
    assert "CONSOLE" not in dom.stderr and "Uncaught" not in dom.stderr
    run = subprocess.run([*common, f"--screenshot={shot}", "--window-size=1280,2400", path.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and shot.stat().st_size > 20_000
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 2400) and len(image.convert("L").getcolors(1 << 16)) > 20  # not blank
