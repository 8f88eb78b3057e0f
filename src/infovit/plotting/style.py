"""One figure style for every section: palettes, rcParams, figure construction and saving.

Nothing here touches global state at import: no ``matplotlib.use()``, no ``rcParams.update``,
no pyplot. The style is applied only while a figure is drawn and saved, through
:func:`figure_style` (a context manager around :func:`matplotlib.rc_context`) or the
:func:`styled` decorator that every public drawing function wears. Figures are plain
:class:`matplotlib.figure.Figure` objects with constrained layout, so drawing works under any
backend (a notebook's inline backend, or none) and leaves it as it was.

Palettes are colour-blind safe: Okabe & Ito's eight categorical colours; viridis (and cividis
for ordered bins) for sequential data; a diverging map only for signed data centred on zero.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

import numpy as np
from cycler import cycler
from matplotlib import colormaps, rc_context
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from infovit.atomic import atomic_path

__all__ = [
    "DIVERGING",
    "ENDPOINT_COLOURS",
    "FORMATS",
    "OKABE_ITO",
    "RCPARAMS",
    "SEQUENTIAL",
    "SEQUENTIAL_BINS",
    "beta_colormap",
    "figure_style",
    "integer_ticks",
    "log_axis",
    "new_figure",
    "save_figure",
    "styled",
]

# Okabe & Ito (2008), "Color Universal Design": black first, then the seven hues.
OKABE_ITO: tuple[str, ...] = (
    "#000000",  # black
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#F0E442",  # yellow
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
)
# Line and marker colours in the order the cycle hands them out (grey replaces yellow).
_CYCLE: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#000000",
    "#999999",  # grey instead of Okabe–Ito yellow, which is too faint for lines on white
)
SEQUENTIAL = "viridis"  # any unsigned magnitude (KL, attention, NMI, α)
SEQUENTIAL_BINS = "cividis"  # ordered bins (JSD classes)
DIVERGING = "RdBu_r"  # signed data only, centred on zero (correlations that go negative)
# The two endpoints of the β spectrum, the same colour in every figure.
ENDPOINT_COLOURS: dict[str, str] = {"no_attn": "#D55E00", "vit": "#000000"}

FORMATS: tuple[str, ...] = ("png", "pdf", "svg")

RCPARAMS: dict[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.03,
    "figure.constrained_layout.use": True,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "legend.frameon": False,
    "figure.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.8,
    "axes.prop_cycle": cycler(color=list(_CYCLE)),
    "axes.titlelocation": "left",
    "lines.linewidth": 1.3,
    "lines.markersize": 4.5,
    "errorbar.capsize": 2.5,
    "image.cmap": SEQUENTIAL,
    "image.interpolation": "nearest",
    "pdf.fonttype": 42,  # TrueType in PDF: editable text
    "svg.fonttype": "none",  # text stays text in SVG
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
}


def beta_colormap() -> Colormap:
    """The map of β (and of block order): viridis without its palest yellow, so thin lines and
    small dots stay visible on white."""
    return ListedColormap(colormaps[SEQUENTIAL](np.linspace(0.0, 0.88, 256)), name="beta")


@contextmanager
def figure_style() -> Iterator[None]:
    """Apply :data:`RCPARAMS` while the block runs (drawing *and* saving); restore afterwards."""
    with rc_context(cast(Any, RCPARAMS)):  # matplotlib types the keys as literals
        yield


P = ParamSpec("P")
R = TypeVar("R")


def styled(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run a drawing function inside :func:`figure_style` (signature unchanged)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with figure_style():
            return func(*args, **kwargs)

    return wrapper


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure of ``width`` × ``height`` inches with constrained layout."""
    return Figure(figsize=(width, height), layout="constrained")


def integer_ticks(ax: Axes, axis: str = "both") -> None:
    """Only whole numbers as tick positions on an index axis (block, head, layer, copies)."""
    if axis in ("x", "both"):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if axis in ("y", "both"):
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def log_axis(ax: Axes, axis: str = "x") -> None:
    """Log-scale ``axis`` of ``ax`` (call after drawing) with plain-number labels at 1, 2, 5 × 10ᵏ
    over up to three decades and at 10ᵏ beyond, no minor labels: matplotlib's own labels of a
    narrow log range (1.3×10⁰, 1.4×10⁰, …) run into each other."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    target = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    decades = np.log10(max(hi, 1e-300) / max(lo, 1e-300))
    subs = (1.0, 2.0, 5.0) if decades <= 3 else (1.0,)
    target.set_major_locator(LogLocator(base=10, subs=subs))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())


def _stem(path: str | os.PathLike[str]) -> Path:
    """``path`` without a figure suffix: ``a/b.png`` and ``a/b`` both give ``a/b``."""
    path = Path(path)
    return path.with_suffix("") if path.suffix.lstrip(".").lower() in FORMATS else path


def save_figure(
    fig: Figure, stem: str | os.PathLike[str], formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Write ``fig`` as ``stem.png``, ``stem.pdf`` and ``stem.svg`` (atomically); return the paths.

    ``stem`` may carry one of those suffixes (it is replaced). The files are written in the style
    of :func:`figure_style`; the figure is left to the garbage collector (no pyplot registry).
    """
    base = _stem(stem)
    paths = []
    with figure_style():
        for ext in formats:
            path = base.with_name(f"{base.name}.{ext}")
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=ext)
            paths.append(path)
    return paths
