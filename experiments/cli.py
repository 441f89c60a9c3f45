"""The ``rnn2dynapse`` command line: one sub-command per pipeline stage.

Each stage reads a run directory and writes a new one with a ``metrics.json``. Every option
is declared once, in the stage's settings class (:mod:`experiments.settings`); this module
only turns those classes into sub-parsers. Bad input ends the program with one line naming
the problem and a non-zero exit code, never a traceback:

- 0 done; 1 bad input or settings (also: another run holds ``--out``); 2 a network or
  configuration that breaks a rule of the chip (the rule named); 3 no board or no samna
  (nothing was uploaded); 130 interrupted (Ctrl-C: one line says what was kept and how to
  resume).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

from experiments.settings import (BaselineSettings, CalibrateSettings, EmulateSettings, ExportSettings, FinetuneSettings,
                                  ImportSettings, MapSettings,
                                  QuantizeSettings, RunSettings, SimulateSettings, TrainSettings, UploadSettings,
                                  add_options, from_namespace, positive_int)

__all__ = ["main", "build_parser", "positive_int", "EXIT_BAD_INPUT", "EXIT_DOES_NOT_FIT", "EXIT_NO_BOARD",
           "EXIT_INTERRUPTED"]

EXIT_BAD_INPUT = 1
EXIT_DOES_NOT_FIT = 2
EXIT_NO_BOARD = 3
EXIT_INTERRUPTED = 130

#: Sub-command: (settings class, help).
SUBCOMMANDS: dict[str, tuple[type, str]] = {
    "train": (TrainSettings, "train a float model with BPTT"),
    "quantize": (QuantizeSettings, "ternary weights with quantization-aware fine-tuning"),
    "simulate": (SimulateSettings, "convert to a spiking network and simulate it in Brian2"),
    "finetune": (FinetuneSettings, "train the spiking network as the chip runs it, on random chips"),
    "map": (MapSettings, "place and route a DPI network on DYNAP-SE (exit 2 if it does not fit)"),
    "emulate": (EmulateSettings, "simulate the board from its hardware configuration alone"),
    "calibrate": (CalibrateSettings, "adapt a mapped network to one chip, measured only through its spikes"),
    "baseline": (BaselineSettings, "fit the chip's readout on the input spikes alone: what the host reads without the chip"),
    "upload": (UploadSettings, "configure a real DYNAP-SE1 board through samna (exit 3 without one)"),
    "run": (RunSettings, "the whole chain on one dataset, one table at the end"),
    "export": (ExportSettings, "write a simulate run's LIF network as a NIR graph (--nir FILE)"),
    "import": (ImportSettings, "read a NIR graph of LIF layers, ternarize it under the fan-in cap, write a run"),
}


class _Parser(argparse.ArgumentParser):
    """argparse, with the command line's contract for a bad option: one line, exit code 1."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rnn2dynapse",
        description="Train recurrent networks, quantize them to ternary weights, run them as "
                    "Brian2 spiking networks and map them onto DYNAP-SE.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (cls, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        add_options(p, cls)
        if name == "upload":
            p.add_argument("--out", default=None, help="run directory for the upload's metrics (optional)")
        elif name == "export":
            pass  # writes only the --nir file
        else:
            p.add_argument("--out", required=True, help="new run directory to write")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def print_metrics(metrics: dict[str, Any], keys: Sequence[str] | None = None) -> None:
    """Print selected metrics as ``key: value`` lines."""
    for key in keys or metrics:
        if key in metrics and not isinstance(metrics[key], (dict, list)):
            print(f"  {key:28s} {_fmt(metrics[key])}")


def _run_command(command: str, settings: Any, out: str | None, progress: bool) -> dict[str, Any]:
    """Run one sub-command (the stages import Brian2 and torch: only when a command runs)."""
    from experiments import stages  # noqa: PLC0415 (keeps --help fast)
    from experiments.main_job import run_main  # noqa: PLC0415
    from experiments import nir_stages  # noqa: PLC0415

    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "train": lambda: stages.train_stage(settings, out, progress=progress),
        "quantize": lambda: stages.quantize_stage(settings, out, progress=progress),
        "simulate": lambda: stages.simulate_stage(settings, out, progress=progress),
        "finetune": lambda: stages.finetune_stage(settings, out, progress=progress),
        "map": lambda: stages.map_stage(settings, out),
        "emulate": lambda: stages.emulate_stage(settings, out, progress=progress),
        "calibrate": lambda: stages.calibrate_stage(settings, out, progress=progress),
        "baseline": lambda: stages.baseline_stage(settings, out, progress=progress),
        "upload": lambda: stages.upload_stage(settings, out),
        "run": lambda: run_main(settings, Path(out), progress=progress),
        "export": lambda: nir_stages.export_stage(settings),
        "import": lambda: nir_stages.import_stage(settings, out),
    }
    return runners[command]()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rnn2dynapse`` console script."""
    # OpenMP threads that spin while they wait made torch up to hundreds of times slower on a
    # busy 2-core machine (measured in experiments/bench_rockpool.py); set before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    from experiments.interrupts import interrupted_line, quiet_brian, redelivered_interrupts  # noqa: PLC0415

    command, out = args.command, None
    try:
        from experiments.outdir import claim, use_scratch  # noqa: PLC0415 (keeps --help fast)
        from hardware.errors import HardwareConstraintError  # noqa: PLC0415
        from hardware.samna_adapter import UploadUnavailable  # noqa: PLC0415 (samna itself is lazy)

        settings = from_namespace(SUBCOMMANDS[command][0], args)
        with redelivered_interrupts(), contextlib.ExitStack() as stack:
            if getattr(args, "out", None) is not None:
                created = not (str(args.out).strip() and Path(args.out).is_dir())
                out = stack.enter_context(claim(args.out, command))  # one writer, for the whole run
                if "brian2" not in sys.modules:
                    # Brian2 writes its log and, on errors, debug files to the temporary
                    # directory it finds at import: keep them inside the run's own folder.
                    use_scratch(out, created)
            metrics = _run_command(command, settings, getattr(args, "out", None), not args.quiet)
    except KeyboardInterrupt:
        quiet_brian()
        return _fail(interrupted_line(command, out), EXIT_INTERRUPTED)
    except HardwareConstraintError as err:
        return _fail(f"rnn2dynapse {command}: does not fit the chip: {err}", EXIT_DOES_NOT_FIT)
    except UploadUnavailable as err:
        return _fail(f"rnn2dynapse {command}: not uploaded: {err}", EXIT_NO_BOARD)
    except (ValueError, RuntimeError, ArithmeticError) as err:
        return _fail(f"rnn2dynapse {command}: error: {_one_line(err)}", EXIT_BAD_INPUT)
    except OSError as err:  # a read-only or full disk, a vanished file
        where = err.filename or out
        what = f"cannot read or write {where}: {err.strerror}" if where and err.strerror else _one_line(err)
        return _fail(f"rnn2dynapse {command}: error: {what}", EXIT_BAD_INPUT)
    if command == "export":
        print(f"export: wrote {metrics['nir']}")
    elif command != "run":
        print(f"{command}: wrote {args.out}" if args.out else f"{command}: done")
        print_metrics(metrics, [k for k in metrics if k not in ("revision", "source")])
        print(json.dumps({"out": str(args.out), "accuracy": metrics.get("accuracy")}))
    return 0


def _fail(line: str, code: int) -> int:
    """Print the one line of a failed command on stderr; return its exit code."""
    print(line, file=sys.stderr)
    return code


def _one_line(err: BaseException) -> str:
    """The message of ``err`` on one line."""
    return " ".join(str(err).split()) or type(err).__name__


if __name__ == "__main__":
    sys.exit(main())
