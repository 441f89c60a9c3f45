"""NIR round trip on the full digits test set: snnTorch -> NIR -> rnn2dynapse -> NIR -> snnTorch.

1. Train a recurrent snnTorch network (Linear -> RLeaky, all-to-all, reset to zero, no reset
   delay -> Linear) on digits with BPTT; each row of the image is held for ``--steps`` steps
   (of snnTorch's NIR step, 0.1 ms) and the outputs of the last row's steps are summed.
2. Export it with snnTorch (``export_to_nir``), import it here (``rnn2dynapse import``:
   ternary weights under the 64-input cap, a description of LIF populations).
3. Export the imported run here (``rnn2dynapse export --nir``), import that file in snnTorch
   (``import_from_nir``) and compare its predictions with this project's discrete-time run
   of the same description on every test sample.
4. Take the imported run to the chip: ``simulate --neuron lif`` (the imported LIF network in
   Brian2), ``simulate --neuron dpi`` (DPI neurons, spike input, :mod:`transfer.nir_dpi`),
   ``--chip dynapse1`` (parameters snapped to bias codes), ``map``, ``emulate`` (nominal, and
   at mismatch CV 0.2, seed 1), each on the full test set.

Writes ``docs/data/extra_nir_roundtrip.json``::

    python -m experiments.nir_roundtrip [--epochs 40] [--steps 10]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import nir  # noqa: E402
import numpy as np  # noqa: E402
import snntorch as snn  # noqa: E402
import torch  # noqa: E402
from snntorch.export_nir import export_to_nir  # noqa: E402
from snntorch.import_nir import import_from_nir  # noqa: E402

from brian_models import nir_io  # noqa: E402
from experiments.nir_stages import export_stage, import_stage  # noqa: E402
from experiments.records import command_line, save_record  # noqa: E402
from experiments.settings import (EmulateSettings, ExportSettings, ImportSettings, MapSettings,  # noqa: E402
                                  SimulateSettings)
from experiments.stages import emulate_stage, map_stage, simulate_stage  # noqa: E402
from transfer.datasets import load_dataset  # noqa: E402


class DigitsSNN(torch.nn.Module):
    """Linear -> RLeaky -> Linear; ``forward`` is one time step (what snnTorch exports)."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, beta: float):
        super().__init__()
        self.fc = torch.nn.Linear(n_in, n_hidden)
        self.lif = snn.RLeaky(beta=beta, threshold=1.0, all_to_all=True, linear_features=n_hidden,
                              reset_mechanism="zero", reset_delay=False)
        self.out = torch.nn.Linear(n_hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.lif(self.fc(x))[0])

    def scores(self, x: torch.Tensor, readout_steps: int) -> torch.Tensor:
        spk, mem = self.lif.init_rleaky()
        total = 0.0
        for t in range(x.shape[1]):
            spk, mem = self.lif(self.fc(x[:, t]), spk, mem)
            if t >= x.shape[1] - readout_steps:
                total = total + self.out(spk)
        return total


def train(data, steps: int, epochs: int, hidden: int, seed: int) -> DigitsSNN:
    torch.manual_seed(seed)
    net = DigitsSNN(data.n_features, hidden, data.n_classes, beta=0.95)
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    X = torch.as_tensor(nir_io.present(data.X_train, steps), dtype=torch.float32)
    y = torch.as_tensor(data.y_train)
    for _ in range(epochs):
        for idx in torch.randperm(len(y)).split(64):
            loss = torch.nn.functional.cross_entropy(net.scores(X[idx], steps), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def snntorch_predictions(module: torch.nn.Module, X: np.ndarray, steps: int) -> np.ndarray:
    x = torch.as_tensor(nir_io.present(X, steps), dtype=torch.float32)
    state, total = None, 0.0
    for t in range(x.shape[1]):
        out, state = module(x[:, t], state)
        if t >= x.shape[1] - steps:
            total = total + out
    return total.argmax(1).numpy()


def to_chip(imported: Path, tmp: Path) -> dict:
    """Step 4: the imported run through simulate (LIF, DPI, DPI snapped), map and emulate."""
    keys = ("accuracy", "agreement_with_ann", "spikes_per_inference", "wall_seconds")
    out: dict = {}
    for name, kw in (("simulate_lif", {"neuron": "lif"}), ("simulate_dpi", {"neuron": "dpi"}),
                     ("simulate_dpi_current_input", {"neuron": "dpi", "input_coding": "current"}),
                     ("simulate_dpi_chip", {"neuron": "dpi", "chip": "dynapse1"})):
        m = simulate_stage(SimulateSettings(str(imported), **kw), tmp / name, progress=False)
        out[name] = {k: m[k] for k in keys}
    out["ann_accuracy"] = m["ann_accuracy"]
    out["time_scale"] = m["time_scale"]
    out["input_rate"] = m["lif_to_dpi"]["input_rate"]
    out["fit_rms_error"] = m["transfer_function"]["rms_error"]
    mapped = map_stage(MapSettings(str(tmp / "simulate_dpi_chip")), tmp / "map")
    out["map"] = {k: mapped[k] for k in ("cores_used", "max_fan_in", "warnings")}
    for name, kw in (("emulate", {}), ("emulate_mismatch_0.2_seed_1", {"mismatch": 0.2, "seed": 1})):
        m = emulate_stage(EmulateSettings(str(tmp / "map"), **kw), tmp / name, progress=False)
        out[name] = {k: m[k] for k in keys + ("agreement_with_simulation", "energy_joules_per_inference")
                     if k in m}
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--steps", type=int, default=10, help="0.1 ms steps per image row")
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args(argv)
    data = load_dataset("digits", seed=args.seed)
    t0 = time.perf_counter()
    net = train(data, args.steps, args.epochs, args.hidden, args.seed)
    with torch.no_grad():
        X_test = torch.as_tensor(nir_io.present(data.X_test, args.steps), dtype=torch.float32)
        snn_pred = net.scores(X_test, args.steps).argmax(1).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        nir.write(str(tmp / "snntorch.nir"), export_to_nir(net, torch.zeros(1, data.n_features), ignore_dims=[0]))
        float_pred, _ = nir_io.predict(nir_io.read(tmp / "snntorch.nir"), data.X_test, args.steps, args.steps)
        imported = import_stage(ImportSettings(str(tmp / "snntorch.nir"), steps_per_element=args.steps,
                                               readout_steps=args.steps, seed=args.seed), tmp / "imported")
        export_stage(ExportSettings(str(tmp / "imported"), str(tmp / "here.nir")))
        ours, _ = nir_io.predict(nir_io.read(tmp / "here.nir"), data.X_test, args.steps, args.steps)
        theirs = snntorch_predictions(import_from_nir(nir.read(str(tmp / "here.nir"))), data.X_test, args.steps)
        tern = np.load(tmp / "imported" / "predictions.npz")["ternary"]
        chip = to_chip(tmp / "imported", tmp)
    figures = {
        "dataset": "digits", "n_test": int(len(data.y_test)), "steps_per_row": args.steps, "dt": nir_io.DT,
        "hidden": args.hidden, "epochs": args.epochs,
        "snntorch_accuracy": float(np.mean(snn_pred == data.y_test)),
        "imported_float_agreement_with_snntorch": float(np.mean(float_pred == snn_pred)),
        "ternary_accuracy": imported["accuracy"], "ternary_agreement_with_float": imported["agreement_with_float"],
        "weight_relative_rms_error": imported["weight_relative_rms_error"], "max_fan_in": imported["max_fan_in"],
        "exported_here_accuracy": float(np.mean(ours == data.y_test)),
        "snntorch_import_accuracy": float(np.mean(theirs == data.y_test)),
        "snntorch_import_agreement": float(np.mean(theirs == ours)),
        "agreement_ternary_run_vs_exported": float(np.mean(tern == ours)),
        "chip": chip,
        "seconds": time.perf_counter() - t0,
    }
    print(json.dumps(figures, indent=1))
    if not args.no_record:
        save_record("extra_nir_roundtrip", figures, command_line(argv, "experiments.nir_roundtrip"))
    return figures


if __name__ == "__main__":
    main()
