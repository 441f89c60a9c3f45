"""The main job (``make run`` / ``rnn2dynapse run``): the whole chain on one dataset.

Runs each stage into a sub-directory of ``out`` (``train``, ``quantize``, ...), then prints
one table of what was measured and writes ``summary.json``. A stage whose directory
already holds a finished run is reused, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from transfer.files import read_json, write_json

__all__ = ["run_chain", "format_table"]


def _stage(out: Path, name: str, fn: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """Run ``fn`` into ``out/name`` unless that directory already holds a finished run."""
    path = out / name
    if (path / "metrics.json").exists():
        print(f"[{name}] reusing finished run in {path}")
        return read_json(path / "metrics.json")
    print(f"[{name}] running ...", flush=True)
    t0 = time.perf_counter()
    metrics = fn(path)
    print(f"[{name}] done in {time.perf_counter() - t0:.1f} s", flush=True)
    return metrics


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain-text table with one row per dict."""
    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    body = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line, sep] + ["  ".join(v.ljust(w) for v, w in zip(b, widths)) for b in body])


def run_chain(dataset: str, out: Path, *, model: str = "rnn", hidden: int | None = None,
              epochs: int | None = None, seed: int = 0, limit_train: int | None = None,
              limit_test: int | None = None, neurons: tuple[str, ...] = ("lif", "dpi"),
              simulate_limit_test: int | None = None, measure_cap_cost: bool = False,
              progress: bool = True) -> dict[str, Any]:
    """Train, quantize and simulate (one run per neuron model) on ``dataset``; print one table.

    ``simulate_limit_test`` simulates only the first N test samples (the float and ternary
    figures always use the whole test split).
    """
    from .stages import quantize_stage, simulate_stage, train_stage

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    results["train"] = _stage(out, "train", lambda p: train_stage(
        model, dataset, p, hidden=hidden, epochs=epochs, seed=seed, limit_train=limit_train,
        limit_test=limit_test, progress=progress))
    results["quantize"] = _stage(out, "quantize", lambda p: quantize_stage(
        out / "train", p, measure_cap_cost=measure_cap_cost, progress=progress))
    for neuron in neurons:
        results[f"simulate_{neuron}"] = _stage(out, f"simulate_{neuron}", lambda p, n=neuron: simulate_stage(
            out / "quantize", p, neuron=n, limit_test=simulate_limit_test, progress=progress))

    rows = [
        {"stage": "float (torch)", "accuracy": results["train"]["accuracy"],
         "wall_s": results["train"].get("train_seconds")},
        {"stage": "ternary, post-training", "accuracy": results["quantize"]["ptq_accuracy"]},
        {"stage": "ternary + QAT (fan-in<=64)", "accuracy": results["quantize"]["accuracy"],
         "wall_s": results["quantize"].get("quantize_seconds")},
    ]
    for neuron in neurons:
        m = results[f"simulate_{neuron}"]
        rows.append({"stage": f"spiking {neuron.upper()} (Brian2)", "accuracy": m["accuracy"],
                     "agreement": m["agreement_with_ann"], "spikes": m["spikes_per_inference"],
                     "latency_ms": m["latency_ms"], "wall_s": m["wall_seconds"]})
    table = format_table(rows, ["stage", "accuracy", "agreement", "spikes", "latency_ms", "wall_s"])
    summary = {"dataset": results["train"]["dataset"], "model": model, "seed": seed,
               "metric": results["train"]["metric"], "n_test": results["train"]["n_test"],
               "stages": results, "table": rows, "wall_seconds": time.perf_counter() - t0}
    write_json(out / "summary.json", summary)
    print()
    print(f"rnn2dynapse run: {summary['dataset']} / {model}, {summary['n_test']} test samples, "
          f"metric {summary['metric']}")
    print(table)
    print(f"\nwrote {out / 'summary.json'}")
    return summary
