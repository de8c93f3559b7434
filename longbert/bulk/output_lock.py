"""One run at a time per output: the same command started twice (two terminals, a cron job that
overlaps the previous one) must not have both runs append to one ledger, truncate each other's
rows and record two store batches. A run holds an exclusive ``flock`` on ``<output>.predict.lock``
from before it reads the output's state until it has written it for the last time; a second run
is refused at once, naming the process that holds it.

The kernel releases a ``flock`` when its holder exits, however it exits (``kill -9`` included), so
a lock file left behind never blocks the next run: only a live holder does. A run deletes the
file when it ends, while still holding the lock; a run that opened the file just before and then
gets the lock sees that its file is no longer the one at that path and opens it again (the usual
way to delete a lock file without letting two runs hold two copies of it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

from longbert.bulk.outputs import OutputError, lock_path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; runs are not serialised there
    fcntl = None  # type: ignore[assignment]

#: Errors of a file system that cannot lock (some network mounts): the run goes on unlocked.
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


@contextlib.contextmanager
def lock_output(output: Path) -> Iterator[None]:
    """Hold ``output``'s lock for the ``with`` block; OutputError at once when another run
    holds it ("another run is writing OUTPUT (pid N)"). Creates the output's folder if needed
    (the lock file lives beside the output)."""
    if fcntl is None:
        yield
        return
    path = lock_path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(path, output)
    try:
        yield
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                path.unlink()  # still held: a run waiting on this file sees it is gone (module doc)
            os.close(fd)


def _acquire(path: Path, output: Path) -> int | None:
    """The locked file's descriptor, with this process's id written in it (None: the file
    system cannot lock)."""
    for _ in range(50):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise OutputError(f"{path} cannot be created ({error.strerror or error}).") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise OutputError(
                f"another run is writing {output} (pid {holder}); wait for it to end, or stop it "
                "and run the command again to resume. Two runs at once would duplicate its rows."
            ) from None
        except OSError as error:
            os.close(fd)
            if error.errno in _NO_LOCKS:
                return None
            raise OutputError(f"{path} cannot be locked ({error.strerror or error}).") from error
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)  # the run that held it deleted it meanwhile: lock the file now at the path
    raise OutputError(f"{path} keeps being replaced; is another run starting there in a loop?")


def _holder(fd: int) -> str:
    """The process id the lock's holder wrote in it ("unknown" if it has not, a moment after)."""
    for _ in range(10):
        with contextlib.suppress(OSError, ValueError):
            text = os.pread(fd, 32, 0).decode("ascii").strip()
            if text.isdigit():
                return text
        time.sleep(0.02)  # the holder writes its id just after it gets the lock
    return "unknown"
