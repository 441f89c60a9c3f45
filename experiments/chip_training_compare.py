"""Does training through the chip model beat the rate-level route? Measured on one chip path run.

    python -m experiments.chip_training_compare runs/chip/digits_rnn_e200_mma03_fleet_s1
                                                [--epochs 6] [--lr 2e-3] [--train-cvs 0 0.2]
                                                [--chips 0 1 2] [--cv 0.2]

``RUN`` is a chip path run (:mod:`experiments.chip_path`) whose network went the rate-level
route: mismatch-aware ternary QAT of the delay-free RNN, conversion to DPI neurons, snapped to
the bias codes (``RUN/simulate_hw``), with the readout of its fleet (``RUN/fleet``, fitted on
other simulated chips) when it has one. That network is the starting point and the baseline.
For each CV in ``--train-cvs`` it is then trained through the differentiable chip model
(:func:`transfer.chip_training.train_on_chip`: ternary CAM entries, per-core biases and the
readout; a fresh random chip for every batch at that CV, the best epoch chosen on a validation
chip), snapped to the bias codes again, and every network is scored on the test sequences on
the nominal chip and on chips ``--chips`` at ``--cv`` with the compiled torch chip model
(float32; on digits the same predictions as the Brian2 emulation from ``hardware.json``,
``extra_backend_agreement_digits_rnn_fast``). The record is
``docs/data/extra_chip_training_<run name>.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from experiments.main_job import format_table
from experiments.records import command_line, save_record
from experiments.runs import chip_spec, finished_run, run_data
from transfer.files import read_json

__all__ = ["main"]

COLUMNS = ["network", "train_cv", "epochs", "lr", "best_epoch", "val_before", "val_best", "nominal",
           "chips", "chips_sd", "per_chip", "spikes", "train_s"]


def _chip_scores(net: Any, X: np.ndarray, y: np.ndarray, lengths: np.ndarray | None, cv: float,
                 chips: list[int], metric: str) -> tuple[float, list[float], float]:
    """Accuracy on the nominal chip, on each of ``chips`` at ``cv``, and spikes per inference there
    (the ``torch-fast`` backend of the stages; ``lengths``: each sample read at its own end)."""
    from brian_models.network import SimulationSettings  # noqa: PLC0415 (Brian2 only when run)
    from experiments.stages import backend_simulator  # noqa: PLC0415
    from transfer.datasets import score  # noqa: PLC0415

    simulate = backend_simulator("torch-fast")

    def run(mismatch: float, seed: int) -> Any:
        sim = SimulationSettings(mismatch=mismatch, mismatch_seed=seed, seed=seed, batch_size=1024)
        return simulate(net, X, sim, False, lengths)

    nominal = score(y, run(0.0, 0).predictions, metric)
    results = [run(cv, s) for s in chips]
    spikes = float(np.mean([r.spikes_per_inference for r in results]))
    return nominal, [score(y, r.predictions, metric) for r in results], spikes


def main(argv: list[str] | None = None) -> int:
    from brian_models.description import SpikingNetwork  # noqa: PLC0415 (Brian2 and torch on demand)
    from hardware.config import HardwareConfig  # noqa: PLC0415
    from hardware.mapper import snap_to_chip  # noqa: PLC0415
    from transfer.checkpoint import Checkpoint  # noqa: PLC0415
    from transfer.chip_training import ChipTrainingSettings, train_on_chip  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="a chip path run directory (experiments.chip_path)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--train-cvs", type=float, nargs="+", default=[0.0, 0.2],
                        help="mismatch CV of the random chips trained on (0: the nominal chip)")
    parser.add_argument("--chips", type=int, nargs="+", default=[0, 1, 2], help="mismatch seeds scored")
    parser.add_argument("--cv", type=float, default=0.2, help="mismatch CV of the chips scored")
    parser.add_argument("--seed", type=int, default=0, help="seed of the batches and the training chips")
    parser.add_argument("--data-dir", default=None, help="where the record goes (default docs/data)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    run = Path(args.run)
    source = finished_run(run / "simulate_hw", "simulate", "needs a chip path run with a simulate_hw stage")
    net = SpikingNetwork.load(run / "simulate_hw" / "network.json")
    readout = "mapped"
    if (run / "fleet" / "hardware.json").exists():
        net = dataclasses.replace(net, readout=HardwareConfig.load(run / "fleet" / "hardware.json").readout)
        readout = "fleet"
    data = run_data(Checkpoint.load(source["source"]), source.get("n_test"))
    X, y = data.X_test, data.y_test
    rows: list[dict[str, Any]] = []

    def add(name: str, network: Any, extra: dict[str, Any]) -> None:
        nominal, per_chip, spikes = _chip_scores(network, X, y, data.len_test, args.cv, args.chips, data.metric)
        rows.append({"network": name, **extra, "nominal": round(100 * nominal, 2),
                     "chips": round(100 * float(np.mean(per_chip)), 2),
                     "chips_sd": round(100 * float(np.std(per_chip, ddof=1)), 2) if len(per_chip) > 1 else None,
                     "per_chip": [round(100 * a, 2) for a in per_chip], "spikes": round(spikes, 1)})
        print(format_table(rows[-1:], [c for c in COLUMNS if c in rows[-1]]), flush=True)

    add(f"rate-level route ({readout} readout)", net, {"train_cv": None, "epochs": 0})
    for cv in args.train_cvs:
        settings = ChipTrainingSettings(epochs=args.epochs, lr=args.lr, mismatch=cv, seed=args.seed)
        trained = train_on_chip(net, data, settings, progress=not args.quiet)
        out = trained.net
        if source.get("snapped_to_chip"):
            out = snap_to_chip(out, chip_spec(source["snapped_to_chip"]))[0]
        val = [h["val_accuracy"] for h in trained.history]
        add("then trained through the chip model", out,
            {"train_cv": cv, "epochs": args.epochs, "lr": args.lr, "best_epoch": trained.best_epoch,
             "val_before": round(100 * val[0], 2), "val_best": round(100 * max(val), 2),
             "train_s": round(trained.train_seconds)})
    table = format_table(rows, COLUMNS)
    print(table)
    path = save_record(f"extra_chip_training_{run.name}", {
        "title": f"Training through the chip model against the rate-level route ({run.name})",
        "rows": rows,
        "note": f"Start and baseline: {run}/simulate_hw (mismatch-aware ternary QAT, DPI, snapped to the bias "
                f"codes) with the {readout} readout. Trained: train_on_chip for {args.epochs} epochs at lr "
                f"{args.lr:g}, a fresh random chip per batch at train_cv (0: the nominal chip), best epoch on "
                f"validation chip 9999 (val_before/val_best, %), snapped again. Scored on {len(y)} test "
                f"sequences with the compiled torch chip model (float32) on the nominal chip and on chips "
                f"{args.chips} at CV {args.cv:g}, noise off; spikes per inference on those chips."},
        command_line(argv, "experiments.chip_training_compare"),
        **({"data_dir": Path(args.data_dir)} if args.data_dir else {}))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
