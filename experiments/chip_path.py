"""The chip path of one model on one dataset, measured the way the chip runs it.

    python -m experiments.chip_path --dataset fashion --model rnn [--chips 0 1 2] [--cv 0.2]

Trains the model for the chip (``train --chip dynapse1``: the delay-free RNN, or the reservoir
with one shared bias), quantizes it, simulates it on DPI neurons with its parameters snapped
to the bias codes, maps it onto DYNAP-SE1 and emulates the configuration: without mismatch,
then on each of ``--chips`` (mismatch seeds) at ``--cv``, before and after calibrating the
readout to each chip (:mod:`hardware.calibrate`). With ``--fleet K`` the uncalibrated chips
read a readout fitted on K other simulated chips (``calibrate --fleet``). Everything runs through
:func:`experiments.main_job.run_chain` into ``runs/chip/<dataset>_<model>[_tag]/`` (finished
stages are reused), and the figures go to the record ``docs/data/chip_<dataset>_<model>[_tag].json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from experiments.main_job import FLEET_JOBS_HELP, FLEET_SEED, format_table, run_chain
from experiments.records import command_line, save_record
from experiments.settings import BACKENDS, READOUT_TRANSFORM_CHOICES

__all__ = ["main", "chip_row", "COLUMNS", "chip_run_parser", "mean_sd", "noise_words", "parse_chip_run"]

COLUMNS = ["dataset", "model", "n_test", "float", "ternary", "spiking_dpi", "input_only", "emulated_cv0", "cv",
           "chips", "emulated", "emulated_sd", "calibrated", "calibrated_sd", "spikes", "energy_uJ",
           "cores"]


def noise_words(noise: float) -> str:
    """How a record's note names the chips' membrane noise."""
    return f"membrane noise {noise:g} A" if noise else "noise off"


def mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (``ddof=1``; 0 for one value; ``None`` for none)."""
    if not values:
        return None, None
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def chip_row(summary: dict[str, Any], cv: float) -> dict[str, Any]:
    """One record row from a chain summary with chip emulations."""
    st = summary["stages"]
    runs = summary["chip_runs"]
    plain = [r for r in runs if not r["calibrated"]]
    cal = [r for r in runs if r["calibrated"]]
    emu_mean, emu_sd = mean_sd([r["accuracy"] for r in plain])
    cal_mean, cal_sd = mean_sd([r["accuracy"] for r in cal])
    row = {
        "dataset": summary["dataset"], "model": summary["model"], "n_test": st["emulate"]["n_test"],
        "metric": summary["metric"], "float": st["train"]["accuracy"], "ternary": st["quantize"]["accuracy"],
        "spiking_dpi": st["simulate_hw"]["accuracy"], "mapped_cv0": st["emulate"]["accuracy"],
        # the readout the uncalibrated chips use: the mapped one, or one fitted on a fleet of other chips
        "fleet": st["fleet"]["calibrated_for"]["fleet"] if "fleet" in st else 0,
        "emulated_cv0": st.get("fleet_emulate", st["emulate"])["accuracy"], "cv": cv,
        # the same readout fitted on the input spikes alone: what the host reads without the chip
        "input_only": st["baseline"]["accuracy"] if "baseline" in st else None,
        "chips": [r["mismatch_seed"] for r in plain],
        "emulated": emu_mean, "emulated_sd": emu_sd, "calibrated": cal_mean, "calibrated_sd": cal_sd,
        "emulated_per_chip": [r["accuracy"] for r in plain], "calibrated_per_chip": [r["accuracy"] for r in cal],
        # steps the calibrated readout reads one by one (1: the mapped readout's window, one mean)
        "calibrated_readout_slices": [r.get("readout_slices", 1) for r in cal],
        # what each readout applies to its rates (calibrate --readout-transform)
        "readout_transform": [r.get("readout_transform", "linear") for r in plain],
        "calibrated_readout_transform": [r.get("readout_transform", "linear") for r in cal],
        # each chip's calibration pooled the fleet's plays (calibrate --prior)
        "calibrated_prior": [bool((r.get("calibrated_for") or {}).get("prior")) for r in cal],
        "spikes": float(np.mean([r["spikes_per_inference"] for r in runs])) if runs
        else st["emulate"]["spikes_per_inference"],
        "energy_uJ": 1e6 * float(np.mean([r["energy_joules_per_inference"] for r in runs])) if runs
        else 1e6 * st["emulate"]["energy_joules_per_inference"],
        "cores": st["map"]["cores_used"], "hidden": st["train"].get("n_hidden"),
        "copies": st["simulate_hw"].get("copies", 1), "max_rate": st["simulate_hw"].get("max_rate"),
        "mismatch_aware": st["quantize"].get("mismatch_aware_cv"),
        # what the chip's energy goes into (Moradi et al. 2018's event energies, no mismatch)
        "energy_split_uJ": {k: 1e6 * st["emulate"]["energy"][k]
                            for k in ("spike_generation", "broadcast", "routing", "synaptic")},
        "cpu_lower_bound_uJ": 1e6 * st["emulate"]["cpu_energy_joules_per_inference"],
    }
    if "finetune" in st:
        row["finetuned"] = st["finetune"]["accuracy"]
        row["finetune"] = {k: st["finetune"]["chip_training"][k] for k in ("epochs", "lr", "mismatch", "spike_penalty",
                                                                           "train_samples")}
    second = "normal_vs_abnormal_balanced_accuracy"
    if second in st["emulate"]:
        row[second] = {key: st[key].get(second) for key in st if second in st[key]}
    return row


def chip_run_parser(description: str) -> argparse.ArgumentParser:
    """The parser of a script that reads a chip path run: ``run``, ``--no-record``,
    ``--data-dir``, ``--tag`` and ``--quiet`` (add the script's own options)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("run", help="a chip path run directory (holding map)")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--data-dir", default=None, help="where the record goes (default docs/data)")
    parser.add_argument("--tag", default="", help="appended to the record's name (e.g. a run over other chips)")
    parser.add_argument("--quiet", action="store_true")
    return parser


def record_name(base: str, args: argparse.Namespace, *suffixes: str) -> str:
    """The name of a record written by a script of :func:`chip_run_parser`: ``base``, the
    simulator where it is not Brian2 (``args.backend``), the script's ``suffixes`` and ``--tag``."""
    backend = getattr(args, "backend", "brian2")
    parts = [base, *([backend] if backend != "brian2" else []), *suffixes, *([args.tag] if args.tag else [])]
    return "_".join(parts)


def parse_chip_run(parser: argparse.ArgumentParser, argv: list[str] | None) -> tuple[argparse.Namespace, Path]:
    """Parsed arguments and the run directory, which must hold a finished map run."""
    args = parser.parse_args(argv)
    run = Path(args.run)
    if not (run / "map" / "metrics.json").exists():
        parser.error(f"{run} holds no finished map run (run experiments.chip_path first)")
    return args, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--model", default="rnn", choices=["rnn", "esn", "lsnn"])
    parser.add_argument("--chips", type=int, nargs="+", default=[0, 1, 2], help="mismatch seeds")
    parser.add_argument("--cv", type=float, default=0.2, help="mismatch CV of the chips")
    parser.add_argument("--noise", type=float, default=0.0, help="membrane noise current std in A of the chips")
    parser.add_argument("--hidden", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split-seed", type=int, default=None,
                        help="seed of the dataset split (train --split-seed; default --seed)")
    parser.add_argument("--calibrate-samples", type=int, default=1000)
    parser.add_argument("--no-calibrate", action="store_true", help="emulate the chips without calibrating them")
    parser.add_argument("--mismatch-aware", type=float, default=0.0, metavar="CV",
                        help="quantize with rate-level mismatch-aware fine-tuning at this CV")
    parser.add_argument("--quant-epochs", type=int, default=None, help="quantize epochs")
    parser.add_argument("--finetune-epochs", type=int, default=0,
                        help="train the simulated network through the chip model for this many epochs")
    parser.add_argument("--finetune-lr", type=float, default=3e-3)
    parser.add_argument("--finetune-samples", type=int, default=None, help="training sequences per epoch")
    parser.add_argument("--finetune-precision", default="float32", choices=["float32", "float64"])
    parser.add_argument("--spike-penalty", type=float, default=0.0)
    parser.add_argument("--adaptive-fraction", type=float, default=None,
                        help="LSNN: fraction of adaptive neurons (0: the control without adaptation)")
    parser.add_argument("--copies", type=int, default=1,
                        help="copies of the network on their own neurons, averaged by the readout")
    parser.add_argument("--max-rate", type=float, default=None,
                        help="firing rate (Hz) of the top activation (simulate --max-rate; default 300 for a network trained for the chip)")
    parser.add_argument("--fleet", type=int, default=0, metavar="K",
                        help="fit the uncalibrated chips' readout on K other simulated chips (calibrate --fleet)")
    parser.add_argument("--fleet-samples", type=int, default=None, metavar="N",
                        help="plays of training sequences on the fleet (default 4 x --calibrate-samples)")
    parser.add_argument("--fleet-backend", default="torch-fast", choices=BACKENDS,
                        help="simulator of the fleet (default the compiled torch chip model)")
    parser.add_argument("--fleet-jobs", type=int, default=1, metavar="J", help=FLEET_JOBS_HELP)
    parser.add_argument("--readout-transform", default="linear", choices=READOUT_TRANSFORM_CHOICES,
                        help="what the fleet's and the calibrated readouts apply to their rates "
                             "(calibrate --readout-transform)")
    parser.add_argument("--limit-train", type=int, default=None, help="train on N training samples")
    parser.add_argument("--limit-test", type=int, default=None, help="simulate and emulate N test samples")
    parser.add_argument("--device", default="runtime", choices=["runtime", "cpp_standalone"])
    parser.add_argument("--runs", default="runs/chip")
    parser.add_argument("--tag", default="", help="suffix of the run directory and the record")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--data-dir", default=None, help="where the record goes (default docs/data)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    name = f"{Path(args.dataset).stem}_{args.model}" + (f"_{args.tag}" if args.tag else "")
    model_options: dict[str, Any] = {"chip": "dynapse1"}
    if args.adaptive_fraction is not None:
        model_options["adaptive_fraction"] = args.adaptive_fraction
    if args.split_seed is not None:
        model_options["split_seed"] = args.split_seed
    summary = run_chain(args.dataset, Path(args.runs) / name, model=args.model, hidden=args.hidden,
                        epochs=args.epochs, seed=args.seed, limit_train=args.limit_train, neurons=(), hardware=True,
                        simulate_limit_test=args.limit_test, model_options=model_options,
                        chip_seeds=tuple(args.chips), chip_cv=args.cv, chip_noise=args.noise, calibrate_samples=args.calibrate_samples,
                        quantize_options={"mismatch_aware": args.mismatch_aware, "epochs": args.quant_epochs},
                        finetune_options={"epochs": args.finetune_epochs, "lr": args.finetune_lr,
                                          "train_samples": args.finetune_samples, "mismatch": args.cv,
                                          "spike_penalty": args.spike_penalty, "precision": args.finetune_precision}
                        if args.finetune_epochs else None,
                        simulate_options={"copies": args.copies,
                                          **({"max_rate": args.max_rate} if args.max_rate else {})},
                        fleet=args.fleet, fleet_samples=args.fleet_samples, fleet_backend=args.fleet_backend,
                        fleet_jobs=args.fleet_jobs,
                        readout_transform=args.readout_transform,
                        calibrate=not args.no_calibrate,
                        device=args.device, progress=not args.quiet)
    row = chip_row(summary, args.cv)
    row["noise"] = args.noise
    print(format_table([row], COLUMNS))
    if not args.no_record:
        noise = noise_words(args.noise)
        path = save_record(f"chip_{name}", {
            "title": f"{args.model.upper()} on {row['dataset']} through the chip path (DYNAP-SE1, emulated)",
            "rows": [row],
            "note": f"Trained for the chip (train --chip dynapse1), ternary, DPI neurons with spike input "
                    f"and parameters snapped to the bias codes, mapped and emulated from hardware.json; "
                    f"chips = mismatch seeds at CV {args.cv:g} with {noise}; "
                    + ("not calibrated" if args.no_calibrate else
                       f"'calibrated' refits the host readout on each chip's own output spikes for "
                       f"{args.calibrate_samples} training sequences") + f". {row['n_test']} test sequences. "
                    "input_only: the uncalibrated chips' readout fitted on the input spikes alone (no chip)."
                    + (f" The uncalibrated chips read a fleet readout: fitted on {args.fleet} other simulated "
                       f"chips (seeds {FLEET_SEED}-{FLEET_SEED + args.fleet - 1}) at the same CV, "
                       f"{summary['stages']['fleet']['calibration']['samples']} plays of training sequences; "
                       f"chip CV 0 reads it too (the mapped readout: {100 * row['mapped_cv0']:.2f} %)."
                       if args.fleet else "")},
            command_line(argv, "experiments.chip_path"), **({"data_dir": Path(args.data_dir)} if args.data_dir else {}))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
