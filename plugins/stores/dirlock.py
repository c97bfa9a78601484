"""The exclusive lock on a ``file://`` store's data directory.

One process at a time may hold a data directory: :func:`lock_directory` takes an
``fcntl.flock`` on ``<dir>/LOCK`` without waiting, and writes the holder's pid and
command line into it so that a second opener's :class:`StoreLockedError` can say
who holds it. The kernel drops the lock when the holder's file is closed or the
process dies, so a crashed holder never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os

from orchestra.store.errors import StoreLockedError

__all__ = ["LOCK_FILE", "DirectoryLock", "lock_directory"]

LOCK_FILE = "LOCK"


class DirectoryLock:
    """A held lock on a data directory; :meth:`release` lets it go."""

    def __init__(self, directory: str, fd: int) -> None:
        """Wrap the open, locked descriptor ``fd`` of ``directory``'s lock file."""
        self.directory = directory
        self._fd = fd

    @property
    def held(self) -> bool:
        """Whether the lock is still held."""
        return self._fd >= 0

    def release(self) -> None:
        """Release the lock. Idempotent."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _describe_self() -> str:
    """``pid N: command line`` of this process."""
    try:
        with open("/proc/self/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        command = " ".join(a.decode(errors="replace") for a in argv if a)
    except OSError:
        command = "?"
    return f"pid {os.getpid()}: {command}"


def lock_directory(directory: str) -> DirectoryLock:
    """Take the exclusive lock on ``directory``; :class:`StoreLockedError` names the holder if taken."""
    path = os.path.join(directory, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise StoreLockedError(directory, holder) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, (_describe_self() + "\n").encode(), 0)
    return DirectoryLock(directory, fd)
