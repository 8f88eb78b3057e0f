"""A tiny config that trains in about a second per epoch."""

from __future__ import annotations

import pytest

TINY = [
    "--model.depth", "2", "--model.embed_dim", "32", "--model.num_heads", "2",
    "--model.bottleneck.rank", "4", "--model.bottleneck.hidden", "8",
    "--data.spec", "synthetic:grid=4,n_train=128,n_val=64", "--data.batch_size", "32",
    "--optim.epochs", "2", "--optim.warmup_epochs", "1", "--optim.device", "cpu",
    "--beta.value", "1.0", "--beta.warmup_epochs", "1",
]  # fmt: skip


@pytest.fixture
def tiny_overrides() -> list[str]:
    return list(TINY)


@pytest.fixture(scope="session")
def jpeg_folder(tmp_path_factory):
    """A generated ImageFolder (``ROOT/{train,val}/CLASS/*.jpg``): 4 classes of 16×16 JPEGs, 12
    per class for training and 4 for validation, each class a colour with noise."""
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(0)
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40)]
    for split, count in (("train", 12), ("val", 4)):
        for c, colour in enumerate(colours):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = np.clip(rng.normal(colour, 40, size=(16, 16, 3)), 0, 255)
                Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{i}.jpg", quality=90)
    return root


@pytest.fixture
def jpeg_overrides(jpeg_folder):
    """``make(workers, every)``: overrides for a tiny IB-ViT on ``jpeg_folder`` with the
    paper's augmentation (6 steps per epoch, 2 epochs, a checkpoint every ``every`` steps)."""
    return lambda workers, every=4: _jpeg_overrides(jpeg_folder, workers, every)


def _jpeg_overrides(root, workers: int, every: int | str | None) -> list[str]:
    return [
        "--model.depth", "2", "--model.embed_dim", "32", "--model.num_heads", "2",
        "--model.img_size", "16", "--model.patch_size", "4",
        "--model.bottleneck.rank", "4", "--model.bottleneck.hidden", "8",
        "--data.spec", f"imagefolder:{root}", "--data.augment", "paper",
        "--data.batch_size", "8", "--data.workers", str(workers),
        "--optim.epochs", "2", "--optim.warmup_epochs", "1", "--optim.device", "cpu",
        "--optim.checkpoint_every", "null" if every is None else str(every),
        "--beta.value", "1.0", "--beta.warmup_epochs", "1",
    ]  # fmt: skip
