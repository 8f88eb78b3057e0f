"""Saved posteriors: ``.npz`` or ``.safetensors`` files with ``NAME.mu`` / ``NAME.logvar`` [L, r].

Channel names are free text (``run:block.head`` for extracted heads); a file may hold many.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from infovit.atomic import atomic_path
from infovit.errors import InfovitError
from infovit.information.channel import GaussianChannel, as_channel, check_same_points

__all__ = ["load_posteriors", "save_posteriors"]

_SUFFIXES = (".npz", ".safetensors")


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise InfovitError(f"posterior file not found: {path}")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError) as err:
            raise InfovitError(f"cannot read {path} as .npz: {err}") from err
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            return dict(load_file(str(path)))
        except (OSError, SafetensorError) as err:
            raise InfovitError(f"cannot read {path} as .safetensors: {err}") from err
    raise InfovitError(f"{path}: posterior files must end in {' or '.join(_SUFFIXES)}")


def load_posteriors(paths: Sequence[str | os.PathLike[str]]) -> dict[str, GaussianChannel]:
    """All channels of the given files, in file order then key order; names must be unique."""
    channels: dict[str, GaussianChannel] = {}
    for p in paths:
        path = Path(p)
        arrays = _read_arrays(path)
        names = [k[: -len(".mu")] for k in arrays if k.endswith(".mu")]
        unpaired = [k for k in arrays if not k.endswith((".mu", ".logvar"))]
        unpaired += [
            k for k in arrays if k.endswith(".logvar") and k[: -len(".logvar")] not in names
        ]
        unpaired += [f"{n}.mu" for n in names if f"{n}.logvar" not in arrays]
        if unpaired:
            raise InfovitError(
                f"{path}: every channel needs NAME.mu and NAME.logvar arrays; "
                f"unpaired keys: {', '.join(sorted(unpaired)[:5])}"
            )
        if not names:
            raise InfovitError(f"{path}: no NAME.mu / NAME.logvar arrays found")
        for name in names:
            if name in channels:
                raise InfovitError(f"channel {name!r} appears twice (in {path} and before)")
            channels[name] = as_channel(arrays[f"{name}.mu"], arrays[f"{name}.logvar"], name=name)
    check_same_points(list(channels.values()))
    return channels


def save_posteriors(
    path: str | os.PathLike[str], channels: Mapping[str, tuple[np.ndarray, np.ndarray]]
) -> None:
    """Write ``{name: (mu, logvar)}`` atomically as ``.npz`` or ``.safetensors`` (by suffix)."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    for name, (mu, logvar) in channels.items():
        arrays[f"{name}.mu"] = np.ascontiguousarray(mu, dtype=np.float32)
        arrays[f"{name}.logvar"] = np.ascontiguousarray(logvar, dtype=np.float32)
    if path.suffix not in _SUFFIXES:
        raise InfovitError(f"{path}: posterior files must end in {' or '.join(_SUFFIXES)}")
    with atomic_path(path) as tmp:
        if path.suffix == ".npz":
            with open(tmp, "wb") as fh:
                # numpy's stub lets **arrays fill savez's allow_pickle: bool keyword
                np.savez(fh, **arrays)  # type: ignore[arg-type]
        else:
            from safetensors.numpy import save_file

            save_file(arrays, str(tmp))
