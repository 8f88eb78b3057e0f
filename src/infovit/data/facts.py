"""Facts about a data set that code outside ``data/`` needs, in one place.

Callers ask ``dataset_facts(spec)`` instead of comparing spec strings: the native image size
(CIFAR-10 32 px, STL-10 96 px, synthetic grid × patch), the normalisation the images carry
(un-normalising them for display needs it), whether the items are ready tensors in memory, and
whether the images come at one fixed size the model must match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from infovit.data.datasets import DataSpec, native_size, parse_data_spec

__all__ = ["DatasetFacts", "dataset_facts"]

Normalisation = Literal["imagenet", "none"]


@dataclass(frozen=True)
class DatasetFacts:
    """What a data set is, as far as models, loaders and figures care."""

    name: str
    native_size: int | None  # pixels, where the data set fixes it
    normalisation: Normalisation  # "imagenet": timm's mean/std; "none": roughly centred already
    in_memory: bool  # items are ready tensors (no decoding, no transform): workers only add cost
    fixed_size: bool  # images come at one size; the model's img_size must equal it

    @property
    def imagenet_normalised(self) -> bool:
        """Whether un-normalising for display uses ImageNet's mean and std."""
        return self.normalisation == "imagenet"


def dataset_facts(spec: DataSpec | str) -> DatasetFacts:
    """The facts of the data set named by ``spec`` (a string is parsed and checked first)."""
    if isinstance(spec, str):
        spec = parse_data_spec(spec)
    synthetic = spec.name == "synthetic"
    return DatasetFacts(
        name=spec.name,
        native_size=native_size(spec),
        normalisation="none" if synthetic else "imagenet",
        in_memory=synthetic,
        fixed_size=synthetic,
    )
