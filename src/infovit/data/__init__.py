"""Data: the synthetic known-answer task and local loaders for real data sets."""

from infovit.data.datasets import (
    DATASETS,
    DataSpec,
    build_dataset,
    imagenet100_wnids,
    parse_data_spec,
)
from infovit.data.synthetic import SyntheticConfig, SyntheticPatches, independent_patch_ceiling
from infovit.data.transforms import AUGMENTS, build_transform

__all__ = [
    "AUGMENTS",
    "DATASETS",
    "DataSpec",
    "SyntheticConfig",
    "SyntheticPatches",
    "build_dataset",
    "build_transform",
    "imagenet100_wnids",
    "independent_patch_ceiling",
    "parse_data_spec",
]
