"""Raster and membrane traces of a transferred network on one test sequence.

    python -m experiments.fig_raster --run-dir runs/accuracy/digits_rnn/quantize --neuron lif

Converts the ternary checkpoint in ``--run-dir`` (a ``quantize`` run), simulates test
sequence ``--sample`` in Brian2 with state monitors (runtime device) and draws the input,
the spike raster of the hidden population with the sequence-step boundaries, and the
membrane variable of ``--traces`` neurons. Writes ``docs/figures/raster_<dataset>_<neuron>.png``
and the record ``docs/data/extra_raster_<dataset>_<neuron>.json`` (spike counts per step).
"""

from __future__ import annotations

import argparse

import numpy as np

from experiments.records import FIGURES_DIR, command_line, save_record

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", required=True, help="a quantize run directory (RNN or ESN)")
    parser.add_argument("--neuron", default="lif", choices=["lif", "adex", "dpi"])
    parser.add_argument("--sample", type=int, default=0, help="index into the test split")
    parser.add_argument("--traces", type=int, default=4, help="neurons whose membrane is drawn")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from brian_models.network import BatchNetwork, SimulationSettings  # noqa: PLC0415
    from brian_models.simulate import readout_scores  # noqa: PLC0415
    from experiments.runs import load_stage_data, split_seed  # noqa: PLC0415
    from transfer.checkpoint import Checkpoint  # noqa: PLC0415
    from transfer.convert import ConversionSettings, convert  # noqa: PLC0415
    from transfer.train import predict  # noqa: PLC0415

    ckpt = Checkpoint.load(args.run_dir)
    s = ckpt.settings
    data = load_stage_data(s["dataset"], split_seed(s), s.get("limit_train"), None)
    if not 0 <= args.sample < len(data.y_test):
        parser.error(f"--sample must lie in 0..{len(data.y_test) - 1}")
    X = data.X_test[args.sample:args.sample + 1]
    net = convert(ckpt.model, data.X_train[:1000], ConversionSettings(neuron=args.neuron))
    bn = BatchNetwork(net, X.shape[1], SimulationSettings(batch_size=1, seed=args.seed))
    counts = bn.run(X, trace=args.traces)
    hidden = net.readout.populations[0]
    tr = bn.traces[hidden]
    pred = int(readout_scores(net, counts).argmax(1)[0])
    ann = int(predict(ckpt.model, X)[0])

    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    step_ms = 1e3 * net.step_duration
    T = X.shape[1]
    fig, axes = plt.subplots(3, 1, figsize=(8, 7.5), sharex=True,
                             gridspec_kw={"height_ratios": [1, 2.2, 1.6]})
    axes[0].imshow(X[0].T, aspect="auto", cmap="gray_r", extent=(0, T * step_ms, X.shape[2], 0))
    axes[0].set(ylabel="input feature", title=f"{data.name} test sample {args.sample}: label "
                f"{data.class_names[data.y_test[args.sample]]}, ANN {data.class_names[ann]}, "
                f"spiking {args.neuron.upper()} {data.class_names[pred]}")
    axes[1].plot(1e3 * tr["spike_t"], tr["spike_i"], "|", ms=3, color="k")
    axes[1].set(ylabel=f"{hidden} neuron", ylim=(-0.5, net.population(hidden).size - 0.5))
    var = type(net.population("hidden").params).phase.name
    unit, scale = ("mV", 1e3) if var == "v" else ("nA", 1e9)
    for k in range(tr["value"].shape[0]):
        axes[2].plot(1e3 * tr["t"], scale * tr["value"][k], lw=0.8, label=f"neuron {k}")
    axes[2].set(xlabel="time (ms)", ylabel=f"{var} ({unit})")
    axes[2].legend(fontsize=7, ncol=4, loc="upper right")
    for ax in axes[1:]:
        for t in range(1, T):
            ax.axvline(t * step_ms, color="0.8", lw=0.5, zorder=0)
    fig.tight_layout()
    name = f"raster_{data.name}_{args.neuron}"
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURES_DIR / f"{name}.png", dpi=120)
    per_step = counts[hidden][0].sum(1)
    rows = [{"step": t + 1, "spikes": int(per_step[t])} for t in range(T)]
    record = save_record(f"extra_{name}", {
        "title": f"Raster and membrane traces: {data.name} test sample {args.sample}, spiking "
                 f"{args.neuron.upper()}", "figure": f"figures/{name}.png", "rows": rows,
        "label": int(data.y_test[args.sample]), "ann_prediction": ann, "spiking_prediction": pred},
        command_line(argv, "experiments.fig_raster"))
    print(f"{int(per_step.sum())} hidden spikes; label {data.y_test[args.sample]}, ANN {ann}, "
          f"spiking {pred}; wrote {FIGURES_DIR / (name + '.png')} and {record}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
