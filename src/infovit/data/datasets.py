"""Data sets by spec string: ``synthetic``, ``imagefolder:ROOT``, ``imagenet100:ROOT``,
``cifar10:ROOT``, ``stl10:ROOT``.

Real data sets are read from local disk in their usual on-disk formats, never downloaded:

- ImageFolder: ``ROOT/{train,val}/CLASS/*.jpg``.
- ImageNet-100: an ImageNet root with ``train/`` and ``val/`` wnid folders; the 100 classes of
  Tian et al. (CMC) are picked by the shipped list, no images are copied.
- CIFAR-10: torchvision's ``ROOT/cifar-10-batches-py``; its pickled batches are read with an
  unpickler that only rebuilds numpy arrays, lists, dicts and strings.
- STL-10: torchvision's ``ROOT/stl10_binary`` (raw ``*_X.bin`` / ``*_y.bin``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import pickle
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision.datasets import ImageFolder

from infovit.coerce import coerce_value
from infovit.data.synthetic import SyntheticConfig, SyntheticPatches
from infovit.data.transforms import build_transform
from infovit.errors import InfovitError

__all__ = [
    "DATASETS",
    "Cifar10",
    "DataSpec",
    "ImageNet100",
    "Stl10",
    "build_dataset",
    "imagenet100_wnids",
    "native_size",
    "parse_data_spec",
]

DATASETS = ("synthetic", "imagefolder", "imagenet100", "cifar10", "stl10")
_NATIVE_SIZE = {"cifar10": 32, "stl10": 96}


@dataclass
class DataSpec:
    """Which data set, where, and with which options (synthetic: ``SyntheticConfig`` fields)."""

    name: str = "synthetic"
    root: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        if self.name == "synthetic":
            opts = ",".join(f"{k}={v}" for k, v in self.options.items())
            return f"synthetic:{opts}" if opts else "synthetic"
        return f"{self.name}:{self.root}"


def parse_data_spec(spec: str) -> DataSpec:
    """``"cifar10:/data/cifar"`` → DataSpec; ``"synthetic:grid=4,n_train=512"`` sets options.

    Synthetic options are type-checked and range-checked here, where they enter, so that
    ``synthetic:n_val=0`` fails before anything is built rather than deep inside training.
    """
    name, _, rest = spec.partition(":")
    if name not in DATASETS:
        known = name.strip().lower()
        hint = f"; data set names are lower case: {known!r}" if known in DATASETS else ""
        raise InfovitError(
            f"unknown data set {name!r} in {spec!r}{hint}; use one of {', '.join(DATASETS)} "
            "(e.g. 'cifar10:/data/cifar' or 'synthetic')"
        )
    if name == "synthetic":
        return DataSpec(name, None, _synthetic_options(rest))
    if not rest:
        raise InfovitError(f"data set {name!r} needs a root folder: '{name}:/path/to/root'")
    return DataSpec(name, rest, {})


def _synthetic_options(text: str) -> dict[str, Any]:
    """``"grid=4,n_train=512"`` → checked SyntheticConfig fields."""
    fields = {f.name: f for f in dataclasses.fields(SyntheticConfig)}
    hints = typing.get_type_hints(SyntheticConfig)
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InfovitError(
                f"unknown synthetic option {key!r}; {hint}choose from {', '.join(fields)} "
                "(e.g. synthetic:grid=6,n_train=8192)"
            )
        if key in options:
            raise InfovitError(f"synthetic option {key!r} is given twice in 'synthetic:{text}'")
        example = f"synthetic:{key}={fields[key].default}"
        if not eq or not value.strip():
            raise InfovitError(f"synthetic option {key!r} needs a value, e.g. {example}")
        options[key] = coerce_value(value.strip(), hints[key], f"synthetic option {key}", example)
    _check_synthetic(SyntheticConfig(**options))
    return options


# Smallest values that make a task: two distinct key tiles need a grid of ≥ 2 × 2, a key tile is a
# frame around an inside (patch ≥ 3), the repeat bit compares ≥ 2 symbols.
_SYNTHETIC_MIN = {
    "grid": 2,
    "patch": 3,
    "tints": 1,
    "symbols": 2,
    "n_train": 1,
    "n_val": 1,
    "ambiguity_from": 0,
    "ambiguity_ramp": 0,
}


def _check_synthetic(cfg: SyntheticConfig) -> None:
    for key, low in _SYNTHETIC_MIN.items():
        value = getattr(cfg, key)
        if value < low:
            default = SyntheticConfig.__dataclass_fields__[key].default
            raise InfovitError(
                f"synthetic option {key} must be ≥ {low}, got {value} "
                f"(e.g. synthetic:{key}={default})"
            )
    patterns = 2 ** (3 * (cfg.patch - 2) ** 2)  # distinct ±1 symbol patterns inside a frame
    if cfg.symbols > patterns:
        raise InfovitError(
            f"synthetic option symbols={cfg.symbols} exceeds the {patterns} distinct patterns a "
            f"{cfg.patch}-px key tile holds; lower symbols or raise patch"
        )
    for key in ("noise", "tint_noise", "hue_noise", "stray_tiles"):
        value = getattr(cfg, key)
        if not value >= 0 or not math.isfinite(value):
            default = SyntheticConfig.__dataclass_fields__[key].default
            raise InfovitError(
                f"synthetic option {key} must be a finite number ≥ 0, got {value} "
                f"(e.g. synthetic:{key}={default})"
            )
    if not 0 <= cfg.bit_cue <= 1:
        raise InfovitError(
            f"synthetic option bit_cue must be a probability in [0, 1], got {cfg.bit_cue} "
            "(e.g. synthetic:bit_cue=0.6; 0 leaves the tiles unmarked)"
        )
    limit = (cfg.tints - 1) / cfg.tints
    if not (cfg.stray_tiles == 0 or 0 < cfg.stray_tiles < limit):
        raise InfovitError(
            f"synthetic option stray_tiles must be in [0, {limit:.3g}) for {cfg.tints} tints (the "
            f"image's tint must stay the most likely colour), got {cfg.stray_tiles} "
            "(e.g. synthetic:stray_tiles=0.4)"
        )
    if (cfg.ambiguity_from > 0 or cfg.ambiguity_ramp > 0) and not cfg.ambiguous:
        raise InfovitError(
            "synthetic options ambiguity_from and ambiguity_ramp schedule the tiles' ambiguity "
            "and need tint_noise, hue_noise or stray_tiles > 0, got "
            f"ambiguity_from={cfg.ambiguity_from}, ambiguity_ramp={cfg.ambiguity_ramp} "
            "(e.g. synthetic:hue_noise=1.2,ambiguity_ramp=10)"
        )
    if not 0 <= cfg.seed < 2**32:
        raise InfovitError(
            f"synthetic option seed must be in [0, 2³²), got {cfg.seed} (e.g. synthetic:seed=0)"
        )


def imagenet100_wnids() -> list[str]:
    """The 100 ImageNet wnids of the CMC ImageNet-100 subset, in their published order."""
    text = resources.files("infovit.data").joinpath("imagenet100_wnids.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def _load_rgb(path: str) -> Image.Image:
    try:
        with open(path, "rb") as f:
            return Image.open(f).convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise InfovitError(
            f"cannot read image {path!r} ({err}); remove or replace the file"
        ) from err


class _CheckedFolder(ImageFolder):
    """ImageFolder with readable errors; optionally restricted to a fixed class list."""

    def __init__(self, root: str, transform: Any, classes: list[str] | None = None) -> None:
        self._fixed = classes
        root_path = Path(root)
        if not root_path.is_dir():
            raise InfovitError(
                f"image folder {root!r} does not exist or is not a folder; point the data spec "
                "at a ROOT holding train/ and val/ folders of class folders"
            )
        try:
            super().__init__(root, transform=transform, loader=_load_rgb)
        except (FileNotFoundError, PermissionError) as err:
            raise InfovitError(
                f"no usable images in {root!r} ({err}); expected ROOT/CLASS/IMAGE.jpg"
            ) from err

    def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
        if self._fixed is None:
            return super().find_classes(directory)
        missing = [c for c in self._fixed if not (Path(directory) / c).is_dir()]
        if missing:
            raise InfovitError(
                f"{len(missing)} of the {len(self._fixed)} class folders are missing in "
                f"{directory!r} (e.g. {missing[:3]}); is this an ImageNet train/ or val/ folder?"
            )
        return list(self._fixed), {c: i for i, c in enumerate(self._fixed)}


class ImageNet100(_CheckedFolder):
    """ImageNet-100 (CMC class list) read in place from ``ROOT/{train,val}/WNID/*.JPEG``."""

    def __init__(self, root: str, split: str, transform: Any) -> None:
        super().__init__(str(Path(root) / _folder_split(split)), transform, imagenet100_wnids())


def _folder_split(split: str) -> str:
    return "train" if split == "train" else "val"


class _SafeUnpickler(pickle.Unpickler):
    """Rebuilds only numpy arrays and plain containers: a CIFAR batch can run no code."""

    _ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("copyreg", "_reconstructor"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


class Cifar10(Dataset):
    """CIFAR-10 from torchvision's ``cifar-10-batches-py`` layout."""

    def __init__(self, root: str, split: str, transform: Any) -> None:
        base = Path(root) / "cifar-10-batches-py"
        files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        if not base.is_dir():
            raise InfovitError(f"{str(base)!r} not found; point cifar10: at the folder holding it")
        data: list[np.ndarray] = []
        labels: list[int] = []
        for name in files:
            path = base / name
            if not path.is_file():
                raise InfovitError(f"CIFAR-10 batch {str(path)!r} is missing")
            try:
                with open(path, "rb") as f:
                    batch = _SafeUnpickler(f, encoding="latin1").load()
            except Exception as err:
                raise InfovitError(f"cannot read CIFAR-10 batch {str(path)!r}: {err}") from err
            data.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(int(y) for y in batch.get("labels", batch.get("fine_labels", [])))
        self.data = np.concatenate(data).transpose(0, 2, 3, 1)  # [N, 32, 32, 3]
        self.targets = labels
        self.transform = transform
        meta = base / "batches.meta"
        self.classes = [str(i) for i in range(10)]
        if meta.is_file():
            with open(meta, "rb") as f:
                self.classes = list(_SafeUnpickler(f, encoding="latin1").load()["label_names"])

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.data[i])), self.targets[i]


class Stl10(Dataset):
    """STL-10 (labelled splits) from torchvision's ``stl10_binary`` layout."""

    def __init__(self, root: str, split: str, transform: Any) -> None:
        base = Path(root) / "stl10_binary"
        stem = "train" if split == "train" else "test"
        x_path, y_path = base / f"{stem}_X.bin", base / f"{stem}_y.bin"
        for path in (x_path, y_path):
            if not path.is_file():
                raise InfovitError(f"STL-10 file {str(path)!r} is missing")
        raw = np.fromfile(x_path, dtype=np.uint8)
        if raw.size % (3 * 96 * 96):
            raise InfovitError(f"{str(x_path)!r} is truncated or not an STL-10 image file")
        # STL-10 stores each image column-major: [N, 3, W, H] → [N, H, W, 3]
        self.data = raw.reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1)
        self.targets = [int(y) - 1 for y in np.fromfile(y_path, dtype=np.uint8)]
        if len(self.targets) != len(self.data):
            raise InfovitError(
                f"{str(y_path)!r} has {len(self.targets)} labels for {len(self.data)} images"
            )
        names = base / "class_names.txt"
        self.classes = names.read_text().split() if names.is_file() else [str(i) for i in range(10)]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.data[i])), self.targets[i]


def build_dataset(
    spec: DataSpec | str,
    split: str = "train",
    img_size: int | None = None,
    augment: str = "none",
) -> Dataset:
    """A data set of (normalised image [3, S, S], label). ``augment`` only applies to training.

    Every data set has ``.classes``; the synthetic one also ``.config``.
    """
    if isinstance(spec, str):
        spec = parse_data_spec(spec)
    if split not in ("train", "val"):
        raise InfovitError(f"split must be 'train' or 'val', got {split!r}")
    if spec.name == "synthetic":
        cfg = SyntheticConfig(**spec.options)
        if img_size is not None and img_size != cfg.img_size:
            raise InfovitError(
                f"synthetic images are {cfg.img_size} px (grid {cfg.grid} × patch {cfg.patch}) but "
                f"the model expects {img_size} px; set data options grid/patch or model.img_size"
            )
        return SyntheticPatches(cfg, split)
    size = img_size or _NATIVE_SIZE.get(spec.name, 224)
    transform = build_transform(
        size, train=split == "train", augment=augment if split == "train" else _val_preset(augment)
    )
    root = str(spec.root)
    if spec.name == "imagefolder":
        return _CheckedFolder(str(Path(root) / _folder_split(split)), transform)
    if spec.name == "imagenet100":
        return ImageNet100(root, split, transform)
    if spec.name == "cifar10":
        return Cifar10(root, split, transform)
    return Stl10(root, split, transform)


def _val_preset(augment: str) -> str:
    """The evaluation transform that belongs to a training preset (``paper``: the code's
    resize 256/224 + centre crop; ``small``, ``resize``: a plain resize; otherwise timm's
    centre crop)."""
    return augment if augment in ("paper", "small", "resize") else "none"


def native_size(spec: DataSpec | str) -> int | None:
    """The images' own size where a data set fixes it (CIFAR-10 32 px, STL-10 96 px,
    synthetic: its grid × patch), else None (folders of any size)."""
    if isinstance(spec, str):
        spec = parse_data_spec(spec)
    if spec.name == "synthetic":
        return SyntheticConfig(**spec.options).img_size
    return _NATIVE_SIZE.get(spec.name)
