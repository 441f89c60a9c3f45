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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .files import RunDirError, new_run_dir, read_json, read_tensors, write_json
from .models import ModelConfig, build_model

__all__ = ["Checkpoint"]


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
        """Read a checkpoint directory written by :meth:`save`.

        Raises
        ------
        RunDirError
            Naming the file that is missing, unreadable or does not fit the others (a
            ``model.pt`` of another shape than ``model.json`` describes).
        """
        path = Path(path)
        if not path.is_dir():
            raise RunDirError(f"{path} is not a run directory" + (" (it is a file)" if path.exists() else
                                                                  " (it does not exist)"))
        for name in ("model.pt", "model.json", "train.json", "metrics.json"):
            if not (path / name).exists():
                raise RunDirError(f"{path} is not a checkpoint directory: {name} is missing")
        metrics = read_json(path / "metrics.json")
        settings = read_json(path / "train.json")
        try:
            config = ModelConfig.from_dict(read_json(path / "model.json"))
            model = build_model(config, seed=int(settings.get("seed", 0)))
        except (TypeError, ValueError, KeyError) as err:
            raise RunDirError(f"{path / 'model.json'} is not a model configuration rnn2dynapse "
                              f"wrote ({err})") from None
        state = read_tensors(path / "model.pt")
        try:
            model.load_state_dict(state)
        except (TypeError, RuntimeError, AttributeError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RunDirError(f"{path / 'model.pt'} does not hold the weights model.json describes "
                              f"({first[:200]})") from None
        model.eval()
        return cls(model, config, settings, metrics, path)
