"""Checkpoints as ``.npz`` files (no pickle), written atomically.

Layout: every array of the state sits under a path-like key (``agent/online``,
``agent/optimizer/m``, ``agent/replay/obs``); everything else (config, counters, RNG states) is one
JSON document under ``meta.json`` in which each array is replaced by ``{"__array__": key}``.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from .errors import CheckpointError
from .policy import write_atomic

FORMAT_VERSION = 1


def _split(tree, prefix, arrays):
    """Replace ndarray leaves by references, collecting the arrays (JSON-safe remainder)."""
    if isinstance(tree, np.ndarray):
        arrays[prefix] = tree
        return {"__array__": prefix}
    if isinstance(tree, dict):
        return {k: _split(v, f"{prefix}/{k}", arrays) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_split(v, f"{prefix}/{i}", arrays) for i, v in enumerate(tree)]
    if isinstance(tree, np.generic):
        return tree.item()
    return tree


def _join(tree, arrays):
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            return arrays[tree["__array__"]]
        return {k: _join(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_join(v, arrays) for v in tree]
    return tree


def save_checkpoint(path, state):
    """Write ``state`` (nested dicts of arrays, numbers, strings) to ``path`` atomically.

    The file is written next to its destination under a temporary name, flushed to disk, then
    renamed over ``path``: a crash mid-write leaves the previous checkpoint intact.
    """
    path = Path(path)
    arrays = {}
    meta = _split({"format_version": FORMAT_VERSION, **state}, "", arrays)
    buf = io.BytesIO()
    np.savez(buf, **{"meta.json": np.frombuffer(json.dumps(meta).encode(), np.uint8)},
             **{k.lstrip("/"): v for k, v in arrays.items()})
    return write_atomic(path, buf.getbuffer())


def load_checkpoint(path):
    """Read a checkpoint back into the nested state; ``CheckpointError`` if it is not a sound one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "meta.json" not in data.files:
                raise CheckpointError(f"{path} is not a numpy_ddqn checkpoint (no meta.json entry)")
            meta = json.loads(data["meta.json"].tobytes().decode())
            arrays = {"/" + k: data[k] for k in data.files if k != "meta.json"}
    except CheckpointError:
        raise
    except Exception as e:   # a damaged zip fails in many ways (BadZipFile, NotImplementedError, ...)
        raise CheckpointError(f"{path} is truncated or corrupt and cannot be read ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("format_version"), int):
        raise CheckpointError(f"{path} is not a numpy_ddqn checkpoint (no format version)")
    if meta["format_version"] > FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {meta['format_version']}; this numpy_ddqn reads "
                              f"up to {FORMAT_VERSION}: upgrade numpy_ddqn to load it")
    try:
        return _join(meta, arrays)
    except KeyError as e:
        raise CheckpointError(f"{path} is corrupt: array {e} is missing") from None
