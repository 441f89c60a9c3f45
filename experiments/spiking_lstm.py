"""Spiking LSTM (route 1): a ternary LSTM as rate-coded spiking gates, with exact and shunting gating.

Train and quantize an LSTM (or pass a quantize-stage run directory with ``--checkpoint``),
convert it with :func:`transfer.spiking_lstm.convert_lstm` in both gatings and simulate the
test set in Brian2::

    python -m experiments.spiking_lstm --dataset recall --limit-test 200
    python -m experiments.spiking_lstm --checkpoint runs/lstm_fashion/quant --limit-test 300

Writes ``--out/metrics.json`` (a new run directory; with training, ``--out/train`` and
``--out/quant`` hold the checkpoints): the ternary ANN's accuracy, per gating the spiking
accuracy, agreement with the ANN, spikes per inference and wall time, and the LSTM's
multiply-accumulates per inference, plus the command, seed and git revision. Unless
``--no-record``, each gating also goes to ``docs/data/extra_spiking_lstm_<dataset>_<gating>.json``
for ``make results``. Which gating DYNAP-SE could carry: see :mod:`transfer.spiking_lstm`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main", "run"]


def run(args: argparse.Namespace, argv: list[str] | None = None) -> dict[str, Any]:
    """Train/load, convert, simulate; return the metrics (also written to ``args.out``).

    ``argv`` is the command line recorded with the results (default ``sys.argv``)."""
    from experiments.settings import QuantizeSettings, TrainSettings  # noqa: PLC0415
    from experiments.stages import quantize_stage, train_stage  # noqa: PLC0415
    from transfer.checkpoint import Checkpoint  # noqa: PLC0415
    from transfer.datasets import load_dataset, score  # noqa: PLC0415
    from experiments.runs import git_revision  # noqa: PLC0415
    from transfer.files import new_run_dir, write_json  # noqa: PLC0415
    from brian_models.network import SimulationSettings  # noqa: PLC0415
    from brian_models.simulate import simulate  # noqa: PLC0415
    from transfer.spiking_lstm import SpikingLSTMSettings, convert_lstm, lstm_macs  # noqa: PLC0415
    from transfer.train import predict  # noqa: PLC0415

    out = new_run_dir(args.out)
    if args.checkpoint:
        ckpt_dir = Path(args.checkpoint)
    else:
        train_stage(TrainSettings(model="lstm", dataset=args.dataset, hidden=args.hidden, epochs=args.epochs,
                                  seed=args.seed), out / "train", progress=not args.quiet)
        quantize_stage(QuantizeSettings(str(out / "train")), out / "quant", progress=not args.quiet)
        ckpt_dir = out / "quant"
    ckpt = Checkpoint.load(ckpt_dir)
    dataset = ckpt.settings.get("dataset", args.dataset) if args.checkpoint else args.dataset
    data = load_dataset(dataset, seed=args.seed).subset(limit_test=args.limit_test, seed=args.seed)
    X_norm = data.X_train[:args.norm_samples]
    ann = predict(ckpt.model, data.X_test)
    mc = ckpt.config
    metrics: dict[str, Any] = {
        "stage": "spiking_lstm", "dataset": data.name, "model": "lstm", "n_test": int(len(data.y_test)),
        "seed": args.seed, "checkpoint": str(ckpt_dir), "revision": git_revision(),
        "command": " ".join(sys.argv), "n_hidden": mc.n_hidden,
        "ann_accuracy": score(data.y_test, ann, data.metric),
        "macs_per_inference": lstm_macs(mc.n_inputs, mc.n_hidden, mc.n_classes, data.X_test.shape[1]),
        "step_duration_ms": 20.0, "kappa_gate": args.kappa_gate, "gatings": {},
    }
    for gating in args.gatings:
        t0 = time.perf_counter()
        net = convert_lstm(ckpt.model, X_norm, SpikingLSTMSettings(gating=gating, max_rate=args.max_rate,
                                                                    kappa_gate=args.kappa_gate))
        convert_s = time.perf_counter() - t0
        res = simulate(net, data.X_test, SimulationSettings(batch_size=args.batch_size, seed=args.seed),
                       progress=not args.quiet)
        metrics["gatings"][gating] = {
            "accuracy": score(data.y_test, res.predictions, data.metric),
            "agreement_with_ann": float(np.mean(res.predictions == ann)),
            "spikes_per_inference": res.spikes_per_inference,
            "wall_seconds": res.wall_seconds, "convert_seconds": convert_s,
            "samples_per_second": len(data.y_test) / res.wall_seconds,
            "kappa_forget": net.kappa_forget, "h_scale": net.h_scale,
            "calibration_rms_error": net.tf_gate.rms_error,
            "windows": int(data.X_test.shape[1] + 1),
        }
        g = metrics["gatings"][gating]
        print(f"{gating:9s} accuracy {g['accuracy']:.3f} agreement {g['agreement_with_ann']:.3f} "
              f"spikes/inference {g['spikes_per_inference']:.0f} ({res.wall_seconds:.0f} s)", flush=True)
    print(f"ternary ANN accuracy {metrics['ann_accuracy']:.3f}; "
          f"{metrics['macs_per_inference']} MACs per inference", flush=True)
    write_json(out / "metrics.json", metrics)
    if not args.no_record:
        _save_records(metrics, ckpt.metrics, argv)
    return metrics


def _save_records(metrics: dict[str, Any], ckpt_metrics: dict[str, Any], argv: list[str] | None) -> None:
    """One ``make results`` record per gating (each gating may be run on its own test slice)."""
    from experiments.records import command_line, save_record  # noqa: PLC0415

    for gating, g in metrics["gatings"].items():
        row = {"gating": gating, "float_lstm": ckpt_metrics.get("float_accuracy"),
               "ternary_lstm": round(metrics["ann_accuracy"], 4), "spiking": round(g["accuracy"], 4),
               "agreement": round(g["agreement_with_ann"], 4), "n_test": metrics["n_test"],
               "spikes_per_inference": round(g["spikes_per_inference"]),
               "lstm_macs": metrics["macs_per_inference"],
               "samples_per_second": round(g["samples_per_second"], 2)}
        path = save_record(f"extra_spiking_lstm_{metrics['dataset']}_{gating}", {
            "title": f"Spiking LSTM (route 1, {gating} gating) on {metrics['dataset']}", "rows": [row],
            "note": "ternary_lstm and spiking on the same N test samples; float_lstm on the whole "
                    "test split. The exact gating is a simulator-only multiply-and-hold reference; "
                    "the shunting gating uses the inhibitory leak that DYNAP-SE's shunting synapse has."},
            command_line(argv, "experiments.spiking_lstm"))
        print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="recall", help="dataset name (default recall)")
    parser.add_argument("--checkpoint", help="a quantize-stage run directory (skips training)")
    parser.add_argument("--out", default="runs/spiking_lstm", help="new run directory to write")
    parser.add_argument("--limit-test", type=int, help="simulate only N test samples (stratified)")
    parser.add_argument("--norm-samples", type=int, default=500,
                        help="training samples for normalisation (default 500)")
    parser.add_argument("--hidden", type=int, help="hidden units when training")
    parser.add_argument("--epochs", type=int, help="training epochs")
    parser.add_argument("--max-rate", type=float, default=1000.0, help="rate of a gate value of 1 (Hz)")
    parser.add_argument("--kappa-gate", type=float, default=0.3,
                        help="shunting gating: leak increase when a complement gate fires at max rate")
    parser.add_argument("--gatings", nargs="+", default=["exact", "shunting"], choices=["exact", "shunting"])
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    parser.add_argument("--no-record", action="store_true",
                        help="do not write docs/data/extra_spiking_lstm_<dataset>_<gating>.json")
    args = parser.parse_args(argv)
    try:
        run(args, argv)
    except ValueError as exc:  # ConversionError, RunDirError, DatasetError: one clear line
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
