"""Image transforms: the paper's code's recipe (App. A), timm's variant, presets for small images.

The ``paper`` preset is the transform of the paper's public training code (Murphy, arXiv
2602.04784, App. A), torchvision operation for operation:

- training: ``RandomResizedCrop(size, scale=(0.08, 1), bicubic)``, ``RandomHorizontalFlip()``,
  ``RandAugment(num_ops=2, magnitude=9)`` (9 of torchvision's 31 magnitude bins, about 0.3 of
  full strength), ``ToTensor``, ImageNet normalisation;
- evaluation: ``Resize(int(size · 256 / 224), bicubic)``, ``CenterCrop(size)``.

timm's ``rand-m9-n2-mstd0.5`` is a different operation set at roughly three times that
strength; it remains available as ``timm``. Every random draw comes from torch's, Python's
or NumPy's global RNGs, which :mod:`infovit.data.sampling` seeds per sample.
"""

from __future__ import annotations

from collections.abc import Callable

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, create_transform
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode

__all__ = ["AUGMENTS", "build_transform", "describe_transform"]

AUGMENTS = ("paper", "timm", "small", "none", "resize")


def build_transform(img_size: int, train: bool, augment: str = "paper") -> Callable:
    """PIL image → normalised tensor [3, img_size, img_size].

    - ``paper``: the paper's code (module docstring); evaluation resize 256/224 + centre crop.
    - ``timm``: RandomResizedCrop(0.08–1), flip, timm's RandAugment ``rand-m9-n2-mstd0.5``;
      evaluation as ``none``.
    - ``small``: for 32–96 px data: pad-4 random crop, flip, timm's RandAugment n=2 m=9;
      evaluation: resize to img_size only.
    - ``none``: resize + centre crop (crop_pct 0.875 from 128 px on), in training too.
    - ``resize``: the whole image resized to img_size × img_size (bicubic), no crop, in both
      splits: small images upscaled for a 224 px model keep their border patches (the
      geometry paper clusters the α of border tokens into corners and edges).
    """
    if augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {AUGMENTS}, got {augment!r}")
    normalize = T.Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)
    bicubic = InterpolationMode.BICUBIC
    if augment == "paper":
        if train:
            return T.Compose(
                [
                    T.RandomResizedCrop(img_size, scale=(0.08, 1.0), interpolation=bicubic),
                    T.RandomHorizontalFlip(),
                    T.RandAugment(num_ops=2, magnitude=9),
                    T.ToTensor(),
                    normalize,
                ]
            )
        return T.Compose(
            [
                T.Resize(int(img_size * 256 / 224), interpolation=bicubic),
                T.CenterCrop(img_size),
                T.ToTensor(),
                normalize,
            ]
        )
    if train and augment == "timm":
        return create_transform(
            img_size,
            is_training=True,
            scale=(0.08, 1.0),
            hflip=0.5,
            auto_augment="rand-m9-n2-mstd0.5",
            interpolation="bicubic",
            re_prob=0.0,
            mean=IMAGENET_DEFAULT_MEAN,
            std=IMAGENET_DEFAULT_STD,
        )
    if train and augment == "small":
        from timm.data.auto_augment import rand_augment_transform

        ra = rand_augment_transform("rand-m9-n2-mstd0.5", {"img_mean": (124, 116, 104)})
        return T.Compose(
            [
                T.Resize(img_size),
                T.RandomCrop(img_size, padding=img_size // 8, padding_mode="reflect"),
                T.RandomHorizontalFlip(),
                ra,
                T.ToTensor(),
                normalize,
            ]
        )
    if augment == "small":
        return T.Compose([T.Resize((img_size, img_size)), T.ToTensor(), normalize])
    if augment == "resize":
        return T.Compose(
            [T.Resize((img_size, img_size), interpolation=bicubic), T.ToTensor(), normalize]
        )
    return create_transform(
        img_size,
        is_training=False,
        crop_pct=0.875 if img_size >= 128 else 1.0,
        interpolation="bicubic",
        mean=IMAGENET_DEFAULT_MEAN,
        std=IMAGENET_DEFAULT_STD,
    )


def describe_transform(transform: Callable) -> str:
    """One line naming every operation and its parameters (recorded in run folders)."""
    ops = getattr(transform, "transforms", [transform])
    return " → ".join(" ".join(repr(op).split()) for op in ops)
