"""Which host readout serves any chip: readouts refitted on a fleet's saved plays, scored on held-out chips.

A fleet run (``calibrate --fleet K``, the ``fleet`` stage of a chip path run) keeps the spike
counts its chips played (``plays.npz``). This probe refits host readouts of other forms on
those plays, without simulating anything again, and scores each one the way the fleet chose
its own: cross-validated accuracy on held-out training sequences played on held-out fleet
chips (:func:`hardware.calibrate.cv_scores`; no test data and no scored chip enter it). The
forms: the fleet's own features (the mapped window, or the steps it reads one by one) as
they are, as square roots, as ``log(1 + r)``, divided by the play's total rate (a gain that a
chip scales up or down cancels), the last ``K`` steps one by one, and a one-hidden-layer
perceptron on the square roots. Each logistic form reports its best L2 strength (chosen on
the same folds, so the figures are upper bounds of what that form can do); if none beats the
fleet's readout by much, what limits a readout for any chip is what the spikes carry across
chips, not the form of the readout. The linear forms are also fitted on the input spikes of
the same sequences, on the same folds (``reads: input``): a form that reads as well without
the chip shows nothing the chip computed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from experiments.chip_path import chip_run_parser, parse_chip_run, record_name
from experiments.main_job import format_table
from experiments.records import command_line, save_record
from experiments.runs import ann_checkpoint, run_data
from hardware.baseline import InputWire, reading_the_input
from hardware.calibrate import REGULARISATIONS, Plays, assign_chips, cv_folds, cv_scores, step_readout
from hardware.rules import load_config
from transfer.files import read_json

__all__ = ["probe_readouts", "main"]

#: L2 strengths tried (``1/C`` on standardised features): the calibration grid and one stronger.
PROBE_REGULARISATIONS = (*REGULARISATIONS, 1e5)
#: Folds of the cross-validation (as the fleet's own choice).
FOLDS = 3


def _mlp_score(features: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]],
               hidden: int, seed: int) -> float:
    """Mean held-out accuracy of a one-hidden-layer perceptron over ``folds``."""
    from sklearn.neural_network import MLPClassifier  # noqa: PLC0415 (fitting only)

    scores = []
    for train, held in folds:
        mean, scale = features[train].mean(0), features[train].std(0) + 1e-9
        clf = MLPClassifier((hidden,), alpha=1.0, max_iter=300, early_stopping=True, random_state=seed)
        clf.fit((features[train] - mean) / scale, y[train])
        scores.append(clf.score((features[held] - mean) / scale, y[held]))
    return float(np.mean(scores))


def probe_readouts(run_dir: Path, steps: tuple[int, ...] = (2, 3), hidden: int = 128, folds: int = FOLDS,
                   seed: int = 0, progress: bool = True, X_train: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Rows ``{"readout", "reads", "cv_score", "regularisation"}`` of each readout form refitted
    on the plays of the fleet run ``run_dir`` (a ``calibrate --fleet`` output directory);
    ``progress`` prints each score as it comes. With ``X_train`` (the training split the
    plays' sequences index) the linear forms are also fitted on the input spikes of the same
    sequences, on the same folds (``reads: "input"``): what each form reads without the chip."""
    metrics = read_json(run_dir / "metrics.json")
    fleet = metrics.get("calibrated_for", {})
    if not fleet.get("fleet"):
        raise ValueError(f"{run_dir} is not a fleet run (calibrate --fleet K)")
    config = load_config(run_dir / "hardware.json")
    plays = Plays.load(run_dir / "plays.npz")
    if plays.lengths is not None:
        raise ValueError(f"{run_dir} played variable-length sequences: the probe reads fixed-length plays only")
    y = plays.y
    chips = assign_chips(len(y), fleet["fleet"], fleet["seeds"][0])
    splits = cv_folds(y, folds, plays.sequences, chips)
    ro, dt = config.readout, config.step_duration
    linear = replace(ro, transform="linear")
    base = linear.features(plays.counts, dt)
    n_classes = ro.weights.shape[0]
    window = ro.window_steps(dt)
    read = (f"{ro.slices} steps one by one" if ro.slices > 1
            else f"window of {window} step{'s' if window > 1 else ''}")
    forms = {f"{read}, linear": base, f"{read}, sqrt": np.sqrt(base), f"{read}, log(1 + r)": np.log1p(base),
             f"{read}, divided by the play's total": base / (base.sum(1, keepdims=True) + 1e-9)}
    for k in steps:
        if k <= plays.counts.shape[1]:
            forms[f"last {k} steps one by one"] = step_readout(linear, k, dt).features(plays.counts, dt)
    probed = [(name, "chip", f) for name, f in forms.items()]
    if X_train is not None:  # the linear forms on the input spikes alone
        inputs = InputWire(config.encoder, dt).play(X_train[plays.sequences])["input"]
        as_input = reading_the_input(linear, inputs.shape[2])
        probed.append((f"{read}, linear", "input", as_input.features(inputs, dt)))
        probed += [(f"last {k} steps one by one", "input", step_readout(as_input, k, dt).features(inputs, dt))
                   for k in steps if k <= inputs.shape[1]]
    rows = []
    for name, reads, features in probed:
        scores = cv_scores(features, y, n_classes, PROBE_REGULARISATIONS, False, folds, plays.sequences, chips=chips)
        best = int(np.argmax(scores))
        name += " (the fleet's form)" if reads == "chip" and name == f"{read}, {ro.transform}" else ""
        rows.append({"readout": name, "reads": reads, "cv_score": float(scores[best]),
                     "regularisation": PROBE_REGULARISATIONS[best]})
        if progress:
            print(f"  {name}, reading the {reads}: {scores[best]:.4f} (L2 {PROBE_REGULARISATIONS[best]:g})", flush=True)
    score = _mlp_score(np.sqrt(base), y, splits, hidden, seed)
    rows.append({"readout": f"{read}, sqrt, perceptron ({hidden} hidden)", "reads": "chip", "cv_score": score,
                 "regularisation": None})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = chip_run_parser(__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[2, 3], help="K of the 'last K steps' forms")
    parser.add_argument("--hidden", type=int, default=128, help="hidden units of the perceptron")
    args, run = parse_chip_run(parser, argv)
    fleet_dir = run / "fleet"
    if not (fleet_dir / "plays.npz").exists():
        parser.error(f"{fleet_dir / 'plays.npz'} not found: run the chip path with --fleet K first")
    map_dir = run / "map"
    data = run_data(ann_checkpoint(read_json(map_dir / "metrics.json"), map_dir))
    rows = probe_readouts(fleet_dir, tuple(args.steps), args.hidden, progress=not args.quiet, X_train=data.X_train)
    print(format_table(rows, ["readout", "reads", "cv_score", "regularisation"]))
    if not args.no_record:
        m = read_json(fleet_dir / "metrics.json")
        cal = m["calibrated_for"]
        path = save_record(record_name(f"extra_readout_probe_{run.name}", args), {
            "title": f"Readouts for any chip refitted on the fleet plays of {run.name}",
            "rows": rows,
            "note": f"{m['calibration']['samples']} plays of training sequences on {cal['fleet']} simulated chips "
                    f"(CV {cal['mismatch']:g}); cv_score: {FOLDS}-fold accuracy on held-out sequences "
                    f"played on held-out chips, the best over the L2 strengths {list(PROBE_REGULARISATIONS)} "
                    f"(chosen on the same folds: an upper bound for each form). reads: the chip's spikes, or "
                    f"the input spikes of the same sequences alone (no chip)."},
            command_line(argv, "experiments.readout_probe"), **({"data_dir": Path(args.data_dir)} if args.data_dir else {}))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
