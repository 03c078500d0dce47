"""Hostile strings: text a file name, a manifest, a model id, a knob value or a shared
session database may carry, that must be shown as data on a terminal, a spreadsheet or a
report, and never act there."""

from __future__ import annotations

ESC = "\x1b"
# name -> string. Each is short enough to fit a file name (255 bytes), except "long".
HOSTILE: dict[str, str] = {
    "osc-title": f"{ESC}]2;PWNED{ESC}\\t",
    "csi-clear": f"x{ESC}[2J{ESC}[31mred",
    "osc8-link": f"{ESC}]8;;https://example.invalid/{ESC}\\CLICK{ESC}]8;;{ESC}\\",
    "c1-csi-osc": "a\x9b2J\x9d0;T\x07b",
    "bel-del": "ring\x07\x7fdel",
    "nel-u2028": "one\x85two\u2028three\u2029four",
    "rich-close": "exp[/old][/bold]",
    "rich-link": "[link=https://example.invalid/x]CLICK[/link]",
    "rich-open": "[bold red]loud",
    "html": "<script>alert(1)</script>&amp;",
    "formula": "=cmd|' -C calc'!A0",
    "long": "L" * 5000 + ESC + "[2J",
    "osc-then-long": f"{ESC}]2;PWNED{ESC}\\" + "k" * 60,  # cut to fit a panel after the ESC
}

# What must never reach a terminal raw: C0 but tab and newline, DEL, C1, line separators.
FORBIDDEN = {chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029)} - {"\n", "\t"}


def raw_controls(text: str) -> set[str]:
    """The forbidden characters in ``text`` (empty when it is safe to show)."""
    return {c for c in text if c in FORBIDDEN}
