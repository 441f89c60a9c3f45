"""What the host reads without the chip: the chip's readout fitted on the input spikes alone.

A chip's figure is the accuracy of a host readout that reads the chip's output spikes. A
readout that reads many sequence steps one by one is a wide linear classifier, and on a task
whose answer a linear classifier of the input already gives (Fashion-MNIST row by row, the
8 x 8 digits), the chip may add nothing. The reference is the same readout (the same filter and transform, the window or
steps one by one; the same cross-validated fit of :func:`calibrate_readout`) fed the input
spikes the chip is sent instead of the chip's spikes: :class:`InputWire` is a board whose
output is its input. A chip network adds what it computes only where it beats that.
On a memory task read after the cue has gone (``recall``) the input alone reads chance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from brian_models.description import InputEncoder, Readout
from hardware.calibrate import CalibrationReport, calibrate_readout
from hardware.config import HardwareConfig
from hardware.emulate import input_step_counts

__all__ = ["InputWire", "reading_the_input", "input_only_readout", "input_only_accuracy"]

#: The name under which :class:`InputWire` returns the input spikes.
INPUT = "input"


@dataclass(frozen=True)
class InputWire:
    """A board with no network: ``play`` returns the input spikes it is sent, per step
    (:func:`hardware.emulate.input_step_counts`), as the population ``"input"``."""

    encoder: InputEncoder
    step_duration: float

    def play(self, X: np.ndarray) -> dict[str, np.ndarray]:
        return {INPUT: input_step_counts(self.encoder, X, self.step_duration)}


def reading_the_input(ro: Readout, n_channels: int) -> Readout:
    """``ro`` in the same form (window, slices, filter, transform) reading the ``n_channels``
    input channels that :class:`InputWire` returns instead of its populations."""
    return replace(ro, population=INPUT, weights=np.zeros((ro.weights.shape[0], ro.slices * n_channels)))


def _input_config(config: HardwareConfig) -> HardwareConfig:
    """``config`` with its readout reading the input channels in the same form."""
    return replace(config, readout=reading_the_input(config.readout, config.encoder.n_channels))


def input_only_readout(config: HardwareConfig, X: np.ndarray, y: np.ndarray, *, steps: int | None = 0,
                       balanced: bool = False, lengths: np.ndarray | None = None, folds: int = 3
                       ) -> tuple[HardwareConfig, CalibrationReport]:
    """The readout of ``config`` (its filter and transform; with ``steps=0`` its window and
    slices, with ``K`` the last K steps one by one, with None the better of the two that a
    calibration chooses from: the window or every step) fitted on the input spikes of the
    labelled sequences ``X [N, T, F]``, ``y``, the L2 strength chosen by cross-validation as a
    calibration chooses it; returns the configuration reading the input and the fit's report."""
    wire = InputWire(config.encoder, config.step_duration)
    return calibrate_readout(_input_config(config), wire, X, y, steps=steps, balanced=balanced, lengths=lengths,
                             folds=folds, transform=config.readout.transform)


def input_only_accuracy(config: HardwareConfig, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray,
                        y_test: np.ndarray, *, steps: int | None = 0, balanced: bool = False,
                        lengths_train: np.ndarray | None = None,
                        lengths_test: np.ndarray | None = None) -> tuple[float, CalibrationReport]:
    """Test accuracy (balanced when ``balanced``) of :func:`input_only_readout` fitted on the
    training sequences, and the fit's report."""
    from sklearn.metrics import balanced_accuracy_score  # noqa: PLC0415 (scoring only)

    fitted, report = input_only_readout(config, X_train, y_train, steps=steps, balanced=balanced,
                                        lengths=lengths_train)
    ro = fitted.readout
    counts = InputWire(config.encoder, config.step_duration).play(X_test)[INPUT]
    pred = ro.scores(counts, config.step_duration, lengths_test).argmax(1)
    y_test = np.asarray(y_test)
    return float(balanced_accuracy_score(y_test, pred) if balanced else np.mean(pred == y_test)), report
