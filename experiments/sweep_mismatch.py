"""Accuracy versus device mismatch: spiking accuracy of one ternary model over mismatch CVs.

Make a ternary checkpoint (a ``quantize`` run directory) first, then sweep::

    rnn2dynapse train --model rnn --dataset digits --out runs/mm/train
    rnn2dynapse quantize runs/mm/train --out runs/mm/quant
    python -m experiments.sweep_mismatch --run-dir runs/mm/quant --cvs 0 0.05 0.1 0.2 0.3 \\
        --seeds 0 1 2 --neurons lif dpi --limit-test 200

Every cell (neuron, cv, seed) runs :func:`experiments.stages.simulate_stage` with a frozen
mismatch draw of that CV from that seed (one simulated chip) into ``--out/runs/<key>/``. The
seed also draws the neurons' random initial phase, so the spread at ``cv = 0`` is not zero.
The cells are run by :func:`experiments.sweep.run_sweep`, so an interrupted sweep resumes
where it stopped (rerun the same command). Mean and standard deviation over seeds per
(neuron, cv) go to the record ``docs/data/extra_mismatch_<dataset>.json`` and the figure
``docs/figures/mismatch_<dataset>.png``; ``--replot DATASET`` redraws the figure from the
record alone.

``--finetuned-run-dir`` adds the mismatch-aware fine-tuned model as a second set of curves
over the same cells (``rnn2dynapse quantize runs/mm/train --mismatch-aware 0.2 --out
runs/mm/quant_mm``; any quantize run will do).

``--copies K`` simulates K copies of each network on their own neurons, averaged by the
readout (:func:`brian_models.description.replicate`); its record and figure get the suffix ``_xK``.
``--tag NAME`` appends ``_NAME`` as well, to keep a second fine-tuned model's sweep beside
the first.

On a dask cluster: start ``dask scheduler`` and ``dask worker tcp://HOST:8786 --nthreads 1``
from this repository's environment, then pass ``--scheduler tcp://HOST:8786``. The workers
write the simulation run directories under ``--out``, so ``--out`` and the run directories
must be on a filesystem the workers share (absolute paths are passed to them).
"""

from __future__ import annotations

import argparse
import math
import sys
from functools import partial
from pathlib import Path
from typing import Any

from experiments.cli import positive_int
from experiments.records import DATA_DIR, FIGURES_DIR, command_line, load_record, save_record
from experiments.sweep import Cell, SweepError, grid, run_sweep
from experiments.settings import SimulateSettings
from experiments.stages import simulate_stage
from transfer.files import RunDirError, read_json

__all__ = ["main", "simulate_cell", "aggregate", "plot", "VARIANTS", "CELL_METRICS"]

#: Curve labels of the models a sweep compares: the plain ternary model and the fine-tuned one.
VARIANTS = {"baseline": "ternary", "finetuned": "mismatch-aware fine-tuned"}

#: What each cell keeps from the simulate run's metrics.
CELL_METRICS = ("accuracy", "agreement_with_ann", "spikes_per_inference", "ann_accuracy", "n_test",
                "metric", "wall_seconds")

_NEURON_LABELS = {"lif": "LIF", "adex": "AdEx", "dpi": "DPI"}


def simulate_cell(params: dict[str, Any], *, run_dirs: dict[str, str], out_dir: str,
                  limit_test: int | None, noise: float = 0.0, device: str = "runtime",
                  copies: int = 1) -> dict[str, Any]:
    """Simulate one (variant, neuron, cv, seed) cell into ``out_dir/runs/<key>``; its metrics.

    A simulate run that finished before its cell was recorded (an interrupt in between) is
    read back rather than run again.
    """
    run = Path(out_dir) / "runs" / Cell.from_params(params).key
    if (run / "metrics.json").exists():
        metrics = read_json(run / "metrics.json")
    else:
        settings = SimulateSettings(run_dirs[params["variant"]], neuron=params["neuron"], mismatch=params["cv"],
                                    seed=params["seed"], limit_test=limit_test, noise=noise, device=device,
                                    copies=copies)
        metrics = simulate_stage(settings, run, progress=False)
    return dict({k: metrics.get(k) for k in CELL_METRICS}, run=str(run))


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``; 0 for a single value)."""
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return mean, math.sqrt(var)


def aggregate(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (variant, neuron, cv) over the finished cells: mean ± std over seeds.

    ``accuracy_std`` and ``agreement_std`` are sample standard deviations over the seeds
    (``ddof=1``; 0 when only one seed finished). Failed cells are left out of ``n_seeds``.
    """
    groups: dict[tuple[str, str, float], list[dict[str, Any]]] = {}
    for r in records:
        if r["status"] == "done":
            p = r["params"]
            groups.setdefault((p["variant"], p["neuron"], p["cv"]), []).append(r["result"])
    order = list(VARIANTS)
    rows = []
    for (variant, neuron, cv), results in sorted(groups.items(), key=lambda g: (order.index(g[0][0]), g[0][1:])):
        acc_mean, acc_std = _mean_std([m["accuracy"] for m in results])
        agr_mean, agr_std = _mean_std([m["agreement_with_ann"] for m in results])
        rows.append({
            "variant": variant,
            "neuron": neuron,
            "cv": cv,
            "n_seeds": len(results),
            "n_test": results[0]["n_test"],
            "accuracy_mean": acc_mean,
            "accuracy_std": acc_std,
            "agreement_mean": agr_mean,
            "agreement_std": agr_std,
            "spikes_mean": _mean_std([m["spikes_per_inference"] for m in results])[0],
            "ann_accuracy": results[0]["ann_accuracy"],
        })
    return rows


def plot(record_or_rows: dict[str, Any] | list[dict[str, Any]], path: str | Path) -> Path:
    """Draw accuracy against mismatch CV with ±1 std error bars, one curve per (variant, neuron).

    ``record_or_rows`` is a record (as :func:`experiments.records.load_record` returns it),
    its ``figures`` dict, or the rows alone. The ternary ANN's accuracy on the same test
    samples is drawn as a dotted line per variant.
    """
    from matplotlib.figure import Figure  # noqa: PLC0415 (Agg canvas, no pyplot state)

    figures = record_or_rows.get("figures", record_or_rows) if isinstance(record_or_rows, dict) else {}
    rows = figures.get("rows", []) if isinstance(record_or_rows, dict) else record_or_rows
    if not rows:
        raise ValueError("nothing to plot: the mismatch record has no rows (did every cell fail?)")
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.add_subplot()
    curves: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        curves.setdefault((r.get("variant", "baseline"), r["neuron"]), []).append(r)
    neurons = sorted({n for _, n in curves})
    colors = {n: f"C{i}" for i, n in enumerate(neurons)}
    for (variant, neuron), pts in curves.items():
        pts = sorted(pts, key=lambda r: r["cv"])
        label = _NEURON_LABELS.get(neuron, neuron)
        if variant != "baseline":
            label += f", {VARIANTS.get(variant, variant)}"
        ax.errorbar([r["cv"] for r in pts], [r["accuracy_mean"] for r in pts],
                    yerr=[r["accuracy_std"] for r in pts], color=colors[neuron], capsize=3,
                    marker="o" if variant == "baseline" else "s", mfc=None if variant == "baseline" else "none",
                    linestyle="-" if variant == "baseline" else "--", label=label)
    for variant in dict.fromkeys(v for v, _ in curves):
        ann = next(r.get("ann_accuracy") for r in rows if r.get("variant", "baseline") == variant)
        if ann is not None:
            ax.axhline(ann, color="0.4", linewidth=1, linestyle=":" if variant == "baseline" else "-.",
                       label=f"ANN ({VARIANTS.get(variant, variant)})")
    metric = figures.get("metric", "accuracy")
    n_test, n_seeds = rows[0].get("n_test"), max(r["n_seeds"] for r in rows)
    ax.set_xlabel("device mismatch CV (std / mean)")
    ax.set_ylabel(f"spiking {metric.replace('_', ' ')}")
    copies = figures.get("copies", 1)
    ax.set_title(f"{figures.get('dataset', '')}: {n_test} test samples, mean ± std over {n_seeds} seeds"
                 + (f", {copies} copies averaged" if copies > 1 else ""), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    return path


def _quantize_metrics(run_dir: str, option: str) -> dict[str, Any]:
    """The metrics of the checkpoint ``run_dir``, which must be a run the simulate stage accepts."""
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        raise RunDirError(f"{option} {run_dir} is not a finished run (no metrics.json); make one with "
                          "`rnn2dynapse train ... && rnn2dynapse quantize ...`")
    metrics = read_json(path)
    if metrics.get("stage") != "quantize":
        raise RunDirError(f"{option} {run_dir} holds a {metrics.get('stage')!r} run; the simulate stage "
                          "needs a quantize run (a ternary checkpoint)")
    return metrics


def _models_note(models: dict[str, tuple[str, dict[str, Any]]]) -> str:
    """Which checkpoints the curves are (``{label: (run_dir, its metrics)}``), with the
    fine-tuning settings that made them."""
    def describe(path: str, m: dict[str, Any]) -> str:
        how = [f"mismatch-aware CV {m['mismatch_aware_cv']:g}"] if m.get("mismatch_aware_cv") else []
        how += [f"distillation {m['distill']:g}"] if m.get("distill") else []
        return f"`{path}` (ternary ANN {100 * m['accuracy']:.2f} %{'; ' + ', '.join(how) if how else ''})"
    return "; ".join(f"{label}: {describe(*model)}" for label, model in models.items()) + "."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--run-dir", help="a quantize run directory (the ternary checkpoint)")
    parser.add_argument("--finetuned-run-dir", default=None,
                        help="the mismatch-aware fine-tuned checkpoint, swept as a second set of curves")
    parser.add_argument("--cvs", nargs="+", type=float, default=[0.0, 0.05, 0.1, 0.2, 0.3],
                        help="mismatch coefficients of variation, each in [0, 1)")
    parser.add_argument("--device", choices=["runtime", "cpp_standalone"], default="runtime",
                        help="Brian2 device of every cell (cpp_standalone for full test sets)")
    parser.add_argument("--noise", type=float, default=0.0,
                        help="membrane noise current std in A in every cell (as `simulate --noise`)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="one simulated chip per seed")
    parser.add_argument("--neurons", nargs="+", default=["lif", "dpi"], choices=sorted(_NEURON_LABELS))
    parser.add_argument("--limit-test", type=positive_int, default=None, metavar="N",
                        help="simulate only the first N test samples (default: the quantize run's test split)")
    parser.add_argument("--backend", choices=["joblib", "dask"], default=None,
                        help="joblib on this machine, or dask (default: dask when --scheduler is given)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="dask scheduler address, e.g. tcp://10.0.0.1:8786 (default with --backend "
                             "dask: a local cluster of --n-jobs workers)")
    parser.add_argument("--n-jobs", type=int, default=2,
                        help="parallel simulations (joblib processes, or the workers of a local dask cluster)")
    parser.add_argument("--out", default="runs/sweep_mismatch", help="cells and simulate runs go here")
    parser.add_argument("--data-dir", default=str(DATA_DIR), help="where the record is written")
    parser.add_argument("--figures-dir", default=str(FIGURES_DIR), help="where the figure is written")
    parser.add_argument("--replot", metavar="DATASET", default=None,
                        help="only redraw the figure of DATASET from its record in --data-dir")
    parser.add_argument("--copies", type=positive_int, default=1, metavar="K",
                        help="K copies of each network on their own neurons, averaged by the readout")
    parser.add_argument("--tag", default=None, help="suffix of the record and figure names")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    figures_dir, data_dir = Path(args.figures_dir), Path(args.data_dir)

    if args.replot:
        record = load_record(f"extra_mismatch_{args.replot}", data_dir)
        if record is None:
            parser.error(f"no record extra_mismatch_{args.replot}.json in {data_dir}; run the sweep first")
        print(f"wrote {plot(record, figures_dir / f'mismatch_{args.replot}.png')}")
        return 0
    if not args.run_dir:
        parser.error("--run-dir is required (or --replot DATASET)")
    bad = [cv for cv in args.cvs if not (0 <= cv < 1)]
    if bad:
        parser.error(f"--cvs must lie in [0, 1), got {bad}")
    backend = args.backend or ("dask" if args.scheduler else "joblib")

    try:
        base = _quantize_metrics(args.run_dir, "--run-dir")
        models = {"ternary": (args.run_dir, base)}
        run_dirs = {"baseline": str(Path(args.run_dir).resolve())}
        if args.finetuned_run_dir:
            tuned = _quantize_metrics(args.finetuned_run_dir, "--finetuned-run-dir")
            models["fine-tuned"] = (args.finetuned_run_dir, tuned)
            if tuned.get("dataset") != base.get("dataset"):
                raise RunDirError(f"--finetuned-run-dir is a {tuned.get('dataset')!r} model but --run-dir a "
                                  f"{base.get('dataset')!r} one; the curves would not be comparable")
            run_dirs["finetuned"] = str(Path(args.finetuned_run_dir).resolve())
        out = Path(args.out).resolve()
        cells = grid(variant=list(run_dirs), neuron=args.neurons, cv=args.cvs, seed=args.seeds)
        fn = partial(simulate_cell, run_dirs=run_dirs, out_dir=str(out), limit_test=args.limit_test,
                     noise=args.noise, device=args.device, copies=args.copies)
        settings = dict(run_dirs, limit_test=args.limit_test, noise=args.noise)  # resuming under other ones is refused
        if args.copies > 1:
            settings["copies"] = args.copies
        records = run_sweep(cells, fn, out, backend=backend, n_jobs=args.n_jobs, scheduler=args.scheduler,
                            progress=not args.quiet, settings=settings, preload=("brian2",))
    except (RunDirError, SweepError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    from experiments.main_job import format_table  # noqa: PLC0415

    dataset = base["dataset"]
    name = dataset + (f"_x{args.copies}" if args.copies > 1 else "") + (f"_{args.tag}" if args.tag else "")
    rows = aggregate(records)
    failed = [{"key": r["key"], "params": r["params"], "error": r["error"]}
              for r in records if r["status"] == "failed"]
    figures = {
        "title": f"Accuracy vs device mismatch ({dataset}, {base.get('model')}, mean ± std over seeds"
                 + (f", {args.copies} copies" if args.copies > 1 else "") + (f", {args.tag}" if args.tag else "") + ")",
        "dataset": dataset,
        "model": base.get("model"),
        "metric": base.get("metric", "accuracy"),
        "run_dir": args.run_dir,
        "finetuned_run_dir": args.finetuned_run_dir,
        "cvs": args.cvs,
        "seeds": args.seeds,
        "rows": rows,
        "failed": failed,
        "figure": f"figures/mismatch_{name}.png",
        "noise": args.noise,
        "copies": args.copies,
        "note": _models_note(models),
    }
    print(format_table(rows, ["variant", "neuron", "cv", "n_seeds", "n_test", "accuracy_mean", "accuracy_std",
                              "agreement_mean", "spikes_mean", "ann_accuracy"]) if rows else "no cell finished")
    if rows:
        path = save_record(f"extra_mismatch_{name}", figures,
                           command_line(argv, "experiments.sweep_mismatch"), data_dir)
        print(f"wrote {path}")
        print(f"wrote {plot(figures, figures_dir / f'mismatch_{name}.png')}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
