"""An exclusive lock on a run folder, held for a training run's life: two runs never share a folder.

The lock is an OS file lock (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows) on
``<run_dir>/.lock``. The OS releases it when the process ends, however it ends, so a lock left by a
killed run never blocks the next one. The file records the holder's pid, for the error message only.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import RunFolderBusy

LOCK_NAME = ".lock"

try:
    import fcntl
except ImportError:                                   # Windows
    fcntl = None
    import msvcrt


class RunLock:
    """``with RunLock(run_dir):`` holds the folder's lock; ``RunFolderBusy`` if another process has it."""

    def __init__(self, run_dir):
        self.path = Path(run_dir) / LOCK_NAME
        self._file = None

    def acquire(self):
        """Take the lock (creating the folder), or raise ``RunFolderBusy`` at once; returns self."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")
        try:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:
                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "?"
            f.close()
            raise RunFolderBusy(f"{self.path.parent} is in use by another numpy-ddqn process (pid {holder}); "
                                f"choose another --out, or wait for that run to finish") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._file = f
        return self

    def release(self):
        """Give the lock back (also done by the OS if the process dies)."""
        if self._file is not None:
            if fcntl is not None:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False
