"""A tiny trained spectrum on an image folder whose class names are markup, and its report.

Two one-epoch runs (no attention and one IB-ViT) on 16-px images of two
classes named ``<script>alert(1)`` and ``<img src=x onerror=alert(2)>``: folder names reach the
pages as class names, so the report of this spectrum is also a test of HTML escaping.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CLASSES = ("<script>alert(1)", "<img src=x onerror=alert(2)>")
IMAGES = {"train": 32, "val": 8}  # per class
# The sections whose pages the browser checks; the others (and their "not computed" notes) are
# left out to keep the test fast: every figure costs a PNG, a PDF and an SVG.
SECTIONS = ("spectrum", "heads", "klmaps", "jsd", "extreme")


def _image_folder(root: Path) -> Path:
    """Class 0 dark, class 1 bright, with noise: learnable in one epoch, not trivially."""
    rng = np.random.default_rng(0)
    for split, count in IMAGES.items():
        for k, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                base = 70 + 110 * k
                pixels = np.clip(base + rng.normal(0, 40, (16, 16, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def _train(root: Path, data: Path, variant: str) -> Path:
    from infovit.training import load_config, train

    cfg = load_config(
        None,
        [
            "--model.variant", variant,
            "--model.depth", "2", "--model.embed_dim", "32", "--model.num_heads", "2",
            "--model.img_size", "16", "--model.patch_size", "4",
            "--model.bottleneck.rank", "4", "--model.bottleneck.hidden", "8",
            "--data.spec", f"imagefolder:{data}", "--data.augment", "none",
            "--data.batch_size", "16", "--data.workers", "0",
            "--optim.epochs", "1", "--optim.device", "cpu", "--beta.value", "0.1",
        ],
    )  # fmt: skip
    out = root / variant
    train(cfg, out, progress=False)
    return out


@pytest.fixture(scope="session")
def spectrum_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("report_runs")
    data = _image_folder(root / "data")
    return [_train(root, data, v) for v in ("no_attn", "ib")]


@pytest.fixture(scope="session")
def spectrum_site(spectrum_runs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of the spectrum, its analysis run by build_report itself."""
    from infovit.report import build_report

    out = tmp_path_factory.mktemp("report_site") / "site"
    options = {"only": SECTIONS, "maps_per_selection": 2, "extreme_heads": 1}
    index = build_report(spectrum_runs, out, analysis_options=options)
    assert index == out / "index.html"
    return out
