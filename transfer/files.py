"""Run-directory file helpers without heavy imports: atomic JSON, new run dirs."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["RunDirError", "write_json", "read_json", "new_run_dir"]


class RunDirError(ValueError):
    """A run directory is missing, incomplete or would be overwritten."""


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON atomically (temporary file, then rename), so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise RunDirError(f"{path} does not exist")
    return json.loads(path.read_text())


def new_run_dir(path: str | Path) -> Path:
    """Create ``path`` for a stage's output; refuse to overwrite a finished run."""
    path = Path(path)
    if (path / "metrics.json").exists():
        raise RunDirError(f"{path} already holds a finished run (metrics.json); choose a new --out")
    path.mkdir(parents=True, exist_ok=True)
    return path
