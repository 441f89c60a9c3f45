"""What ternarization and the DYNAP-SE fan-in cap cost a vanilla RNN, by hidden width.

    python -m experiments.table_width --dataset fashion --hidden 64 128 256

For each width, trains the float RNN and fine-tunes it ternary twice (with the 64-input cap
and without it, ``measure_cap_cost``) through :func:`experiments.main_job.run_chain` into
``runs/width/<dataset>_rnn_h<H>/`` (finished stages are reused). The record
``docs/data/extra_quant_width_<dataset>.json`` holds one row per width. A neuron of a
width-H RNN has ``n_inputs + H`` candidate inputs; the cap keeps 64 of them.

``--train-fan-in 64`` trains the float models under the cap as well (``train --max-fan-in``,
gradual pruning), into ``runs/width/<dataset>_rnn_h<H>_fan64/`` and the record
``extra_quant_width_<dataset>_fan64.json``: the gap then measures ternarization alone.
A seed other than 0 adds ``_seed<N>`` to the run directories and the record.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from experiments.cli import positive_int
from experiments.main_job import run_chain
from experiments.records import DATA_DIR, command_line, save_record
from transfer.files import read_json

__all__ = ["main", "width_row"]


def width_row(summary: dict[str, Any], n_inputs: int) -> dict[str, Any]:
    """One row (percent, two decimals) from a chain summary without spiking stages."""
    tr, q = summary["stages"]["train"], summary["stages"]["quantize"]
    pct = lambda v: None if v is None else round(100 * float(v), 2)  # noqa: E731
    capped, uncapped = q["accuracy"], q.get("qat_uncapped_accuracy")
    return {
        "hidden": tr["n_hidden"],
        "candidate inputs": tr["n_hidden"] + n_inputs,
        "float fan-in": tr.get("max_fan_in"),
        "fan-in cap": q.get("fan_in_cap"),
        "max fan-in": q["max_fan_in"],
        "float %": pct(tr["accuracy"]),
        "ternary PTQ %": pct(q["ptq_accuracy"]),
        "ternary QAT, cap %": pct(capped),
        "ternary QAT, no cap %": pct(uncapped),
        "gap, cap (points)": pct(tr["accuracy"] - capped),
        "gap, no cap (points)": None if uncapped is None else pct(tr["accuracy"] - uncapped),
        "s/epoch": round(tr["seconds_per_epoch"], 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion")
    parser.add_argument("--hidden", nargs="+", type=positive_int, default=[64, 128, 256])
    parser.add_argument("--epochs", type=positive_int, default=None)
    parser.add_argument("--limit-train", type=positive_int, default=None, metavar="N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-fan-in", type=positive_int, default=None, metavar="K",
                        help="train the float models under this fan-in cap (default: dense)")
    parser.add_argument("--runs", default="runs/width", help="where the run directories go")
    parser.add_argument("--data-dir", default=str(DATA_DIR), help="where the record is written")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    name = Path(args.dataset).stem
    tags = []  # (name suffix, title part) of each non-default setting
    if args.train_fan_in is not None:
        tags.append((f"_fan{args.train_fan_in}", f"float trained at fan-in {args.train_fan_in}"))
    if args.seed != 0:
        tags.append((f"_seed{args.seed}", f"seed {args.seed}"))
    suffix = "".join(s for s, _ in tags)
    rows = []
    for hidden in args.hidden:
        out = Path(args.runs) / f"{name}_rnn_h{hidden}{suffix}"
        summary = run_chain(args.dataset, out, model="rnn",
                            hidden=hidden, epochs=args.epochs, seed=args.seed,
                            limit_train=args.limit_train, neurons=(), measure_cap_cost=True,
                            train_fan_in=args.train_fan_in, progress=not args.quiet)
        rows.append(width_row(summary, read_json(out / "train" / "model.json")["n_inputs"]))
    float_kind = ("Float RNN (ReLU, BPTT)" if args.train_fan_in is None else
                  f"Float RNN (ReLU, BPTT) trained under a fan-in cap of {args.train_fan_in} "
                  "(gradual magnitude pruning)")
    note = (f"{float_kind} against its ternary fine-tuning on all {summary['n_test']} test "
            f"sequences, seed {args.seed}. The cap keeps each neuron's 64 strongest inputs "
            "(DYNAP-SE CAM); the no-cap column is the same fine-tuning without it.")
    title = f"Ternary cost vs RNN width ({', '.join([name] + [t for _, t in tags])})"
    save_record(f"extra_quant_width_{name}{suffix}",
                {"title": title, "rows": rows, "note": note},
                command_line(argv, "experiments.table_width"), Path(args.data_dir))
    for r in rows:
        print(r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
