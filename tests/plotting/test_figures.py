"""Properties of the figures: files written, integer index ticks, no overlapping text, every
encoding keyed, and no matplotlib state changed by importing or drawing (no image snapshots)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from infovit.plotting import figures, style
from infovit.plotting.style import FORMATS, figure_style, save_figure

# --- small tables, as the analysis writes them ---------------------------------------------------


def heads_rows(models: int = 3, blocks: int = 4, heads: int = 3) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    return [
        {
            "model": f"ib_beta{b}",
            "block": k,
            "head": h,
            "active": bool(rng.random() > 0.3),
            "kl_max": float(10 ** rng.uniform(-5, 2)),
            "active_dims": int(rng.integers(0, 9)),
        }
        for b in (30, 3, 0.3)[:models]
        for k in range(blocks)
        for h in range(heads)
    ]


def survival_rows() -> list[dict[str, Any]]:
    xs = np.logspace(-4, 2, 25)
    return [
        {"model": m, "block": b, "head": h, "kl": float(x), "survival": float(np.exp(-x * (b + 1)))}
        for m in ("ib_beta30", "ib_beta3")
        for b in range(4)
        for h in range(2)
        for x in xs
    ]


def voting_tables() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = np.random.default_rng(1)
    models = ["no_attn", "ib_beta30", "ib_beta3", "vit"]
    images = [
        {"model": m, "image": i, "simpson": 1 + rng.random(), "logit_range": 8 + rng.random()}
        for m in models
        for i in range(40)
    ]
    rows = []
    for m in models:
        s = np.array([r["simpson"] for r in images if r["model"] == m])
        g = np.array([r["logit_range"] for r in images if r["model"] == m])
        rows.append(
            {
                "model": m,
                "simpson_median": float(np.median(s)),
                "simpson_q25": float(np.quantile(s, 0.25)),
                "simpson_q75": float(np.quantile(s, 0.75)),
                "logit_range_median": float(np.median(g)),
                "logit_range_q25": float(np.quantile(g, 0.25)),
                "logit_range_q75": float(np.quantile(g, 0.75)),
            }
        )
    return rows, images


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """Figures handed to the save helper (still written, and kept for inspection)."""
    figs: list[Figure] = []

    def keep(fig: Figure, stem: Any, formats: Any = FORMATS) -> list[Path]:
        figs.append(fig)
        return save_figure(fig, stem, formats)

    monkeypatch.setattr(figures, "save_figure", keep)
    return figs


def _drawn(fig: Figure) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with figure_style():
        canvas = FigureCanvasAgg(fig)  # a real draw: the layout engine places everything
        canvas.draw()
        return canvas.get_renderer()


def _texts(ax: Any) -> list[Text]:
    items = [*ax.get_xticklabels(), *ax.get_yticklabels(), ax.xaxis.label, ax.yaxis.label]
    items += [ax.title, ax._left_title, ax._right_title]
    return [t for t in items if t.get_visible() and t.get_text().strip()]


# --- saving and state ----------------------------------------------------------------------------


def test_save_writes_png_pdf_svg_atomically(tmp_path: Path) -> None:
    fig = style.new_figure(2, 2)
    fig.add_subplot().plot([0, 1], [0, 1])
    paths = save_figure(fig, tmp_path / "sub" / "f.png")  # a suffix is replaced, folders made
    assert [p.name for p in paths] == ["f.png", "f.pdf", "f.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    assert b"<svg" in paths[2].read_bytes()[:2000]
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["f.pdf", "f.png", "f.svg"]


def test_every_analysis_figure_writes_three_formats(tmp_path: Path) -> None:
    rows, images = voting_tables()
    written = [
        figures.plot_active_heads(heads_rows(), tmp_path / "heads"),
        figures.plot_survival(survival_rows(), tmp_path / "surv"),
        figures.plot_voting(rows, tmp_path / "vote", images=images),
    ]
    for paths in written:
        assert [p.suffix for p in paths] == [".png", ".pdf", ".svg"]
        assert all(p.stat().st_size > 0 for p in paths)


def test_import_and_drawing_leave_backend_and_rcparams_alone(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, matplotlib
        matplotlib.use("template")
        before = dict(matplotlib.rcParams)
        import infovit.plotting, infovit.geometry.plot, infovit.information.plot
        assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
        from infovit.plotting.style import new_figure, save_figure, styled
        @styled
        def draw():
            fig = new_figure(2, 2)
            fig.add_subplot().plot([0, 1])
            return save_figure(fig, {str(tmp_path / "x")!r})
        draw()
        assert matplotlib.get_backend() == "template", matplotlib.get_backend()
        after = dict(matplotlib.rcParams)
        changed = [k for k in before if str(before[k]) != str(after[k])]
        assert not changed, changed
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_style_is_active_only_inside_the_context() -> None:
    cycle = matplotlib.rcParams["axes.prop_cycle"]
    with figure_style():
        assert matplotlib.rcParams["svg.fonttype"] == "none"
        assert matplotlib.rcParams["axes.prop_cycle"].by_key()["color"][0] == "#0072B2"
    assert matplotlib.rcParams["axes.prop_cycle"] == cycle


def test_palettes_are_colour_blind_safe_names() -> None:
    assert len(set(style.OKABE_ITO)) == 8
    assert set(figures.RANK_COLOURS[:3]) <= set(style.OKABE_ITO)
    assert style.SEQUENTIAL in ("viridis", "cividis") and style.SEQUENTIAL_BINS == "cividis"


# --- index axes and overlaps ---------------------------------------------------------------------


def test_head_grid_ticks_are_integers_and_text_never_overlaps(
    tmp_path: Path, captured: list[Figure]
) -> None:
    figures.plot_active_heads(heads_rows(), tmp_path / "heads")
    (fig,) = captured
    renderer = _drawn(fig)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(panels) == 3 and len(bars) == 1  # one shared colour bar
    for ax in panels:
        for tick in (*ax.get_xticks(), *ax.get_yticks()):
            assert float(tick).is_integer()
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert labels == ["0", "1", "2"]
    assert bars[0].get_ylabel()  # the colour bar says what the colour is
    boxes = [
        (i, t.get_window_extent(renderer)) for i, ax in enumerate(fig.axes) for t in _texts(ax)
    ]
    for (i, a), (j, b) in itertools.combinations(boxes, 2):
        if i != j:
            assert not a.overlaps(b), "text of neighbouring panels overlaps"
    # no panel's text runs into another panel's plotting area
    for (i, box), (j, ax) in itertools.product(boxes, enumerate(fig.axes)):
        if i != j:
            assert not box.overlaps(ax.get_window_extent(renderer))


def test_survival_panels_keyed_by_block_and_not_overlapping(
    tmp_path: Path, captured: list[Figure]
) -> None:
    figures.plot_survival(survival_rows(), tmp_path / "surv")
    (fig,) = captured
    renderer = _drawn(fig)
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1 and bars[0].get_ylabel() == "block"
    assert [float(t) for t in bars[0].get_yticks()] == [0.0, 1.0, 2.0, 3.0]
    boxes = [
        (i, t.get_window_extent(renderer)) for i, ax in enumerate(fig.axes) for t in _texts(ax)
    ]
    for (i, a), (j, b) in itertools.combinations(boxes, 2):
        if i != j:
            assert not a.overlaps(b)


def test_repetition_copies_ticks_are_the_integers_probed(
    tmp_path: Path, captured: list[Figure]
) -> None:
    rows = [
        {"model": "m", "block": 1, "head": h, "copies": n, "shift_mean": h * n, "shift_std": 1.0}
        for h in range(3)
        for n in (4, 16, 64)
    ]
    figures.plot_repetition(rows, tmp_path / "rep")
    ax = captured[0].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["4", "16", "64"]
    assert ax.get_legend() is not None


# --- Fig. 1c -------------------------------------------------------------------------------------


def test_voting_draws_every_image_coloured_by_beta(tmp_path: Path, captured: list[Figure]) -> None:
    rows, images = voting_tables()
    beta = {"ib_beta30": 30.0, "ib_beta3": 3.0}
    figures.plot_voting(rows, tmp_path / "vote", images=images, beta=beta)
    (fig,) = captured
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(panels) == 2 and len(bars) == 1
    assert "β" in bars[0].get_ylabel()
    for ax in panels:
        dots = sum(len(c.get_offsets()) for c in ax.collections)
        assert dots == len(images)  # every image a dot
        # least information first: no attention, β descending, unmodified ViT last
        order = [t.get_text() for t in ax.get_xticklabels()]
        assert order == ["no_attn", "ib_beta30", "ib_beta3", "vit"]
    colours = {tuple(np.round(c.get_facecolors()[0], 3)) for c in panels[0].collections}
    assert len(colours) == 4  # two β colours and the two endpoint colours
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("no attention" in t for t in legend) and any("unmodified ViT" in t for t in legend)
    assert "median" in legend and "interquartile range" in legend


def test_run_betas_reads_the_beta_column_or_the_configuration_label() -> None:
    """β per model for the voting figure's colours: the table's ``beta`` column when present,
    else the β in the label; endpoints and unreadable values have none."""
    from infovit.analysis.sections.voting import run_betas

    beta, variants = run_betas(
        [
            {"model": "no_attn", "config": "no attention", "variant": "no_attn"},
            {"model": "ib_beta30", "config": "ib beta=30 (mean)", "variant": "ib"},
            {"model": "ib_beta3", "config": "ib beta=3 (mean)", "variant": "ib", "beta": 3.0},
            {"model": "odd", "config": "ib beta=nan (mean)", "variant": "ib"},
            {"model": "vit", "config": "unmodified ViT", "variant": "vit"},
        ]
    )
    assert beta == {"no_attn": None, "ib_beta30": 30.0, "ib_beta3": 3.0, "odd": None, "vit": None}
    assert variants["vit"] == "vit"
