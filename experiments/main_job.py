"""The main job (``make run`` / ``rnn2dynapse run``): the whole chain on one dataset.

Runs each stage into a sub-directory of ``out`` (``rnn/train``, ``rnn/quantize``, ...,
``esn_hw/map``, ``esn_hw/emulate``), then prints one table of what was measured and writes
``summary.json``. A stage whose directory already holds a finished run is reused, so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import numpy as np
from typing import Any, Callable

from experiments.settings import (BaselineSettings, CalibrateSettings, EmulateSettings, FinetuneSettings, MapSettings,
                                  QuantizeSettings, RunSettings, SimulateSettings, TrainSettings)
from transfer.files import read_json, write_json

__all__ = ["BACKEND_PREFIX", "FLEET_JOBS_HELP", "calibration_asked", "fleet_of", "run_chain", "run_legs", "run_main", "run_on_chip", "run_stage", "format_table"]


def run_stage(out: Path, name: str, fn: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """Run ``fn`` into ``out/name`` unless that directory already holds a finished run."""
    path = out / name
    if (path / "metrics.json").exists():
        print(f"[{out.name}/{name}] reusing finished run in {path}")
        return read_json(path / "metrics.json")
    print(f"[{out.name}/{name}] running ...", flush=True)
    t0 = time.perf_counter()
    metrics = fn(path)
    print(f"[{out.name}/{name}] done in {time.perf_counter() - t0:.1f} s", flush=True)
    return metrics


#: Prefix of the chip runs of each simulator (Brian2's carry none).
BACKEND_PREFIX = {"brian2": "", "torch": "torch_", "torch-fast": "torchfast_"}


def run_on_chip(out: Path, cv: float, chip: int, *, noise: float = 0.0, calibrate_samples: int = 1000,
                limit_test: int | None = None, device: str = "runtime", target: str = "numpy",
                backend: str = "brian2", readout: str = "map", calibrate: bool = True, jobs: int = 1,
                readout_transform: str = "linear", name_budget: bool = False,
                progress: bool = True) -> dict[str, dict[str, Any]]:
    """Emulate the map run ``out/map`` on one chip (mismatch ``cv``, seed ``chip``, membrane
    noise ``noise``, simulator ``backend`` in ``jobs`` processes), calibrate the readout to that
    chip and emulate again (unless ``calibrate`` is false); the calibrated readout applies
    ``readout_transform`` to its rates (``calibrate --readout-transform``).

    ``readout="fleet"`` emulates the chip uncalibrated with the fleet readout of ``out/fleet``
    (:func:`run_fleet`) instead of the mapped one, and calibrates with the fleet's plays as a
    prior (``calibrate --prior``). The runs go to ``out/emulate_cv<cv>_chip<chip>``,
    ``out/calibrate_...`` and ``out/emulate_..._calibrated``, each name prefixed ``fleet_``
    with a fleet and ``torch_`` or ``torchfast_`` on the torch backends; ``name_budget`` appends
    ``_n<calibrate_samples>`` to the calibration's two runs, so calibrations of several budgets sit
    side by side. Finished runs are reused, but only when they ran with the same noise and backend
    (else a ``ValueError`` names the directory). Returns their metrics by name.
    """
    from .stages import calibrate_stage, emulate_stage  # noqa: PLC0415 (Brian2 on demand)

    tag = ("fleet_" if readout == "fleet" else "") + BACKEND_PREFIX[backend] + f"{{}}_cv{cv:g}_chip{chip}"
    prior = str(out / "fleet") if readout == "fleet" else None
    budget = f"_n{calibrate_samples}" if name_budget else ""
    cal = tag.format("calibrate") + budget
    stages: dict[str, Callable[[Path], dict[str, Any]]] = {
        tag.format("emulate"): lambda p: emulate_stage(EmulateSettings(
            str(out / readout), mismatch=cv, seed=chip, noise=noise, device=device, target=target,
            limit_test=limit_test, backend=backend, jobs=jobs), p, progress=progress),
        cal: lambda p: calibrate_stage(CalibrateSettings(
            str(out / "map"), mismatch=cv, seed=chip, samples=calibrate_samples, noise=noise, device=device,
            backend=backend, prior=prior, jobs=jobs, readout_transform=readout_transform), p, progress=progress),
        tag.format("emulate") + "_calibrated" + budget: lambda p: emulate_stage(EmulateSettings(
            str(out / cal), mismatch=cv, seed=chip, noise=noise, device=device, target=target,
            limit_test=limit_test, backend=backend, jobs=jobs), p, progress=progress),
    }
    results: dict[str, dict[str, Any]] = {}
    for name, run in list(stages.items())[:None if calibrate else 1]:
        results[name] = _ran_as_asked(out / name, run_stage(out, name, run), noise, backend)
    if cal in results:
        _calibrated_as_asked(out / cal, results[cal], calibrate_samples, readout_transform, prior)
    return results


def fleet_of(run: Path) -> tuple[dict[str, Any] | None, str]:
    """The metrics of the chip path run ``run``'s fleet readout (``None`` without one) and the
    readout transform it was asked for (``"linear"`` without one): what later calibrations of
    its chips apply by default."""
    path = Path(run) / "fleet" / "metrics.json"
    if not path.exists():
        return None, "linear"
    m = read_json(path)
    return m, calibration_asked(m)[1]


def calibration_asked(m: dict[str, Any]) -> tuple[int, str]:
    """The plays and the readout transform a calibrate run's metrics ``m`` say it was asked for
    (runs written before these were recorded: the plays made, and rates read as they are)."""
    return m.get("samples_option", m["calibration"]["samples"]), m.get("readout_transform_option", "linear")


def _calibrated_as_asked(path: Path, m: dict[str, Any], samples: int, readout_transform: str,
                         prior: str | None) -> None:
    """A ``ValueError`` naming the (maybe reused) calibration run in ``path`` when it was asked
    for another number of plays or another readout transform, or pooled a fleet's
    plays where none was asked (or the other way round)."""
    played, asked = calibration_asked(m)
    pooled = bool((m.get("calibrated_for") or {}).get("prior"))
    if (played, asked, pooled) != (samples, readout_transform, bool(prior)):
        raise ValueError(f"{path} calibrated with {played} plays (readout transform {asked}, "
                         f"{'with' if pooled else 'without'} a fleet prior), not {samples} ({readout_transform}, "
                         f"{'with' if prior else 'without'}): move it away")


def _ran_as_asked(path: Path, m: dict[str, Any], noise: float, backend: str) -> dict[str, Any]:
    """``m``, the metrics of the (maybe reused) run in ``path``; a ``ValueError`` names it when it
    ran with other membrane noise or on another backend."""
    ran_with = m.get("noise", (m.get("calibrated_for") or {}).get("noise")) or 0.0
    if ran_with != noise:
        raise ValueError(f"{path} ran with membrane noise {ran_with:g} A, not {noise:g} A: "
                         f"move it away or choose another run directory")
    if m.get("backend", "brian2") != backend:
        raise ValueError(f"{path} ran on backend {m.get('backend', 'brian2')}, not {backend}: "
                         f"move it away or choose another run directory")
    return m


#: The first mismatch seed of the fleet a fleet readout is fitted on (the chips it is evaluated
#: on, seeds 0, 1, 2..., lie outside it).
FLEET_SEED = 1000
#: Help of ``--fleet-jobs`` (``chip_path``, ``seed_screen``).
FLEET_JOBS_HELP = "fleet boards played side by side, each in a process of its own (one core each)"


def run_fleet(out: Path, cv: float, fleet: int, samples: int, *, noise: float = 0.0, device: str = "runtime",
              target: str = "numpy", backend: str = "torch-fast", readout_transform: str = "linear",
              jobs: int = 1, progress: bool = True) -> dict[str, dict[str, Any]]:
    """Fit a readout for any chip on ``fleet`` simulated chips (mismatch ``cv``, seeds from
    :data:`FLEET_SEED`, ``samples`` plays of the training sequences, simulator ``backend``, the
    boards played ``jobs`` at once, ``calibrate --readout-transform readout_transform``) into
    ``out/fleet``, and emulate it without mismatch in Brian2 (``out/fleet_emulate``)."""
    from .stages import calibrate_stage, emulate_stage  # noqa: PLC0415 (Brian2 on demand)

    m = _ran_as_asked(out / "fleet", run_stage(out, "fleet", lambda p: calibrate_stage(CalibrateSettings(
        str(out / "map"), mismatch=cv, seed=FLEET_SEED, fleet=fleet, samples=samples, noise=noise, device=device,
        backend=backend, readout_transform=readout_transform, jobs=jobs), p, progress=progress)), noise, backend)
    ran = m["calibrated_for"]
    played, asked = calibration_asked(m)
    if (ran.get("fleet"), ran.get("mismatch"), played, asked) != (fleet, cv, samples, readout_transform):
        raise ValueError(f"{out / 'fleet'} fitted its readout on {ran.get('fleet')} chips at CV {ran.get('mismatch')} "
                         f"with {played} plays (readout transform {asked}), not {fleet} at "
                         f"CV {cv:g} with {samples} ({readout_transform}): "
                         f"move it away")
    results = {"fleet": m}
    results["fleet_emulate"] = run_stage(out, "fleet_emulate", lambda p: emulate_stage(
        EmulateSettings(str(out / "fleet"), device=device, target=target), p, progress=progress))
    return results


def run_baseline(out: Path, readout_of: str, samples: int, *, progress: bool = True) -> dict[str, Any]:
    """The readout of ``out/readout_of`` (``map`` or ``fleet``) fitted on the input spikes of
    ``samples`` training sequences into ``out/baseline`` (:func:`experiments.stages.baseline_stage`):
    what the host reads without the chip."""
    from .stages import baseline_stage  # noqa: PLC0415 (Brian2 on demand)

    source = str((out / readout_of).resolve())
    m = run_stage(out, "baseline", lambda p: baseline_stage(BaselineSettings(source, samples=samples), p,
                                                            progress=progress))
    if (m.get("source"), m.get("samples_option")) != (source, samples):
        raise ValueError(f"{out / 'baseline'} fitted the readout of {m.get('source')} on {m.get('samples_option')} "
                         f"sequences, not of {source} on {samples}: move it away")
    return m


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain-text table with one row per dict."""
    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    body = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line, sep] + ["  ".join(v.ljust(w) for v, w in zip(b, widths)) for b in body])


def run_chain(dataset: str, out: Path, *, model: str = "rnn", hidden: int | None = None,
              epochs: int | None = None, seed: int = 0, limit_train: int | None = None,
              limit_test: int | None = None, neurons: tuple[str, ...] = ("lif", "dpi"),
              simulate_limit_test: int | None = None, measure_cap_cost: bool = False,
              hardware: bool = False, model_options: dict[str, Any] | None = None,
              device: str = "runtime", target: str = "numpy", gatings: tuple[str, ...] = ("exact",),
              train_fan_in: int | None = None, chip_seeds: tuple[int, ...] = (), chip_cv: float = 0.2,
              chip_noise: float = 0.0, calibrate_samples: int = 1000, quantize_options: dict[str, Any] | None = None,
              finetune_options: dict[str, Any] | None = None, simulate_options: dict[str, Any] | None = None,
              fleet: int = 0, fleet_samples: int | None = None, fleet_backend: str = "torch-fast", fleet_jobs: int = 1,
              readout_transform: str = "linear", calibrate: bool = True, progress: bool = True) -> dict[str, Any]:
    """Train, quantize and simulate (one run per neuron model) one model on ``dataset``.

    An LSTM simulates once per gating of its spiking cell (``gatings``): the stage of
    ``"exact"`` is ``simulate_<neuron>``, of another gating ``simulate_<neuron>_<gating>``.

    ``device="cpp_standalone"`` compiles each simulation once (Brian2 standalone); ``target``
    is the code generation target of the runtime device (``"cython"`` compiles once per code).
    ``simulate_limit_test`` simulates only the first N test samples (the float and ternary
    figures always use the whole test split). ``hardware=True`` simulates with DPI neurons
    and spike input (``simulate_hw``), maps that network onto DYNAP-SE and emulates the
    configuration; ``simulate_options`` are further :class:`SimulateSettings` fields of that
    simulation (``copies``, ``max_rate``...). ``train_fan_in`` trains the float model under that fan-in cap
    (``train --max-fan-in``); ``model_options`` are further :class:`TrainSettings` fields
    (``shared_bias``, ``syn_leak``, ``chip``...), ``quantize_options`` further
    :class:`QuantizeSettings` fields (``mismatch_aware``, ``epochs``...). With ``hardware`` and
    ``finetune_options`` (:class:`FinetuneSettings` fields) the simulated network is trained
    through the chip model (``finetune``) before it is mapped. With ``hardware`` and ``chip_seeds``, the mapped
    network is also emulated on each of those chips at mismatch ``chip_cv`` (membrane noise
    ``chip_noise`` A), calibrated to each
    (``calibrate_samples`` training sequences) and emulated again; ``summary["chip_runs"]``
    lists those emulations. ``fleet=K`` fits the uncalibrated chips' readout on K other
    simulated chips first (:func:`run_fleet`, ``fleet_samples`` plays, default four per
    calibration sequence, on ``fleet_backend``, ``fleet_jobs`` boards at once). The fleet's and
    the calibrations' readouts apply ``readout_transform`` to their rates (``calibrate
    --readout-transform``). Returns ``{"stages": {name: metrics}, "rows": table rows, ...}``.
    """
    from .stages import emulate_stage, finetune_stage, map_stage, quantize_stage, simulate_stage, train_stage

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    train = TrainSettings(model=model, dataset=dataset, hidden=hidden, epochs=epochs, seed=seed,
                          limit_train=limit_train, limit_test=limit_test, max_fan_in=train_fan_in,
                          **(model_options or {}))
    results["train"] = run_stage(out, "train", lambda p: train_stage(train, p, progress=progress))
    results["quantize"] = run_stage(out, "quantize", lambda p: quantize_stage(
        QuantizeSettings(str(out / "train"), measure_cap_cost=measure_cap_cost, **(quantize_options or {})), p,
        progress=progress))
    sims = [(n, g, f"simulate_{n}" + ("" if g == "exact" else f"_{g}"))
            for n in neurons for g in (gatings if model == "lstm" else ("exact",))]
    quantized = str(out / "quantize")
    for neuron, gating, key in sims:
        results[key] = run_stage(out, key, lambda p, n=neuron, g=gating: simulate_stage(
            SimulateSettings(quantized, neuron=n, gating=g, limit_test=simulate_limit_test, device=device,
                             target=target), p, progress=progress))
    if hardware:
        results["simulate_hw"] = run_stage(out, "simulate_hw", lambda p: simulate_stage(
            SimulateSettings(quantized, neuron="dpi", input_coding="rate", limit_test=simulate_limit_test,
                             device=device, target=target, chip="dynapse1", **(simulate_options or {})), p,
            progress=progress))
        network = "simulate_hw"
        if finetune_options is not None:
            results["finetune"] = run_stage(out, "finetune", lambda p: finetune_stage(
                FinetuneSettings(str(out / "simulate_hw"), **finetune_options), p, progress=progress))
            network = "finetune"
        results["map"] = run_stage(out, "map", lambda p: map_stage(MapSettings(str(out / network)), p))
        results["emulate"] = run_stage(out, "emulate", lambda p: emulate_stage(
            EmulateSettings(str(out / "map"), device=device, target=target), p, progress=progress))
        if fleet:
            results.update(run_fleet(out, chip_cv, fleet, fleet_samples or 4 * calibrate_samples, noise=chip_noise,
                                     device=device, target=target, backend=fleet_backend, jobs=fleet_jobs,
                                     readout_transform=readout_transform, progress=progress))
        for chip in chip_seeds:
            results.update(run_on_chip(out, chip_cv, chip, noise=chip_noise, calibrate_samples=calibrate_samples,
                                       device=device, target=target, readout="fleet" if fleet else "map",
                                       calibrate=calibrate, readout_transform=readout_transform,
                                       progress=progress))
        results["baseline"] = run_baseline(out, "fleet" if fleet else "map",
                                           (fleet_samples or 4 * calibrate_samples) if fleet else calibrate_samples,
                                           progress=progress)

    name = model.upper()
    rows = [
        {"model": name, "stage": "float (torch)", "accuracy": results["train"]["accuracy"],
         "wall_s": results["train"].get("train_seconds")},
        {"model": name, "stage": "ternary, post-training", "accuracy": results["quantize"]["ptq_accuracy"]},
        {"model": name, "stage": "ternary + QAT (fan-in<=64)", "accuracy": results["quantize"]["accuracy"],
         "wall_s": results["quantize"].get("quantize_seconds")},
    ]
    labels = {key: f"spiking {n.upper()}" + ("" if g == "exact" else f" {g}") + " (Brian2)"
              for n, g, key in sims}
    labels.update({"simulate_hw": "spiking DPI, spike input", "finetune": "trained on random chips (torch)",
                   "emulate": "DYNAP-SE emulated", "fleet_emulate": "DYNAP-SE emulated, fleet readout"})
    for key, label in labels.items():
        if key in results:
            m = results[key]
            rows.append({"model": name, "stage": label, "accuracy": m["accuracy"],
                         "agreement": m["agreement_with_ann"], "spikes": m["spikes_per_inference"],
                         "latency_ms": m["latency_ms"], "energy_uJ": 1e6 * m["energy_joules_per_inference"]
                         if "energy_joules_per_inference" in m else None,
                         "wall_s": m["wall_seconds"]})
    chip_runs = [{k: m.get(k) for k in CHIP_RUN_KEYS} for key, m in results.items()
                 if key.startswith(("emulate_cv", "fleet_emulate_cv"))]
    for calibrated in (False, True):
        runs = [r for r in chip_runs if r["calibrated"] is calibrated]
        if runs:
            acc = np.array([r["accuracy"] for r in runs])
            label = (f"chip CV {chip_cv:g}, {len(runs)} chips"
                     + (", calibrated" if calibrated else ", fleet readout" if fleet else ""))
            rows.append({"model": name, "stage": label, "accuracy": float(acc.mean()),
                         "spread": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                         "spikes": float(np.mean([r["spikes_per_inference"] for r in runs])),
                         "energy_uJ": 1e6 * float(np.mean([r["energy_joules_per_inference"] for r in runs]))})
    if "baseline" in results:  # what the chip's readout reads without the chip
        rows.append({"model": name, "stage": "input spikes alone, same readout (no chip)",
                     "accuracy": results["baseline"]["accuracy"], "wall_s": results["baseline"]["baseline_seconds"]})
    summary = {"dataset": results["train"]["dataset"], "model": model, "seed": seed,
               "metric": results["train"]["metric"], "n_test": results["train"]["n_test"],
               "stages": results, "rows": rows, "chip_runs": chip_runs, "wall_seconds": time.perf_counter() - t0}
    write_json(out / "summary.json", summary)
    return summary


TABLE_COLUMNS = ["model", "stage", "accuracy", "spread", "agreement", "spikes", "latency_ms", "energy_uJ",
                 "wall_s"]
#: What ``summary.json`` keeps of every emulation on a chip with mismatch.
CHIP_RUN_KEYS = ("readout_slices", "readout_transform", "fleet", "calibrated_for", "stage", "dataset", "model", "mismatch", "mismatch_seed", "noise", "calibrated", "accuracy",
                 "spikes_per_inference", "energy_joules_per_inference")


#: The chips (mismatch seeds) and the mismatch the main job emulates the chip-ready RNN on.
MAIN_CHIPS = (0, 1, 2)
MAIN_CV = 0.2
#: Membrane noise (A) of the main job's chips (the level of the mismatch sweeps in RESULTS).
MAIN_NOISE = 1e-11
#: The memory leg: the LSNN on ``recall`` (answer 400-440 ms back), trained for the chip.
#: Read at its last element, its validation accuracy reached 100 % at epoch 6 (seed 0); 10
#: training and 5 QAT epochs, 300 test and 300 calibration sequences keep ``make run`` near
#: five minutes on 2 cores (measured, seed 0: 15 + 15 epochs took 320 s in all, ternary 99.3 %,
#: DPI 84.7 %, calibrated chips 63.7 %; 10 + 5 took 282 s, ternary 92.0 %, DPI 54.0 %,
#: calibrated chips 65.0 %).
MEMORY_DATASET, MEMORY_EPOCHS, MEMORY_QAT_EPOCHS, MEMORY_TEST, MEMORY_CALIBRATE = "recall", 10, 5, 300, 300


def _worker_init(tempdir: str) -> None:
    """Set up a leg's process: Ctrl-C is the parent's to handle (it stops the workers; SIGTERM then
    exits through Python, which releases what the process registered, e.g. tqdm's semaphore), the
    parent's scratch directory, and one thread for torch and BLAS (the legs share the cores)."""
    import tempfile  # noqa: PLC0415
    import torch  # noqa: PLC0415
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stopped)
    tempfile.tempdir = tempdir
    torch.set_num_threads(1)
    threadpool_limits(1)


#: Exit status of a leg's process stopped by the main job.
EXIT_STOPPED = 143


def _stopped(*_: Any) -> None:
    """A leg's process stopped by the main job: quietly (Brian2 would note the objects the
    interrupted stage leaves behind), through Python's own exit."""
    from experiments.interrupts import quiet_brian  # noqa: PLC0415

    quiet_brian()
    sys.exit(EXIT_STOPPED)


def _leg(conn: Any, tempdir: str, kwargs: dict[str, Any]) -> None:
    """A leg's process: run :func:`run_chain` and send back ``("ok", summary)`` or
    ``("error", exception)``."""
    from experiments.interrupts import redelivered_interrupts  # noqa: PLC0415

    _worker_init(tempdir)
    try:
        with redelivered_interrupts(signal.SIGTERM, SystemExit):  # a stop a finaliser swallowed comes again
            summary = run_chain(**kwargs)
        conn.send(("ok", summary))
    except Exception as exc:  # noqa: BLE001 (handed to the parent, which raises it)
        try:
            conn.send(("error", exc))
        except Exception:  # noqa: BLE001 (an exception that does not pickle)
            conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))


def run_legs(chains: dict[str, dict[str, Any]], jobs: int, *, progress: bool = True) -> dict[str, dict[str, Any]]:
    """Run :func:`run_chain` once per entry of ``chains`` (its keyword arguments), ``jobs`` at
    once in processes of their own (the longest, the chip legs, first; progress bars only with
    ``jobs=1``, where they run one after another in this process). Returns the summaries by name,
    in the order of ``chains``; the first failure (or Ctrl-C) stops the other legs' processes
    and is raised."""
    if jobs <= 1:
        return {name: run_chain(**kw, progress=progress) for name, kw in chains.items()}
    import multiprocessing  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    ctx = multiprocessing.get_context("spawn")
    waiting = sorted(chains, key=lambda name: not chains[name].get("chip_seeds"))  # the chip legs first
    running: dict[str, tuple[Any, Any]] = {}
    results: dict[str, dict[str, Any]] = {}
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                name = waiting.pop(0)
                parent, child = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_leg, args=(child, tempfile.gettempdir(),
                                                      {**chains[name], "progress": False}))
                proc.start()
                child.close()
                running[name] = (proc, parent)
            for name, (proc, conn) in list(running.items()):
                if conn.poll():
                    status, value = conn.recv()
                    proc.join()
                    del running[name]
                    if status == "error":
                        raise value
                    results[name] = value
                elif not proc.is_alive() and not conn.poll():
                    raise RuntimeError(f"the main job's {name} leg stopped with exit code {proc.exitcode}")
            time.sleep(0.2)  # polled: an interrupt that a finaliser swallowed is delivered again
    finally:
        for proc, _ in running.values():
            proc.terminate()
        for proc, _ in running.values():
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()
    return {name: results[name] for name in chains}


def run_main(settings: RunSettings, out: Path, *, progress: bool = True) -> dict[str, Any]:
    """The main job, three legs on one dataset and a memory leg:

    - a BPTT-trained ``model`` through Brian2 (LIF and DPI); its conversion relies on a
      one-step recurrent delay that DYNAP-SE does not have, so it stops at simulation;
    - an echo-state network with one shared bias through Brian2, DYNAP-SE mapping and
      emulation (He et al. 2019 ran a ternary reservoir on DYNAP-SE);
    - the BPTT RNN trained for the chip (``train --chip dynapse1``, mismatch-aware QAT at
      :data:`MAIN_CV`): mapped, its readout fitted on a fleet of ``settings.fleet`` simulated
      chips, emulated without mismatch and on chips :data:`MAIN_CHIPS` at CV :data:`MAIN_CV` with
      membrane noise :data:`MAIN_NOISE`, calibrated to each chip and emulated again;
    - the memory leg, on :data:`MEMORY_DATASET` whatever the dataset: the adaptive spiking
      network (LSNN) trained for the chip, its adaptation the DPI neurons' AHP current, through
      the same chip path (its mapped readout: with one copy a fleet readout did not help it,
      measured: chips 48.2 % against 45.9 %, calibrated 64.1 % against 65.6 %, and cost 148 s).

    The legs run ``settings.jobs`` at once, each in a process of its own (:func:`run_legs`). One
    table at the end, ``summary.json`` (with ``chip_runs``: every emulation on a chip).
    """
    out = Path(out)
    t0 = time.perf_counter()
    dataset, model, seed = settings.dataset, settings.model, settings.seed
    common = dict(hidden=settings.hidden, epochs=settings.epochs, seed=seed, limit_train=settings.limit_train,
                  limit_test=settings.limit_test)
    neurons = ("lif", "dpi") if model in ("rnn", "esn") else ()
    chip = dict(hardware=True, model_options={"chip": "dynapse1"}, chip_seeds=MAIN_CHIPS, chip_cv=MAIN_CV,
                chip_noise=MAIN_NOISE, neurons=())
    chains = {
        model: dict(dataset=dataset, out=out / model, model=model, neurons=neurons, **common),
        "esn_hw": dict(dataset=dataset, out=out / "esn_hw", model="esn", neurons=(), hardware=True,
                       model_options={"shared_bias": True}, **common),
        "rnn_chip": dict(dataset=dataset, out=out / "rnn_chip", model="rnn", quantize_options={"mismatch_aware": MAIN_CV},
                         fleet=settings.fleet, **chip, **common),
        "lsnn_memory": dict(dataset=MEMORY_DATASET, out=out / "lsnn_memory", model="lsnn", **chip, seed=seed,
                            limit_train=settings.limit_train, epochs=settings.epochs or MEMORY_EPOCHS,
                            limit_test=settings.limit_test or MEMORY_TEST, calibrate_samples=MEMORY_CALIBRATE,
                            quantize_options={"epochs": MEMORY_QAT_EPOCHS}),
    }
    legs = run_legs(chains, settings.jobs, progress=progress)
    for r in legs["lsnn_memory"]["rows"]:
        r["model"] = f"LSNN {MEMORY_DATASET}"
    rows = [r for leg in legs.values() for r in leg["rows"]]
    first = next(iter(legs.values()))
    summary = {"dataset": first["dataset"], "metric": first["metric"], "n_test": first["n_test"],
               "seed": seed, "legs": legs, "rows": rows,
               "chip_runs": [r for leg in legs.values() for r in leg["chip_runs"]],
               "wall_seconds": time.perf_counter() - t0}
    write_json(out / "summary.json", summary)
    print()
    print(f"rnn2dynapse run: {summary['dataset']}, {summary['n_test']} test samples, metric "
          f"{summary['metric']}, {summary['wall_seconds']:.0f} s in all")
    print(format_table(rows, TABLE_COLUMNS))
    print(f"\nwrote {out / 'summary.json'}")
    return summary
