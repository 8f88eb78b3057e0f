"""Atomic, durable file writes: a reader (or a crash) never sees a half-written file.

Everything infovit writes to disk goes through this module. Content is written to a temporary
sibling (``.NAME.XXXX.tmp``), flushed to the disk with ``fsync``, and moved into place with
``os.replace`` only once it is complete; the folder is fsync'ed too, so the rename itself
survives a power cut. A full disk becomes one :class:`~infovit.errors.InfovitError` line that
names the file, and the temporary file is removed. A writer killed outright (SIGKILL) cannot
clean up, so its next start calls :func:`remove_stale_temporaries`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infovit.errors import InfovitError

__all__ = [
    "TEMP_SUFFIX",
    "atomic_path",
    "disk_full_error",
    "fsync_dir",
    "remove_entry",
    "remove_stale_temporaries",
    "write_bytes",
    "write_json",
    "write_text",
]

TEMP_SUFFIX = ".tmp"
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full_error(path: str | os.PathLike[str], err: OSError) -> InfovitError | None:
    """The one-line error for a full disk or quota while writing ``path`` (None: another
    error)."""
    if err.errno not in _DISK_FULL:
        return None
    what = "no space left" if err.errno == errno.ENOSPC else "disk quota exceeded"
    return InfovitError(
        f"{what} on the device holding {str(path)!r}; free some space (or move the folder) and "
        "run the command again; a training run continues with 'infovit train --resume RUN'"
    )


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make the entries of folder ``path`` (renames, new files) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_sibling(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600: give it a plain file's mode
    os.close(fd)
    return Path(name)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it onto ``path``, else delete it.

    For writers that want a file name (``savefig``, ``np.savez``). Example::

        with atomic_path(out / "table.csv") as tmp:
            frame.to_csv(tmp)
    """
    path = Path(path)
    tmp = _temp_sibling(path)
    try:
        try:
            yield tmp
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
            fsync_dir(path.parent)
        except OSError as err:
            full = disk_full_error(path, err)
            if full is None:
                raise
            raise full from err
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably (see the module docstring)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporaries (``.NAME.XXXX.tmp`` files and folders) that writers killed
    outright left in ``folder``; returns what was removed.

    Call it only while no other writer uses ``folder`` (e.g. holding the run's lock).
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX):
            remove_entry(entry)
            removed.append(entry)
    return removed


def remove_entry(entry: Path) -> None:
    """Delete a file, link or folder (with its contents), whichever ``entry`` is."""
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)
