"""Benchmark: Brian2 simulation speed of a 128-neuron recurrent LIF network, per device.

    python -m experiments.bench_simulation [--out results/bench_simulation] [--samples 2000]
                                           [--batch-sizes 32 64 128 256 1000] [--quick] [--no-record]

The network stands for a converted ternary RNN on Fashion-MNIST: 28 rate-coded inputs
(regular spikes, 500 Hz for a white pixel), 128 hidden LIF neurons with sparse ternary
recurrence (excitatory AMPA / inhibitory GABA_B synapses, one-step delay as in
:mod:`transfer.convert`; 8 input + 56 recurrent synapses = 64 per neuron, the CAM limit) and
a 10-class readout. Each sample is one image read row by row: 28 steps x 20 ms = 560 ms,
which is also how long the chip, running in real time, needs for it.

Measured (samples per second of simulation, compile time apart):

a. one runtime ``run()`` per sample (batch size 1): numpy target, and cython when it compiles;
b. batched runtime (numpy and cython);
c. batched ``cpp_standalone``, compiled once and re-run with ``run_args`` for each batch,
   for each ``--batch-sizes`` value.

Checks: the standalone spike counts equal the runtime ones on the same samples; the target is
batched standalone >= 50x faster than (a, numpy) and >= 20x faster than real time (10,000
sequences in < 5 minutes). Writes ``OUT/bench_simulation.json`` (figures, settings, git
revision, machine load) atomically and, unless ``--quick`` or ``--no-record``, the record
``docs/data/bench_simulation.json`` that ``make results`` reads.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from brian_models.network import BatchNetwork, SimulationSettings
from experiments.runs import git_revision
from transfer.files import write_json
from transfer.datasets import DatasetError, load_dataset
from brian_models.description import InputEncoder, Population, Projection, Readout, SpikingNetwork
from brian_models.parameters import neuron_params

__all__ = ["main", "benchmark_network", "benchmark_inputs", "time_runs", "REAL_TIME_STEP"]

#: Seconds the chip needs per sequence step (it runs in real time).
REAL_TIME_STEP = 0.02
N_IN, N_HIDDEN, N_CLASSES, N_STEPS = 28, 128, 10, 28
#: Synapses per hidden neuron: from the input and from the hidden layer (64 = CAM size).
FAN_IN_INPUT, FAN_IN_RECURRENT = 8, 56
TARGET_VS_PER_SAMPLE, TARGET_VS_REAL_TIME, TARGET_SEQUENCES, TARGET_SECONDS = 50.0, 20.0, 10_000, 300.0


def benchmark_network(seed: int = 0) -> SpikingNetwork:
    """The 128-neuron recurrent LIF network (see the module docstring), seeded."""
    rng = np.random.default_rng(seed)
    w_in = np.zeros((N_HIDDEN, N_IN), dtype=np.int64)
    w_exc = np.zeros((N_HIDDEN, N_HIDDEN), dtype=np.int64)
    w_inh = np.zeros_like(w_exc)
    for k in range(N_HIDDEN):
        w_in[k, rng.choice(N_IN, FAN_IN_INPUT, replace=False)] = 1
        pre = rng.choice(N_HIDDEN, FAN_IN_RECURRENT, replace=False)
        sign = rng.choice([-1, 1], FAN_IN_RECURRENT)  # ternary entries +-a (0: no synapse)
        w_exc[k, pre[sign > 0]] = 1
        w_inh[k, pre[sign < 0]] = 1
    hidden = Population("hidden", N_HIDDEN, neuron_params("lif", {"tau_ampa": 2e-3, "tau_gaba_b": 2e-3}),
                        bias_current=rng.uniform(100e-12, 160e-12, N_HIDDEN))
    projections = (
        Projection("input", "input", "hidden", "AMPA", w_in, 40e-12),
        Projection("rec_exc", "hidden", "hidden", "AMPA", w_exc, 30e-12, delay=REAL_TIME_STEP),
        Projection("rec_inh", "hidden", "hidden", "GABA_B", w_inh, 30e-12, delay=REAL_TIME_STEP),
    )
    readout = Readout("hidden", rng.normal(0, 1 / math.sqrt(N_HIDDEN), (N_CLASSES, N_HIDDEN)),
                      np.zeros(N_CLASSES), rate_scale=100.0, window=REAL_TIME_STEP)
    return SpikingNetwork((hidden,), projections, InputEncoder("rate", N_IN, max_rate=500.0, regular=True),
                          readout, REAL_TIME_STEP, metadata={"source": "experiments.bench_simulation"})


def benchmark_inputs(n: int) -> tuple[np.ndarray, str]:
    """``n`` test images as ``[n, 28, 28]`` rows in [0, 1] (Fashion-MNIST, else upsampled digits)."""
    try:
        data = load_dataset("fashion")
        X, source = data.X_test, "fashion-mnist test rows"
    except DatasetError:
        from scipy.ndimage import zoom  # noqa: PLC0415

        data = load_dataset("digits")
        X = np.clip(zoom(data.X_test, (1, N_STEPS / data.n_steps, N_IN / data.n_features), order=1), 0, 1)
        source = "digits test images upsampled to 28x28 (Fashion-MNIST not installed)"
    reps = math.ceil(n / len(X))
    return np.tile(np.asarray(X, dtype=float), (reps, 1, 1))[:n], source


def time_runs(net: SpikingNetwork, X: np.ndarray, settings: SimulationSettings
               ) -> tuple[float, float, np.ndarray]:
    """Simulate ``X`` in batches: (seconds without compilation, compile seconds, hidden counts).

    Runtime targets rebuild the Brian2 objects for every batch, and that time counts: it is
    what a runtime simulation costs. Standalone compiles once (``compile_seconds``).
    """
    B = settings.batch_size
    counts, seconds = [], 0.0
    with BatchNetwork(net, X.shape[1], settings) as bn:
        for start in range(0, len(X), B):
            t0 = time.perf_counter()
            counts.append(bn.run(X[start:start + B])["hidden"])
            seconds += time.perf_counter() - t0
        compile_s = bn.compile_seconds
    return seconds - compile_s, compile_s, np.concatenate(counts)


def _row(mode: str, target: str, batch: int, n: int, seconds: float, compile_s: float | None,
         note: str = "") -> dict[str, Any]:
    sps = n / seconds
    return {"mode": mode, "target": target, "batch": batch, "samples": n, "seconds": seconds,
            "samples_per_s": sps, "x_real_time": sps * N_STEPS * REAL_TIME_STEP,
            "compile_s": compile_s, "note": note}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/bench_simulation", help="output folder")
    parser.add_argument("--samples", type=int, default=2000, help="samples per standalone measurement")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128, 256, 1000],
                        help="standalone batch sizes to try")
    parser.add_argument("--runtime-batch", type=int, default=64, help="batch size of the batched runtime runs")
    parser.add_argument("--per-sample", type=int, default=3, help="samples for the one-run-per-sample figures")
    parser.add_argument("--no-cython", action="store_true", help="skip the cython target")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 128 samples, batch sizes 64, 1 per-sample run, no record")
    parser.add_argument("--no-record", action="store_true", help="do not write docs/data/bench_simulation.json")
    parser.add_argument("--keep-build", action="store_true",
                        help="keep Brian2's build folders in OUT/brian_build (a few hundred MB)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.batch_sizes, args.per_sample, args.runtime_batch = 128, [64], 1, 16
    if args.samples < 1 or args.per_sample < 1 or args.runtime_batch < 1 or min(args.batch_sizes) < 1:
        parser.error("--samples, --per-sample, --runtime-batch and --batch-sizes must be positive")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # a fresh build folder, so that compile_s is a full compile (make would reuse old objects)
    build_tmp = tempfile.TemporaryDirectory(prefix="bench_simulation_", dir=out) if not args.keep_build else None
    build_root = Path(build_tmp.name) if build_tmp else out / "brian_build"
    net = benchmark_network(args.seed)
    X, source = benchmark_inputs(max(args.samples, args.runtime_batch, args.per_sample))
    load_before = os.getloadavg()
    started = time.perf_counter()
    base = SimulationSettings(seed=args.seed, build_dir=str(build_root / "runtime"))
    targets = ["numpy"] + ([] if args.no_cython else ["cython"])
    rows: list[dict[str, Any]] = []
    notes: dict[str, str] = {}

    # (a) one run() per sample, (b) batched runtime
    runtime_counts = None
    for target in targets:
        try:
            Xb = X[:args.runtime_batch]
            if target == "cython":
                # compile first (cached on disk; Brian2's 2-D TimedArray code holds the number of
                # columns, so each batch size is its own extension): one padded batch per size
                t0 = time.perf_counter()
                for B in (1, len(Xb)):
                    time_runs(net, X[:1], replace(base, target=target, batch_size=B))
                notes["cython_warm_up_s"] = f"{time.perf_counter() - t0:.1f}"
            secs, _, _ = time_runs(net, X[:args.per_sample], replace(base, target=target, batch_size=1))
            rows.append(_row("a: run() per sample", f"runtime/{target}", 1, args.per_sample, secs, None))
            secs, _, counts = time_runs(net, Xb, replace(base, target=target, batch_size=len(Xb)))
            rows.append(_row("b: batched", f"runtime/{target}", len(Xb), len(Xb), secs, None))
            if target == "numpy":
                runtime_counts = counts
        except Exception as exc:  # noqa: BLE001 - a missing compiler must not stop the benchmark
            notes[f"{target}_unavailable"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            print(f"runtime/{target} skipped: {notes[f'{target}_unavailable']}")

    # (c) batched standalone, compiled once per batch size
    checks: dict[str, Any] = {}
    for B in args.batch_sizes:
        settings = replace(base, device="cpp_standalone", batch_size=B, build_dir=str(build_root / f"standalone_{B}"))
        n = max(args.samples, B)
        secs, compile_s, counts = time_runs(net, X[:n], settings)
        rows.append(_row("c: batched standalone", "cpp_standalone", B, n, secs, compile_s))
        if runtime_counts is not None:
            k = min(len(runtime_counts), len(counts))
            checks[f"standalone_{B}_equals_runtime_on_{k}_samples"] = bool(np.array_equal(counts[:k], runtime_counts[:k]))
        checks.setdefault("mean_rate_hz", float(counts.mean() / REAL_TIME_STEP))
        checks.setdefault("spikes_per_sample", float(counts.sum(axis=(1, 2)).mean()))

    per_sample = next((r for r in rows if r["target"] == "runtime/numpy" and r["batch"] == 1), None)
    best = max((r for r in rows if r["target"] == "cpp_standalone"), key=lambda r: r["samples_per_s"])
    for r in rows:
        r["speedup_vs_a"] = r["samples_per_s"] / per_sample["samples_per_s"] if per_sample else None
    minutes_10k = (TARGET_SEQUENCES / best["samples_per_s"] + best["compile_s"]) / 60
    target = {
        "best_standalone_batch": best["batch"],
        "best_standalone_samples_per_s": best["samples_per_s"],
        "speedup_vs_per_sample_numpy": best["speedup_vs_a"],
        "x_real_time": best["x_real_time"],
        "minutes_for_10k_sequences_incl_compile": minutes_10k,
        "met_50x_vs_per_sample": bool(best["speedup_vs_a"] and best["speedup_vs_a"] >= TARGET_VS_PER_SAMPLE),
        "met_20x_real_time": bool(best["x_real_time"] >= TARGET_VS_REAL_TIME),
        "met_10k_in_5_minutes": bool(minutes_10k * 60 < TARGET_SECONDS),
    }
    load_after = os.getloadavg()

    from experiments.main_job import format_table  # noqa: PLC0415

    columns = ["mode", "target", "batch", "samples", "seconds", "samples_per_s", "x_real_time",
               "speedup_vs_a", "compile_s"]
    print(f"Simulation speed: {N_HIDDEN} LIF, {N_IN} rate-coded inputs, {N_STEPS} x 20 ms per sample "
          f"({source}); {os.cpu_count()} cores, load average {load_before[0]:.1f} -> {load_after[0]:.1f}")
    print(format_table(rows, columns))
    print("target: " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in target.items()))
    print("checks: " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in checks.items()))

    command = "python -m experiments.bench_simulation " + " ".join(argv if argv is not None else sys.argv[1:])
    figures = {"rows": [{c: r[c] for c in columns} for r in rows], "target": target, "checks": checks,
               "notes": notes, "input": source}
    record = {
        "name": "bench_simulation",
        "command": command.strip(),
        "revision": git_revision(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "figures": figures,
        "settings": {"samples": args.samples, "batch_sizes": args.batch_sizes, "runtime_batch": args.runtime_batch,
                     "per_sample": args.per_sample, "seed": args.seed, "quick": args.quick,
                     "simulation": base.to_dict(), "network": {"n_in": N_IN, "n_hidden": N_HIDDEN,
                     "n_classes": N_CLASSES, "n_steps": N_STEPS, "step_seconds": REAL_TIME_STEP,
                     "fan_in": FAN_IN_INPUT + FAN_IN_RECURRENT, "input_max_rate_hz": 500.0}},
        "machine": {"cpu_count": os.cpu_count(), "loadavg_before": list(load_before),
                    "loadavg_after": list(load_after), "wall_seconds": time.perf_counter() - started},
    }
    if build_tmp is not None:
        build_tmp.cleanup()
    path = write_json(out / "bench_simulation.json", record)
    print(f"wrote {path}")
    if not (args.quick or args.no_record):
        from experiments.records import save_record  # noqa: PLC0415

        print(f"wrote {save_record('bench_simulation', figures, record['command'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
