"""``rnn2dynapse export --nir`` and ``rnn2dynapse import``: NIR in and out of run directories.

The translation itself is :mod:`brian_models.nir_io` (semantics in ``docs/NIR.md``); this
module reads and writes run directories and, on import, ternarizes the weights under the
DYNAP-SE fan-in cap with the project's quantizer (:mod:`transfer.quantize`), reporting what
that cost on the dataset's test split.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from brian_models import nir_io
from brian_models.description import SpikingNetwork, replicate
from brian_models.network import SimulationSettings
from brian_models.simulate import simulate
from experiments.metrics import write_spiking_run
from experiments.runs import chip_spec, finished_run, git_revision, load_stage_data
from experiments.settings import ExportSettings, ImportSettings, SimulateSettings
from hardware.mapper import snap_to_chip
from transfer.chip_model import simulate_torch
from transfer.datasets import Dataset
from transfer.files import RunDirError, new_run_dir, strict, write_json
from transfer.nir_dpi import LIFToDPISettings, lif_to_dpi
from transfer.quantize import fan_in_mask, ternarize

__all__ = ["export_stage", "import_stage", "ternarize_net", "import_data", "import_reference", "simulate_import_stage",
           "DEFAULT_TIME_SCALE"]

#: How many times slower an imported network runs on DPI neurons (``simulate --time-scale``).
DEFAULT_TIME_SCALE = 10.0

#: Runs whose directory holds a ``network.json`` export reads.
NETWORK_RUNS = ("simulate", "finetune", "import")


def export_stage(settings: ExportSettings) -> dict[str, Any]:
    """Write the ``network.json`` of a simulate (or import) run as a NIR file.

    Raises
    ------
    RunDirError
        A map or emulate run (DPI neurons on the chip: NIR has no DPI node) or no run.
    NIRError
        A description NIR cannot hold (DPI or AdEx neurons, delays, spike-coded input).
    """
    run_dir = Path(settings.run_dir)
    metrics = finished_run(run_dir, NETWORK_RUNS + ("map", "calibrate", "emulate"),
                           "export needs a simulate or import run")
    if metrics["stage"] not in NETWORK_RUNS:
        raise RunDirError(f"{run_dir} holds a {metrics['stage']} run, whose network runs DPI neurons on the chip; "
                          "NIR has no DPI node (export a simulate run with --neuron lif)")
    net = SpikingNetwork.load(run_dir / "network.json")
    path = nir_io.write(net, settings.nir)
    nirnet = nir_io.read(path)
    return {"stage": "export", "nir": str(path), "layers": [l.name for l in nirnet.layers],
            "dt": nir_io.DT, "steps_per_element": nirnet.meta.get("steps_per_element"),
            "readout_steps": nirnet.meta.get("readout_steps"), "source": str(run_dir.resolve())}


def ternarize_net(net: nir_io.NIRNet, max_fan_in: int | None, delta_factor: float = 0.7) -> nir_io.NIRNet:
    """``net`` with every layer's input and recurrent weights ternary (one scale per matrix),
    at most ``max_fan_in`` non-zero inputs per neuron (input and recurrent together), by the
    project's quantizer (:func:`transfer.quantize.ternarize`, :func:`transfer.quantize.fan_in_mask`)."""
    layers = []
    for l in net.layers:
        mats = {"w_in": torch.as_tensor(np.concatenate([w for _, w, _ in l.inputs], 1), dtype=torch.float64)}
        if l.w_rec is not None:
            mats["w_rec"] = torch.as_tensor(l.w_rec, dtype=torch.float64)
        masks = fan_in_mask(mats, max_fan_in, delta_factor)
        q = {k: ternarize(w, delta_factor, masks[k])[0].numpy() for k, w in mats.items()}
        inputs, start = [], 0
        for pre, w, b in l.inputs:
            inputs.append((pre, q["w_in"][:, start:start + w.shape[1]], b))
            start += w.shape[1]
        layers.append(replace(l, inputs=tuple(inputs), w_rec=q.get("w_rec"), meta={}))
    return replace(net, layers=tuple(layers))


def _weight_error(a: nir_io.NIRNet, b: nir_io.NIRNet) -> float:
    """Relative RMS difference of all input and recurrent weights."""
    def flat(n: nir_io.NIRNet) -> np.ndarray:
        return np.concatenate([np.ravel(w) for l in n.layers for w in
                               [w for _, w, _ in l.inputs] + ([l.w_rec] if l.w_rec is not None else [])])
    x, y = flat(a), flat(b)
    return float(np.sqrt(np.mean((x - y) ** 2)) / max(np.sqrt(np.mean(x ** 2)), 1e-300))


def import_stage(settings: ImportSettings, out: str | Path) -> dict[str, Any]:
    """Read a NIR file, ternarize it under the fan-in cap, write a run with its ``network.json``.

    Both the NIR network and its ternary version run on the test split of ``dataset`` in the
    discrete-time reading (:func:`brian_models.nir_io.predict`, each element held for
    ``steps_per_element`` steps of 0.1 ms, scores summed over the last ``readout_steps``);
    ``float_accuracy``, ``accuracy`` and ``agreement_with_float`` say what ternarizing cost.
    """
    s = settings
    t0 = time.perf_counter()
    net = nir_io.read(s.nir_file)
    data = load_stage_data(s.dataset, s.seed, None, s.limit_test)
    if data.n_features != net.n_inputs:
        raise RunDirError(f"{s.nir_file} takes {net.n_inputs} inputs but {s.dataset} has {data.n_features} features")
    spe = s.steps_per_element or net.meta.get("steps_per_element") or 300
    ro = s.readout_steps or net.meta.get("readout_steps") or spe
    cap = s.max_fan_in or None
    tern = ternarize_net(net, cap, s.delta_factor)
    p_float, _ = nir_io.predict(net, data.X_test, spe, ro)
    p_tern, _ = nir_io.predict(tern, data.X_test, spe, ro)
    desc = nir_io.to_description(replace(tern, meta=dict(tern.meta, steps_per_element=spe, readout_steps=ro)),
                                 step_duration=spe * nir_io.DT)
    out = new_run_dir(out)
    desc.save(out / "network.json")
    shutil.copyfile(s.nir_file, out / "source.nir")
    fan_in = max(int(sum(np.count_nonzero(p.weights, 1) for p in desc.projections if p.post == pop.name).max())
                 for pop in desc.populations)
    metrics = strict({
        "stage": "import", "dataset": data.name, "model": "nir", "n_test": int(len(data.y_test)),
        "metric": "accuracy", "seed": s.seed, "revision": git_revision(),
        "accuracy": float(np.mean(p_tern == data.y_test)),
        "float_accuracy": float(np.mean(p_float == data.y_test)),
        "agreement_with_float": float(np.mean(p_tern == p_float)),
        "weight_relative_rms_error": _weight_error(net, tern), "fan_in_cap": cap, "max_fan_in": fan_in,
        "delta_factor": s.delta_factor, "neuron": "lif", "dt": nir_io.DT, "steps_per_element": int(spe),
        "readout_steps": int(ro), "populations": [p.name for p in desc.populations], "limit_test": s.limit_test,
        "import_seconds": time.perf_counter() - t0, "source": str(Path(s.nir_file).resolve()),
    })
    np.savez_compressed(out / "predictions.npz", ternary=p_tern, float=p_float, y=data.y_test)
    write_json(out / "metrics.json", metrics)
    return metrics


def import_data(run_dir: str | Path, limit_test: int | None = None) -> Dataset:
    """The dataset of the import run ``run_dir`` (test split limited to ``limit_test``, else as
    on import)."""
    m = finished_run(run_dir, "import", "the later stages need the import run an imported network came from")
    return load_stage_data(m["dataset"], int(m.get("seed", 0)), None, limit_test or m.get("limit_test"))


def import_reference(run_dir: str | Path, limit_test: int | None = None) -> tuple[Dataset, np.ndarray, int]:
    """What the later stages compare an imported network with, as they use a quantize run.

    Returns the dataset of the import run ``run_dir`` (test split limited to ``limit_test``,
    else as on import), the predictions of its ternary network in the discrete-time reading
    (:func:`brian_models.nir_io.predict`: the "ANN" of ``agreement_with_ann``) and the dense
    multiply-accumulates of one sequence in that reading (every weight, every 0.1 ms step).
    """
    m = finished_run(run_dir, "import", "the later stages need the import run an imported network came from")
    data = import_data(run_dir, limit_test)
    nirnet = nir_io.from_description(SpikingNetwork.load(Path(run_dir) / "network.json"))
    spe, ro = int(m["steps_per_element"]), int(m["readout_steps"])
    ann, _ = nir_io.predict(nirnet, data.X_test, spe, ro)
    per_step = sum(w.size for l in nirnet.layers for _, w, _ in l.inputs)
    per_step += sum(l.w_rec.size for l in nirnet.layers if l.w_rec is not None)
    macs = data.X_test.shape[1] * spe * per_step + ro * (nirnet.readout[0].size if nirnet.readout else 0)
    return data, ann, int(macs)


def simulate_import_stage(settings: SimulateSettings, out: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """``rnn2dynapse simulate`` of an import run: its LIF network as it is (``--neuron lif``,
    current input), or on DPI neurons (``--neuron dpi``, :func:`transfer.nir_dpi.lif_to_dpi`:
    ``time_scale`` times slower, f-I curves matched, input as spikes unless ``--input-coding
    current``), snapped to the chip's bias codes with ``--chip``.

    The "ANN" of ``agreement_with_ann`` is the imported ternary network in the discrete-time
    reading (:func:`import_reference`); ``source`` is the import run, which ``map`` and
    ``emulate`` follow for the dataset.
    """
    s = settings
    run_dir = Path(s.run_dir)
    imported = finished_run(run_dir, "import", "simulate needs a quantize or import run")
    neuron = s.neuron or ("dpi" if s.chip else "lif")
    if neuron not in ("lif", "dpi"):
        raise RunDirError(f"an imported network runs on LIF neurons (as imported) or DPI neurons, not {neuron!r}")
    if s.chip is not None and neuron != "dpi":
        raise RunDirError("--chip snaps DPI parameters: simulate the import run with --neuron dpi")
    for flag, used in (("--time-scale", s.time_scale is not None), ("--input-coding rate", s.input_coding == "rate")):
        if used and neuron == "lif":
            raise RunDirError(f"{flag} applies to an imported network on DPI neurons (--neuron dpi)")
    coding = s.input_coding or ("rate" if neuron == "dpi" else "current")
    seed = int(imported.get("seed", 0)) if s.seed is None else s.seed
    data, ann, _ = import_reference(run_dir, s.limit_test)
    t0 = time.perf_counter()
    net = SpikingNetwork.load(run_dir / "network.json")
    k = s.time_scale or DEFAULT_TIME_SCALE
    if neuron == "dpi":
        net = lif_to_dpi(net, LIFToDPISettings(time_scale=k, input_coding=coding))
    net = replicate(net, s.copies)
    snapped = None
    if s.chip is not None:
        net, snapped = snap_to_chip(net, chip_spec(s.chip))
    convert_seconds = time.perf_counter() - t0
    out = new_run_dir(out)
    sim = SimulationSettings(device=s.device, target=s.target, batch_size=s.batch_size, mismatch=s.mismatch,
                             mismatch_seed=seed, noise=s.noise, seed=seed, build_dir=str(out / "brian"))
    net.save(out / "network.json")
    if s.backend == "brian2":
        result = simulate(net, data.X_test, sim, progress)
    else:
        result = simulate_torch(net, data.X_test, sim, progress=progress)
    fields: dict[str, Any] = {
        "convert_seconds": convert_seconds, "neuron": neuron, "mismatch": s.mismatch, "mismatch_seed": seed,
        "noise": s.noise, "backend": s.backend, "device": s.device, "target": s.target,
        "transfer_function": net.metadata.get("transfer_function"), "input_coding": coding,
        "snapped_to_chip": s.chip, "copies": s.copies, "time_scale": k if neuron == "dpi" else None,
        "lif_to_dpi": net.metadata.get("lif_to_dpi"), "imported_accuracy": imported.get("accuracy"),
        "imported_float_accuracy": imported.get("float_accuracy"), "source": str(run_dir.resolve()),
    }
    if snapped is not None:
        fields["snap"] = snapped
    return write_spiking_run(out, "simulate", data, "nir", seed, result, ann, sim, fields)
