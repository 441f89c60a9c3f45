"""Run directories: every stage reads one directory and writes a new one.

A checkpoint directory holds

- ``model.pt``: the model's ``state_dict``,
- ``model.json``: the :class:`~transfer.models.ModelConfig`,
- ``train.json``: the training (or quantization) settings, seed and dataset name,
- ``metrics.json``: the measured figures (keys listed in ARCHITECTURE.md),
- stage-specific files (``quantization.json``, ``network.json``, ``hardware.json``).

Nothing is overwritten: :func:`new_run_dir` refuses a directory that already holds a
``metrics.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .models import ModelConfig, build_model

__all__ = ["Checkpoint", "new_run_dir", "write_json", "read_json", "git_revision", "RunDirError"]


class RunDirError(ValueError):
    """A run directory is missing, incomplete or would be overwritten."""


def git_revision() -> str:
    """Short git revision of the source tree (with ``-dirty`` when modified), or ``unknown``."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON atomically (temporary file, then rename), so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)
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


@dataclass(frozen=True)
class Checkpoint:
    """A trained (or quantized) model with its configuration, settings and metrics."""

    model: nn.Module
    config: ModelConfig
    settings: dict[str, Any]
    metrics: dict[str, Any]
    path: Path | None = None

    def save(self, path: str | Path) -> Path:
        path = new_run_dir(path)
        torch.save(self.model.state_dict(), path / "model.pt")
        write_json(path / "model.json", self.config.to_dict())
        write_json(path / "train.json", self.settings)
        write_json(path / "metrics.json", self.metrics)  # last: marks the run finished
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Checkpoint":
        path = Path(path)
        for name in ("model.pt", "model.json", "metrics.json"):
            if not (path / name).exists():
                raise RunDirError(f"{path} is not a checkpoint directory: {name} is missing")
        config = ModelConfig.from_dict(read_json(path / "model.json"))
        settings = read_json(path / "train.json") if (path / "train.json").exists() else {}
        model = build_model(config, seed=int(settings.get("seed", 0)))
        model.load_state_dict(torch.load(path / "model.pt", map_location="cpu", weights_only=True))
        model.eval()
        return cls(model, config, settings, read_json(path / "metrics.json"), path)
