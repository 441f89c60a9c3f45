"""Run directories and provenance: the revision a run came from, which finished run a stage
reads, the dataset slice and the ANN behind a run, and the chip a name stands for."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from hardware.dynapse1 import DYNAPSE1, DYNAPSE2, ChipSpec
from transfer.checkpoint import Checkpoint
from transfer.datasets import Dataset, load_dataset
from transfer.files import RunDirError, read_json

__all__ = ["git_revision", "load_stage_data", "finished_run", "stage_of", "ann_checkpoint", "run_data", "split_seed", "chip_spec",
           "CHIPS"]

#: Chip names of the command line.
CHIPS: dict[str, ChipSpec] = {"dynapse1": DYNAPSE1, "dynapse2": DYNAPSE2}


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


def load_stage_data(dataset: str, seed: int, limit_train: int | None, limit_test: int | None) -> Dataset:
    """Load a dataset by name or path and apply the ``--limit-*`` options."""
    data = load_dataset(dataset, seed=seed)
    if limit_train or limit_test:
        data = data.subset(limit_train=limit_train, limit_test=limit_test, seed=seed)
    return data


def split_seed(settings: dict[str, Any]) -> int:
    """The seed of the dataset split a checkpoint's settings were trained on (``train
    --split-seed``, or training settings asking for one; none given, or runs written before
    it: the ``seed``)."""
    given = settings.get("split_seed")
    return int(settings.get("seed", 0) if given is None else given)


def run_data(ckpt: Checkpoint, limit_test: int | None = None) -> Dataset:
    """The dataset slice a checkpoint was trained on (test split limited to ``limit_test`` if
    given, else as in training)."""
    s = ckpt.settings
    if not isinstance(s.get("dataset"), str):
        raise RunDirError(f"{ckpt.path}/train.json names no dataset (key 'dataset'); it was not written by "
                          "rnn2dynapse train or quantize")
    return load_stage_data(s["dataset"], split_seed(s), s.get("limit_train"), limit_test or s.get("limit_test"))


def finished_run(run_dir: str | Path, stage: str | tuple[str, ...], needs: str) -> dict[str, Any]:
    """The ``metrics.json`` of ``run_dir``, which must be a finished ``stage`` run (or one of
    several stages).

    Raises
    ------
    RunDirError
        Naming the directory, what it holds and what the caller needs (``needs``).
    """
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        raise RunDirError(f"{run_dir} is not a finished run (no metrics.json); {needs}")
    metrics = read_json(path)
    stages = (stage,) if isinstance(stage, str) else stage
    if metrics.get("stage") not in stages:
        raise RunDirError(f"{run_dir} holds a {metrics.get('stage')!r} run; {needs}")
    return metrics


def stage_of(run_dir: str | Path | None) -> str | None:
    """The ``stage`` a finished run's ``metrics.json`` names (``None``: no finished run there)."""
    path = Path(run_dir or "") / "metrics.json"
    if not run_dir or not path.is_file():
        return None
    stage = read_json(path).get("stage")
    return stage if isinstance(stage, str) else None


def ann_checkpoint(map_metrics: dict[str, Any], run_dir: str | Path) -> Checkpoint:
    """The quantized checkpoint a mapped network was converted from (the ANN and its data)."""
    src = map_metrics.get("ann_source")
    if not src or not Path(src).is_dir():
        raise RunDirError(f"{run_dir}: the quantize run this network came from ({src}) is not "
                          "available; emulate needs it for the dataset and the ANN's predictions")
    return Checkpoint.load(src)


def chip_spec(name: str) -> ChipSpec:
    """The chip the command line's ``--chip`` names."""
    if name not in CHIPS:
        raise ValueError(f"unknown chip {name!r}; choose one of {', '.join(CHIPS)}")
    return CHIPS[name]
