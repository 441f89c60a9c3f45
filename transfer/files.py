"""Run-directory files without heavy imports: the one reader and writer of every run file.

- :func:`write_json` writes strict JSON (no NaN or infinity: :func:`strict`) atomically, with
  the permissions of any other file the user creates (``0666`` less the umask);
- :func:`read_json` and :func:`read_tensors` read a run's files and name the file on any
  failure (missing, a directory, unreadable, not JSON, not an object, truncated, foreign);
  tensors are read with ``torch.load(..., weights_only=True)``, so a planted file cannot
  run code;
- :func:`new_run_dir` creates a stage's output directory and refuses to overwrite a finished
  run.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import secrets
from pathlib import Path
from typing import Any

__all__ = ["RunDirError", "strict", "write_json", "read_json", "read_tensors", "new_run_dir"]


class RunDirError(ValueError):
    """A run directory or one of its files is missing, unreadable, malformed or would be
    overwritten; the message names the file."""


def strict(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None`` and numpy scalars and arrays
    made plain (``json.dumps(..., allow_nan=False)`` then always succeeds)."""
    if isinstance(value, dict):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    if hasattr(value, "tolist") and type(value).__module__ == "numpy":  # numpy scalar or array
        return strict(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as strict JSON (non-finite numbers become ``null``) atomically: a
    temporary file, then a rename, so a crash never leaves half a file. The file gets mode
    ``0666`` less the umask, like any other file the user writes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(strict(data), indent=2, allow_nan=False)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _readable(path: Path) -> None:
    if not path.exists():
        raise RunDirError(f"{path} does not exist")
    if path.is_dir():
        raise RunDirError(f"{path} is a directory, not a file")


def read_json(path: str | Path, expect: type | None = dict) -> Any:
    """The JSON value in ``path``; with ``expect`` (default ``dict``: a JSON object) it must
    be of that type.

    Raises
    ------
    RunDirError
        Naming the file: missing, a directory, unreadable, not JSON or not an ``expect``.
    """
    path = Path(path)
    _readable(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise RunDirError(f"{path} cannot be read: {getattr(err, 'strerror', None) or err}") from None
    except json.JSONDecodeError as err:
        raise RunDirError(f"{path} is not valid JSON ({err}); it may be truncated or edited by hand") from None
    if expect is not None and not isinstance(data, expect):
        wanted = {dict: "a JSON object", list: "a JSON list"}.get(expect, expect.__name__)
        raise RunDirError(f"{path} holds a JSON {type(data).__name__}, not {wanted}")
    return data


def read_tensors(path: str | Path) -> Any:
    """What ``torch.save`` wrote to ``path`` (tensors and plain Python types only), read with
    ``weights_only=True`` onto the CPU.

    Raises
    ------
    RunDirError
        Naming the file: missing, empty, truncated, not a torch file, or holding objects other
        than tensors and plain types.
    """
    import torch  # noqa: PLC0415 (the JSON helpers stay light)

    path = Path(path)
    _readable(path)
    if path.stat().st_size == 0:
        raise RunDirError(f"{path} is empty; the run that wrote it did not finish")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # weights_only refused what it found
        raise RunDirError(f"{path} is not a file of tensors that rnn2dynapse wrote: it is damaged or holds "
                          "other objects, which are not loaded since they could run code") from None
    except Exception:  # noqa: BLE001 (any other failure of torch's reader means a bad file)
        raise RunDirError(f"{path} is truncated or damaged (not a readable torch file); rerun the stage "
                          "that wrote it") from None


def new_run_dir(path: str | Path) -> Path:
    """Create ``path`` for a stage's output; refuse to overwrite a finished run.

    Raises
    ------
    RunDirError
        ``path`` is empty, is a file, holds a finished run (``metrics.json``), or cannot be
        created (read-only or full disk, no permission).
    """
    if not str(path).strip():
        raise RunDirError("the output directory is empty (--out \"\"); name a new directory")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{path} exists and is not a directory; choose a new --out")
    if (path / "metrics.json").exists():
        raise RunDirError(f"{path} already holds a finished run (metrics.json); choose a new --out")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunDirError(f"cannot create {path}: {err.strerror or err}") from None
    return path
