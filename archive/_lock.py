"""Advisory locks: one writer per partition, one ``observer run`` per archive root.

``fcntl.flock`` on a lock file, non-blocking: a second holder gets ``ArchiveLockedError``
naming the pid written into the file by the holder. The kernel drops the lock when the
holder dies (even by SIGKILL), so a crash never leaves a stale lock behind. Lock files are
never deleted (deleting a lock file races with a process about to lock it).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from ._errors import ArchiveIOError, ArchiveLockedError
from ._layout import LOCK_NAME, ROOT_LOCK_NAME, Partition

__all__ = ["FileLock", "RootLock", "lock_partition"]


class FileLock:
    """An exclusive, non-blocking ``flock`` on ``path`` (created if missing)."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self._what = what
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise ``ArchiveLockedError`` naming the holder's pid."""
        if self._fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ArchiveIOError(f"{self.path}: cannot open lock file: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            holder = f"pid {pid}" if pid is not None else "another process"
            raise ArchiveLockedError(f"{self._what} is locked by {holder}", pid=pid) from None
        except OSError as exc:
            os.close(fd)
            raise ArchiveIOError(f"{self.path}: cannot lock: {exc.strerror}") from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def lock_partition(root: Path, partition: Partition) -> FileLock:
    """A (not yet acquired) lock for one partition of ``root``."""
    return FileLock(partition.dir(root) / LOCK_NAME, f"archive root {root} partition {partition}")


class RootLock(FileLock):
    """The whole-root lock ``observer run`` takes so that a second run on the root refuses.

    Use as a context manager::

        with RootLock(root):
            ...  # run the collectors
    """

    def __init__(self, root: Path | str) -> None:
        root = Path(root)
        super().__init__(root / ROOT_LOCK_NAME, f"archive root {root}")
