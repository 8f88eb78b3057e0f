"""Checks that data sets fit each other and the model, made once where data enters.

ImageFolder numbers classes by their sorted folder names, so a validation folder that lacks a
class shifts every later label by one, silently; a model evaluated on data with other classes
or another image size reports a meaningless accuracy, or crashes deep in the patch embedding.
These checks turn all of them into one-line errors, before any work is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from infovit.errors import InfovitError

__all__ = ["check_image_size", "check_model_fits_data", "check_same_classes"]

_SHOWN = 3  # class names quoted in a message


def check_same_classes(
    train_classes: Sequence[str],
    val_classes: Sequence[str],
    train_where: str,
    val_where: str,
) -> None:
    """Training and validation data must have the same classes in the same order: the labels
    are positions in these lists, so any difference silently relabels the validation set."""
    if list(train_classes) == list(val_classes):
        return
    raise InfovitError(
        f"the classes of {val_where} ({len(val_classes)}) differ from those of {train_where} "
        f"({len(train_classes)}): {_differences(train_classes, val_classes, 'val')}; "
        "give both splits the same class folders"
    )


def check_model_fits_data(
    num_classes: int, model_classes: Sequence[str] | None, dataset: Any, where: str
) -> None:
    """A model must be evaluated on data with its own classes.

    ``num_classes`` is the model head's size; ``model_classes`` the class names its run was
    trained on (None when the run did not record them: then only the count is checked);
    ``dataset`` has ``.classes``; ``where`` names the data in the message.
    """
    classes = list(dataset.classes)
    if len(classes) != num_classes:
        raise InfovitError(
            f"the model predicts {num_classes} classes but {where} has {len(classes)} "
            f"(e.g. {classes[:_SHOWN]}); evaluate on data with the run's classes "
            "(leave out --data to use the run's own)"
        )
    if model_classes is not None and list(model_classes) != classes:
        raise InfovitError(
            f"the classes of {where} differ from those the model was trained on: "
            f"{_differences(model_classes, classes, 'the data')}; evaluate on data with the "
            "run's classes (leave out --data to use the run's own)"
        )


def check_image_size(img_size: int, dataset: Any, where: str) -> None:
    """The data's images must have the model's input size ``img_size`` (pixels per side).

    Real data sets resize to the size they are asked for; synthetic images have the size their
    options give (``.config.img_size``), which another spec can change.
    """
    synth = getattr(dataset, "config", None)
    if synth is not None and hasattr(synth, "img_size"):
        size = int(synth.img_size)
    else:
        size = int(dataset[0][0].shape[-1])  # one image: [3, H, W]
    if size != img_size:
        raise InfovitError(
            f"{where} has {size} px images but the model takes {img_size} px; evaluate on data "
            "of the model's image size (leave out --data to use the run's own)"
        )


def _differences(expected: Sequence[str], found: Sequence[str], found_name: str) -> str:
    """The first few names missing from / only in ``found``, or that only the order differs."""
    found_set, expected_set = set(found), set(expected)
    missing = [c for c in expected if c not in found_set]
    extra = [c for c in found if c not in expected_set]
    parts = [
        f"{label}: {items[:_SHOWN]}"
        for label, items in (
            (f"missing in {found_name}", missing),
            (f"only in {found_name}", extra),
        )
        if items
    ]
    return "; ".join(parts) or "the same names in another order"
