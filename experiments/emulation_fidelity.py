"""Does the emulated board repeat the direct Brian2 simulation? Per model and mismatch CV.

For each ternary checkpoint (a ``quantize`` run of a network the chip can carry: a
delay-free RNN or an ESN, trained with ``--shared-bias``) and each CV, this runs::

    rnn2dynapse simulate RUN --neuron dpi --input-coding rate --chip dynapse1 --mismatch CV --seed S
    rnn2dynapse map SIM
    rnn2dynapse emulate MAP --mismatch CV --seed S

and records both accuracies, the fraction of identical predictions and the spike counts in
``docs/data/extra_emulation_fidelity.json``. ``--chip dynapse1`` puts every bias-set parameter
on its code grid first (:func:`hardware.mapper.snap_to_chip`), so any difference left is the
mapping's. Each finished stage is reused when the command is run again.

    python -m experiments.emulation_fidelity --run-dirs runs/accuracy/ecg_esn_hw/quantize \\
        runs/accuracy/fashion_rnn_hw/quantize --cvs 0 0.2 --device cpp_standalone
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from experiments.main_job import run_stage, format_table
from experiments.records import DATA_DIR, command_line, save_record
from experiments.settings import EmulateSettings, MapSettings, SimulateSettings
from experiments.stages import emulate_stage, map_stage, simulate_stage
from transfer.files import read_json

__all__ = ["main", "fidelity_row"]

COLUMNS = ["dataset", "model", "cv", "seed", "n_test", "metric", "simulated", "emulated", "difference",
           "same_predictions", "simulated_spikes", "emulated_spikes", "cores"]


def fidelity_row(run_dir: str | Path, out: str | Path, *, cv: float, seed: int = 0,
                 limit_test: int | None = None, device: str = "runtime", progress: bool = True) -> dict[str, Any]:
    """Simulate (snapped), map and emulate ``run_dir`` at mismatch ``cv``; one table row."""
    out = Path(out)
    sim = run_stage(out, "simulate", lambda p: simulate_stage(
        SimulateSettings(str(run_dir), neuron="dpi", input_coding="rate", chip="dynapse1", mismatch=cv,
                         seed=seed, limit_test=limit_test, device=device), p, progress=progress))
    mapped = run_stage(out, "map", lambda p: map_stage(MapSettings(str(out / "simulate")), p))
    emu = run_stage(out, "emulate", lambda p: emulate_stage(
        EmulateSettings(str(out / "map"), mismatch=cv, seed=seed, device=device), p, progress=progress))
    return {"dataset": sim["dataset"], "model": sim["model"], "cv": cv, "seed": seed,
            "n_test": sim["n_test"], "metric": sim["metric"], "simulated": sim["accuracy"],
            "emulated": emu["accuracy"], "difference": emu["accuracy"] - sim["accuracy"],
            "same_predictions": emu["agreement_with_simulation"],
            "simulated_spikes": sim["spikes_per_inference"], "emulated_spikes": emu["spikes_per_inference"],
            "cores": mapped["cores_used"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dirs", nargs="+", required=True, help="quantize run directories")
    parser.add_argument("--cvs", nargs="+", type=float, default=[0.0, 0.2])
    parser.add_argument("--seed", type=int, default=0, help="the simulated chip (mismatch draw)")
    parser.add_argument("--limit-test", type=int, default=None, metavar="N")
    parser.add_argument("--device", choices=["runtime", "cpp_standalone"], default="runtime")
    parser.add_argument("--out", default="runs/emulation_fidelity")
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    bad = [cv for cv in args.cvs if not 0 <= cv < 1]
    if bad:
        parser.error(f"--cvs must lie in [0, 1), got {bad}")
    for run in args.run_dirs:
        path = Path(run) / "metrics.json"
        if not path.exists() or read_json(path).get("stage") != "quantize":
            parser.error(f"{run} is not a finished quantize run (rnn2dynapse quantize ...)")
    rows = []
    for run in args.run_dirs:
        for cv in args.cvs:
            out = Path(args.out) / f"{Path(run).parent.name}_cv{cv:g}_seed{args.seed}"
            rows.append(fidelity_row(run, out, cv=cv, seed=args.seed, limit_test=args.limit_test,
                                     device=args.device, progress=not args.quiet))
    print(format_table(rows, COLUMNS))
    figures = {"title": "Emulated board against the direct DPI simulation (parameters snapped to "
                        "DYNAP-SE1 bias codes, same mismatch draw)", "run_dirs": args.run_dirs,
               "rows": rows}
    command = command_line(argv, "experiments.emulation_fidelity")
    print(f"wrote {save_record('extra_emulation_fidelity', figures, command, Path(args.data_dir))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
