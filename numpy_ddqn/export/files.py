"""Writing an exported file atomically: a temporary file beside it, flushed, then renamed over it.

(``Policy.save`` may become atomic itself; until then ``export_policy`` saves through ``save_atomic``.)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def save_atomic(path: str | os.PathLike, save: Callable[[Path], object]) -> Path:
    """``save(tmp)`` a file beside ``path``, flush it to disk, rename it over ``path``: a crash mid-write
    leaves the previous file (or none), never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write the bytes ``data`` to ``path`` atomically (``save_atomic``)."""
    return save_atomic(path, lambda tmp: tmp.write_bytes(data))
