"""What the chip adds: each chip path run's readout fitted on the input spikes alone, beside its chips.

    python -m experiments.input_baseline runs/chip/fashion_lsnn_h256_e8_fleet runs/chip/recall_lsnn_c24_fleet50_seed1

For each chip path run (:mod:`experiments.chip_path`) the readout its uncalibrated chips read
(the fleet's where it has one, else the mapped one: the same filter and transform, reading
its window or every step one by one, whichever cross-validation prefers, as a calibration
chooses; on a memory task the window) is fitted on the input spikes the chip is sent
(``rnn2dynapse baseline``, into ``RUN/baseline`` as the chip path now runs it), on the
training sequences the fleet played (else the calibration's), its L2 strength chosen by
cross-validation, and scored on the test sequences the chips were scored on. No chip is
simulated. The row sets that figure beside the run's own (ternary network, chip at CV 0, the
chips at the run's CV before and after calibration, from its ``summary.json``): a chip
network computes something only where it beats the input read alone. The record
``docs/data/extra_input_baseline[_<tag>].json`` holds one row per run.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from experiments.chip_path import chip_row, record_name
from experiments.main_job import format_table, run_baseline
from experiments.records import command_line, save_record
from transfer.files import read_json

__all__ = ["main", "baseline_row"]

COLUMNS = ["run", "dataset", "readout", "train_sequences", "n_test", "input_only", "ternary", "emulated_cv0",
           "cv", "emulated", "calibrated"]


def _readout_words(m: dict[str, Any]) -> str:
    """How a baseline run's readout reads its counts, in words."""
    if m["readout_slices"] > 1:
        return f"{m['readout_slices']} steps one by one"
    n = m["readout_window_steps"]
    return f"window of {n} step{'s' if n > 1 else ''}"


def _samples(summary: dict[str, Any], fleet: bool) -> int:
    """The training sequences the chip path fitted its uncalibrated chips' readout on (as
    :func:`experiments.main_job.run_chain` gives them to the baseline)."""
    st = summary["stages"]
    if fleet:
        return int(st["fleet"].get("samples_option", st["fleet"]["calibration"]["samples"]))
    asked = [m["samples_option"] for k, m in st.items() if k.startswith("calibrate") and "samples_option" in m]
    return int(max(asked, default=1000))


def baseline_row(run: Path, progress: bool = False) -> dict[str, Any]:
    """One record row: the input-only readout of the chip path run ``run`` beside its chips."""
    summary = read_json(run / "summary.json")
    fleet = "fleet" in summary["stages"]
    m = run_baseline(run, "fleet" if fleet else "map", _samples(summary, fleet), progress=progress)
    summary["stages"]["baseline"] = m
    cv = float(summary["chip_runs"][0]["mismatch"]) if summary.get("chip_runs") else None
    chips = chip_row(summary, cv) if cv is not None else {}
    return {"run": run.name, "dataset": summary["dataset"], "model": summary["model"], "metric": m["metric"],
            "readout": _readout_words(m), "readout_of": "fleet" if fleet else "map",
            "train_sequences": m["fit"]["samples"], "n_test": m["n_test"], "input_only": m["accuracy"],
            "input_only_cv_score": m["fit"]["cv_score"], "input_only_regularisation": m["fit"]["regularisation"],
            "float": summary["stages"]["train"]["accuracy"], "ternary": summary["stages"]["quantize"]["accuracy"],
            **{k: chips.get(k) for k in ("emulated_cv0", "cv", "chips", "emulated", "calibrated")}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="chip path run directories (holding map and summary.json)")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--data-dir", default=None, help="where the record goes (default docs/data)")
    parser.add_argument("--tag", default="", help="appended to the record's name")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    runs = [Path(r) for r in args.runs]
    for run in runs:
        if not (run / "map" / "metrics.json").exists() or not (run / "summary.json").exists():
            parser.error(f"{run} holds no finished chip path run (map and summary.json)")
    rows = [baseline_row(run, progress=not args.quiet) for run in runs]
    print(format_table(rows, COLUMNS))
    if not args.no_record:
        path = save_record(record_name("extra_input_baseline", args), {
            "title": "What the chip adds: the chips' readout fitted on the input spikes alone",
            "rows": rows,
            "note": "input_only: the readout the uncalibrated chips read (readout_of: the fleet's or the mapped "
                    "one; the same filter and transform; readout: its window or every step, whichever "
                    "cross-validation preferred, the window on a memory task) fitted on the input spikes the chip is "
                    "sent for the first train_sequences training sequences (the fleet's, else the calibration's), "
                    "its L2 strength chosen by 3-fold cross-validation, scored on the chips' n_test test "
                    "sequences; no chip simulated. emulated_cv0, emulated (mean over chips at CV cv) and "
                    "calibrated are the run's own chips (its summary.json)."},
            command_line(argv, "experiments.input_baseline"),
            **({"data_dir": Path(args.data_dir)} if args.data_dir else {}))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
