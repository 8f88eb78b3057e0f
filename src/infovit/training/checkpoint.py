"""A checkpoint is one unit: a folder of files that are all of the same training step.

A run is killed, preempted and resumed many times; if weights, optimizer state and metadata
were separate files written one after another, a kill between two writes would leave newer
weights beside older optimizer state, and a resume would silently train a different model.
So a checkpoint is written as a whole::

    checkpoints/
      last/                 the unit, once complete
        model.safetensors   weights
        state.pt            optimizer, scaler, RNG, position in the epoch (tensors only)
        info.json           epoch, step, metrics at save time
        manifest.json       format, tag, step, and each file's size and SHA-256

The files go into a temporary folder ``.last.XXXX.tmp`` and are fsync'ed; the manifest is
written last. The old unit is then renamed aside, the new one renamed into place, and the
parent folder fsync'ed. A kill at any point leaves either the old unit or the new one complete
(during the two renames, both exist under temporary names, and :func:`locate_unit` picks the
complete one with the highest step). Reading checks every file against the manifest before it
is used, so a damaged or mixed unit is refused, never loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infovit.atomic import TEMP_SUFFIX, disk_full_error, fsync_dir
from infovit.errors import InfovitError

__all__ = [
    "MANIFEST",
    "UNIT_FORMAT",
    "CheckpointUnit",
    "install_unit",
    "locate_unit",
    "read_unit",
    "write_unit",
]

UNIT_FORMAT = 2  # format 1: the loose files last.safetensors / last.json / last.state.pt
MANIFEST = "manifest.json"

Hook = Callable[[str], None]  # called before each file-system operation (tests inject kills)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class CheckpointUnit:
    """A complete checkpoint folder whose manifest has been read and whose file sizes match.

    File contents are verified against their SHA-256 when read (:meth:`read`), so what is used
    is exactly what was written.
    """

    path: Path
    manifest: dict[str, Any]

    @property
    def tag(self) -> str:
        return str(self.manifest["tag"])

    @property
    def step(self) -> int:
        return int(self.manifest["step"])

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        return dict(self.manifest["files"])

    def digest(self, name: str) -> str:
        """The SHA-256 of file ``name``: identifies the checkpoint's content exactly."""
        return str(self.files[name]["sha256"])

    def read(self, name: str) -> bytes:
        """The bytes of file ``name``, verified against the manifest."""
        entry = self.files.get(name)
        if entry is None:
            raise InfovitError(f"checkpoint {str(self.path)!r} has no file {name!r}")
        try:
            data = (self.path / name).read_bytes()
        except OSError as err:
            raise _damaged(self.path, f"{name} cannot be read ({err.strerror})") from err
        if len(data) != entry["bytes"] or _sha256(data) != entry["sha256"]:
            raise _damaged(self.path, f"{name} does not match its manifest entry")
        return data


def _damaged(path: Path, why: str) -> InfovitError:
    return InfovitError(
        f"checkpoint {str(path)!r} is damaged: {why}; it cannot be used (restore the run "
        "folder from a copy, or start the run again)"
    )


def read_unit(path: str | os.PathLike[str]) -> CheckpointUnit:
    """Open the unit at ``path``: the manifest must parse and every file must exist with its
    recorded size (contents are hashed when read)."""
    path = Path(path)
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise _damaged(path, f"{MANIFEST} is missing") from err
    except (OSError, ValueError) as err:
        raise _damaged(path, f"{MANIFEST} is unreadable ({err})") from err
    if not isinstance(manifest, dict) or not {"format", "tag", "step", "files"} <= set(manifest):
        raise _damaged(path, f"{MANIFEST} lacks format, tag, step or files")
    if manifest["format"] != UNIT_FORMAT:
        raise InfovitError(
            f"checkpoint {str(path)!r} has format {manifest['format']}; this infovit reads "
            f"format {UNIT_FORMAT}: upgrade infovit"
        )
    for name, entry in manifest["files"].items():
        file = path / name
        if not file.is_file():
            raise _damaged(path, f"{name} is missing")
        if file.stat().st_size != entry["bytes"]:
            raise _damaged(
                path, f"{name} has {file.stat().st_size} bytes, the manifest says {entry['bytes']}"
            )
    return CheckpointUnit(path, manifest)


def _candidates(folder: Path, tag: str) -> list[CheckpointUnit]:
    """Complete units of ``tag`` left under temporary names by an interrupted swap."""
    found = []
    for entry in folder.glob(f".{tag}.*{TEMP_SUFFIX}"):
        if not entry.is_dir():
            continue
        try:
            unit = read_unit(entry)
            for name in unit.files:
                unit.read(name)
        except InfovitError:
            continue
        if unit.tag == tag:
            found.append(unit)
    return sorted(found, key=lambda u: u.step)


def locate_unit(folder: str | os.PathLike[str], tag: str) -> CheckpointUnit | None:
    """The unit ``tag`` in the checkpoints ``folder``, or None if there is none.

    When a writer was killed between its two renames, the unit is not in place but complete
    under a temporary name: that one is returned (read-only; :func:`install_unit` moves it).
    """
    folder = Path(folder)
    if (folder / tag).is_dir():
        return read_unit(folder / tag)
    found = _candidates(folder, tag)
    return found[-1] if found else None


def install_unit(folder: str | os.PathLike[str], tag: str) -> None:
    """Finish a swap that a killed writer left half-done: move the complete unit into place.

    Call only while no other writer uses ``folder`` (the run's lock); temporaries are removed
    afterwards by :func:`infovit.atomic.remove_stale_temporaries`.
    """
    folder = Path(folder)
    if (folder / tag).exists():
        return
    found = _candidates(folder, tag)
    if found:
        os.replace(found[-1].path, folder / tag)
        fsync_dir(folder)


def write_unit(
    folder: str | os.PathLike[str],
    tag: str,
    step: int,
    files: dict[str, bytes],
    hook: Hook | None = None,
) -> Path:
    """Write ``files`` as the unit ``folder/tag`` of training step ``step``, replacing any
    previous one, so that a kill at any moment leaves one complete unit (module docstring)."""
    folder = Path(folder)
    before = hook or (lambda op: None)
    token = f"{os.getpid()}-{time.monotonic_ns()}"
    new = folder / f".{tag}.new-{token}{TEMP_SUFFIX}"
    old = folder / f".{tag}.old-{token}{TEMP_SUFFIX}"
    current = None
    try:
        before("mkdir")
        folder.mkdir(parents=True, exist_ok=True)
        new.mkdir()
        manifest = {
            "format": UNIT_FORMAT,
            "tag": tag,
            "step": step,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "files": {n: {"bytes": len(b), "sha256": _sha256(b)} for n, b in files.items()},
        }
        for name, data in [*files.items(), (MANIFEST, _manifest_bytes(manifest))]:
            current = new / name
            before(f"write {name}")
            with open(current, "wb") as f:
                f.write(data)
                f.flush()
                before(f"fsync {name}")
                os.fsync(f.fileno())
        current = new
        before("fsync unit")
        fsync_dir(new)
        if (folder / tag).exists():
            before("retire old")
            os.replace(folder / tag, old)
        before("install new")
        os.replace(new, folder / tag)
        before("fsync checkpoints")
        fsync_dir(folder)
        before("remove old")
        shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        shutil.rmtree(new, ignore_errors=True)
        if old.exists() and not (folder / tag).exists():
            os.replace(old, folder / tag)
        full = disk_full_error(current or folder, err)
        if full is None:
            raise
        raise full from err
    return folder / tag


def _manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
