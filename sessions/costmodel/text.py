"""A fitted cost model as text: the figures `vlmtop model` prints and the dashboard's cost-model
screen shows, formatted in one place so that both always read the same.

Works on the plain data of :meth:`StageFit.to_dict` (what `vlmtop model --json` prints), not on
the fit objects: the CLI formats its JSON report and the dashboard a fit it made itself, and the
same dict gives the same text.
"""

from __future__ import annotations

QUALITY_COLUMNS = ("n", "settings", "R²", "residual", "noise", "residual/noise")


def num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    return "0" if abs(value) < 1e-6 else f"{value:.{digits}g}"  # a bound at 0 comes back as 1e-17


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def coefficient_cells(stage: dict) -> list[tuple[str, str, str]]:
    """(unit, value, 95% CI) per term of one stage, e.g. ("ms per 1k image tokens", "17.99", "16.9..19.8")."""
    return [(c["unit"], num(c["value"]), f"{num(c['ci_low'])}..{num(c['ci_high'])}") for c in stage["coefficients"]]


def quality_cells(stage: dict) -> dict[str, str]:
    """The fit's quality as its columns: n, settings, R², residual, noise (†: no repeats) and their ratio."""
    return {
        "n": str(stage["n"]), "settings": str(stage["settings"]), "R²": num(stage["r2"], 2),
        "residual": pct(stage["residual_spread"]),
        "noise": pct(stage["noise"]) + ("" if stage["noise_source"] == "repeats" else "†"),
        "residual/noise": num(stage["residual_to_noise"], 2),
    }
