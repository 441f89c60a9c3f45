"""Each stage's options, declared once: a frozen dataclass that the stage function, the Python
API and the argparse parser all read.

A field's metadata (:func:`option`) holds its help text, command-line type, choices and
whether it is positional; :func:`add_options` turns a settings class into arguments of an
``argparse`` sub-parser and :func:`from_namespace` turns the parsed namespace back into the
class. Validation happens once, in the settings class (``__post_init__``): a bad value raises
:class:`SettingsError` naming the option as the user typed it (``--epochs``), whether it came
from the command line or from Python.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Callable

from brian_models.description import READOUT_TRANSFORMS
from experiments.defaults import CHIP_TRAINING, FLEET_CHIPS

__all__ = [
    "SettingsError",
    "option",
    "positive_int",
    "add_options",
    "from_namespace",
    "TrainSettings",
    "QuantizeSettings",
    "SimulateSettings",
    "FinetuneSettings",
    "MapSettings",
    "EmulateSettings",
    "CalibrateSettings",
    "BaselineSettings",
    "UploadSettings",
    "RunSettings",
    "ExportSettings",
    "ImportSettings",
    "MODELS",
    "NEURONS",
    "CHIPS",
    "BACKENDS",
    "READOUT_TRANSFORM_CHOICES",
]

MODELS = ("rnn", "lstm", "esn", "lsnn")
NEURONS = ("lif", "adex", "dpi")
CHIPS = ("dynapse1",)
BRIAN_DEVICES = ("runtime", "cpp_standalone")
#: Simulators: Brian2 (the reference), the torch chip model in float64 step for step as Brian2
#: (``torch``), and the same model compiled by ``torch.compile`` in float32 (``torch-fast``:
#: faithful, not bit-equal; ``experiments/bench_rockpool.py`` measures how close and how fast).
BACKENDS = ("brian2", "torch", "torch-fast")
TARGETS = ("numpy", "cython")
#: What ``calibrate --readout-transform`` takes: a readout transform, or ``cv`` (chosen by cross-validation).
READOUT_TRANSFORM_CHOICES = (*READOUT_TRANSFORMS, "cv")
JOBS_HELP = ("processes simulating batches side by side, one CPU core each (torch backends; the counts "
             "are the same as with 1)")


class SettingsError(ValueError):
    """A stage option has a value it cannot take; the message names the option."""


def positive_int(text: str) -> int:
    """Argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def option(default: Any = MISSING, help: str = "", *, type: Callable[[str], Any] | None = None,
           choices: tuple[Any, ...] | None = None, metavar: str | None = None,
           positional: bool = False) -> Any:
    """A settings field with its command-line description (``default=MISSING``: required)."""
    meta = {"help": help, "type": type, "choices": choices, "metavar": metavar, "positional": positional}
    return field(default=default, metadata=meta)


def flag(name: str) -> str:
    """The command-line spelling of field ``name``: ``--max-fan-in``."""
    return "--" + name.replace("_", "-")


def add_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one argument per field of the settings class ``cls`` to ``parser``."""
    for f in fields(cls):
        meta = f.metadata
        if "help" not in meta:
            continue
        kwargs: dict[str, Any] = {"help": meta["help"]}
        if f.type in ("bool", bool):
            parser.add_argument(flag(f.name), action="store_true", **kwargs)
            continue
        if meta["type"] is not None:
            kwargs["type"] = meta["type"]
        if meta["choices"] is not None:
            kwargs["choices"] = list(meta["choices"])
        if meta["metavar"] is not None:
            kwargs["metavar"] = meta["metavar"]
        if meta["positional"]:
            parser.add_argument(f.name, **kwargs)
        elif f.default is MISSING:
            parser.add_argument(flag(f.name), required=True, **kwargs)
        else:
            parser.add_argument(flag(f.name), default=f.default, **kwargs)


def from_namespace(cls: type, ns: argparse.Namespace) -> Any:
    """The settings class ``cls`` from the parsed arguments (fields it has no argument for
    keep their defaults)."""
    given = vars(ns)
    return cls(**{f.name: given[f.name] for f in fields(cls) if f.name in given and "help" in f.metadata})


def _check(owner: Any, name: str, ok: bool, must: str) -> None:
    if not ok:
        raise SettingsError(f"{flag(name)} {must}, got {getattr(owner, name)!r}")


def _positive(owner: Any, *names: str, allow_none: bool = True) -> None:
    for name in names:
        v = getattr(owner, name)
        if v is None and allow_none:
            continue
        _check(owner, name, v is not None and math.isfinite(v) and v > 0, "must be a positive number")


def _non_negative(owner: Any, *names: str) -> None:
    for name in names:
        v = getattr(owner, name)
        _check(owner, name, v is not None and math.isfinite(v) and v >= 0, "must be a finite number >= 0")


def _common(owner: Any) -> None:
    """The checks every settings class shares: each option read as a positive integer on the
    command line (:func:`positive_int`) is one from Python too, and a seed lies in numpy's range."""
    for f in fields(owner):
        v = getattr(owner, f.name)
        if f.metadata.get("type") is positive_int and v is not None:
            _check(owner, f.name, isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                   "must be a positive integer")
    if hasattr(owner, "seed"):
        v = owner.seed
        _check(owner, "seed", v is None or (isinstance(v, int) and 0 <= v < 2**32),
               "must be an integer in [0, 2**32)")


def _noise(owner: Any) -> None:
    _check(owner, "noise", math.isfinite(owner.noise) and 0 <= owner.noise < 1e-6,
           "must be a current in amperes in [0, 1e-6) (e.g. 1e-11)")


def _jobs(owner: Any) -> None:
    _check(owner, "jobs", owner.jobs == 1 or owner.backend != "brian2" or getattr(owner, "fleet", 0) > 1,
           "is for the torch backends (--backend torch or torch-fast) or a fleet's boards")


def _fraction(owner: Any, *names: str, top: float = 1.0) -> None:
    for name in names:
        v = getattr(owner, name)
        _check(owner, name, v is not None and math.isfinite(v) and 0 <= v < top, f"must lie in [0, {top:g})")


@dataclass(frozen=True)
class TrainSettings:
    """Options of ``rnn2dynapse train``."""

    model: str = option(help="model to train", choices=MODELS)
    dataset: str = option(help="digits, fashion, ecg, ecg5000, recall, recall1s or PATH.npz")
    hidden: int | None = option(None, "hidden units (default 64 on digits, else 128)", type=positive_int)
    epochs: int | None = option(None, "maximum epochs (default 60 on digits, 100 on ecg5000, else 30)",
                                type=positive_int)
    lr: float | None = option(None, "learning rate (default 3e-3; 1e-2 for lsnn and on ecg5000)", type=float)
    batch_size: int = option(128, "batch size", type=positive_int)
    device: str = option("auto", "torch device", choices=("auto", "cpu", "cuda"))
    shared_bias: bool = option(False, "one bias for all hidden units (DYNAP-SE: one DC bias per core)")
    syn_leak: float = option(1.0, "RNN: per-step synaptic leak (<1: delay-free rate model of a spiking network)",
                             type=float)
    substeps: int | None = option(None, "steps per element (RNN with --syn-leak; default 1, 5 for lsnn)",
                                  type=positive_int)
    min_bias: float | None = option(None, "RNN: lower bound of the bias (a DYNAP-SE DC bias can only "
                                    "inject current)", type=float)
    act_penalty: float = option(0.1, "RNN: weight of the penalty on activations above 1 (default 0.1)",
                                type=float)
    max_fan_in: int | None = option(None, "train under the DYNAP-SE fan-in cap: prune each neuron "
                                    "gradually to its K strongest inputs (e.g. 64; default: dense)",
                                    type=positive_int, metavar="K")
    chip: str | None = option(None, "train the form this chip can carry (RNN: delay-free slow synapses, "
                              "3 substeps, one shared DC bias >= 0.25; ESN: one shared bias); the later "
                              "stages read it from the run", choices=CHIPS)
    adaptive_fraction: float | None = option(None, "LSNN: fraction of adaptive neurons (default 0.5; 0 "
                                             "gives the control without adaptation)", type=float)
    limit_train: int | None = option(None, "use N training samples", type=positive_int, metavar="N")
    limit_test: int | None = option(None, "use N test samples", type=positive_int, metavar="N")
    seed: int = option(0, "random seed", type=int)
    split_seed: int | None = option(None, "seed of the train/validation/test split (default: --seed): networks "
                                    "trained from other seeds on one split", type=int)

    def __post_init__(self) -> None:
        _common(self)
        _check(self, "model", self.model in MODELS, f"must be one of {', '.join(MODELS)}")
        _check(self, "split_seed", self.split_seed is None or 0 <= self.split_seed < 2**32,
               "must lie in [0, 2**32)")
        if self.adaptive_fraction is not None:
            _check(self, "adaptive_fraction", self.model == "lsnn", "applies to the lsnn only")
            _check(self, "adaptive_fraction", math.isfinite(self.adaptive_fraction)
                   and 0 <= self.adaptive_fraction <= 1, "must lie in [0, 1]")
        _positive(self, "lr", "min_bias")
        _non_negative(self, "act_penalty")
        _check(self, "syn_leak", math.isfinite(self.syn_leak) and 0 < self.syn_leak <= 1, "must lie in (0, 1]")
        if self.max_fan_in is not None and self.model == "esn":
            raise SettingsError("--max-fan-in applies to models trained by BPTT; an ESN's reservoir is "
                                "fixed (quantize caps it)")
        if self.chip is not None and self.model not in CHIP_TRAINING[self.chip]:
            raise SettingsError(f"--chip {self.chip} trains an {' or '.join(CHIP_TRAINING[self.chip])}; "
                                f"a {self.model} has no form that chip can carry yet")

    def model_options(self) -> dict[str, Any]:
        """The :class:`transfer.models.ModelConfig` fields these settings choose (``--chip``
        selects its preset for every option left at its default)."""
        options = {"shared_bias": self.shared_bias, "syn_leak": self.syn_leak, "min_bias": self.min_bias,
                   "substeps": self.substeps}
        if self.chip is not None:
            defaults = {f.name: f.default for f in fields(self)}
            for key, value in CHIP_TRAINING[self.chip][self.model].items():
                if options[key] == defaults[key]:
                    options[key] = value
        return options


@dataclass(frozen=True)
class QuantizeSettings:
    """Options of ``rnn2dynapse quantize``."""

    run_dir: str = option(help="a train run directory", positional=True)
    max_fan_in: int = option(64, "most non-zero inputs per neuron (DYNAP-SE CAM: 64); 0 for no cap", type=int)
    epochs: int | None = option(None, "fine-tuning epochs (default 15; 300 on digits)", type=positive_int)
    delta_factor: float | None = option(None, "ternary threshold as a multiple of mean|W| (default 0.4 "
                                        "for rnn, 1.5 for lsnn, 0.7 else)", type=float)
    lr: float | None = option(None, "fine-tuning learning rate (default: the training lr, at most 2e-3; "
                              "5e-4 on fashion)", type=float)
    clip_percentile: float | None = option(None, "RNN: clip activations during fine-tuning at this "
                                           "percentile of the float model's, where conversion puts the "
                                           "top firing rate (default 95; 0: no clip)", type=float, metavar="P")
    measure_cap_cost: bool = option(False, "also fine-tune without the fan-in cap to report what the cap costs")
    mismatch_aware: float = option(0.0, "fine-tune under random device mismatch of this CV (e.g. 0.2)",
                                   type=float, metavar="CV")
    distill: float = option(0.0, "weight in [0, 1] of knowledge distillation from the float model (default 0)",
                            type=float, metavar="ALPHA")

    def __post_init__(self) -> None:
        _common(self)
        _check(self, "max_fan_in", self.max_fan_in >= 0, "must be >= 0 (0: no cap)")
        _positive(self, "delta_factor", "lr")
        if self.clip_percentile is not None:
            _check(self, "clip_percentile", math.isfinite(self.clip_percentile)
                   and 0 <= self.clip_percentile <= 100, "must lie in [0, 100]")
        _fraction(self, "mismatch_aware")
        _check(self, "distill", math.isfinite(self.distill) and 0 <= self.distill <= 1, "must lie in [0, 1]")

    @property
    def fan_in_cap(self) -> int | None:
        """The cap, ``None`` for none."""
        return self.max_fan_in or None


@dataclass(frozen=True)
class SimulateSettings:
    """Options of ``rnn2dynapse simulate``."""

    run_dir: str = option(help="a quantize run directory, or an import run (its LIF network as it is, or on DPI "
                          "neurons with --neuron dpi)", positional=True)
    neuron: str | None = option(None, "neuron model (default: dpi for a run trained with --chip, else lif)",
                                choices=NEURONS)
    mismatch: float = option(0.0, "device mismatch CV (e.g. 0.2)", type=float, metavar="CV")
    noise: float = option(0.0, "membrane noise current std in A", type=float, metavar="S")
    backend: str = option("brian2", "simulator: Brian2 (the reference) or the torch chip model (CUDA when "
                          "present; spiking networks only; torch-fast: compiled, float32)", choices=BACKENDS)
    device: str = option("runtime", "Brian2 device", choices=BRIAN_DEVICES)
    target: str = option("numpy", "runtime code generation", choices=TARGETS)
    batch_size: int = option(128, "samples simulated together", type=positive_int)
    jobs: int = option(1, JOBS_HELP, type=positive_int)
    max_rate: float | None = option(None, "firing rate (Hz) for the top activation (default 1000; 300 for a "
                                    "run trained for the chip)", type=float)
    limit_test: int | None = option(None, "simulate N test samples", type=positive_int, metavar="N")
    gating: str = option("exact", "LSTM only: exact multiply-and-hold cell, or shunting (GABA_A) gating",
                         choices=("exact", "shunting"))
    input_coding: str | None = option(None, "input as current or as spikes (rate; needed to map onto "
                                      "DYNAP-SE); default: rate for a delay-free RNN (--syn-leak < 1), "
                                      "else current", choices=("current", "rate"))
    chip: str | None = option(None, "DPI: snap parameters to what this chip's bias codes can hold "
                              "(before map; default: the chip a run was trained for)", choices=CHIPS)
    copies: int = option(1, "K copies of the network on their own neurons, averaged by the "
                         "readout (averages device mismatch; K times the neurons)", type=positive_int,
                         metavar="K")
    readout_samples: int = 1000
    seed: int | None = option(None, "seed of the mismatch draw and the initial phases (default: the "
                              "training seed)", type=int)
    time_scale: float | None = option(None, "import run on DPI neurons: run the imported network K times slower "
                                      "(time constants, presentation; default 10: snnTorch's 10 kHz top rate "
                                      "at 1 kHz)", type=float, metavar="K")

    def __post_init__(self) -> None:
        _common(self)
        _fraction(self, "mismatch")
        _noise(self)
        _jobs(self)
        _positive(self, "max_rate")
        _positive(self, "time_scale")
        _check(self, "copies", self.copies >= 1, "must be a positive integer")
        if self.chip is not None and self.neuron not in (None, "dpi"):
            raise SettingsError("--chip snaps the DPI parameters to bias codes: simulate with --neuron dpi")


@dataclass(frozen=True)
class FinetuneSettings:
    """Options of ``rnn2dynapse finetune``."""

    run_dir: str = option(help="a simulate run directory (a spiking network on DPI neurons, e.g. of a run "
                          "trained with --chip)", positional=True)
    epochs: int = option(5, "passes over the training sequences", type=positive_int)
    lr: float = option(3e-3, "Adam's learning rate (cosine schedule)", type=float)
    batch_size: int = option(32, "sequences per step", type=positive_int)
    mismatch: float = option(0.2, "CV of the fresh random chip drawn for every batch (0: the nominal chip)",
                             type=float, metavar="CV")
    spike_penalty: float = option(0.0, "weight of the mean spikes per neuron and element in the loss",
                                  type=float)
    dt: float | None = option(None, "integration step of the chip model in s (default: the neuron "
                              "model's verified 0.1 ms)", type=float)
    train_samples: int | None = option(None, "training sequences per epoch (a fresh subset each epoch; "
                                       "default: all)", type=positive_int, metavar="N")
    backend: str = option("brian2", "simulator of the final test", choices=BACKENDS)
    precision: str = option("float32", "arithmetic of the chip model while training (float64 where float32 "
                            "gradients overflow: steps with a non-finite gradient are skipped and counted)",
                            choices=("float32", "float64"))
    seed: int = option(0, "seed of the batches and of the chips drawn", type=int)

    def __post_init__(self) -> None:
        _positive(self, "lr", "dt")
        _fraction(self, "mismatch")
        _non_negative(self, "spike_penalty")


@dataclass(frozen=True)
class MapSettings:
    """Options of ``rnn2dynapse map``."""

    run_dir: str = option(help="a simulate or finetune run directory (DPI neurons, spike input)",
                          positional=True)
    chip: str = option("dynapse1", "target chip (the mapper supports dynapse1)", choices=("dynapse1", "dynapse2"))


@dataclass(frozen=True)
class EmulateSettings:
    """Options of ``rnn2dynapse emulate``."""

    run_dir: str = option(help="a map or calibrate run directory", positional=True)
    mismatch: float = option(0.0, "device mismatch CV of the emulated chip (e.g. 0.2); --seed picks the chip",
                             type=float, metavar="CV")
    backend: str = option("brian2", "simulator: Brian2 (the reference) or the torch chip model (torch-fast: "
                          "compiled, float32)", choices=BACKENDS)
    device: str = option("runtime", "Brian2 device", choices=BRIAN_DEVICES)
    target: str = option("numpy", "runtime code generation", choices=TARGETS)
    batch_size: int = option(128, "samples simulated together", type=positive_int)
    jobs: int = option(1, JOBS_HELP, type=positive_int)
    limit_test: int | None = option(None, "emulate N test samples (default: those of the simulate run)",
                                    type=positive_int, metavar="N")
    noise: float = option(0.0, "membrane noise current std in A of the emulated chip (e.g. 1e-12)", type=float,
                          metavar="S")
    seed: int = option(0, "which chip: the seed of the frozen mismatch draw", type=int)

    def __post_init__(self) -> None:
        _common(self)
        _fraction(self, "mismatch")
        _noise(self)
        _jobs(self)


@dataclass(frozen=True)
class CalibrateSettings:
    """Options of ``rnn2dynapse calibrate``."""

    run_dir: str = option(help="a map run directory", positional=True)
    mismatch: float = option(0.0, "device mismatch CV of the emulated chip to calibrate to (with a real "
                             "board: the board itself)", type=float, metavar="CV")
    seed: int = option(0, "which emulated chip: the seed of its frozen mismatch draw", type=int)
    samples: int = option(500, "training sequences played through the chip (the measurement budget; on a "
                          "fleet, plays beyond the training split repeat it on other chips)",
                          type=positive_int, metavar="N")
    fleet: int = option(0, "fit the readout on a fleet of K simulated chips (mismatch seeds --seed to "
                        "--seed+K-1, each playing its share) instead of one: a readout for any chip, "
                        "evaluated on chips outside the fleet", type=int, metavar="K")
    prior: str | None = option(None, "a fleet run (calibrate --fleet) of the same map run: its plays join "
                               "this chip's own in the fit, as a prior", metavar="DIR")
    regularisation: float | None = option(None, "L2 strength (1/C) of the readout's logistic regression "
                                          "(default: chosen by cross-validation on the played sequences)",
                                          type=float)
    readout_steps: int | None = option(None, "the refitted readout reads the last K sequence steps one by one "
                                       "(0: the mapped readout's window; default: chosen by cross-validation "
                                       "between 0 and all steps, or with --prior the fleet's choice)", type=int, metavar="K")
    readout_transform: str = option("linear", "what the refitted readout applies to its rates: linear, sqrt (square "
                                    "roots), or cv (chosen by cross-validation)", choices=READOUT_TRANSFORM_CHOICES)
    device: str = option("runtime", "Brian2 device of the emulated chip", choices=BRIAN_DEVICES)
    backend: str = option("brian2", "simulator of the emulated chip (torch-fast: the compiled torch chip "
                          "model, float32)", choices=BACKENDS)
    batch_size: int = option(128, "samples simulated together", type=positive_int)
    jobs: int = option(1, JOBS_HELP + "; with --fleet, the fleet's boards played side by side", type=positive_int)
    noise: float = option(0.0, "membrane noise current std in A of the emulated chip", type=float, metavar="S")

    def __post_init__(self) -> None:
        _common(self)
        _fraction(self, "mismatch")
        _noise(self)
        _jobs(self)
        _positive(self, "regularisation")
        _check(self, "readout_steps", self.readout_steps is None or self.readout_steps >= 0, "must be >= 0")
        _check(self, "fleet", self.fleet >= 0, "must be >= 0")
        _check(self, "fleet", self.fleet == 0 or self.mismatch > 0, "needs --mismatch > 0 (chips that differ)")
        _check(self, "prior", not (self.prior and self.fleet), "is for calibrating one chip, not a fleet")


@dataclass(frozen=True)
class BaselineSettings:
    """Options of ``rnn2dynapse baseline``."""

    run_dir: str = option(help="a map or calibrate run directory: its readout's form is the one fitted",
                          positional=True)
    samples: int = option(1000, "training sequences whose input spikes the readout is fitted on (at most the "
                          "training split)", type=positive_int, metavar="N")

    def __post_init__(self) -> None:
        _common(self)


@dataclass(frozen=True)
class UploadSettings:
    """Options of ``rnn2dynapse upload``."""

    run_dir: str = option(help="a map run directory", positional=True)
    samples: int = option(0, "also play the first N test samples and count the board's spikes", type=int,
                          metavar="N")
    isi_base: int | None = option(None, "FPGA spike generator ISI multiplier (default 900: 10 us units)",
                                  type=positive_int)

    def __post_init__(self) -> None:
        _common(self)
        _check(self, "samples", self.samples >= 0, "must be >= 0")


@dataclass(frozen=True)
class RunSettings:
    """Options of ``rnn2dynapse run`` (the main job)."""

    dataset: str = option("digits", "dataset of the main job")
    model: str = option("rnn", "model of the BPTT leg", choices=("rnn", "lstm", "esn"))
    hidden: int | None = option(None, "hidden units", type=positive_int)
    epochs: int | None = option(None, "maximum epochs", type=positive_int)
    limit_train: int | None = option(None, "use N training samples", type=positive_int, metavar="N")
    limit_test: int | None = option(None, "use N test samples", type=positive_int, metavar="N")
    seed: int = option(0, "random seed", type=int)
    fleet: int = option(FLEET_CHIPS, "simulated chips the chip RNN's readout is fitted on before each chip is "
                        "calibrated (0: the mapped readout)", type=int, metavar="K")
    jobs: int = option(2, "legs run at once, each in a process of its own, without progress bars (1: one "
                       "after another, with them)", type=positive_int, metavar="N")

    def __post_init__(self) -> None:
        _common(self)
        _check(self, "fleet", self.fleet >= 0, "must be >= 0")


@dataclass(frozen=True)
class ExportSettings:
    """Options of ``rnn2dynapse export``."""

    run_dir: str = option(help="a simulate run directory (LIF neurons, current input) or an import run",
                          positional=True)
    nir: str = option(help="the NIR file to write (HDF5)", metavar="FILE")


@dataclass(frozen=True)
class ImportSettings:
    """Options of ``rnn2dynapse import``."""

    nir_file: str = option(help="a NIR file: LIF/CubaLIF/IF layers, Affine/Linear weights, recurrent edges",
                           positional=True)
    dataset: str = option("digits", "dataset whose test split measures what ternarizing cost")
    max_fan_in: int = option(64, "most non-zero inputs per neuron after ternarizing (DYNAP-SE CAM: 64); 0: no cap",
                             type=int)
    delta_factor: float = option(0.7, "ternary threshold as a multiple of mean|W|", type=float)
    steps_per_element: int | None = option(None, "0.1 ms steps each sequence element is held (default: the "
                                           "file's, else 300)", type=positive_int)
    readout_steps: int | None = option(None, "last steps whose outputs are summed into the scores (default: "
                                       "the file's, else one element)", type=positive_int)
    limit_test: int | None = option(None, "use N test samples", type=positive_int, metavar="N")
    seed: int = option(0, "seed of the dataset split", type=int)

    def __post_init__(self) -> None:
        _common(self)
        _check(self, "max_fan_in", self.max_fan_in >= 0, "must be >= 0 (0: no cap)")
        _positive(self, "delta_factor", allow_none=False)
