"""Image transforms: the paper's recipe (App. A) and presets for small images."""

from __future__ import annotations

from collections.abc import Callable

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, create_transform
from torchvision import transforms as T

__all__ = ["AUGMENTS", "build_transform"]

AUGMENTS = ("paper", "small", "none")


def build_transform(img_size: int, train: bool, augment: str = "paper") -> Callable:
    """PIL image → normalised tensor [3, img_size, img_size].

    - ``paper``: RandomResizedCrop(0.08–1), horizontal flip, RandAugment n=2 m=9; validation:
      resize + centre crop (crop_pct 0.875). ImageNet mean/std.
    - ``small``: for 32–96 px data: pad-4 random crop, flip, RandAugment n=2 m=9; validation:
      resize to img_size only.
    - ``none``: resize (+ centre crop) in training too.
    """
    if augment not in AUGMENTS:
        raise ValueError(f"augment must be one of {AUGMENTS}, got {augment!r}")
    normalize = T.Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)
    if train and augment == "paper":
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
    return create_transform(
        img_size,
        is_training=False,
        crop_pct=0.875 if img_size >= 128 else 1.0,
        interpolation="bicubic",
        mean=IMAGENET_DEFAULT_MEAN,
        std=IMAGENET_DEFAULT_STD,
    )
