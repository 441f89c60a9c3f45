"""Accuracy table: float / ternary / spiking for each model and dataset.

    python -m experiments.table_accuracy --datasets digits ecg fashion --models rnn lstm esn

Each (dataset, model) runs the chain of :func:`experiments.main_job.run_chain` into
``runs/accuracy/<dataset>_<model>/`` (finished stages are reused, so an interrupted run
resumes), then the figures go to the record ``docs/data/accuracy_<dataset>.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from experiments.main_job import run_chain
from experiments.records import command_line, load_record, save_record

__all__ = ["main", "chain_row"]


def chain_row(summary: dict[str, Any]) -> dict[str, Any]:
    """One table row from a chain summary."""
    st = summary["stages"]
    row = {
        "model": summary["model"],
        "n_test": summary["n_test"],
        "metric": summary["metric"],
        "float": st["train"]["accuracy"],
        "ternary_ptq": st["quantize"]["ptq_accuracy"],
        "ternary_qat": st["quantize"]["accuracy"],
        "qat_uncapped": st["quantize"].get("qat_uncapped_accuracy"),
        "max_fan_in": st["quantize"]["max_fan_in"],
        "seconds_per_epoch": st["train"].get("seconds_per_epoch"),
        "epochs_run": st["train"].get("epochs_run"),
    }
    if "emulate" in st:
        row["spiking_dpi_spike_input"] = st["simulate_hw"]["accuracy"]
        row["emulated"] = st["emulate"]["accuracy"]
        row["agreement_emulated_vs_simulated"] = st["emulate"].get("agreement_with_simulation")
        row["cores_used"] = st["map"]["cores_used"]
        row["energy_uJ"] = 1e6 * st["emulate"]["energy_joules_per_inference"]
    for key, m in st.items():
        if key.startswith("simulate_") and key != "simulate_hw":
            neuron = key.split("_", 1)[1]
            row[f"spiking_{neuron}"] = m["accuracy"]
            row[f"agreement_{neuron}"] = m["agreement_with_ann"]
            row[f"n_simulated_{neuron}"] = m["n_test"]
            row[f"spikes_{neuron}"] = m["spikes_per_inference"]
            if "macs_per_inference" in m:  # the spiking LSTM reports its ANN's MACs
                row["ann_macs"] = m["macs_per_inference"]
    return row


def _model_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ModelConfig fields the command line sets (left out: the defaults)."""
    opts = {"shared_bias": True} if args.shared_bias else {}
    for key in ("syn_leak", "substeps", "min_bias"):
        if getattr(args, key) is not None:
            opts[key] = getattr(args, key)
    return opts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "ecg", "fashion"])
    parser.add_argument("--models", nargs="+", default=["rnn", "lstm", "esn", "lsnn"])
    parser.add_argument("--neurons", nargs="*", default=["lif", "dpi"],
                        help="neuron models to simulate (none: skip spiking)")
    parser.add_argument("--simulate-limit-test", type=int, default=None, metavar="N",
                        help="simulate only the first N test samples")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--limit-train", type=int, default=None, metavar="N",
                        help="train on N training sequences (the test split stays whole)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", default="runs/accuracy", help="where the run directories go")
    parser.add_argument("--shared-bias", action="store_true", help="train with one shared bias")
    parser.add_argument("--syn-leak", type=float, default=None,
                        help="RNN: synaptic leak per step (< 1: delay-free, mappable onto DYNAP-SE)")
    parser.add_argument("--substeps", type=int, default=None, help="RNN with --syn-leak: steps per element")
    parser.add_argument("--min-bias", type=float, default=None,
                        help="RNN: lower bound of the bias (a DYNAP-SE DC only injects current)")
    parser.add_argument("--hardware", action="store_true",
                        help="also simulate DPI with spike input, map onto DYNAP-SE and emulate")
    parser.add_argument("--device", default="runtime", choices=["runtime", "cpp_standalone"],
                        help="Brian2 device of the simulate stages (cpp_standalone: compiled once)")
    parser.add_argument("--target", default="numpy", choices=["numpy", "cython"],
                        help="code generation target of the runtime device")
    parser.add_argument("--gatings", nargs="+", default=["exact", "shunting"], choices=["exact", "shunting"],
                        help="spiking-LSTM gatings to simulate (LSTM rows)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    options = _model_options(args)
    for dataset in args.datasets:
        name = f"accuracy_{Path(dataset).stem}" + ("_hardware" if args.hardware else "")
        for model in args.models:
            # A spiking LSTM is built from LIF neurons; the LSNN runs as its own ALIF (lif) or DPI.
            neurons = tuple(n for n in args.neurons if model != "lstm" or n == "lif")
            tag = "_hw" if args.hardware else ""
            summary = run_chain(dataset, Path(args.runs) / f"{Path(dataset).stem}_{model}{tag}", model=model,
                                epochs=args.epochs, seed=args.seed, neurons=neurons,
                                limit_train=args.limit_train,
                                simulate_limit_test=args.simulate_limit_test,
                                measure_cap_cost=True, hardware=args.hardware, device=args.device,
                                target=args.target,
                                model_options=options or None,
                                gatings=tuple(args.gatings), progress=not args.quiet)
            # Read the record again just before writing: a run of another model may have
            # updated its row in the meantime.
            old = load_record(name)
            rows = {r["model"]: r for r in (old["figures"]["rows"] if old else [])}
            rows[model] = dict(chain_row(summary), command=command_line(argv, "experiments.table_accuracy"))
            if options:
                rows[model]["model_options"] = options
            save_record(name, {"dataset": dataset, "rows": list(rows.values())},
                        command_line(argv, "experiments.table_accuracy"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
