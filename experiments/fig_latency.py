"""Latency: spiking accuracy versus time into the sequence, and the time to a stable decision.

    python -m experiments.fig_latency --run-dir runs/accuracy/digits_rnn/quantize --neuron lif

Converts the ternary checkpoint in ``--run-dir`` (a ``quantize`` run), simulates the first
``--limit-test`` test sequences once in Brian2 and reads the readout after every step:
the accuracy of the decision taken if the sequence ended there, and per sample the time
after which the running decision no longer changes (``latency_ms`` of ``simulate``). The
ANN's accuracy when it reads its state after the same step is the reference curve. Writes
the record ``docs/data/extra_latency_<dataset>_<neuron>.json`` and the figure
``docs/figures/latency_<dataset>_<neuron>.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from experiments.records import FIGURES_DIR, command_line, save_record

__all__ = ["main", "ann_accuracy_by_step"]


@torch.no_grad()
def ann_accuracy_by_step(model: torch.nn.Module, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Accuracy of the ANN's readout applied to its state after each step ``[T]``."""
    _, states = model(torch.as_tensor(X, dtype=torch.float32), return_states=True)
    scores = states.numpy() @ model.w_out.detach().numpy().T + model.b_out.detach().numpy()
    return (scores.argmax(-1) == y[:, None]).mean(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", required=True, help="a quantize run directory (RNN)")
    parser.add_argument("--neuron", default="lif", choices=["lif", "adex", "dpi"])
    parser.add_argument("--limit-test", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from brian_models.network import SimulationSettings  # noqa: PLC0415 (Brian2 on demand)
    from brian_models.simulate import readout_scores, simulate  # noqa: PLC0415
    from experiments.runs import load_stage_data, split_seed  # noqa: PLC0415
    from transfer.checkpoint import Checkpoint  # noqa: PLC0415
    from transfer.convert import ConversionSettings, convert  # noqa: PLC0415

    ckpt = Checkpoint.load(args.run_dir)
    if ckpt.config.kind != "rnn":
        parser.error(f"{args.run_dir} holds a {ckpt.config.kind}; this figure reads an RNN's per-step readout")
    s = ckpt.settings
    data = load_stage_data(s["dataset"], split_seed(s), s.get("limit_train"), args.limit_test)
    net = convert(ckpt.model, data.X_train[:1000], ConversionSettings(neuron=args.neuron))
    result = simulate(net, data.X_test, SimulationSettings(batch_size=128, seed=args.seed))
    T = data.X_test.shape[1]
    step_ms = 1e3 * net.step_duration
    snn = np.array([(readout_scores(net, result.counts, t).argmax(1) == data.y_test).mean()
                    for t in range(1, T + 1)])
    ann = ann_accuracy_by_step(ckpt.model, data.X_test, data.y_test)
    latency_ms = result.latency_steps * step_ms
    rows = [{"step": t + 1, "time_ms": (t + 1) * step_ms, "ann_accuracy": round(float(ann[t]), 4),
             "spiking_accuracy": round(float(snn[t]), 4),
             "decided_fraction": round(float(np.mean(latency_ms <= (t + 1) * step_ms)), 4)}
            for t in range(T)]

    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    t_ms = np.arange(1, T + 1) * step_ms
    a1.plot(t_ms, 100 * ann, "o-", label="ternary ANN")
    a1.plot(t_ms, 100 * snn, "s-", label=f"spiking {args.neuron.upper()}")
    a1.set(xlabel="time into the sequence (ms)", ylabel="accuracy (%)",
           title="decision if the sequence ended here")
    a1.legend()
    a2.hist(latency_ms, bins=np.arange(0, T + 1) * step_ms + step_ms / 2, color="0.4")
    a2.set(xlabel="time to a stable decision (ms)", ylabel="test sequences",
           title=f"median {np.median(latency_ms):.0f} ms")
    fig.tight_layout()
    name = f"latency_{data.name}_{args.neuron}"
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURES_DIR / f"{name}.png", dpi=120)
    record = save_record(f"extra_{name}", {
        "title": f"Latency: {data.name}, ternary RNN as spiking {args.neuron.upper()} "
                 f"({len(data.y_test)} test sequences)",
        "figure": f"figures/{name}.png", "rows": rows,
        "median_latency_ms": float(np.median(latency_ms)), "mean_latency_ms": float(latency_ms.mean()),
        "note": "Accuracy if the readout were taken after each step; the ANN reads its own state "
                "after the same step. 'decided' is the fraction of sequences whose running decision "
                "no longer changes after that time."},
        command_line(argv, "experiments.fig_latency"))
    print(f"median time to a stable decision {np.median(latency_ms):.0f} ms; "
          f"final spiking accuracy {snn[-1]:.4f} (ANN {ann[-1]:.4f}); wrote {record}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
