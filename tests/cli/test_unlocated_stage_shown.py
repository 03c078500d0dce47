"""A stage the timer could not locate reads "not located" in the headless summary and the
HTML report, never 0.00: its time is in `other`, and a 0 would read as measured.
The session is the recorded tiny-Janus one whose projector was not located (as the
dashboard's tests use it), in a real SQLite file."""

from __future__ import annotations

from html.parser import HTMLParser

from recorded_arms_session import UNLOCATED_SESSION_ID, record_unlocated_session
from rich.console import Console

from vlmtop.cli import main
from vlmtop.cli.commands.run_headless import print_summary
from vlmtop.sessions.summary import summarize_segments


def test_the_headless_summary_says_not_located_instead_of_zeros(tmp_path):
    db = tmp_path / "janus.db"
    with record_unlocated_session(db) as store:
        segments = summarize_segments(store, UNLOCATED_SESSION_ID)
        info = store.session(UNLOCATED_SESSION_ID)
    console = Console(record=True, width=140)
    print_summary(console, info, segments, "completed", db)
    lines = console.export_text().splitlines()
    projector = next(line for line in lines if line.lstrip("│ ").startswith("projector"))
    vision = next(line for line in lines if line.lstrip("│ ").startswith("vision"))
    assert "not located" in projector and "0.00" not in projector and "%" not in projector
    assert "not located" not in vision and "%" in vision  # located stages keep their figures


class _Cells(HTMLParser):
    """The medians table's rows: header names and cell texts, in order."""

    def __init__(self, text: str):
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_table = False
        self._cell: list[str] | None = None
        self.notes: list[str] = []
        self._note = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("class") == "medians":
            self._in_table = True
        elif self._in_table and tag == "tr":
            self.rows.append([])
        elif self._in_table and tag in ("td", "th"):
            self._cell = []
        elif tag == "p" and "unlocated" in (attrs.get("class") or ""):
            self._note = True

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        elif tag == "p":
            self._note = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._note:
            self.notes.append(data)


def test_the_html_report_says_not_located_instead_of_zeros(tmp_path):
    db, out = tmp_path / "janus.db", tmp_path / "report.html"
    record_unlocated_session(db).close()
    assert main(["report", UNLOCATED_SESSION_ID, "--db", str(db), "-o", str(out), "--boot", "20"]) == 0
    page = _Cells(out.read_text())
    head, *rows = page.rows
    by_stage = [dict(zip(head, row)) for row in rows]
    assert by_stage and all(row["projector"] == "not located" for row in by_stage)
    assert all(row["vision"] not in ("not located", "0.00") for row in by_stage)
    assert "projector: not located" in "".join(page.notes)
