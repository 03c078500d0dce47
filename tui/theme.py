"""Stage colours, taken from the app's theme so every theme (light, dark, ANSI) works."""

from __future__ import annotations

from textual.color import Color

from vlmtop.core.stage_table import BY_NAME

# Theme colour per stage (core/stage_table.py); the same stage has the same colour in every
# panel. "muted" is the foreground blended toward the background ($text-muted in Textual CSS).
STAGE_THEME_COLOR = {name: stage.color for name, stage in BY_NAME.items()}


def stage_color(app, stage: str) -> str:
    """A Rich colour (hex) for `stage` in the app's current theme."""
    theme = app.current_theme
    foreground = theme.foreground or ("#e0e0e0" if theme.dark else "#1e1e1e")
    background = theme.background or ("#121212" if theme.dark else "#efefef")
    name = STAGE_THEME_COLOR.get(stage, "foreground")
    if name == "muted":
        return Color.parse(foreground).blend(Color.parse(background), 0.45).hex
    if name == "secondary":  # themes often make it dark: lift it toward the text colour
        return Color.parse(theme.secondary or foreground).blend(Color.parse(foreground), 0.35).hex
    return getattr(theme, name, None) or foreground
