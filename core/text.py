"""How any text that came from elsewhere (a file name, a prompt, a model id, a knob value,
a cell of a shared session database) is shown on a terminal. One definition, used by every
command and screen: such text is data, so it may neither drive the terminal nor be read as
Rich markup.

- :func:`printable`: the text with every control character written as an escape (``\\x1b``,
  ``\\x85``, ``\\u2028``): C0, DEL, C1, and the characters Python splits lines on. A
  terminal acts on ESC (title, screen clearing, hyperlinks), BEL, and the C1 forms of CSI
  and OSC; a line separator would cut a one-line message in two.
- :func:`shown`: the same as a Rich ``Text``, which Rich never parses as markup.
- :func:`markup_safe`: the same as a string to put inside a markup template.

Rich is imported only by the last two, when called: core itself does not need it.
"""

from __future__ import annotations

# Characters that act on a terminal or break a line: C0, DEL, C1, and the Unicode line and
# paragraph separators (str.splitlines() also splits on \x1c-\x1e and \x85, covered here).
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_CONTROL.update({0x2028: "\\u2028", 0x2029: "\\u2029"})
# Text the reader may meet is capped before it is escaped: a cell of some MB is shown cut.
LIMIT = 2000


def printable(value: object, limit: int = LIMIT) -> str:
    """``value`` as text that cannot act on a terminal: every control character escaped,
    cut to ``limit`` characters (with an ellipsis) where it is longer."""
    text = value if isinstance(value, str) else str(value)
    if limit and len(text) > limit:
        text = text[:limit] + "…"
    return text.translate(_CONTROL)


def shown(value: object, style: str = "", limit: int = LIMIT):
    """``printable(value)`` as a Rich ``Text``: never parsed as markup."""
    from rich.text import Text

    return Text(printable(value, limit), style=style)


def markup_safe(value: object, limit: int = LIMIT) -> str:
    """``printable(value)`` with Rich markup escaped, to place inside a markup string."""
    from rich.markup import escape

    return escape(printable(value, limit))


def markup_safe_tree(value):
    """A copy of a report (dicts, lists, strings, numbers) with every string, keys too,
    made :func:`markup_safe` (uncut), for code that prints its values inside markup."""
    if isinstance(value, str):
        return markup_safe(value, limit=0)
    if isinstance(value, dict):
        return {markup_safe_tree(k): markup_safe_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(markup_safe_tree(v) for v in value)
    return value
