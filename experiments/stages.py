"""The pipeline stages: each reads a run directory and writes a new one with a ``metrics.json``.

Every stage takes its settings object (:mod:`experiments.settings`, the one declaration of
its options) and the output directory, and returns the metrics it wrote
(:func:`experiments.metrics.stage_metrics`). The Python API (:mod:`experiments.api`) and the
command line (:mod:`experiments.cli`) both call these functions.
"""

from __future__ import annotations

import copy
import functools
import time
import zipfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from brian_models.description import SpikingNetwork, replicate
from brian_models.network import SimulationSettings
from brian_models.simulate import simulate
from experiments.defaults import (DEFAULT_LR, DELTA_FACTOR, KEEP_LAST, LSNN_EXTRA, LSNN_LR, LSNN_READOUT,
                                  LSNN_SUBSTEPS, CHIP_MAX_RATE, MAX_RATE, MEMORY_TASKS, QAT_LR, QAT_MAX_LR, RNN_CLIP_PERCENTILE, TRAIN_LR, hidden_units, qat_epochs,
                                  train_epochs)
from experiments.metrics import stage_metrics, write_spiking_run
from experiments.nir_stages import import_data, import_reference, simulate_import_stage
from experiments.runs import (ann_checkpoint, chip_spec, finished_run, git_revision, load_stage_data,
                              run_data, split_seed, stage_of)
from experiments.settings import (BaselineSettings, CalibrateSettings, EmulateSettings, FinetuneSettings, MapSettings,
                                  QuantizeSettings, SimulateSettings, TrainSettings, UploadSettings)
from hardware.baseline import input_only_accuracy
from hardware.calibrate import EmulatedBoard, Fleet, Plays, Recorder, calibrate_readout
from hardware.config import HardwareConfig
from hardware.emulate import chip_energy_per_inference, input_spike_times, network_from_config
from hardware.energy import cpu_energy, mcu_energy, rnn_macs
from hardware.mapper import map_network, snap_to_chip
from hardware.rules import check_config, load_config
from transfer.checkpoint import Checkpoint
from transfer.chip_model import simulate_torch
from transfer.chip_training import ChipTrainingSettings, train_on_chip
from transfer.convert import activation_scale, refit_readout
from transfer.datasets import Dataset, score
from transfer.describe import DescribeSettings, default_input_coding, describe
from transfer.files import RunDirError, new_run_dir, strict, write_json
from transfer.mismatch_aware import MismatchAware
from transfer.models import ModelConfig, build_model
from transfer.processes import map_in_processes
from transfer.quantize import FanInPruning, TernaryConfig, Ternarizer, bake, matrix_report
from transfer.spiking_lstm import lstm_macs
from transfer.train import TrainConfig, evaluate, fit, predict

__all__ = ["train_stage", "quantize_stage", "simulate_stage", "finetune_stage", "map_stage", "emulate_stage",
           "calibrate_stage", "baseline_stage", "upload_stage", "backend_simulator"]

#: Stages whose run directory holds a ``hardware.json`` a chip can run.
CONFIG_STAGES = ("map", "calibrate")
#: Stages whose run directory holds a spiking network (``network.json``) the mapper takes.
NETWORK_STAGES = ("simulate", "finetune")


@dataclass(frozen=True)
class _Reference:
    """What a mapped network is compared with: the dataset, the ANN's test predictions (for an
    imported network: its ternary network in the discrete-time reading), the model kind and the
    dense MACs of one sequence on a CPU."""

    data: Dataset
    ann: np.ndarray
    kind: str
    macs: int


def _run_dataset(source: dict[str, Any], run_dir: str | Path, limit_test: int | None) -> Dataset:
    """The dataset of a map or calibrate run (its quantize run's, or its import run's), without
    the reference predictions of :func:`_reference`."""
    src = source.get("ann_source")
    if stage_of(src) == "import":
        return import_data(src, limit_test)
    return run_data(ann_checkpoint(source, run_dir), limit_test)


def _reference(source: dict[str, Any], run_dir: str | Path, limit_test: int | None) -> _Reference:
    """The :class:`_Reference` of a map or calibrate run: its quantize run, or its import run."""
    src = source.get("ann_source")
    if stage_of(src) == "import":
        data, ann, macs = import_reference(src, limit_test)
        return _Reference(data, ann, "nir", macs)
    ckpt = ann_checkpoint(source, run_dir)
    data = run_data(ckpt, limit_test)
    mc = ckpt.config
    macs = rnn_macs(mc.n_inputs, mc.n_hidden, mc.n_classes, data.X_test.shape[1], gates=4 if mc.kind == "lstm" else 1)
    return _Reference(data, predict(ckpt.model, data.X_test, lengths=data.len_test), mc.kind, macs)


def backend_simulator(backend: str, jobs: int = 1) -> Any:
    """``simulate(net, X, settings, progress, lengths)`` of a backend: Brian2 or the torch chip
    model in ``jobs`` processes (``lengths``: each sample's own end, or ``None``)."""
    if backend == "brian2":
        return simulate
    fast = backend == "torch-fast"
    return functools.partial(_torch_backend, compiled=fast, dtype=torch.float32 if fast else torch.float64, jobs=jobs)


def _torch_backend(net: SpikingNetwork, X: np.ndarray, sim: SimulationSettings, progress: bool = False,
                   lengths: np.ndarray | None = None, *, compiled: bool, dtype: torch.dtype, jobs: int) -> Any:
    """The torch chip model as a backend (a module-level function: boards holding it can be
    sent to worker processes)."""
    return simulate_torch(net, X, sim, progress=progress, lengths=lengths, compiled=compiled, dtype=dtype, jobs=jobs)


def _no_state() -> None:
    return None


def _play_share(_: None, item: tuple[Any, np.ndarray]) -> dict[str, np.ndarray]:
    board, X = item
    return board.play(X)


def boards_side_by_side(jobs: int) -> Any:
    """A :attr:`hardware.calibrate.Fleet.play_shares` that plays the boards in ``jobs`` worker
    processes, one core each (:func:`transfer.processes.map_in_processes`)."""
    def play(boards: list[Any], shares: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        played: list[Any] = [None] * len(boards)
        for i, counts in map_in_processes(_no_state, (), _play_share, list(zip(boards, shares)), jobs):
            played[i] = counts
        return played
    return play


def resume_options(settings: Any, *ignore: str) -> dict[str, Any]:
    """The stage options a resume file must have been written with (all but ``ignore``)."""
    return {k: v for k, v in asdict(settings).items() if k not in ignore}


def train_stage(settings: TrainSettings, out: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Train a float model and write its checkpoint directory to ``out``.

    ``max_fan_in`` trains the float model under the DYNAP-SE fan-in cap: gradual magnitude
    pruning (:class:`transfer.quantize.FanInPruning`) from the sixth of the epochs to two
    thirds of them, then the rest at the cap; every epoch runs (no early stop, the best
    validation epoch is kept) and the pruned weights are zero in the checkpoint.
    """
    s = settings
    split = split_seed({"seed": s.seed, "split_seed": s.split_seed})
    data = load_stage_data(s.dataset, split, s.limit_train, s.limit_test)
    options = s.model_options()
    if s.model == "lsnn":  # 5 LSNN steps of 4 ms per 20 ms element unless told otherwise
        extra = {**LSNN_EXTRA, "readout": LSNN_READOUT.get(data.name, LSNN_EXTRA["readout"])}
        if s.adaptive_fraction is not None:
            extra["adaptive_fraction"] = s.adaptive_fraction
        options.update(substeps=options["substeps"] or LSNN_SUBSTEPS, extra=extra)
    else:
        options.update(substeps=options["substeps"] or 1)
    n_hidden = hidden_units(data.name, s.hidden)
    config = ModelConfig(kind=s.model, n_inputs=data.n_features, n_hidden=n_hidden,
                         n_classes=data.n_classes, **options)
    net = build_model(config, seed=s.seed)
    out = new_run_dir(out)
    tcfg = TrainConfig(epochs=train_epochs(data.name, s.epochs),
                       lr=s.lr or (LSNN_LR if s.model == "lsnn" else DEFAULT_LR.get(data.name, TRAIN_LR)),
                       batch_size=s.batch_size, seed=s.seed, device=s.device, patience=10,
                       act_penalty=s.act_penalty if s.model == "rnn" and config.act_max is None else 0.0,
                       keep_last=data.name in KEEP_LAST)
    prune = None
    if s.max_fan_in is not None:
        prune = FanInPruning(s.max_fan_in, data.n_features + n_hidden, tcfg.epochs // 6,
                             max(tcfg.epochs // 6 + 1, 2 * tcfg.epochs // 3),
                             DELTA_FACTOR.get(s.model, TernaryConfig.delta_factor))
        tcfg = replace(tcfg, patience=tcfg.epochs)
    resume = out / "resume.pt"
    result = fit(net, data, tcfg, weights_fn=prune, progress=progress, desc=f"train {s.model}/{data.name}",
                 resume=resume, options=resume_options(s, "limit_test"))
    net.cpu()
    if prune is not None:
        prune.bake(net)
    metrics = stage_metrics(
        "train", data, s.model, s.seed, evaluate(net, data.X_test, data.y_test, data.metric, lengths=data.len_test),
        predictions=predict(net, data.X_test, lengths=data.len_test),
        val_accuracy=result.best_val, epochs_run=result.epochs_run, train_seconds=result.train_seconds,
        seconds_per_epoch=result.seconds_per_epoch, n_hidden=n_hidden,
        n_parameters=int(sum(p.numel() for p in net.parameters())), fan_in_cap=s.max_fan_in,
        max_fan_in=matrix_report(net)["fan_in"]["max"], chip=s.chip)
    saved = {"dataset": s.dataset, "seed": s.seed, "split_seed": split, "limit_train": s.limit_train,
             "limit_test": s.limit_test, "train": tcfg.to_dict(), "history": result.history,
             "max_fan_in": s.max_fan_in, "chip": s.chip, "revision": metrics["revision"]}
    Checkpoint(net, config, strict(saved), metrics).save(out)
    resume.unlink(missing_ok=True)
    return metrics


def quantize_stage(settings: QuantizeSettings, out: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Ternarize a float checkpoint with quantization-aware fine-tuning; write a new checkpoint.

    ``distill > 0`` adds knowledge distillation from the float model to the fine-tuning loss
    with that weight (:class:`transfer.train.TrainConfig`). ``clip_percentile`` (RNN only;
    default :data:`experiments.defaults.RNN_CLIP_PERCENTILE`, 0 for none) clips the hidden
    activations during fine-tuning at that percentile of the float model's activations on
    training data (``ModelConfig.act_max``), the value that conversion maps to the top firing
    rate, so the ANN learns the saturation the spiking network has. ``mismatch_aware > 0``
    fine-tunes under fresh device-mismatch draws of that CV
    (:class:`transfer.mismatch_aware.MismatchAware`).
    """
    q = settings
    run_dir = q.run_dir
    ckpt = Checkpoint.load(run_dir)
    if ckpt.metrics.get("stage") != "train":
        raise RunDirError(f"{run_dir} holds a {ckpt.metrics.get('stage')!r} run; quantize needs a train run")
    s = ckpt.settings
    seed = int(s.get("seed", 0))
    kind = ckpt.config.kind
    data = run_data(ckpt)
    t0 = time.perf_counter()
    delta = q.delta_factor or DELTA_FACTOR.get(kind, TernaryConfig.delta_factor)
    tern = Ternarizer(TernaryConfig(max_fan_in=q.fan_in_cap, delta_factor=delta))
    uncapped = Ternarizer(TernaryConfig(max_fan_in=None, delta_factor=delta))
    try:
        base = TrainConfig(**s["train"])
    except (KeyError, TypeError, ValueError) as err:
        raise RunDirError(f"{run_dir}/train.json holds no training settings rnn2dynapse train wrote ({err})") from None
    epochs = qat_epochs(data.name, q.epochs)
    lr = q.lr or min(base.lr, QAT_LR.get(data.name, QAT_MAX_LR))
    # The cosine schedule runs to its end (no early stop); the best validation epoch is kept.
    qcfg = replace(base, epochs=epochs, lr=lr, patience=max(1, epochs), distill=q.distill)

    clip = q.clip_percentile
    if clip is None and kind == "rnn" and ckpt.config.act_max is None:
        clip = RNN_CLIP_PERCENTILE
    if clip and kind != "rnn":
        raise RunDirError(f"--clip-percentile applies to an RNN, not a {kind}")
    out = new_run_dir(out)
    start = ckpt.model
    if clip:
        lam = activation_scale(ckpt.model, data.X_train[:1000], clip)
        start = build_model(replace(ckpt.config, act_max=lam))
        start.load_state_dict(ckpt.model.state_dict())

    def finetune(ternarizer: Ternarizer) -> tuple[Any, float, Any]:
        model = copy.deepcopy(start)
        weights_fn = MismatchAware(ternarizer, q.mismatch_aware, seed) if q.mismatch_aware > 0 else ternarizer
        cap = ternarizer.config.max_fan_in
        result = fit(model, data, qcfg, weights_fn=weights_fn, progress=progress,
                     desc=f"QAT {kind} fan-in {cap}", resume=out / f"resume_cap{cap}.pt", teacher=ckpt.model,
                     source=str(Path(run_dir).resolve()), options=resume_options(q, "run_dir", "measure_cap_cost"))
        model.cpu()
        return model, evaluate(model, data.X_test, data.y_test, data.metric, ternarizer, L), result.history

    L = data.len_test
    extra: dict[str, Any] = {
        "float_accuracy": evaluate(ckpt.model, data.X_test, data.y_test, data.metric, lengths=L),
        "ptq_accuracy": evaluate(ckpt.model, data.X_test, data.y_test, data.metric, tern, L),
        "ptq_uncapped_accuracy": evaluate(ckpt.model, data.X_test, data.y_test, data.metric, uncapped, L),
    }
    model, acc, history = finetune(tern)
    if q.measure_cap_cost:
        extra["qat_uncapped_accuracy"] = finetune(uncapped)[1]
    scales = bake(model, tern)
    report = matrix_report(model)
    metrics = stage_metrics(
        "quantize", data, kind, seed, evaluate(model, data.X_test, data.y_test, data.metric, lengths=L), **extra,
        predictions=predict(model, data.X_test, lengths=L),
        qat_accuracy=acc, max_fan_in=report["fan_in"]["max"], fan_in_cap=q.fan_in_cap, delta_factor=delta,
        act_max=start.config.act_max, clip_percentile=clip, mismatch_aware_cv=q.mismatch_aware,
        distill=q.distill, scales=scales,
        zero_fraction={k: v["zero_fraction"] for k, v in report.items() if "zero_fraction" in v},
        quantize_seconds=time.perf_counter() - t0, source=str(run_dir))
    saved = dict(s, quantize={"max_fan_in": q.fan_in_cap, "delta_factor": delta, "clip_percentile": clip,
                              "train": qcfg.to_dict(), "mismatch_aware": q.mismatch_aware,
                              "history": history, "source": str(run_dir)})
    write_json(out / "quantization.json", strict(report))
    Checkpoint(model, model.config, strict(saved), metrics).save(out)
    for f in out.glob("resume_cap*.pt"):
        f.unlink()
    return metrics


def simulate_stage(settings: SimulateSettings, out: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Describe a quantized checkpoint as a spiking network and simulate the test split in Brian2.

    One path for every model (:func:`transfer.describe.describe`): an RNN or ESN converts into
    a :class:`~brian_models.description.SpikingNetwork`, an LSTM into a spiking LSTM with
    ``gating`` ``"exact"`` (a clocked multiply-and-hold cell, the reference) or
    ``"shunting"`` (divisive GABA_A gating), an LSNN runs as itself (``--neuron lif``: its
    own adaptive LIF; ``dpi``: DPI neurons with AHP adaptation). ``input_coding="rate"`` feeds
    the input as spikes, which the DYNAP-SE mapper requires. An echo-state network's readout
    is refitted on the spiking reservoir's counts for up to ``readout_samples`` training
    sequences (:func:`transfer.convert.refit_readout`). ``chip`` (``"dynapse1"``) snaps the
    converted network's parameters to the values the chip's bias codes decode to
    (:func:`hardware.mapper.snap_to_chip`). ``copies > 1`` runs that many copies of
    the network on their own neurons, averaged by the readout
    (:func:`brian_models.description.replicate`).
    """
    s = settings
    if stage_of(s.run_dir) == "import":
        return simulate_import_stage(s, out, progress=progress)
    if s.time_scale is not None:
        raise RunDirError("--time-scale applies to an import run (rnn2dynapse import) on DPI neurons")
    ckpt = Checkpoint.load(s.run_dir)
    if ckpt.metrics.get("stage") != "quantize":
        raise RunDirError(f"{s.run_dir} holds a {ckpt.metrics.get('stage')!r} run; simulate needs a quantize "
                         "or import run")
    kind = ckpt.config.kind
    seed = int(ckpt.settings.get("seed", 0)) if s.seed is None else s.seed
    trained_for = ckpt.settings.get("chip")
    neuron = s.neuron or ("dpi" if trained_for else "lif")
    chip = s.chip or (trained_for if neuron == "dpi" else None)
    s = replace(s, neuron=neuron, chip=chip,
                max_rate=s.max_rate or (CHIP_MAX_RATE if trained_for else MAX_RATE))
    data = run_data(ckpt, s.limit_test)
    coding = s.input_coding or ("rate" if trained_for else
                                (default_input_coding(ckpt.model) if kind in ("rnn", "esn") else None))
    t0 = time.perf_counter()
    net = describe(ckpt.model, data.X_train[:1000],
                   DescribeSettings(neuron=s.neuron, max_rate=s.max_rate, input_coding=coding, gating=s.gating))
    if not isinstance(net, SpikingNetwork):
        for flag, used in (("--copies", s.copies > 1), ("--chip", s.chip is not None),
                           ("--backend torch", s.backend != "brian2")):
            if used:
                raise RunDirError(f"{flag} needs a spiking network of neuron populations; a {kind} simulated "
                                  f"with --neuron {s.neuron} is not one (an LSNN is: --neuron dpi --input-coding rate)")
    run = backend_simulator(s.backend, s.jobs)
    out = new_run_dir(out)
    snapped = None
    if isinstance(net, SpikingNetwork):
        net = replicate(net, s.copies)
        if s.chip is not None:
            net, snapped = snap_to_chip(net, chip_spec(s.chip))
    convert_seconds = time.perf_counter() - t0
    sim = SimulationSettings(device=s.device, target=s.target, batch_size=s.batch_size, mismatch=s.mismatch,
                             mismatch_seed=seed, noise=s.noise, seed=seed, build_dir=str(out / "brian"))
    train_len = None if data.len_train is None else data.len_train[:s.readout_samples]
    if kind == "esn":
        n = min(s.readout_samples, len(data.y_train))
        train_run = run(net, data.X_train[:n], sim, progress, train_len)
        net = refit_readout(net, train_run.counts, data.y_train[:n], ckpt.config.ridge, train_len)
    if isinstance(net, SpikingNetwork):
        net.save(out / "network.json")
    result = run(net, data.X_test, sim, progress, data.len_test)
    ann = predict(ckpt.model, data.X_test, lengths=data.len_test)
    mc = ckpt.config
    fields: dict[str, Any] = {
        "convert_seconds": convert_seconds, "neuron": s.neuron, "mismatch": s.mismatch,
        "mismatch_seed": seed, "noise": s.noise, "backend": s.backend, "device": s.device, "target": s.target,
        "transfer_function": net.metadata.get("transfer_function") if isinstance(net, SpikingNetwork) else None,
        "input_coding": coding, "gating": s.gating if kind == "lstm" else None, "snapped_to_chip": s.chip,
        "copies": s.copies, "max_rate": s.max_rate, "source": str(s.run_dir),
    }
    if kind == "lstm":
        fields["macs_per_inference"] = lstm_macs(mc.n_inputs, mc.n_hidden, mc.n_classes, data.X_test.shape[1])
    if snapped is not None:
        fields["snap"] = snapped
    return write_spiking_run(out, "simulate", data, kind, seed, result, ann, sim, fields)


def finetune_stage(settings: FinetuneSettings, out: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Train a simulate run's spiking network through the chip model (:mod:`transfer.chip_training`).

    Every batch runs on a fresh random chip (``mismatch``); the best epoch on the validation
    split (on a validation chip) is written back, snapped to the bias codes again when the
    network was snapped, simulated on the test samples of the simulate run without mismatch
    and saved as ``network.json``, which ``map`` takes like a simulate run's.
    """
    f = settings
    run_dir = Path(f.run_dir)
    source = finished_run(run_dir, "simulate", "finetune needs a simulate run (rnn2dynapse simulate)")
    net = SpikingNetwork.load(run_dir / "network.json")
    ckpt = Checkpoint.load(source["source"])
    data = run_data(ckpt, source.get("n_test"))
    out = new_run_dir(out)
    chip_settings = ChipTrainingSettings(epochs=f.epochs, lr=f.lr, batch_size=f.batch_size, mismatch=f.mismatch,
                                         spike_penalty=f.spike_penalty, dt=f.dt, train_samples=f.train_samples,
                                         seed=f.seed, precision=f.precision)
    trained = train_on_chip(net, data, chip_settings, progress=progress)
    net = trained.net
    snapped = None
    if source.get("snapped_to_chip"):
        net, snapped = snap_to_chip(net, chip_spec(source["snapped_to_chip"]))
    net.save(out / "network.json")
    seed = int(source.get("seed", 0))
    sim = SimulationSettings(batch_size=128, seed=seed, mismatch_seed=seed, build_dir=str(out / "brian"))
    result = backend_simulator(f.backend)(net, data.X_test, sim, progress, data.len_test)
    ann = predict(ckpt.model, data.X_test, lengths=data.len_test)
    metrics = stage_metrics(
        "finetune", data, ckpt.config.kind, seed, score(data.y_test, result.predictions, data.metric),
        result=result, ann=ann, neuron="dpi", mismatch=0.0, backend=f.backend,
        simulated_accuracy=source.get("accuracy"), simulated_spikes_per_inference=source.get("spikes_per_inference"),
        chip_training=chip_settings.to_dict(), history=trained.history, best_epoch=trained.best_epoch,
        train_seconds=trained.train_seconds, snapped_to_chip=source.get("snapped_to_chip"),
        **({"snap": snapped} if snapped is not None else {}),
        input_coding=source.get("input_coding"), source=source["source"], simulate_source=str(run_dir.resolve()))
    np.savez_compressed(out / "predictions.npz", spiking=result.predictions, ann=ann, y=data.y_test,
                        scores=result.scores)
    write_json(out / "metrics.json", metrics)
    return metrics


def map_stage(settings: MapSettings, out: str | Path) -> dict[str, Any]:
    """Map a simulate run's DPI ``network.json`` onto the chip; write ``hardware.json``.

    Raises
    ------
    HardwareConstraintError
        If the network does not fit the chip (the CLI exits with code 2 naming the rule).
    """
    run_dir = Path(settings.run_dir)
    spec = chip_spec(settings.chip)
    source = finished_run(run_dir, NETWORK_STAGES,
                          "map needs a simulate or finetune run (rnn2dynapse simulate --neuron dpi --input-coding rate)")
    net = SpikingNetwork.load(run_dir / "network.json")
    t0 = time.perf_counter()
    config = map_network(net, spec)
    check_config(config, spec)
    map_seconds = time.perf_counter() - t0
    out = new_run_dir(out)
    config.save(out / "hardware.json")
    report = config.mapping_report
    ann_source = source.get("source")
    metrics = {key: source.get(key) for key in ("dataset", "model", "n_test", "accuracy", "metric", "seed")}
    metrics.update({
        "stage": "map", "revision": git_revision(), "chip": spec.name,
        **{k: report[k] for k in ("chips_used", "cores_used", "neurons_used", "input_channels_used",
                                  "max_fan_in", "max_fan_out", "cam_entries", "max_bias_relative_error",
                                  "bias_quantisation", "efficacies", "dc", "warnings")},
        "map_seconds": map_seconds,
        "simulated_accuracy": source.get("accuracy"),
        "source": str(run_dir.resolve()),
        "ann_source": str(Path(ann_source).resolve()) if ann_source else None,
    })
    metrics = strict(metrics)
    write_json(out / "metrics.json", metrics)
    return metrics


def _simulated_predictions(source: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """The labels and spiking predictions of the simulate run a map run came from, if it
    still exists (read before emulating: a damaged file fails fast, naming it)."""
    path = Path(source.get("source") or "") / "predictions.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return f["y"], f["spiking"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise RunDirError(f"{path} is not the predictions file simulate wrote ({err})") from None


def emulate_stage(settings: EmulateSettings, out: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Simulate the test split on the board that a map run's ``hardware.json`` configures.

    The network is rebuilt from the hardware configuration alone
    (:func:`hardware.emulate.network_from_config`); the dataset and the ANN (for
    ``agreement_with_ann``) come from the quantize run the mapped network was converted from.
    By default the test samples are those of the simulate run (its ``n_test``). Every network,
    a reservoir (ESN) included, is read by the configuration's readout: the mapped one (a
    reservoir's was refitted on the simulated network's spikes by ``simulate``), a fleet's, or
    one calibrated to a chip. Nothing is refitted here: a readout fitted on the emulated chip's
    own responses is a calibration, which ``calibrate`` makes and reports.
    """
    e = settings
    run_dir = Path(e.run_dir)
    source = finished_run(run_dir, CONFIG_STAGES, "emulate needs a map or calibrate run (rnn2dynapse map)")
    config: HardwareConfig = load_config(run_dir / "hardware.json")
    target = source.get("calibrated_for") or {}
    if e.mismatch > 0 and e.seed in target.get("seeds", ()):
        raise ValueError(f"chip {e.seed} is one of the fleet {run_dir} fitted its readout on: emulate a chip "
                         f"outside seeds {target['seeds'][0]}-{target['seeds'][-1]}")
    ref = _reference(source, run_dir, e.limit_test or source.get("n_test"))
    data = ref.data
    simulated = _simulated_predictions(source)
    out = new_run_dir(out)
    net = network_from_config(config)
    sim = SimulationSettings(device=e.device, target=e.target, batch_size=e.batch_size, mismatch=e.mismatch,
                             mismatch_seed=e.seed, noise=e.noise, seed=e.seed, build_dir=str(out / "brian"))
    run = backend_simulator(e.backend, e.jobs)
    net.save(out / "network.json")  # what was emulated, for inspection
    result = run(net, data.X_test, sim, progress, data.len_test)
    ann = ref.ann
    chip = chip_energy_per_inference(config, result.counts, data.X_test)
    macs = ref.macs
    cpu = cpu_energy(macs)
    fields: dict[str, Any] = {
        "neuron": "dpi", "mismatch": e.mismatch, "mismatch_seed": e.seed, "noise": e.noise, "backend": e.backend,
        "device": e.device, "jobs": e.jobs,
        # calibrated to this chip; a fleet readout (fitted on other chips) is not
        "calibrated": source["stage"] == "calibrate" and not target.get("fleet"),
        "calibrated_for": source.get("calibrated_for"), "fleet": target.get("fleet", 0),
        "chip": config.chip, **{k: source.get(k) for k in ("chips_used", "cores_used", "max_fan_in", "max_fan_out")},
        "readout_slices": config.readout.slices, "readout_transform": config.readout.transform,
        "readout_window_steps": config.readout.window_steps(config.step_duration),
        "energy_joules_per_inference": chip.total, "energy": chip.to_dict(),
        "cpu_energy_joules_per_inference": cpu.total, "cpu_macs_per_inference": macs, "cpu_energy": cpu.to_dict(),
        "mcu_energy_joules_per_inference": mcu_energy(macs),
        "source": str(run_dir.resolve()),
    }
    if simulated is not None and simulated[0].shape == data.y_test.shape and np.array_equal(simulated[0], data.y_test):
        fields["agreement_with_simulation"] = float(np.mean(simulated[1] == result.predictions))
    return write_spiking_run(out, "emulate", data, ref.kind, e.seed, result, ann, sim, fields)


def _played_rows(samples: int, n_train: int, fleet: bool) -> np.ndarray:
    """The training sequences a calibration plays, in order: the first ``samples`` (a fleet
    repeats the training split beyond its end)."""
    return np.arange(samples if fleet else min(samples, n_train)) % n_train


def _prior_plays(prior: str | None, map_dir: Path, n_train: int) -> tuple[Plays | None, int | None]:
    """The plays of the fleet run ``prior``, which must have calibrated ``map_dir``'s network, and
    the readout steps its cross-validation chose (None without a prior). Plays saved without
    their sequences get them from the rule the fleet played by (:func:`_played_rows`)."""
    if prior is None:
        return None, None
    m = finished_run(Path(prior), "calibrate", "--prior needs a fleet run (calibrate --fleet)")
    if not (m.get("calibrated_for") or {}).get("fleet") or not (Path(prior) / "plays.npz").is_file():
        raise RunDirError(f"{prior} is not a fleet run (calibrate --fleet): it holds no plays of other chips")
    if m.get("map_source") != str(map_dir.resolve()):
        raise RunDirError(f"{prior} calibrated {m.get('map_source')}, not {map_dir.resolve()}")
    plays = Plays.load(Path(prior) / "plays.npz")
    if plays.sequences is None:
        plays = replace(plays, sequences=_played_rows(len(plays.y), n_train, fleet=True))
    return plays, int(m["calibration"]["readout_steps"])


def calibrate_stage(settings: CalibrateSettings, out: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Calibrate a mapped network to one chip (:func:`hardware.calibrate.calibrate_readout`).

    The chip is the board emulated at ``mismatch``/``seed`` (with samna and a board, the board);
    it is measured only by playing ``samples`` training sequences and counting its output
    spikes. With ``fleet=K`` the readout is fitted on K emulated chips (seeds ``seed`` to
    ``seed+K-1``, :class:`hardware.calibrate.Fleet`) instead: a readout for any chip, which
    ``emulate`` refuses to evaluate on a chip of that fleet; its plays are kept
    (``plays.npz``), and ``prior`` (such a run) pools them into a calibration to one chip. Writes the adapted
    ``hardware.json``, which ``emulate`` and ``upload`` take like a map run's.
    """
    c = settings
    run_dir = Path(c.run_dir)
    source = finished_run(run_dir, "map", "calibrate needs a map run (rnn2dynapse map)")
    config: HardwareConfig = load_config(run_dir / "hardware.json")
    data = _run_dataset(source, run_dir, None)
    n_train = len(data.y_train)
    rows = _played_rows(c.samples, n_train, bool(c.fleet))
    steps = c.readout_steps
    if source.get("dataset") in MEMORY_TASKS:
        if steps:
            raise ValueError(f"{source['dataset']} measures memory: a readout of every step reads the cue "
                             f"while it is shown; calibrate it with --readout-steps 0")
        steps = 0
    prior, prior_steps = _prior_plays(c.prior, run_dir, n_train)
    if steps is None:  # with a prior, the readout the fleet's plays chose (they outnumber the chip's own)
        steps = prior_steps
    out = new_run_dir(out)
    seeds = list(range(c.seed, c.seed + max(c.fleet, 1)))
    side_by_side = c.fleet > 1 and c.jobs > 1  # a fleet's boards in processes, else the batches of one board
    boards = [EmulatedBoard(config, c.mismatch, s, {"device": c.device, "batch_size": c.batch_size,
                                                    "noise": c.noise, "build_dir": str(out / "brian" / str(s))},
                            simulator=None if c.backend == "brian2" else
                            backend_simulator(c.backend, 1 if side_by_side else c.jobs),
                            progress=progress and not c.fleet) for s in seeds]
    lengths = None if data.len_train is None else data.len_train[rows]
    fleet = Fleet(boards, c.seed, boards_side_by_side(c.jobs) if side_by_side else None) if c.fleet else None
    board = Recorder(fleet or boards[0])
    t0 = time.perf_counter()
    calibrated, report = calibrate_readout(config, board, data.X_train[rows], data.y_train[rows],
                                           regularisation=c.regularisation, steps=steps,
                                           balanced=data.metric == "balanced_accuracy", lengths=lengths,
                                           groups=rows if fleet else None,
                                           chips=fleet.assignment(len(rows)) if fleet else None,
                                           prior=prior, sequences=rows,
                                           transform=None if c.readout_transform == "cv" else c.readout_transform)
    calibrated.save(out / "hardware.json")
    if c.fleet:  # the fleet's plays, the prior of later calibrations to one chip
        Plays(config.readout.gather(board.counts), data.y_train[rows], lengths, rows).save(out / "plays.npz")
    metrics = {key: source.get(key) for key in ("dataset", "model", "n_test", "metric", "seed", "chip",
                                                "chips_used", "cores_used", "max_fan_in", "max_fan_out",
                                                "source", "ann_source")}
    target = {"fleet": c.fleet, "seeds": seeds} if c.fleet else {"seed": c.seed}
    if c.prior:
        target["prior"] = str(Path(c.prior).resolve())
    metrics.update({
        "stage": "calibrate", "revision": git_revision(), "accuracy": None,
        "calibrated_for": {"mismatch": c.mismatch, **target, "noise": c.noise},
        "readout_transform_option": c.readout_transform,  # as asked ("cv" included); calibration: the one chosen
        "samples_option": c.samples,  # as asked; calibration: the plays made (one chip: at most the training split)
        "method": "fleet readout" if c.fleet else "readout", "backend": c.backend,
        "calibration": report.to_dict(), "calibrate_seconds": time.perf_counter() - t0,
        "map_source": str(run_dir.resolve()),
    })
    metrics = strict(metrics)
    write_json(out / "metrics.json", metrics)
    return metrics


def baseline_stage(settings: BaselineSettings, out: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """What the host reads without the chip (:func:`hardware.baseline.input_only_accuracy`).

    The readout of a map or calibrate run's ``hardware.json`` (its filter and transform) is
    fitted on the input spikes of the first ``samples`` training sequences, reading its own
    window or every step one by one, the better by cross-validation, with the L2 strength, as a
    calibration chooses them (a memory task: the window only, as a calibration reads it), and
    scored on the test sequences the run's chips are scored on. Nothing is simulated: a chip
    network computes something only where its chips beat this figure.
    """
    run_dir = Path(settings.run_dir)
    source = finished_run(run_dir, CONFIG_STAGES, "baseline needs a map or calibrate run (rnn2dynapse map)")
    config: HardwareConfig = load_config(run_dir / "hardware.json")
    data = _run_dataset(source, run_dir, source.get("n_test"))
    rows = np.arange(min(settings.samples, len(data.y_train)))
    if progress:
        print(f"fitting the readout on the input spikes of {len(rows)} training sequences", flush=True)
    t0 = time.perf_counter()
    # the window or every step, as a calibration chooses (a memory task's readout reads the window)
    steps = 0 if source.get("dataset") in MEMORY_TASKS else None
    accuracy, report = input_only_accuracy(
        config, data.X_train[rows], data.y_train[rows], data.X_test, data.y_test, steps=steps,
        balanced=data.metric == "balanced_accuracy",
        lengths_train=None if data.len_train is None else data.len_train[rows], lengths_test=data.len_test)
    out = new_run_dir(out)
    metrics = {key: source.get(key) for key in ("dataset", "model", "metric", "seed")}
    metrics.update({
        "stage": "baseline", "revision": git_revision(), "n_test": len(data.y_test), "accuracy": accuracy,
        "reads": "the input spikes alone",
        # the form cross-validation chose: the run's readout window, or every step one by one
        "readout_slices": report.readout_steps or config.readout.slices,
        "readout_window_steps": report.readout_steps or config.readout.window_steps(config.step_duration),
        "readout_transform": config.readout.transform, "samples_option": settings.samples, "fit": report.to_dict(),
        "baseline_seconds": time.perf_counter() - t0, "source": str(run_dir.resolve()),
    })
    metrics = strict(metrics)
    write_json(out / "metrics.json", metrics)
    return metrics


def upload_stage(settings: UploadSettings, out: str | Path | None = None) -> dict[str, Any]:
    """Configure a real DYNAP-SE1 board with a map run's ``hardware.json`` through samna.

    With ``samples > 0`` the first test samples are then played through the FPGA spike
    generator and the board's spikes are counted. Nothing here is simulated.

    Raises
    ------
    hardware.samna_adapter.UploadUnavailable
        samna is not installed or no board is attached: nothing was uploaded.
    """
    from hardware.samna_adapter import DEFAULT_ISI_BASE, spikes_by_population, upload  # noqa: PLC0415 (samna)

    u = settings
    run_dir = Path(u.run_dir)
    source = finished_run(run_dir, CONFIG_STAGES, "upload needs a map or calibrate run (rnn2dynapse map)")
    config: HardwareConfig = load_config(run_dir / "hardware.json")
    isi = u.isi_base or DEFAULT_ISI_BASE
    out = new_run_dir(out) if out is not None else None
    t0 = time.perf_counter()
    upload(config, isi_base=isi)  # raises UploadUnavailable before touching anything
    spikes_per_sample = []
    if u.samples > 0:
        data = _run_dataset(source, run_dir, u.samples)
        duration = data.X_test.shape[1] * config.step_duration
        for x in data.X_test:
            board = upload(config, input_spike_times(config.encoder, x, config.step_duration),
                           isi_base=isi, duration=duration + config.step_duration)
            spikes_per_sample.append(sum(len(v) for v in spikes_by_population(board, config).values()))
    metrics = {key: source.get(key) for key in ("dataset", "model", "metric", "seed")}
    metrics.update({
        "stage": "upload", "revision": git_revision(), "uploaded": True, "n_test": len(spikes_per_sample),
        "accuracy": None,  # board spike timestamps are not aligned to the stimulus here
        "board_spikes_per_inference": float(np.mean(spikes_per_sample)) if spikes_per_sample else None,
        "chips_used": source.get("chips_used"), "cores_used": source.get("cores_used"), "isi_base": isi,
        "upload_seconds": time.perf_counter() - t0, "source": str(run_dir.resolve()),
    })
    metrics = strict(metrics)
    if out is not None:
        write_json(out / "metrics.json", metrics)
    return metrics
