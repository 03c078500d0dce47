"""`vlmtop report`: one self-contained HTML page about one or more sessions.

Sections: the stages per arm (distributions and medians), the timeline of one sample, the
arms compared (a forest plot of ratios from :mod:`vlmtop.sessions.compare`), the cost
model (curves, measured points, the held-out arm), and the settings and versions. Charts
are inline SVG (:mod:`vlmtop.sessions.report.svg`); no script, no network, no server.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from html import escape
from pathlib import Path

from vlmtop.core.errors import VlmtopError
from vlmtop.core.format import ms
from vlmtop.core.stage_table import SPANS, STAGES
from vlmtop.core.text import printable
from vlmtop.sessions.analysis.stats import finite_median
from vlmtop.sessions.compare import NOISE_THRESHOLD, is_measured
from vlmtop.sessions.compare.arms import compare_arms
from vlmtop.sessions.compare.verdict import percent
from vlmtop.sessions.knobs import arm_order
from vlmtop.sessions.records import SampleRecord, stage_label
from vlmtop.sessions.report import svg
from vlmtop.sessions.summary import summarize_inputs

MARKER = "<!-- vlmtop report -->"
LANES = tuple(stage.name for stage in SPANS)  # the timeline's lanes, from core/stage_table.py
CSS = """body{font:14px system-ui,sans-serif;margin:24px auto;max-width:1140px;color:#222}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}
th:first-child,td:first-child{text-align:left}.grid{display:flex;flex-wrap:wrap;gap:8px}.note{color:#666}
pre{background:#f6f6f6;padding:8px;overflow:auto}.yes{color:#1a7f37}.coefficients td:nth-child(2){text-align:left}.no{color:#d62728}"""


def _cell(value, text: str | None = None) -> str:
    data = "" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f' data-value="{value!r}"'
    return f"<td{data}>{escape(text if text is not None else ms(value))}</td>"


def _table(head: list[str], rows: list[str], cls: str = "") -> str:
    return (f'<table class="{cls}"><tr>' + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"
            + "".join(f"<tr>{r}</tr>" for r in rows) + "</table>")


class Report:
    """Everything one report shows, read from the store once."""

    def __init__(self, store, refs: list[str], *, sample: int | None = None, holdout: str | None = None,
                 auto_holdout: bool = True, only: list[str] = (), n_boot: int | None = None):
        from vlmtop.sessions.costmodel.drivers import load_points, parse_assignment

        self.only = [parse_assignment(item, "--only") for item in only]
        self.infos, self.points, self.notes = load_points(store, refs, self.only)
        self.rows: list[SampleRecord] = []
        for info in self.infos:
            self.rows += store.samples(info.id)
        self.measured = [r for r in self.rows if is_measured(r)]
        for name, value in self.only:
            self.measured = [r for r in self.measured if str((r.knobs or {}).get(name)) == str(value)]
        if not self.measured:
            raise VlmtopError(f"session {self.infos[0].id} has no measured samples to report on")
        self.arms = self._arms()
        self.sample = self._pick(sample)
        self.holdout = parse_assignment(holdout, "--holdout") if holdout else (self._auto_holdout() if auto_holdout else None)
        self.n_boot = n_boot

    # -- what is shown ------------------------------------------------------------------

    def _key(self, row: SampleRecord) -> str:
        if row.arm:
            return row.arm
        return f"session {row.session_id}" if len(self.infos) > 1 else "all samples"

    def _arms(self) -> dict[str, list[SampleRecord]]:
        groups: dict[str, list[SampleRecord]] = {}
        for row in self.measured:
            groups.setdefault(self._key(row), []).append(row)
        # the run's order under the labels the rows recorded (matched by knob values)
        order = arm_order(self.infos[0].settings, [row.arm for row in self.measured])
        keys = sorted(groups, key=lambda k: (order.index(k) if k in order else len(order), list(groups).index(k)))
        return {k: groups[k] for k in keys}

    def _pick(self, seq: int | None) -> SampleRecord:
        if seq is not None:
            for row in self.rows:
                if row.seq == seq and row.session_id == self.infos[0].id:
                    return row
            raise VlmtopError(f"--sample {seq}: session {self.infos[0].id} has seq 0..{len(self.rows) - 1}"
                              if self.rows else f"--sample {seq}: no samples")
        timed = [r for r in self.measured if r.e2e_ms is not None]
        e2e = sorted(r.e2e_ms for r in timed)
        median = e2e[(len(e2e) - 1) // 2]
        return next(r for r in timed if r.e2e_ms == median)

    def _auto_holdout(self) -> tuple[str, object] | None:
        """The largest value of a swept image_size (or max_new_tokens) with 4+ values: the
        question "what at a size not measured" asked of a size that was."""
        for name in ("image_size", "max_new_tokens"):
            values = {p.knobs.get(name) for p in self.points if p.knobs.get(name) is not None}
            if len(values) >= 4:
                return name, max(values, key=lambda v: _magnitude(name, v))
        return None

    # -- sections -----------------------------------------------------------------------

    def html(self) -> str:
        info = self.infos[0]
        # a browser tab and a terminal `grep <title>` show it: no control character kept
        title = printable(f"vlmtop report: {info.model} on {info.device} ({info.dtype})")
        when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        head = (f"<h1>{escape(title)}</h1><p>Session {escape(', '.join(i.id for i in self.infos))}: "
                f"{len(self.measured)} measured samples in {len(self.arms)} arm{'s' * (len(self.arms) != 1)}; "
                f"written {when}.</p>" + "".join(f'<p class="note">{escape(n)}</p>' for n in self.notes))
        body = [head, self.stages_section(), self.timeline_section(), self.forest_section(),
                self.model_section(), self.settings_section()]
        return (f"<!DOCTYPE html>\n{MARKER}\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}"
                f"</title><style>{CSS}</style></head><body>" + "".join(body) + "</body></html>\n")

    def stages_section(self) -> str:
        charts, rows = [], []
        # a stage the timer did not locate reads 0 in every row: its time is in other, so
        # it is shown as "not located", never as a measured 0 ms
        missing = {arm: _unlocated(rows_) for arm, rows_ in self.arms.items()}
        for stage in STAGES:
            label, attribute = stage.name, stage.column
            groups = [(arm, [_num(getattr(r, attribute)) for r in rows_], svg.color(i))
                      for i, (arm, rows_) in enumerate(self.arms.items()) if label not in missing[arm]]
            if any(math.isfinite(v) for _, values, _ in groups for v in values):
                charts.append(svg.strips(label, groups, "ms"))
        for arm, rows_ in self.arms.items():
            inputs = summarize_inputs(rows_)
            cells = "".join(_cell(None, "not located") if stage.name in missing[arm]
                            else _cell(None, "not run") if inputs.text_only and stage.needs_images
                            else _cell(finite_median([getattr(r, stage.column) for r in rows_])) for stage in STAGES)
            rows.append(f"<td>{escape(arm)}</td><td>{len(rows_)}</td><td>{escape(inputs.describe())}</td>{cells}")
        table = _table(["arm", "n", "inputs", *(stage.name for stage in STAGES)], rows, "medians")
        unlocated = sorted(set().union(*missing.values()))
        note = "".join(f'<p class="note unlocated">{escape(name)}: not located in this model; its time is in other.</p>'
                       for name in unlocated)
        return ('<section id="stages"><h2>Stages per arm</h2><p class="note">Median ms per stage over the measured '
                'samples; charts: every sample, box 25..75 %, whiskers 10..90 %, bar at the median.</p>'
                f'{note}{table}<div class="grid">{"".join(charts)}</div></section>')

    def timeline_section(self) -> str:
        row = self.sample
        lanes = list(LANES) + sorted({s for s, _, _ in row.spans} - set(LANES))
        title = (f"sample seq {row.seq} ({row.sample_id}{', arm ' + row.arm if row.arm else ''}): "
                 f"e2e {ms(row.e2e_ms)} ms, {_images(row)}{row.image_tokens} image tokens, "
                 f"{row.new_tokens} new tokens")
        chart = svg.timeline(title, [tuple(s) for s in row.spans], lanes) if row.spans else \
            '<p class="note">This sample has no stored spans.</p>'
        return (f'<section id="timeline" data-seq="{row.seq}"><h2>Timeline of one sample</h2><p class="note">'
                "The median-e2e sample unless --sample SEQ chose one; each bar is a stored span.</p>"
                f"{chart}</section>")

    def forest_section(self) -> str:
        head = '<section id="forest"><h2>Arms compared</h2>'
        if len(self.arms) < 2:
            return head + '<p class="note">One arm: nothing to compare. Sweep a knob (--knob NAME=A,B) for arms.</p></section>'
        base, rows, table = next(iter(self.arms)), [], []
        for item in compare_arms(self.arms):
            arm = item.arm
            if item.skipped:
                table.append(f"<td>{escape(arm)}</td><td colspan=\"6\">{escape(item.skipped)}</td>")
                continue
            for c in item.compared:
                label = f"{stage_label(c.stage)} · {arm}"
                rows.append({"label": label, "ratio": c.ratio, "ci_low": c.ci_low, "ci_high": c.ci_high,
                             "verdict": c.verdict})
                why = f" ({c.verdict_note}{'; ' + c.settle if c.settle else ''})" if c.verdict_note else ""
                table.append(f"<td>{escape(label)}</td>{_cell(c.median_a)}{_cell(c.median_b)}"
                             f"{_cell(c.ratio, f'{c.ratio:.3f}')}<td>{c.ci_low:.3f}..{c.ci_high:.3f}</td>"
                             f"<td>{c.p_value:.3g}</td><td>{escape(c.verdict + why)}</td>")
        chart = svg.forest(f"each arm against {base}", rows, NOISE_THRESHOLD) if rows else ""
        band = percent(NOISE_THRESHOLD)
        return (head + f'<p class="note">Ratio of medians, arm / baseline ({escape(base)}), with its 95 % bootstrap '
                "CI, from vlmtop compare's statistics (paired on sample ids: every arm ran the same samples). "
                f"The verdict comes from the interval against the ±{band} band (shaded): red slower or green "
                "faster when it lies wholly beyond the band, grey same when wholly inside it, amber inconclusive "
                f"when it reaches across an edge. The p-value is information only.</p>{chart}"
                + _table(["stage · arm", "median base", "median arm", "ratio", "95% CI", "p", "verdict"], table, "forest")
                + "</section>")

    def model_section(self) -> str:
        head = '<section id="costmodel"><h2>Cost model</h2>'
        from vlmtop.sessions.costmodel import fit as costmodel

        options = {"n_boot": self.n_boot or costmodel.N_BOOT}
        try:
            if self.holdout:
                model, held = costmodel.holdout(self.points, *self.holdout, **options)
            else:
                model, held = costmodel.CostModel(self.points, **options), None
        except VlmtopError as exc:
            return head + f'<p class="note">No cost model: {escape(str(exc))}</p></section>'
        from vlmtop.sessions.costmodel.drivers import select
        from vlmtop.sessions.report.costmodel_section import model_charts, model_tables

        held_points = select(self.points, held.knob, held.value)[0] if held else []

        what = f"fitted without {held.knob}={held.value}, which is then predicted" if held else "fitted on every arm"
        return (head + f'<p class="note">Robust fits (soft-L1, then Cauchy) of each stage against its driver, {escape(what)}; '
                f"band: 95 % CI of the fitted median; {escape(model.map.describe())}.</p>"
                f'<div class="grid">{model_charts(model, held, held_points)}</div>{model_tables(model, held)}</section>')

    def settings_section(self) -> str:
        parts = ['<section id="settings"><h2>Settings and versions</h2>']
        for info in self.infos:
            started = _utc_time(info.started_at)
            facts = [("session", info.id), ("model", info.model), ("device", info.device), ("dtype", info.dtype),
                     ("status", info.status), ("started", started), ("duration", f"{info.duration_s:.1f} s"),
                     ("samples", f"{info.sample_count} ({info.measured_count} measured, {info.warmup_count} warm-up, "
                                 f"{info.error_count} errors)"), ("host", info.hostname)]
            facts += [(k, str(v)) for k, v in sorted(info.versions.items())]
            parts.append(_table(["", ""], [f"<td>{escape(k)}</td><td>{escape(v)}</td>" for k, v in facts], "facts"))
            parts.append(f"<pre>{escape(json.dumps(dict(sorted(info.settings.items())), indent=1, default=str))}</pre>")
        return "".join(parts) + "</section>"


def _unlocated(rows: list[SampleRecord]) -> set[str]:
    """The standard stages the timer could not locate in any of `rows` (comma-separated per row)."""
    return {name for row in rows for name in (row.unlocated or "").split(",") if name}


def _num(value) -> float:
    return float("nan") if value is None else float(value)


def _magnitude(name: str, value) -> float:
    if name == "image_size":
        w, _, h = str(value).partition("x")
        return float(w) * float(h or w)
    return float(value)


def write(path: str | os.PathLike, html: str) -> Path:
    """Write the page; never over a file that is not a vlmtop report."""
    target = Path(path)
    if target.is_dir():
        raise VlmtopError(f"-o {target}: is a folder; give a file name such as {target / 'report.html'}")
    if target.exists():
        with open(target, encoding="utf-8", errors="replace") as existing:
            if MARKER not in existing.read(200):
                raise VlmtopError(f"-o {target}: the file exists and is not a vlmtop report; choose another name")
    if not target.parent.exists():
        raise VlmtopError(f"-o {target}: folder {target.parent} does not exist")
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(html, encoding="utf-8")
    os.replace(partial, target)
    return target


def _utc_time(unix_time: float) -> str:
    """A stored start time as UTC; one no calendar holds (a damaged or hostile cell) as "?"."""
    try:
        return _dt.datetime.fromtimestamp(unix_time, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return "?"


def _images(row: SampleRecord) -> str:
    """``2 images, `` or ``video 8 frames, `` for a sample's title; nothing for rows from
    before the count was kept."""
    count, frames = row.image_count, row.video_frames
    if count is None:
        return ""
    if count == 0 and not frames:
        return "text-only, "
    return (f"{count} image{'s' * (count != 1)}, " if count else "") + (f"video {frames} frames, " if frames else "")
