"""The ``rnn2dynapse`` command line: one sub-command per pipeline stage.

Each stage reads a run directory and writes a new one with a ``metrics.json``. Bad input
ends the program with one line naming the problem and a non-zero exit code (2 for a
network that does not fit the chip), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["main", "build_parser", "EXIT_BAD_INPUT", "EXIT_DOES_NOT_FIT", "EXIT_NO_BOARD"]

EXIT_BAD_INPUT = 1
EXIT_DOES_NOT_FIT = 2
EXIT_NO_BOARD = 3


def _common(p: argparse.ArgumentParser, out: bool = True) -> None:
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    if out:
        p.add_argument("--out", required=True, help="new run directory to write")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _limits(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit-train", type=positive_int, default=None, metavar="N", help="use N training samples")
    p.add_argument("--limit-test", type=positive_int, default=None, metavar="N", help="use N test samples")


def positive_int(text: str) -> int:
    """Argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnn2dynapse",
        description="Train recurrent networks, quantize them to ternary weights, run them as "
                    "Brian2 spiking networks and map them onto DYNAP-SE.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a float model with BPTT")
    p.add_argument("--model", required=True, choices=["rnn", "lstm", "esn", "lsnn"])
    p.add_argument("--dataset", required=True, help="digits, fashion, ecg, ecg5000, recall or PATH.npz")
    p.add_argument("--hidden", type=positive_int, default=None, help="hidden units (default 64 on digits, else 128)")
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs (default 60 on digits, 100 on ecg5000, else 30)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default 3e-3; 1e-2 for lsnn and on ecg5000)")
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="torch device")
    p.add_argument("--shared-bias", action="store_true",
                   help="one bias for all hidden units (DYNAP-SE: one DC bias per core)")
    p.add_argument("--syn-leak", type=float, default=1.0,
                   help="RNN: per-step synaptic leak (<1: delay-free rate model of a spiking network)")
    p.add_argument("--substeps", type=positive_int, default=1, help="RNN with --syn-leak: steps per element")
    p.add_argument("--min-bias", type=float, default=None,
                   help="RNN: lower bound of the bias (a DYNAP-SE DC bias can only inject current)")
    p.add_argument("--act-penalty", type=float, default=0.1,
                   help="RNN: weight of the penalty on activations above 1 (default 0.1)")
    p.add_argument("--max-fan-in", type=positive_int, default=None, metavar="K",
                   help="train under the DYNAP-SE fan-in cap: prune each neuron gradually to its K "
                        "strongest inputs (e.g. 64; default: dense)")
    _limits(p)
    _common(p)

    p = sub.add_parser("quantize", help="ternary weights with quantization-aware fine-tuning")
    p.add_argument("run_dir", help="a train run directory")
    p.add_argument("--max-fan-in", type=int, default=64,
                   help="most non-zero inputs per neuron (DYNAP-SE CAM: 64); 0 for no cap")
    p.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs (default 15; 300 on digits)")
    p.add_argument("--delta-factor", type=float, default=None,
                   help="ternary threshold as a multiple of mean|W| (default 0.4 for rnn, 1.5 for lsnn, 0.7 else)")
    p.add_argument("--lr", type=float, default=None,
                   help="fine-tuning learning rate (default: the training lr, at most 2e-3; 5e-4 on fashion)")
    p.add_argument("--clip-percentile", type=float, default=None, metavar="P",
                   help="RNN: clip activations during fine-tuning at this percentile of the float "
                        "model's, where conversion puts the top firing rate (default 95; 0: no clip)")
    p.add_argument("--measure-cap-cost", action="store_true",
                   help="also fine-tune without the fan-in cap to report what the cap costs")
    p.add_argument("--mismatch-aware", type=float, default=0.0, metavar="CV",
                   help="fine-tune under random device mismatch of this CV (e.g. 0.2)")
    p.add_argument("--distill", type=float, default=0.0, metavar="ALPHA",
                   help="weight in [0, 1] of knowledge distillation from the float model (default 0)")
    _common(p)

    p = sub.add_parser("simulate", help="convert to a spiking network and simulate it in Brian2")
    p.add_argument("run_dir", help="a quantize run directory")
    p.add_argument("--neuron", default="lif", choices=["lif", "adex", "dpi"])
    p.add_argument("--mismatch", type=float, default=0.0, metavar="CV", help="device mismatch CV (e.g. 0.2)")
    p.add_argument("--noise", type=float, default=0.0, metavar="S", help="membrane noise current std in A")
    p.add_argument("--device", default="runtime", choices=["runtime", "cpp_standalone"])
    p.add_argument("--target", default="numpy", choices=["numpy", "cython"], help="runtime code generation")
    p.add_argument("--batch-size", type=positive_int, default=128, help="samples simulated together")
    p.add_argument("--max-rate", type=float, default=1000.0, help="firing rate (Hz) for the top activation")
    p.add_argument("--limit-test", type=positive_int, default=None, metavar="N", help="simulate N test samples")
    p.add_argument("--gating", default="exact", choices=["exact", "shunting"],
                   help="LSTM only: exact multiply-and-hold cell, or shunting (GABA_A) gating")
    p.add_argument("--input-coding", default=None, choices=["current", "rate"],
                   help="input as current or as spikes (rate; needed to map onto DYNAP-SE); "
                        "default: rate for a delay-free RNN (--syn-leak < 1), else current")
    p.add_argument("--chip", default=None, choices=["dynapse1"],
                   help="DPI: snap parameters to what this chip's bias codes can hold (before map)")
    p.add_argument("--copies", type=positive_int, default=1, metavar="K",
                   help="RNN/ESN: K copies of the network on their own neurons, averaged by the "
                        "readout (averages device mismatch; K times the neurons)")
    _common(p)

    p = sub.add_parser("map", help="place and route a DPI network on DYNAP-SE (exit 2 if it does not fit)")
    p.add_argument("run_dir", help="a simulate run directory (--neuron dpi --input-coding rate)")
    p.add_argument("--chip", default="dynapse1", choices=["dynapse1", "dynapse2"],
                   help="target chip (the mapper supports dynapse1)")
    _common(p)

    p = sub.add_parser("emulate", help="simulate the board from its hardware configuration alone")
    p.add_argument("run_dir", help="a map run directory")
    p.add_argument("--mismatch", type=float, default=0.0, metavar="CV",
                   help="device mismatch CV of the emulated chip (e.g. 0.2); --seed picks the chip")
    p.add_argument("--device", default="runtime", choices=["runtime", "cpp_standalone"])
    p.add_argument("--target", default="numpy", choices=["numpy", "cython"], help="runtime code generation")
    p.add_argument("--batch-size", type=positive_int, default=128, help="samples simulated together")
    p.add_argument("--limit-test", type=positive_int, default=None, metavar="N",
                   help="emulate N test samples (default: those of the simulate run)")
    _common(p)

    p = sub.add_parser("upload", help="configure a real DYNAP-SE1 board through samna (exit 3 without one)")
    p.add_argument("run_dir", help="a map run directory")
    p.add_argument("--samples", type=int, default=0, metavar="N",
                   help="also play the first N test samples and count the board's spikes")
    p.add_argument("--isi-base", type=positive_int, default=None,
                   help="FPGA spike generator ISI multiplier (default 900: 10 us units)")
    p.add_argument("--out", default=None, help="run directory for the upload's metrics (optional)")
    _common(p, out=False)

    p = sub.add_parser("run", help="the whole chain on one dataset, one table at the end")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--model", default="rnn", choices=["rnn", "lstm", "esn"])
    p.add_argument("--hidden", type=positive_int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    _limits(p)
    _common(p)
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


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    from .stages import train_stage

    return train_stage(args.model, args.dataset, args.out, hidden=args.hidden, epochs=args.epochs,
                       seed=args.seed, limit_train=args.limit_train, limit_test=args.limit_test,
                       lr=args.lr, batch_size=args.batch_size, device=args.device,
                       act_penalty=args.act_penalty, max_fan_in=args.max_fan_in,
                       model_options={"shared_bias": args.shared_bias, "syn_leak": args.syn_leak,
                                      "substeps": args.substeps, "min_bias": args.min_bias},
                       progress=not args.quiet)


def cmd_quantize(args: argparse.Namespace) -> dict[str, Any]:
    from .stages import quantize_stage

    return quantize_stage(args.run_dir, args.out, max_fan_in=args.max_fan_in or None,
                          epochs=args.epochs, lr=args.lr, measure_cap_cost=args.measure_cap_cost,
                          delta_factor=args.delta_factor, clip_percentile=args.clip_percentile,
                          mismatch_aware=args.mismatch_aware, distill=args.distill,
                          progress=not args.quiet)


def cmd_simulate(args: argparse.Namespace) -> dict[str, Any]:
    from .stages import simulate_stage

    return simulate_stage(args.run_dir, args.out, neuron=args.neuron, mismatch=args.mismatch,
                          noise=args.noise, device=args.device, target=args.target,
                          batch_size=args.batch_size, max_rate=args.max_rate, seed=args.seed,
                          limit_test=args.limit_test, input_coding=args.input_coding,
                          gating=args.gating, chip=args.chip, copies=args.copies,
                          progress=not args.quiet)


def cmd_map(args: argparse.Namespace) -> dict[str, Any]:
    from .stages import map_stage

    return map_stage(args.run_dir, args.out, chip=args.chip)


def cmd_emulate(args: argparse.Namespace) -> dict[str, Any]:
    from .stages import emulate_stage

    return emulate_stage(args.run_dir, args.out, mismatch=args.mismatch, seed=args.seed,
                         device=args.device, target=args.target, batch_size=args.batch_size,
                         limit_test=args.limit_test, progress=not args.quiet)


def cmd_upload(args: argparse.Namespace) -> dict[str, Any]:
    from .stages import upload_stage

    return upload_stage(args.run_dir, args.out, n_samples=args.samples, isi_base=args.isi_base)


def cmd_run(args: argparse.Namespace) -> dict[str, Any]:
    from .main_job import run_main

    return run_main(args.dataset, Path(args.out), model=args.model, hidden=args.hidden,
                    epochs=args.epochs, seed=args.seed, limit_train=args.limit_train,
                    limit_test=args.limit_test, progress=not args.quiet)


COMMANDS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "train": cmd_train,
    "quantize": cmd_quantize,
    "simulate": cmd_simulate,
    "map": cmd_map,
    "emulate": cmd_emulate,
    "upload": cmd_upload,
    "run": cmd_run,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rnn2dynapse`` console script."""
    args = build_parser().parse_args(argv)
    if getattr(args, "out", None) and "brian2" not in sys.modules:
        # Brian2 writes its log and, on errors, debug files to the temporary directory it
        # finds at import: keep them inside the run's own folder.
        scratch = Path(args.out) / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        tempfile.tempdir = str(scratch)
    from hardware.errors import HardwareConstraintError  # noqa: PLC0415 (keeps --help fast)
    from hardware.samna_adapter import UploadUnavailable  # noqa: PLC0415 (samna itself is lazy)

    try:
        metrics = COMMANDS[args.command](args)
    except HardwareConstraintError as err:
        print(f"rnn2dynapse {args.command}: does not fit the chip: {err}", file=sys.stderr)
        return EXIT_DOES_NOT_FIT
    except UploadUnavailable as err:
        print(f"rnn2dynapse {args.command}: not uploaded: {err}", file=sys.stderr)
        return EXIT_NO_BOARD
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"rnn2dynapse {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.command != "run":
        print(f"{args.command}: wrote {args.out}" if args.out else f"{args.command}: done")
        print_metrics(metrics, [k for k in metrics if k not in ("revision", "source")])
        print(json.dumps({"out": str(args.out), "accuracy": metrics.get("accuracy")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
