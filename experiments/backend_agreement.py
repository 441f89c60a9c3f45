"""The torch chip model against Brian2 on a mapped network: the same predictions?

    python -m experiments.backend_agreement runs/chip/digits_rnn [--chips 0 1 2] [--cv 0.2]
                                            [--backend torch|torch-fast] [--device cpp_standalone]
                                            [--limit-test N] [--batch-size B] [--jobs J]

``RUN`` is a chip path run directory (:mod:`experiments.chip_path`). Its Brian2 emulations (the
nominal chip ``emulate`` and ``emulate_cv<cv>_chip<seed>``, the names ``chip_path`` uses) are
repeated with ``emulate --backend torch`` (float64, dt 0.1 ms, the step Brian2 takes) into
``RUN/torch_<name>``, or with ``--backend torch-fast`` (compiled, float32) into
``RUN/torchfast_<name>``; the record ``docs/data/extra_backend_agreement_<run name>[_fast].json``
gives per chip the fraction of test samples with the same prediction, both accuracies, both
spike counts per inference and both wall times. Missing Brian2 emulations are run first (on
``--device``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from experiments.chip_path import chip_run_parser, parse_chip_run
from experiments.main_job import BACKEND_PREFIX, format_table, run_stage
from experiments.records import command_line, save_record
from experiments.settings import EmulateSettings
from transfer.files import read_json

__all__ = ["main"]

COLUMNS = ["chip", "cv", "backend", "n_test", "same_prediction", "brian2", "torch", "brian2_spikes",
           "torch_spikes", "brian2_s", "torch_s"]


def main(argv: list[str] | None = None) -> int:
    from experiments.stages import emulate_stage  # noqa: PLC0415 (Brian2 and torch on demand)

    parser = chip_run_parser(__doc__.split("\n")[0])
    parser.add_argument("--chips", type=int, nargs="*", default=[0, 1, 2], help="mismatch seeds")
    parser.add_argument("--cv", type=float, default=0.2)
    parser.add_argument("--backend", default="torch", choices=["torch", "torch-fast"])
    parser.add_argument("--device", default="runtime", choices=["runtime", "cpp_standalone"],
                        help="Brian2 device of the reference emulations it runs")
    parser.add_argument("--limit-test", type=int, default=None,
                        help="emulate N test samples (default: as many as the map run; runs named *_n<N>)")
    parser.add_argument("--batch-size", type=int, default=128, help="samples simulated together")
    parser.add_argument("--jobs", type=int, default=1, help="processes of the torch emulation (one core each)")
    args, run = parse_chip_run(parser, argv)
    prefix = BACKEND_PREFIX[args.backend]
    n = f"_n{args.limit_test}" if args.limit_test else ""
    chips = [("nominal", 0.0, 0, "emulate" + n)] + [(str(c), args.cv, c, f"emulate_cv{args.cv:g}_chip{c}{n}")
                                                    for c in args.chips]
    rows = []
    revisions: dict[str, set[str]] = {"brian2": set(), args.backend: set()}
    for label, cv, seed, name in chips:
        m = {}
        for backend, stage in (("brian2", name), (args.backend, prefix + name)):
            m[backend] = run_stage(run, stage, lambda p, b=backend, c=cv, s=seed: emulate_stage(
                EmulateSettings(str(run / "map"), mismatch=c, seed=s, backend=b, device=args.device,
                                limit_test=args.limit_test, batch_size=args.batch_size,
                                jobs=1 if b == "brian2" else args.jobs),
                p, progress=not args.quiet))
        for b in m:
            revisions[b].add(str(m[b].get("revision")))
        pred = {b: np.load(run / (name if b == "brian2" else prefix + name) / "predictions.npz")["emulated"]
                for b in m}
        other = args.backend
        rows.append({"chip": label, "cv": cv, "backend": other, "n_test": int(len(pred["brian2"])),
                     "same_prediction": float(np.mean(pred["brian2"] == pred[other])),
                     "brian2": m["brian2"]["accuracy"], "torch": m[other]["accuracy"],
                     "brian2_spikes": m["brian2"]["spikes_per_inference"],
                     "torch_spikes": m[other]["spikes_per_inference"],
                     "brian2_s": m["brian2"]["wall_seconds"], "torch_s": m[other]["wall_seconds"]})
    print(format_table(rows, COLUMNS))
    if not args.no_record:
        source = read_json(run / "map" / "metrics.json")
        suffix = "_fast" if args.backend == "torch-fast" else ""
        what = ("compiled by torch.compile, float32" if args.backend == "torch-fast" else "float64")
        path = save_record(f"extra_backend_agreement_{run.name}{suffix}{n}", {
            "title": f"Torch chip model against Brian2: {source['model'].upper()} on {source['dataset']} "
                     f"emulated from hardware.json",
            "rows": rows,
            "note": f"The same hardware.json emulated by Brian2 ({args.device}, numpy) and by the torch chip model "
                    f"(transfer.chip_model, {what}, dt 0.1 ms, CPU), on the nominal chip and on mismatched "
                    "chips (the same frozen draw in both, brian_models.mismatch.draw_chip); noise off. "
                    f"same_prediction: fraction of test samples with the same predicted class; batch "
                    f"{args.batch_size}; Brian2 device {args.device}; torch in {args.jobs} process(es) of one thread "
                    "each. Wall seconds (torch-fast's first run includes "
                    "compiling) were taken on a shared 2-core machine, load "
                    f"{os.getloadavg()[0]:.1f} at the end: the controlled speed comparison is the peer benchmark. "
                    f"Revisions that ran the emulations (finished ones are reused): Brian2 "
                    f"{', '.join(sorted(revisions['brian2']))}; torch {', '.join(sorted(revisions[args.backend]))}."},
            command_line(argv, "experiments.backend_agreement"),
            **({"data_dir": Path(args.data_dir)} if args.data_dir else {}))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
