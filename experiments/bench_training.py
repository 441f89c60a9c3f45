"""Benchmark: training seconds per epoch for each model (BPTT; the ESN's closed-form fit).

    python -m experiments.bench_training [--dataset fashion] [--limit-train 10000] [--epochs 2]

Prints a table and writes the record ``docs/data/bench_training.json``.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from experiments.main_job import format_table
from experiments.records import command_line, save_record
from transfer.datasets import load_dataset
from transfer.models import ModelConfig, build_model
from transfer.train import TrainConfig, fit, pick_device

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion")
    parser.add_argument("--limit-train", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--models", nargs="+", default=["rnn", "lstm", "esn"])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--no-record", action="store_true", help="print only, write no record")
    args = parser.parse_args(argv)

    data = load_dataset(args.dataset).subset(limit_train=args.limit_train, seed=0)
    rows = []
    for kind in args.models:
        model = build_model(ModelConfig(kind, data.n_features, args.hidden, data.n_classes), seed=0)
        cfg = TrainConfig(epochs=args.epochs, patience=args.epochs + 1, device=args.device)
        t0 = time.perf_counter()
        result = fit(model, data, cfg, progress=False)
        wall = time.perf_counter() - t0
        epochs = result.epochs_run
        rows.append({"model": kind, "hidden": args.hidden, "train_samples": len(data.y_train),
                     "epochs": epochs, "seconds_per_epoch": wall / epochs,
                     "samples_per_second": len(data.y_train) * epochs / wall})
    device = str(pick_device(args.device))
    print(f"training speed on {args.dataset} ({data.n_steps} steps x {data.n_features} features), "
          f"device {device}, {torch.get_num_threads()} torch threads, {os.cpu_count()} cores")
    print(format_table(rows, ["model", "hidden", "train_samples", "epochs", "seconds_per_epoch",
                              "samples_per_second"]))
    if not args.no_record:
        save_record("bench_training", {"dataset": args.dataset, "device": device,
                                       "cpu_count": os.cpu_count(), "rows": rows},
                    command_line(argv, "experiments.bench_training"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
