"""How much chip time calibration needs: one mapped network calibrated to each chip on several budgets.

    python -m experiments.calibration_budget runs/chip/recall_lsnn_c12_fleet100_seed1 --samples 30 100 300 1000
                                             --chips 0 1 2 --noise 1e-11 [--backend torch-fast|brian2] [--jobs J]

``RUN`` is a chip path run directory (:mod:`experiments.chip_path`). Each chip is emulated
uncalibrated (with the run's fleet readout where it has one), then calibrated once per budget:
``N`` training sequences played through the chip, pooled with the fleet's plays as a prior where
there is a fleet (``calibrate --prior``), and emulated again. The budget is what a board would
spend: ``N`` times the sequence's duration of chip time, which each row reports. The runs go
beside the chip path's, the calibrations named by their budget (``..._n<N>``), so a killed run
resumes. The record ``docs/data/extra_calibration_budget_<run>[_<backend>][_<tag>].json`` holds one row
per budget, the uncalibrated chips first (budget 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from experiments.chip_path import chip_run_parser, mean_sd, noise_words, parse_chip_run, record_name
from experiments.main_job import fleet_of, format_table, run_on_chip
from experiments.records import command_line, save_record
from experiments.settings import BACKENDS
from transfer.files import read_json

__all__ = ["main", "budget_rows"]

COLUMNS = ["samples", "chip_seconds", "accuracy", "accuracy_sd", "per_chip"]


def budget_rows(plain: list[dict[str, Any]], calibrated: dict[int, list[tuple[dict, dict]]]) -> list[dict[str, Any]]:
    """One row per budget: the uncalibrated chips' emulations ``plain`` (budget 0), then per
    budget the (calibrate, emulate) metrics of each chip."""
    rows = []
    mean, sd = mean_sd([m["accuracy"] for m in plain])
    rows.append({"samples": 0, "chip_seconds": 0.0, "accuracy": mean, "accuracy_sd": sd,
                 "per_chip": [m["accuracy"] for m in plain], "chips": [m["mismatch_seed"] for m in plain]})
    for n, runs in sorted(calibrated.items()):
        mean, sd = mean_sd([e["accuracy"] for _, e in runs])
        rows.append({"samples": n, "chip_seconds": float(np.mean([c["calibration"]["chip_seconds"] for c, _ in runs])),
                     "accuracy": mean, "accuracy_sd": sd, "per_chip": [e["accuracy"] for _, e in runs],
                     "chips": [e["mismatch_seed"] for _, e in runs],
                     "plays_made": [c["calibration"]["samples"] for c, _ in runs]})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = chip_run_parser(__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[30, 100, 300, 1000],
                        help="calibration budgets: training sequences played through each chip")
    parser.add_argument("--chips", type=int, nargs="+", default=[0, 1, 2], help="mismatch seeds")
    parser.add_argument("--cv", type=float, default=0.2, help="mismatch CV of the chips")
    parser.add_argument("--noise", type=float, default=0.0, help="membrane noise current std in A")
    parser.add_argument("--backend", default="torch-fast", choices=BACKENDS,
                        help="simulator of the emulated chips (torch-fast: compiled, float32; brian2: the reference)")
    parser.add_argument("--jobs", type=int, default=1, help="processes of the torch backends (one core each)")
    args, run = parse_chip_run(parser, argv)
    if any(n < 2 for n in args.samples):
        parser.error("each budget must play at least 2 sequences")
    fleet_run, transform = fleet_of(run)
    readout = "fleet" if fleet_run else "map"
    plain: list[dict[str, Any]] = []
    calibrated: dict[int, list[tuple[dict, dict]]] = {n: [] for n in args.samples}
    for chip in args.chips:
        for n in args.samples:
            res = run_on_chip(run, args.cv, chip, noise=args.noise, calibrate_samples=n, backend=args.backend,
                              readout=readout, jobs=args.jobs, readout_transform=transform, name_budget=True,
                              progress=not args.quiet)
            first, cal, emu = res.values()
            calibrated[n].append((cal, emu))
        plain.append(first)
    rows = budget_rows(plain, calibrated)
    print(format_table(rows, COLUMNS))
    if not args.no_record:
        source = read_json(run / "map" / "metrics.json")
        name = record_name(f"extra_calibration_budget_{run.name}", args)
        path = save_record(name, {
            "title": f"{source['model'].upper()} on {source['dataset']}: accuracy against the chip time spent "
                     f"calibrating (emulated from hardware.json)",
            "rows": rows,
            "note": f"One mapped network ({run.name}) emulated ({args.backend}) on chips (mismatch seeds) {args.chips} "
                    f"at CV {args.cv:g} with {noise_words(args.noise)}"
                    + (f"; uncalibrated (samples 0), the fleet readout (fitted on {fleet_run['calibrated_for']['fleet']} "
                       f"other chips); calibrated, each chip's own plays pooled with the fleet's as a prior"
                       if fleet_run else "; uncalibrated (samples 0), the mapped readout")
                    + f". samples: training sequences played through each chip (a calibration to one chip plays at "
                      f"most the training split: plays_made); chip_seconds: the chip time they take; "
                      f"{source['n_test']} test sequences."},
            command_line(argv, "experiments.calibration_budget"),
            **({"data_dir": Path(args.data_dir)} if args.data_dir else {}))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
