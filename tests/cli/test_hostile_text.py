"""Text from elsewhere is data on a terminal: file names, manifest lines, --model, --knob
and the cells of a hand-edited session database hold escape sequences, line separators,
Rich markup, HTML and formula prefixes (tests/hostile/strings.py), and every command that
prints them shows them escaped, with colour off, and never crashes."""

from __future__ import annotations

import json
import sqlite3

import pytest
from helpers_store import record_session
from hostile.strings import HOSTILE, raw_controls
from PIL import Image
from recorded_arms_session import ARMS_SESSION_ID, record_arms_session

from vlmtop.cli import main
from vlmtop.cli.commands.run_headless import InFlight
from vlmtop.core.text import markup_safe, printable, shown


@pytest.fixture(autouse=True)
def _no_colour(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")


def test_printable_escapes_every_control_and_keeps_the_rest():
    assert printable("a\x1b]2;T\x07b") == "a\\x1b]2;T\\x07b"
    assert printable("one\x85two\u2028three\x9bx\x7f") == "one\\x85two\\u2028three\\x9bx\\x7f"
    assert printable("tab\tline\n") == "tab\\x09line\\x0a"  # a value is one line
    assert printable("café [/bold] <b> =1") == "café [/bold] <b> =1"
    assert printable("x" * 5000).endswith("…") and len(printable("x" * 5000)) == 2001
    assert shown("[/bold]").plain == "[/bold]"  # a Text: never parsed
    assert markup_safe("[link=x]a[/link]") == "\\[link=x]a\\[/link]"
    for text in HOSTILE.values():
        assert not raw_controls(printable(text))


def _hostile_db(tmp_path, text: str):
    """An interleaved-arms session and a plain one, hand-edited: the text in the model,
    device, host, arm and knob names, sample ids and errors."""
    db = tmp_path / "s.db"
    record_arms_session(db).close()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("UPDATE sessions SET model = ?, device = ?, hostname = ?, dtype = ?", (text, text, text, text))
    conn.execute("UPDATE samples SET arm = replace(arm, 'max_new_tokens', ?), sample_id = ? || sample_id,"
                 " knobs = replace(knobs, json_quote('max_new_tokens'), json_quote(?))", (text, text, text))
    conn.execute("UPDATE samples SET status = 'error', error = ? WHERE seq = 5", (text,))
    conn.close()
    from vlmtop.sessions.store import SessionStore

    with SessionStore.open(db) as store:
        other = record_session(store, 6)
    conn = sqlite3.connect(db, isolation_level=None)
    # a session id from elsewhere: every row of it renamed
    conn.execute("UPDATE sessions SET id = ? WHERE id = ?", (text + "id", other))
    for table in ("samples", "events", "controls"):
        conn.execute(f"UPDATE {table} SET session_id = ? WHERE session_id = ?", (text + "id", other))
    conn.close()
    return db


def _commands(tmp_path):
    out = tmp_path / "out"
    return [
        ["sessions"],
        ["compare", ARMS_SESSION_ID],
        ["compare", ARMS_SESSION_ID, "last"],
        ["compare", ARMS_SESSION_ID, "--json"],
        ["model", ARMS_SESSION_ID],
        ["model", ARMS_SESSION_ID, "--only", "*"],
        ["export", "last", "-f", "csv", "-o", str(out) + ".csv"],
        ["export", ARMS_SESSION_ID, "-f", "jsonl", "-o", str(out) + ".csv"],  # exists: refused, quoting it
        ["export", "nope\x1b[2J", "-f", "csv", "-o", str(out) + "2.csv"],
        ["report", ARMS_SESSION_ID, "-o", str(tmp_path / "r.html")],
        ["rm", ARMS_SESSION_ID, "last"],  # the confirmation table, then no terminal to ask on
        ["prune", "--older-than", "1d"],
        ["stop", "last"],
        ["backup", "last", "-o", str(tmp_path / "b.db")],
    ]


@pytest.mark.parametrize("name", HOSTILE)
def test_every_printing_command_shows_hostile_stored_text_as_data(name, tmp_path, capsys):
    db = _hostile_db(tmp_path, HOSTILE[name])
    for argv in _commands(tmp_path):
        code = main([*argv, "--db", str(db)])
        out, err = capsys.readouterr()
        assert code in (0, 1, 2), (argv, code, err)
        assert "Traceback" not in err and not raw_controls(out + err), (argv, repr((out + err)[:3000]))
        if code == 2:  # a refusal is one line
            assert len(err.strip().splitlines()) == 1, (argv, err)
    html = (tmp_path / "r.html").read_text()
    title = html.split("<title>")[1].split("</title>")[0]
    h1 = html.split("<h1>")[1].split("</h1>")[0]
    assert not raw_controls(title + h1) and "<script>" not in title + h1


def test_markup_in_stored_text_is_text_in_compare_model_and_sessions(tmp_path, capsys):
    db = _hostile_db(tmp_path, "[bold]CLICK[/link][/bold]")
    assert main(["compare", ARMS_SESSION_ID, "--db", str(db)]) == 0
    assert "[bold]CLICK[/link][/bold]=4" in capsys.readouterr().out
    assert main(["model", ARMS_SESSION_ID, "--only", "*", "--db", str(db)]) in (0, 2)
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "MarkupError" not in err
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("UPDATE sessions SET model = '[link=https://example.invalid/x]CLICK[/link]'")
    conn.close()
    assert main(["sessions", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "[link=" in out and "CLICK[/link]" in out  # the model column folds long text


def test_the_in_flight_text_escapes_the_sample_id():
    clock = iter([0.0, 0.0, 100.0, 100.0]).__next__
    flight = InFlight(clock=lambda: clock())
    flight.loaded()
    flight.start(3, HOSTILE["osc-title"] + HOSTILE["rich-close"])
    assert not raw_controls(flight.describe().plain) and "[/bold]" in flight.describe().plain


async def _screens(db) -> list[str]:
    """The dashboard replaying the hand-edited session: the main screen, the arms screen,
    the cost model screen and a notification, each as the SVG screenshot Textual draws."""
    from vlmtop.sessions.playback import ReplaySource
    from vlmtop.sessions.store import SessionStore
    from vlmtop.tui.app import VlmtopApp

    shots = []
    with SessionStore.open(db, readonly=True) as store:
        app = VlmtopApp(store, ReplaySource(store, ARMS_SESSION_ID, playing=False, position=10**9))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            shots.append(app.export_screenshot())
            for key in ("a", "A", "escape", "M", "escape"):
                await pilot.press(key)
                await pilot.pause()
                shots.append(app.export_screenshot())
            app.notify(f"seq 5 ({HOSTILE['osc-title']}): [/bold]", title=HOSTILE["rich-close"])
            await pilot.pause()
            shots.append(app.export_screenshot())
    return shots


@pytest.mark.parametrize("name", ["osc-title", "c1-csi-osc", "nel-u2028", "rich-close", "osc8-link", "long", "osc-then-long"])
async def test_the_dashboard_shows_hostile_stored_text_as_data(name, tmp_path):
    shots = await _screens(_hostile_db(tmp_path, HOSTILE[name]))
    for shot in shots:
        assert not raw_controls(shot)
    if name == "rich-close":
        assert any("exp[/old][/bold]" in shot.replace("&#160;", " ") for shot in shots)


QUICK = ["--max-new-tokens", "2", "--warmup", "none"]


def _check(code, capsys, codes=(0,)):
    out, err = capsys.readouterr()
    assert code in codes and "Traceback" not in err, (code, err[-2000:])
    assert not raw_controls(out + err), repr((out + err)[-3000:])
    return out, err


def test_a_headless_run_on_hostile_file_names_and_manifest_lines(tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for text in HOSTILE.values():  # a file name holds any of them but "/" (and 255 bytes)
        Image.new("RGB", (32, 32), (0, 90, 200)).save(folder / f"{text.replace('/', '_')[:150]}.png")
    (folder / f"{HOSTILE['osc-title']}[bold]broken.png").write_bytes(b"not an image")
    db = tmp_path / "s.db"
    assert main(["run", "--headless", "--samples", str(folder), *QUICK, "--db", str(db)]) == 0
    out, err = _check(0, capsys)
    assert "broken.png) failed: cannot read image" in err and "[bold]broken.png" in err  # one line, as text
    Image.new("RGB", (32, 32)).save(tmp_path / "ok.png")
    lines = [{"image": "ok.png", "prompt": text} for text in HOSTILE.values()]  # measured
    lines += [{"image": f"{text}.png", "prompt": text} for text in HOSTILE.values()]  # error rows
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in lines))
    assert main(["run", "--headless", "--samples", str(manifest), *QUICK, "--db", str(db)]) == 0
    _check(0, capsys)
    # (export -o - writes the data itself, for a pipe: escaping it would change the data)
    for argv in (["sessions"], ["export", "last", "-f", "csv", "-o", str(tmp_path / "x.csv")]):
        assert main([*argv, "--db", str(db)]) == 0
        _check(0, capsys)


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_model_or_knob_is_refused_in_one_escaped_line(name, tmp_path, capsys):
    text, db = HOSTILE[name], str(tmp_path / "s.db")
    for argv in (["--model", text], ["--model", f"org/{text}"], ["--knob", f"{text}=1"],
                 ["--knob", f"max_new_tokens={text}"], ["--knob", f"image_size={text},224"]):
        code = main(["run", "--headless", *argv, "--count", "1", *QUICK, "--db", db])
        _, err = _check(code, capsys, codes=(2,))
        assert len(err.strip().splitlines()) == 1, err
    assert main(["knobs", "--model", text]) in (0, 2)
    _check(0, capsys, codes=(0, 2))


@pytest.mark.parametrize("spec", ["./nope", "name/", "[/bold]", "a/b c"])
def test_a_model_path_that_is_not_there_is_one_line(spec, tmp_path, capsys):
    assert main(["run", "--headless", "--model", spec, "--count", "1", "--db", str(tmp_path / "s.db")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vlmtop: error: unknown model") and "HFValidation" not in err


FORMULAS = ["=cmd|' -C calc'!A0.png", "+SUM(1+1).png", "-2+3.png", "@SUM(1).png", "\tx.png", "\rx.png"]


def test_csv_cells_a_spreadsheet_would_run_are_neutralised_and_numbers_stay(tmp_path, capsys):
    import csv

    db = tmp_path / "s.db"
    from vlmtop.sessions.store import SessionStore

    with SessionStore.open(db) as store:
        sid = record_session(store, len(FORMULAS))
    conn = sqlite3.connect(db, isolation_level=None)
    for seq, name in enumerate(FORMULAS):
        conn.execute("UPDATE samples SET sample_id = ?, error = ?, other_ms = -2.5 WHERE seq = ?", (name, name, seq))
    conn.close()
    out = tmp_path / "x.csv"
    assert main(["export", sid, "-o", str(out), "--db", str(db)]) == 0
    rows = list(csv.DictReader(out.open(newline="")))
    assert [r["sample_id"] for r in rows] == ["'" + name for name in FORMULAS]
    assert all(r["error"] in ("", "'" + r["sample_id"][1:]) for r in rows)
    assert {r["other_ms"] for r in rows} == {"-2.5"}  # a number: never quoted
    assert main(["export", sid, "-o", str(out), "--force", "--csv-raw", "--db", str(db)]) == 0
    assert [r["sample_id"] for r in csv.DictReader(out.open(newline=""))] == FORMULAS
    assert main(["export", sid, "-o", str(tmp_path / "x.jsonl"), "--csv-raw", "--db", str(db)]) == 2
    assert "--csv-raw is for the csv format" in capsys.readouterr().err
