"""The one metrics builder of every stage: the keys all stages share, the keys every spiking
stage adds, and the stage's own fields, as strict JSON (no NaN or infinity); and the one
writer of a simulate run's result files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from brian_models.simulate import SimulationResult
from experiments.runs import git_revision
from transfer.datasets import Dataset, score, second_scores
from transfer.files import strict, write_json

__all__ = ["stage_metrics", "write_spiking_run"]


def stage_metrics(stage: str, data: Dataset, model: str, seed: int, accuracy: float, *,
                  result: SimulationResult | None = None, ann: np.ndarray | None = None,
                  predictions: np.ndarray | None = None, **fields: Any) -> dict[str, Any]:
    """The ``metrics.json`` of a stage.

    Keys of every stage: ``stage``, ``dataset``, ``model``, ``n_test``, ``accuracy`` (the
    dataset's metric, named in ``metric``), ``seed``, ``revision``. With a simulation
    ``result`` and the ANN's predictions ``ann``: ``ann_accuracy``, ``agreement_with_ann``,
    ``spikes_per_inference``, ``latency_ms``, ``wall_seconds``, ``compile_seconds``,
    ``samples_per_second``, ``bio_seconds_per_sample``. The dataset's second scores
    (:func:`transfer.datasets.second_scores`) of the ``predictions`` (default: the result's).
    ``variable_length: true`` when the data has sequences of their own lengths. Then ``fields``.
    """
    out: dict[str, Any] = {
        "stage": stage,
        "dataset": data.name,
        "model": model,
        "n_test": int(len(data.y_test)),
        "accuracy": float(accuracy),
        "metric": data.metric,
        "seed": int(seed),
        "revision": git_revision(),
    }
    if result is not None:
        if ann is None:
            raise ValueError("spiking metrics need the ANN's predictions")
        out.update({
            "ann_accuracy": score(data.y_test, ann, data.metric),
            "agreement_with_ann": float(np.mean(ann == result.predictions)),
            "spikes_per_inference": result.spikes_per_inference,
            "latency_ms": result.latency_ms,
            "wall_seconds": result.wall_seconds,
            "compile_seconds": result.compile_seconds,
            "samples_per_second": result.samples_per_second,
            "bio_seconds_per_sample": result.bio_seconds_per_sample,
        })
    if data.variable_length:
        out["variable_length"] = True
    preds = result.predictions if predictions is None and result is not None else predictions
    if preds is not None:
        out.update(second_scores(data, preds))
    out.update(fields)
    return strict(out)


#: What a spiking stage calls its predictions in ``predictions.npz`` and the file of its settings.
_SPIKING_FILES = {"simulate": ("spiking", "simulation.json"), "emulate": ("emulated", "emulation.json")}


def write_spiking_run(out: Path, stage: str, data: Dataset, model: str, seed: int, result: SimulationResult,
                      ann: np.ndarray, settings: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """Write a simulate or emulate run's ``predictions.npz``, its settings
    (``settings.to_dict()``: ``simulation.json``, ``emulation.json``) and, last,
    ``metrics.json``; return the metrics."""
    key, settings_file = _SPIKING_FILES[stage]
    metrics = stage_metrics(stage, data, model, seed, score(data.y_test, result.predictions, data.metric),
                            result=result, ann=ann, **fields)
    np.savez_compressed(out / "predictions.npz", **{key: result.predictions}, ann=ann, y=data.y_test,
                        scores=result.scores)
    write_json(out / settings_file, settings.to_dict())
    write_json(out / "metrics.json", metrics)
    return metrics
