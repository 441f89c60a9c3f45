"""The Python API: each stage of the command line as a function a notebook can call.

Every function takes the run it builds on (a :class:`Run`, or a run directory), the output
directory and the stage's options as keywords (the fields of its settings class in
:mod:`experiments.settings`, validated the same way as on the command line), and returns
the new :class:`Run`::

    from experiments import api

    t = api.train("runs/t", model="rnn", dataset="digits", epochs=5)
    q = api.quantize(t, "runs/q", epochs=20)
    s = api.simulate(q, "runs/s", neuron="dpi", input_coding="rate", chip="dynapse1")
    m = api.map_network(s, "runs/m")
    e = api.emulate(m, "runs/e", mismatch=0.2, seed=1)
    print(e.accuracy, e.metrics["spikes_per_inference"])

:func:`convert` returns the network description of a quantize run without simulating it.
Each function holds the output directory's lock while it writes, as the command line does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from brian_models.simulate import Description
from experiments import stages
from experiments.outdir import claim
from experiments.runs import run_data
from experiments.settings import (BaselineSettings, CalibrateSettings, EmulateSettings, FinetuneSettings, MapSettings,
                                  QuantizeSettings, SimulateSettings, TrainSettings)
from transfer.checkpoint import Checkpoint
from transfer.describe import DescribeSettings, describe

__all__ = ["Run", "train", "quantize", "convert", "simulate", "finetune", "map_network", "emulate", "calibrate", "baseline"]


@dataclass(frozen=True)
class Run:
    """A finished run directory and the metrics it wrote."""

    path: Path
    metrics: dict[str, Any]

    @property
    def accuracy(self) -> float | None:
        """The run's accuracy on its dataset's metric (plain or balanced accuracy)."""
        return self.metrics.get("accuracy")

    def __fspath__(self) -> str:
        return str(self.path)


def _dir(run: Run | str | Path) -> str:
    return str(run.path if isinstance(run, Run) else Path(run))


def _locked(out: str | Path, name: str, stage: Callable[[Path], dict[str, Any]]) -> Run:
    """Run ``stage`` into ``out`` holding its lock, as the command line does
    (:func:`experiments.outdir.claim`: a second writer is refused)."""
    with claim(out, name) as path:
        return Run(Path(out), stage(path))


def train(out: str | Path, *, progress: bool = False, **options: Any) -> Run:
    """Train a float model (:class:`~experiments.settings.TrainSettings` options)."""
    settings = TrainSettings(**options)
    return _locked(out, "train", lambda p: stages.train_stage(settings, p, progress=progress))


def quantize(run: Run | str | Path, out: str | Path, *, progress: bool = False, **options: Any) -> Run:
    """Ternary fine-tuning of a train run (:class:`~experiments.settings.QuantizeSettings` options)."""
    settings = QuantizeSettings(_dir(run), **options)
    return _locked(out, "quantize", lambda p: stages.quantize_stage(settings, p, progress=progress))


def convert(run: Run | str | Path, **options: Any) -> Description:
    """The network description of a quantize run (:class:`transfer.describe.DescribeSettings`
    options: ``neuron``, ``max_rate``, ``input_coding``, ``gating``), in memory."""
    ckpt = Checkpoint.load(_dir(run))
    return describe(ckpt.model, run_data(ckpt).X_train[:1000], DescribeSettings(**options))


def simulate(run: Run | str | Path, out: str | Path, *, progress: bool = False, **options: Any) -> Run:
    """Convert and simulate a quantize run (:class:`~experiments.settings.SimulateSettings` options)."""
    settings = SimulateSettings(_dir(run), **options)
    return _locked(out, "simulate", lambda p: stages.simulate_stage(settings, p, progress=progress))


def finetune(run: Run | str | Path, out: str | Path, *, progress: bool = False, **options: Any) -> Run:
    """Train a simulate run's network through the chip model (:class:`~experiments.settings.FinetuneSettings`)."""
    return Run(Path(out), stages.finetune_stage(FinetuneSettings(_dir(run), **options), out, progress=progress))


def map_network(run: Run | str | Path, out: str | Path, **options: Any) -> Run:
    """Map a simulate run onto the chip (:class:`~experiments.settings.MapSettings` options)."""
    settings = MapSettings(_dir(run), **options)
    return _locked(out, "map", lambda p: stages.map_stage(settings, p))


def emulate(run: Run | str | Path, out: str | Path, *, progress: bool = False, **options: Any) -> Run:
    """Emulate a map run's configuration (:class:`~experiments.settings.EmulateSettings` options)."""
    settings = EmulateSettings(_dir(run), **options)
    return _locked(out, "emulate", lambda p: stages.emulate_stage(settings, p, progress=progress))


def calibrate(run: Run | str | Path, out: str | Path, *, progress: bool = False, **options: Any) -> Run:
    """Calibrate a map run to one chip (:class:`~experiments.settings.CalibrateSettings` options)."""
    settings = CalibrateSettings(_dir(run), **options)
    return _locked(out, "calibrate", lambda p: stages.calibrate_stage(settings, p, progress=progress))


def baseline(run: Run | str | Path, out: str | Path, *, progress: bool = False, **options: Any) -> Run:
    """A map or calibrate run's readout fitted on the input spikes alone: what the host reads
    without the chip (:class:`~experiments.settings.BaselineSettings` options)."""
    settings = BaselineSettings(_dir(run), **options)
    return _locked(out, "baseline", lambda p: stages.baseline_stage(settings, p, progress=progress))
