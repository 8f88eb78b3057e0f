"""One trainer per run folder: an advisory lock that dies with its holder.

Two trainers on one folder would interleave ``metrics.jsonl`` and overwrite each other's
checkpoints. The lock is ``fcntl.flock`` on ``RUN/train.lock``: the kernel releases it when the
holding process ends, however it ends, so a lock left by a killed trainer is simply taken over
(no stale-lock guessing by age or pid). The file records the holder (pid, host, start time) so
that a refused trainer can say who holds it. The file itself is never deleted: deleting it
while another process waits on it would let two processes hold locks on different files.
flock works across hosts on NFSv4 and Lustre mounted with ``flock``; on a file system that
does not support it the lock is skipped with a warning rather than refusing to train.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from infovit.errors import InfovitError

__all__ = ["LOCK_NAME", "RunLock", "close_inherited_locks", "lock_holder"]

LOCK_NAME = "train.lock"
_HELD: set[int] = set()  # descriptors of the locks this process holds


def close_inherited_locks() -> None:
    """In a process forked from a trainer (a DataLoader worker): close the inherited lock
    descriptors. A flock belongs to the open file, which a fork shares; a worker orphaned by a
    killed trainer would otherwise hold the run's lock until it notices, refusing the resume."""
    for fd in list(_HELD):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


class RunLock:
    """Context manager holding the training lock of a run folder.

    Example::

        with RunLock(run_dir):
            ...  # the only trainer writing run_dir
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None
        self._flocked = False

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock (a no-op if this object holds it already); refused with the holder's
        pid and host if another trainer holds it."""
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise InfovitError(
                f"cannot open the lock file {str(self.path)!r} ({err.strerror}); check that the "
                "run folder is writable"
            ) from err
        self._flocked = True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(os.pread(fd, 4096, 0))
            os.close(fd)
            raise InfovitError(
                f"run folder {str(self.path.parent)!r} is being trained by {holder}; wait for "
                "that trainer to finish or stop it, then resume with 'infovit train --resume RUN'"
            ) from None
        except OSError as err:
            if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                os.close(fd)
                raise
            self._flocked = False
            print(
                f"infovit: warning: the file system of {str(self.path.parent)!r} does not "
                "support locks; make sure only one trainer uses this run folder",
                file=sys.stderr,
            )
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd = fd
        _HELD.add(fd)

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # no holder any more; the file stays (module docstring)
        if self._flocked:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        _HELD.discard(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def lock_holder(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Who trains ``run_dir`` now (pid, host, since), or None; never takes the lock.

    The record is cleared on release; one left by a killed trainer on this host is recognised
    by its dead pid; one from another host by trying the lock itself (an instant's exclusive
    flock, taken only for such records, so a trainer on this host is never disturbed).
    """
    try:
        holder = json.loads((Path(run_dir) / LOCK_NAME).read_text() or "null")
    except (OSError, ValueError):
        return None
    if not isinstance(holder, dict) or "pid" not in holder:
        return None
    if holder.get("host") == socket.gethostname():
        try:
            os.kill(int(holder["pid"]), 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, another user's
        return holder
    try:
        fd = os.open(Path(run_dir) / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None  # nobody holds it: the record is stale
    except BlockingIOError:
        return holder
    except OSError:
        return holder  # no locks on this file system: believe the record
    finally:
        os.close(fd)


def _describe(raw: bytes) -> str:
    try:
        holder = json.loads(raw.decode())
        return f"pid {holder['pid']} on host {holder['host']} (since {holder['since']})"
    except (ValueError, KeyError, TypeError):
        return "another process"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
