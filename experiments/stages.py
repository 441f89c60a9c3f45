"""The pipeline stages behind the command line: each reads a run directory and writes a new one.

Every stage returns the metrics it wrote to ``metrics.json``. Keys shared by all stages:
``stage``, ``dataset``, ``model``, ``n_test``, ``accuracy`` (the dataset's metric: plain or
balanced accuracy, named in ``metric``), ``seed``, ``revision``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from transfer.checkpoint import Checkpoint, RunDirError, git_revision, new_run_dir, write_json
from transfer.datasets import Dataset, load_dataset
from transfer.models import ModelConfig, build_model
from transfer.quantize import TernaryConfig, Ternarizer, bake, matrix_report
from transfer.train import TrainConfig, evaluate, fit

__all__ = ["DEFAULT_HIDDEN", "load_stage_data", "train_stage", "quantize_stage", "simulate_stage"]

#: Hidden units and epochs when ``--hidden`` / ``--epochs`` are not given.
DEFAULT_HIDDEN = {"digits": 64}
DEFAULT_EPOCHS = {"digits": 60}


def load_stage_data(dataset: str, seed: int, limit_train: int | None, limit_test: int | None) -> Dataset:
    """Load a dataset by name or path and apply the ``--limit-*`` options."""
    data = load_dataset(dataset, seed=seed)
    if limit_train or limit_test:
        data = data.subset(limit_train=limit_train, limit_test=limit_test, seed=seed)
    return data


def _common(stage: str, data: Dataset, kind: str, seed: int, accuracy: float) -> dict[str, Any]:
    return {
        "stage": stage,
        "dataset": data.name,
        "model": kind,
        "n_test": int(len(data.y_test)),
        "accuracy": float(accuracy),
        "metric": data.metric,
        "seed": int(seed),
        "revision": git_revision(),
    }


def train_stage(model: str, dataset: str, out: str | Path, *, hidden: int | None = None,
                epochs: int | None = None, seed: int = 0, limit_train: int | None = None,
                limit_test: int | None = None, lr: float = 3e-3, batch_size: int = 128,
                device: str = "auto", act_penalty: float = 1.0,
                progress: bool = True) -> dict[str, Any]:
    """Train a float model and write its checkpoint directory to ``out``."""
    data = load_stage_data(dataset, seed, limit_train, limit_test)
    n_hidden = hidden or DEFAULT_HIDDEN.get(data.name, 128)
    config = ModelConfig(kind=model, n_inputs=data.n_features, n_hidden=n_hidden,
                         n_classes=data.n_classes)
    net = build_model(config, seed=seed)
    tcfg = TrainConfig(epochs=DEFAULT_EPOCHS.get(data.name, 30) if epochs is None else epochs,
                       lr=lr, batch_size=batch_size, seed=seed, device=device, patience=10,
                       act_penalty=act_penalty if model == "rnn" and config.act_max is None else 0.0)
    result = fit(net, data, tcfg, progress=progress, desc=f"train {model}/{data.name}")
    net.cpu()
    acc = evaluate(net, data.X_test, data.y_test, data.metric)
    metrics = _common("train", data, model, seed, acc)
    metrics.update({
        "val_accuracy": result.best_val,
        "epochs_run": result.epochs_run,
        "train_seconds": result.train_seconds,
        "seconds_per_epoch": result.seconds_per_epoch,
        "n_hidden": n_hidden,
        "n_parameters": int(sum(p.numel() for p in net.parameters())),
    })
    settings = {"dataset": dataset, "seed": seed, "limit_train": limit_train,
                "limit_test": limit_test, "train": tcfg.to_dict(), "history": result.history,
                "revision": metrics["revision"]}
    Checkpoint(net, config, settings, metrics).save(out)
    return metrics


def quantize_stage(run_dir: str | Path, out: str | Path, *, max_fan_in: int | None = 64,
                   epochs: int | None = None, lr: float | None = None,
                   measure_cap_cost: bool = False, progress: bool = True) -> dict[str, Any]:
    """Ternarize a float checkpoint with quantization-aware fine-tuning; write a new checkpoint."""
    ckpt = Checkpoint.load(run_dir)
    if ckpt.metrics.get("stage") != "train":
        raise RunDirError(f"{run_dir} holds a {ckpt.metrics.get('stage')!r} run; quantize needs a train run")
    s = ckpt.settings
    seed = int(s.get("seed", 0))
    data = load_stage_data(s["dataset"], seed, s.get("limit_train"), s.get("limit_test"))
    t0 = time.perf_counter()
    tern = Ternarizer(TernaryConfig(max_fan_in=max_fan_in))
    uncapped = Ternarizer(TernaryConfig(max_fan_in=None))
    base = TrainConfig(**s["train"])
    qcfg = replace(base, epochs=15 if epochs is None else epochs, lr=lr or base.lr, patience=6)

    def finetune(ternarizer: Ternarizer):
        model = copy.deepcopy(ckpt.model)
        fit(model, data, qcfg, weights_fn=ternarizer, progress=progress,
            desc=f"QAT {ckpt.config.kind} fan-in {ternarizer.config.max_fan_in}")
        model.cpu()
        return model, evaluate(model, data.X_test, data.y_test, data.metric, ternarizer)

    metrics_extra: dict[str, Any] = {
        "float_accuracy": evaluate(ckpt.model, data.X_test, data.y_test, data.metric),
        "ptq_accuracy": evaluate(ckpt.model, data.X_test, data.y_test, data.metric, tern),
        "ptq_uncapped_accuracy": evaluate(ckpt.model, data.X_test, data.y_test, data.metric, uncapped),
    }
    model, acc = finetune(tern)
    if measure_cap_cost:
        metrics_extra["qat_uncapped_accuracy"] = finetune(uncapped)[1]
    scales = bake(model, tern)
    baked_acc = evaluate(model, data.X_test, data.y_test, data.metric)
    report = matrix_report(model)
    metrics = _common("quantize", data, ckpt.config.kind, seed, baked_acc)
    metrics.update(metrics_extra)
    metrics.update({
        "qat_accuracy": acc,
        "max_fan_in": report["fan_in"]["max"],
        "fan_in_cap": max_fan_in,
        "scales": scales,
        "zero_fraction": {k: v["zero_fraction"] for k, v in report.items() if "zero_fraction" in v},
        "quantize_seconds": time.perf_counter() - t0,
        "source": str(run_dir),
    })
    settings = dict(s, quantize={"max_fan_in": max_fan_in, "train": qcfg.to_dict(),
                                 "source": str(run_dir)})
    out = new_run_dir(out)
    write_json(out / "quantization.json", report)
    Checkpoint(model, ckpt.config, settings, metrics).save(out)
    return metrics


def simulate_stage(run_dir: str | Path, out: str | Path, *, neuron: str = "lif", mismatch: float = 0.0,
                   noise: float = 0.0, device: str = "runtime", target: str = "numpy",
                   batch_size: int = 128, max_rate: float = 400.0, seed: int | None = None,
                   limit_test: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Convert a quantized checkpoint into a spiking network and simulate the test split in Brian2."""
    from brian_models.network import SimulationSettings  # noqa: PLC0415 (Brian2 on demand)
    from brian_models.simulate import simulate  # noqa: PLC0415
    from transfer.convert import ConversionSettings, convert  # noqa: PLC0415
    from transfer.datasets import score  # noqa: PLC0415
    from transfer.train import predict  # noqa: PLC0415

    ckpt = Checkpoint.load(run_dir)
    if ckpt.metrics.get("stage") != "quantize":
        raise RunDirError(f"{run_dir} holds a {ckpt.metrics.get('stage')!r} run; simulate needs a quantize run")
    s = ckpt.settings
    seed = int(s.get("seed", 0)) if seed is None else seed
    data = load_stage_data(s["dataset"], int(s.get("seed", 0)), s.get("limit_train"),
                           limit_test or s.get("limit_test"))
    out = new_run_dir(out)
    t0 = time.perf_counter()
    net = convert(ckpt.model, data.X_train[:1000], ConversionSettings(neuron=neuron, max_rate=max_rate))
    convert_seconds = time.perf_counter() - t0
    net.save(out / "network.json")
    sim = SimulationSettings(device=device, target=target, batch_size=batch_size, mismatch=mismatch,
                             mismatch_seed=seed, noise=noise, seed=seed,
                             build_dir=str(out / "brian"))
    result = simulate(net, data.X_test, sim, progress=progress)
    ann = predict(ckpt.model, data.X_test)
    acc = score(data.y_test, result.predictions, data.metric)
    metrics = _common("simulate", data, ckpt.config.kind, seed, acc)
    metrics.update({
        "ann_accuracy": score(data.y_test, ann, data.metric),
        "agreement_with_ann": float(np.mean(ann == result.predictions)),
        "spikes_per_inference": result.spikes_per_inference,
        "latency_ms": float(np.mean(result.latency_steps) * net.step_duration * 1e3),
        "wall_seconds": result.wall_seconds,
        "compile_seconds": result.compile_seconds,
        "convert_seconds": convert_seconds,
        "samples_per_second": result.samples_per_second,
        "bio_seconds_per_sample": result.bio_seconds_per_sample,
        "neuron": neuron,
        "mismatch": mismatch,
        "noise": noise,
        "device": device,
        "transfer_function": net.metadata["transfer_function"],
        "source": str(run_dir),
    })
    np.savez_compressed(out / "predictions.npz", spiking=result.predictions, ann=ann, y=data.y_test,
                        scores=result.scores)
    write_json(out / "simulation.json", sim.to_dict())
    write_json(out / "metrics.json", metrics)
    return metrics
