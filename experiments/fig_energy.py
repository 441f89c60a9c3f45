"""Spikes and energy per inference against the float network's multiply-accumulates.

    python -m experiments.fig_energy [--runs runs/accuracy runs/main]

Reads every finished chain (``summary.json`` of :func:`experiments.main_job.run_chain`,
written by ``table_accuracy`` and ``rnn2dynapse run``) under ``--runs`` and tabulates, per
model and spiking run: spikes per inference, the dense multiply-accumulates (MACs) of one
inference of the float model (:func:`hardware.energy.rnn_macs`) and their energy on a CPU
(:func:`hardware.energy.cpu_energy`, Horowitz 2014), and, where the chain was mapped and
emulated, the DYNAP-SE energy from the emulated spike and synaptic-event counts
(:mod:`hardware.energy`, Moradi et al. 2018). Nothing is estimated for runs that were not
emulated. Writes the record ``docs/data/extra_energy.json`` and ``docs/figures/energy.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from experiments.records import FIGURES_DIR, command_line, save_record
from transfer.files import read_json

__all__ = ["main", "energy_rows"]

_GATES = {"rnn": 1, "esn": 1, "lstm": 4, "lsnn": 1}
_RUN_LABELS = {"emulate": "emulated DYNAP-SE", "simulate_hw": "DPI, spike input"}


def _steps(stage_dir: Path, bio_seconds: float) -> int:
    """Sequence steps of a spiking run: its simulated time over the step duration it used."""
    net = stage_dir / "network.json"
    step = read_json(net)["step_duration"] if net.exists() else 0.02
    return int(round(bio_seconds / step))


def energy_rows(summary: dict[str, Any], chain_dir: Path) -> list[dict[str, Any]]:
    """One row per spiking stage of a chain summary."""
    from hardware.energy import cpu_energy, rnn_macs  # noqa: PLC0415

    model = read_json(chain_dir / "train" / "model.json")
    st = summary["stages"]
    rows = []
    for key, m in st.items():
        if not key.startswith("simulate_") and key != "emulate":
            continue
        steps = _steps(chain_dir / key, m["bio_seconds_per_sample"])
        # A spiking LSTM stage reports its LSTM's own count (gates, products, readout).
        macs = m.get("macs_per_inference") or rnn_macs(model["n_inputs"], model["n_hidden"],
                                                       model["n_classes"], steps, _GATES.get(summary["model"], 1))
        row = {"dataset": summary["dataset"], "model": summary["model"].upper(),
               "run": _RUN_LABELS[key] if key in _RUN_LABELS else key.split("_", 1)[1].upper(),
               "accuracy": round(float(m["accuracy"]), 4),
               "spikes": round(float(m["spikes_per_inference"]), 1), "float_MACs": macs,
               "cpu_uJ": round(1e6 * cpu_energy(macs).total, 3),
               "chip_uJ": round(1e6 * m["energy_joules_per_inference"], 3)
               if "energy_joules_per_inference" in m else None}
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=["runs/accuracy"],
                        help="directories searched for chain summaries (summary.json)")
    args = parser.parse_args(argv)
    rows = []
    for root in args.runs:
        for path in sorted(Path(root).rglob("summary.json")):
            summary = read_json(path)
            if "stages" in summary and (path.parent / "train" / "model.json").exists():
                for row in energy_rows(summary, path.parent):
                    if row not in rows:  # the same chain reached through two roots
                        rows.append(row)
    if not rows:
        parser.error(f"no finished chains (summary.json) under {' '.join(args.runs)}")

    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for r in rows:
        marker = "*" if r["chip_uJ"] is not None else "o"
        ax.scatter(r["float_MACs"], r["spikes"], marker=marker, s=60 if marker == "*" else 30)
        ax.annotate(f"{r['dataset']} {r['model']} {r['run']}", (r["float_MACs"], r["spikes"]),
                    fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set(xscale="log", yscale="log", xlabel="float multiply-accumulates per inference",
           ylabel="spikes per inference", title="spikes vs MACs (stars: emulated on DYNAP-SE)")
    fig.tight_layout()
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURES_DIR / "energy.png", dpi=120)
    record = save_record("extra_energy", {
        "title": "Spikes and energy per inference against the float network's MACs",
        "figure": "figures/energy.png", "rows": rows,
        "note": "cpu_uJ: 32-bit float MACs plus one SRAM weight read each (Horowitz 2014); "
                "chip_uJ: DYNAP-SE energy of the emulated spike and synaptic events (Moradi et al. "
                "2018), only for chains that were mapped and emulated. The CPU figure counts the "
                "arithmetic and weight reads alone (no control, no memory hierarchy beyond one SRAM "
                "read), so it is a lower bound for a real processor."},
        command_line(argv, "experiments.fig_energy"))
    print(f"{len(rows)} spiking runs; wrote {record}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
