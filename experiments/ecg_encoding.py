"""How signed ECG reaches the chip: min/max scaling, ON/OFF channel pairs or a delta modulator.

    python -m experiments.ecg_encoding [--thresholds 0.05 0.1 0.2] [--seeds 0 1]

ECG5000's z-normalised beats (140 samples, 7 per sequence element) are written as ``.npz``
files in three encodings, each a spike-rate input in [0, 1] the chip can take: min/max
scaling by the training split (the ``ecg5000`` dataset), the signed beats as they are (the
``.npz`` loader splits them into ON/OFF channel pairs, :func:`transfer.datasets.onoff_from_train`),
and UP/DOWN event counts of an asynchronous delta modulator at each ``--thresholds`` (in
z units; :func:`transfer.datasets.delta_modulate`, counts divided by the training split's
largest). Each is trained as the float RNN (100 epochs at 1e-2, the best validation epoch
kept, as for any ``.npz``) and quantized with the defaults, same validation split and seed; the
record ``docs/data/extra_ecg_encoding.json`` gives 5-class accuracy and normal-vs-abnormal
balanced accuracy on the 4500 test beats.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from experiments import api
from experiments.main_job import format_table
from experiments.records import command_line, save_record
from experiments.runs import run_data
from transfer.checkpoint import Checkpoint
from transfer.datasets import (ECG5000_CLASSES, ECG5000_NORMAL, binary_balanced_accuracy, delta_modulate,
                               ecg5000_files, minmax_from_train, read_ecg5000_file)
from transfer.files import read_json
from transfer.train import predict

__all__ = ["main", "encodings"]

STEP = 7  # samples per sequence element, as the ecg5000 dataset


def encodings(train: np.ndarray, test: np.ndarray, thresholds: list[float]) -> dict[str, tuple[np.ndarray, ...]]:
    """``{name: (X_train, X_test)}`` with ``X [N, 140 / STEP, F]`` for each encoding."""
    def steps(a: np.ndarray) -> np.ndarray:
        return a.reshape(len(a), -1, STEP)

    out = {"minmax": tuple(steps(a) for a in minmax_from_train(train, test)),
           "onoff (signed npz)": (steps(train), steps(test))}
    for th in thresholds:
        ev_train, ev_test = delta_modulate(train, th), delta_modulate(test, th)
        top = max(float(ev_train.max()), 1.0)
        # [N, L, 2] -> [N, T, STEP * 2]: the UP counts of an element's samples, then its DOWN counts
        out[f"delta {th:g}"] = tuple(np.clip(e / top, 0, 1).reshape(len(e), -1, STEP, 2).transpose(0, 1, 3, 2)
                                     .reshape(len(e), -1, 2 * STEP) for e in (ev_train, ev_test))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--out", default="runs/ecg_encoding")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--data-dir", default=None, help="where the record goes (default docs/data)")
    args = parser.parse_args(argv)
    files = ecg5000_files()
    X, y = read_ecg5000_file(files["train"])
    X_test, y_test = read_ecg5000_file(files["test"])
    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, (tr, te) in encodings(X, X_test, args.thresholds).items():
        tag = name.split(" (")[0].replace(" ", "")  # minmax, onoff, delta0.1
        path = root / f"ecg5000_{tag}.npz"
        np.savez_compressed(path, X_train=tr.astype(np.float32), y_train=y, X_test=te.astype(np.float32),
                            y_test=y_test, class_names=np.array(ECG5000_CLASSES), name=f"ecg5000_{tag}",
                            metric="accuracy")
        for seed in args.seeds:
            run = root / f"{tag}_s{seed}"
            if not (run / "quantize" / "metrics.json").exists():
                t = api.train(run / "train", model="rnn", dataset=str(path), seed=seed, epochs=args.epochs or 100,
                              lr=1e-2)
                api.quantize(t, run / "quantize")
            for stage in ("train", "quantize"):
                m = read_json(run / stage / "metrics.json")
                ckpt = Checkpoint.load(run / stage)
                data = run_data(ckpt)  # the input as the model read it (a signed .npz as ON/OFF pairs)
                pred = predict(ckpt.model, data.X_test)
                abnormal = [c for c in range(len(ECG5000_CLASSES)) if c != ECG5000_NORMAL]
                rows.append({"encoding": name, "channels": int(data.X_test.shape[2]), "seed": seed, "stage": stage,
                             "accuracy %": round(100 * m["accuracy"], 2),
                             "normal vs abnormal %": round(100 * binary_balanced_accuracy(y_test, pred, abnormal), 2),
                             "input mean": round(float(data.X_test.mean()), 4)})
    print(format_table(rows, list(rows[0])))
    if not args.no_record:
        path = save_record("extra_ecg_encoding", {
            "title": "ECG5000: how signed input reaches the chip (float RNN and its ternary version)",
            "rows": rows,
            "note": "Three encodings of the same z-normalised beats, each a rate input in [0, 1]: min/max scaling "
                    "by the training split, ON/OFF channel pairs, and the UP/DOWN counts of a delta modulator "
                    "(threshold in z units). 'input mean' (test split) is proportional to the input spikes "
                    "the chip would receive. 4500 test beats; validation carved from the 500 training beats."},
            command_line(argv, "experiments.ecg_encoding"), **({"data_dir": Path(args.data_dir)} if args.data_dir
                                                               else {}))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
