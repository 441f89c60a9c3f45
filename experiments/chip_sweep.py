"""Accuracy against mismatch on the chip: one mapped network emulated on several chips per CV,
before and after calibrating its readout to each chip (``--no-calibrate``: before only).

    python -m experiments.chip_sweep runs/chip/recall_lsnn --cvs 0.1 0.2 0.3 --chips 0 1 2 --noise 1e-11
                                     [--backend torch-fast|torch|brian2] [--jobs J]

``RUN`` is a chip path run directory (:mod:`experiments.chip_path`) holding ``map``; every
chip's runs go beside it (``emulate_cv<cv>_chip<seed>``, ``calibrate_...``,
``emulate_..._calibrated``, the names ``chip_path`` uses, so its chips are reused and a killed
sweep resumes). Where the run has a fleet readout (``chip_path --fleet``) the uncalibrated
chips read it at every CV (``--mapped-readout``: the mapped one). The record
``docs/data/extra_chip_sweep_<run name>[_<backend>][_uncalibrated][_<tag>].json`` holds one row per CV.

The chips are emulated by the compiled torch chip model in float32 (``torch-fast``), the
fastest setting that gives Brian2's predictions (99.95 % of the 10,000 Fashion-MNIST test
sequences, 100 % of digits on the nominal and three mismatched chips:
``experiments/backend_agreement.py``); ``--backend brian2`` is the reference (the default
until revision 80361d1, whose records carry no backend suffix).
"""

from __future__ import annotations

from pathlib import Path

from experiments.chip_path import chip_run_parser, mean_sd, noise_words, parse_chip_run, record_name
from experiments.main_job import fleet_of, format_table, run_on_chip
from experiments.records import command_line, save_record
from experiments.settings import BACKENDS, READOUT_TRANSFORM_CHOICES
from transfer.files import read_json

__all__ = ["main", "sweep_rows"]

COLUMNS = ["cv", "chips", "emulated", "emulated_sd", "calibrated", "calibrated_sd", "spikes", "energy_uJ"]


def sweep_rows(runs: dict[float, list[dict[str, dict]]]) -> list[dict]:
    """One row per CV from the :func:`experiments.main_job.run_on_chip` results of its chips."""
    rows = []
    for cv, chips in sorted(runs.items()):
        plain = [next(m for k, m in r.items() if "emulate_" in k and not k.endswith("calibrated"))
                 for r in chips]
        cal = [m for r in chips for k, m in r.items() if k.endswith("_calibrated")]  # none: not calibrated

        def stats(ms: list[dict], key: str) -> tuple[float | None, float | None]:
            return mean_sd([m[key] for m in ms])

        (emu, emu_sd), (calib, calib_sd) = stats(plain, "accuracy"), stats(cal, "accuracy")
        rows.append({"cv": cv, "chips": [m["mismatch_seed"] for m in plain], "emulated": emu,
                     "emulated_sd": emu_sd, "calibrated": calib, "calibrated_sd": calib_sd,
                     "emulated_per_chip": [m["accuracy"] for m in plain],
                     "calibrated_per_chip": [m["accuracy"] for m in cal],
                     "spikes": stats(plain + cal, "spikes_per_inference")[0],
                     "energy_uJ": 1e6 * stats(plain + cal, "energy_joules_per_inference")[0]})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = chip_run_parser(__doc__.split("\n")[0])
    parser.add_argument("--cvs", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3])
    parser.add_argument("--chips", type=int, nargs="+", default=[0, 1, 2], help="mismatch seeds")
    parser.add_argument("--noise", type=float, default=0.0, help="membrane noise current std in A")
    parser.add_argument("--calibrate-samples", type=int, default=1000)
    parser.add_argument("--device", default="runtime", choices=["runtime", "cpp_standalone"])
    parser.add_argument("--backend", default="torch-fast", choices=BACKENDS,
                        help="simulator of the emulated chips (torch-fast: compiled, float32; brian2: the reference)")
    parser.add_argument("--jobs", type=int, default=1, help="processes of the torch backends (one core each)")
    parser.add_argument("--no-calibrate", action="store_true", help="emulate the chips without calibrating them")
    parser.add_argument("--mapped-readout", action="store_true",
                        help="the uncalibrated chips read the mapped readout even where the run has a fleet readout")
    parser.add_argument("--readout-transform", default=None, choices=READOUT_TRANSFORM_CHOICES,
                        help="what the calibrated readouts apply to their rates (default: what the run's "
                             "fleet was asked for, else linear)")
    args, run = parse_chip_run(parser, argv)
    fleet_run, fleet_transform = fleet_of(run)
    has_fleet = fleet_run is not None
    readout = "fleet" if has_fleet and not args.mapped_readout else "map"
    transform = args.readout_transform or fleet_transform
    runs = {cv: [run_on_chip(run, cv, chip, noise=args.noise, calibrate_samples=args.calibrate_samples,
                             device=args.device, backend=args.backend, readout=readout, jobs=args.jobs,
                             readout_transform=transform, calibrate=not args.no_calibrate, progress=not args.quiet)
                 for chip in args.chips]
            for cv in args.cvs}
    rows = sweep_rows(runs)
    print(format_table(rows, COLUMNS))
    if not args.no_record:
        source = read_json(run / "map" / "metrics.json")
        name = record_name(f"extra_chip_sweep_{run.name}", args,
                           *(["mapped"] if has_fleet and args.mapped_readout else []),
                           *(["uncalibrated"] if args.no_calibrate else []))
        fleet = fleet_run["calibrated_for"] if readout == "fleet" else None
        path = save_record(name, {
            "title": f"{source['model'].upper()} on {source['dataset']}: accuracy against mismatch on the chip "
                     f"(emulated from hardware.json)",
            "rows": rows,
            "note": f"One mapped network ({run.name}); each CV emulated ({args.backend}) on chips (mismatch seeds) {args.chips} "
                    f"with {noise_words(args.noise)}"
                    + (f", read by the fleet readout (fitted on {fleet['fleet']} other chips at CV "
                       f"{fleet['mismatch']:g})" if fleet else ", read by the mapped readout")
                    + (", not calibrated" if args.no_calibrate else
                       f", before and after calibrating the host readout to each chip on "
                       f"{args.calibrate_samples} training sequences") + f"; {source['n_test']} test sequences."},
            command_line(argv, "experiments.chip_sweep"),
            **({"data_dir": Path(args.data_dir)} if args.data_dir else {}))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
