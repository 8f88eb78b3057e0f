"""Colours and small inline plots for the pages, computed from table rows.

The report draws only what is a direct view of one table's rows for one model or head, where
the analysis' figures put all models in one panel: the head grid, per-model KL-map and rank
grids, and one head's survival curve. Colours come from viridis (perceptually uniform and
colour-blind safe) and the Okabe–Ito palette (categories).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["CATEGORY_COLOURS", "category_colour", "scale_colour", "survival_plot", "text_colour"]

# viridis at 0, 0.25, 0.5, 0.75, 1
_VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
# Okabe & Ito (2008), colour-blind safe categorical palette
CATEGORY_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")


def _viridis(t: float) -> tuple[int, int, int]:
    t = min(max(t, 0.0), 1.0) * (len(_VIRIDIS) - 1)
    i = min(int(t), len(_VIRIDIS) - 2)
    f = t - i
    a, b = _VIRIDIS[i], _VIRIDIS[i + 1]
    r, g, bl = (round(a[k] + f * (b[k] - a[k])) for k in range(3))
    return r, g, bl


def scale_colour(value: float, high: float, log: bool = False, low: float = 0.0) -> str:
    """The viridis colour of ``value`` on [low, high] (log scale: on [log low, log high])."""
    if not math.isfinite(value) or high <= low:
        t = 0.0
    elif log:
        low = max(low, high * 1e-4)
        t = (math.log10(max(value, low)) - math.log10(low)) / (math.log10(high) - math.log10(low))
    else:
        t = (value - low) / (high - low)
    return "#{:02x}{:02x}{:02x}".format(*_viridis(t))


def text_colour(background: str) -> str:
    """Black or white, whichever reads better on ``background`` (#rrggbb)."""
    r, g, b = (int(background[i : i + 2], 16) for i in (1, 3, 5))
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#fff"


def category_colour(index: int) -> str:
    return CATEGORY_COLOURS[index % len(CATEGORY_COLOURS)]


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _decade(exponent: int) -> str:
    return "1" if exponent == 0 else f"10{str(exponent).translate(_SUPERSCRIPT)}"


def survival_plot(
    points: Sequence[tuple[float, float]], width: int = 560, height: int = 300
) -> dict[str, object] | None:
    """An SVG survival curve P(KL ≥ x) on log-log axes: the polyline and the decade ticks,
    in pixels of a ``width`` × ``height`` box (margins included). None without points."""
    pts = [(x, y) for x, y in points if x > 0 and y > 0 and math.isfinite(x) and math.isfinite(y)]
    if not pts:
        return None
    left, right, top, bottom = 56, 12, 10, 40
    xs, ys = [math.log10(x) for x, _ in pts], [math.log10(y) for _, y in pts]
    x0, x1 = math.floor(min(xs)), math.ceil(max(xs))
    y0, y1 = math.floor(min(ys)), 0
    x1, y0 = max(x1, x0 + 1), min(y0, y1 - 1)
    w, h = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * w

    def py(y: float) -> float:
        return top + (y1 - y) / (y1 - y0) * h

    line = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys, strict=True))
    step_x = max(1, (x1 - x0 + 5) // 6)
    step_y = max(1, (y1 - y0 + 4) // 5)
    return {
        "width": width,
        "height": height,
        "line": line,
        "box": (left, top, w, h),
        "xticks": [(px(e), _decade(e)) for e in range(x0, x1 + 1, step_x)],
        "yticks": [(py(e), _decade(e)) for e in range(y1, y0 - 1, -step_y)],
    }
