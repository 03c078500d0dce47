"""The policies in force and the keys that cycle them; a change shows as pending until the
worker acknowledges it (its control row is answered)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from vlmtop.tui.steering import POLICY_KEYS


class PolicyBar(Static):
    DEFAULT_CSS = """
    PolicyBar { height: 1; background: $panel; padding: 0 1; }
    """

    def show(self, policies: dict[str, str], pending: dict[str, str], steerable: bool) -> None:
        parts = []
        for kind, key in POLICY_KEYS.items():
            part = Text.assemble((f"{key} ", "bold reverse") if steerable else "", f"{kind} ", (policies.get(kind, "?"), "bold"))
            if kind in pending:
                part.append(f"→{pending[kind]} pending", style="italic")
            parts.append(part)
        if not steerable:
            parts.append(Text("(as recorded)", style="dim"))
        self.update(Text("  ").join(parts))
