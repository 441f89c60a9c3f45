"""Calibrate a mapped network to one chip, measuring the chip only through its spikes.

Every chip has its own frozen transistor mismatch, which nobody can read out. What a board
offers is spikes in (the FPGA generators) and spikes out (the neurons' events). Calibration
therefore plays a budget of labelled training sequences through the chip, records the
output population's spike counts, and adapts what can change after mapping on the host:
the readout, refitted on that chip's own responses (a multinomial logistic
regression on exactly the features :class:`~brian_models.description.Readout` reads), as
reservoir computing fits its readout on the chip's activity (He et al. 2019).

:class:`Board` is the only way this module touches a chip: ``play(X)`` returns spike counts.
:class:`EmulatedBoard` is a board emulated in Brian2 at a given mismatch and seed (the
chip's factors stay inside the emulation); with samna and a real board attached, an
object with the same ``play`` would probe the board.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from brian_models.description import Readout
from hardware.config import HardwareConfig

__all__ = ["Board", "EmulatedBoard", "CalibrationReport", "calibrate_readout"]


class Board(Protocol):
    """A chip configured with a :class:`HardwareConfig`, seen through its spikes."""

    def play(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Send ``X [N, T, F]`` as input spikes; the output spike counts ``{population: [N, T, n]}``."""
        ...


@dataclass
class EmulatedBoard:
    """A board emulated in Brian2 from ``config`` alone, with its own frozen mismatch.

    Parameters
    ----------
    config : HardwareConfig
    mismatch : float
        Coefficient of variation of the emulated chip's mismatch.
    seed : int
        Which chip.
    settings : dict
        Further :class:`brian_models.network.SimulationSettings` fields (device, batch size).
    """

    config: HardwareConfig
    mismatch: float = 0.0
    seed: int = 0
    settings: dict[str, Any] | None = None

    def play(self, X: np.ndarray) -> dict[str, np.ndarray]:
        from brian_models.network import SimulationSettings  # noqa: PLC0415 (Brian2 only when playing)
        from hardware.emulate import emulate  # noqa: PLC0415

        sim = SimulationSettings(mismatch=self.mismatch, mismatch_seed=self.seed, seed=self.seed,
                                 **(self.settings or {}))
        return emulate(self.config, X, sim).counts


@dataclass(frozen=True)
class CalibrationReport:
    """What a calibration measured and changed.

    Attributes
    ----------
    samples : int
        Training sequences played through the chip.
    chip_seconds : float
        Chip time they took (``samples * T * step_duration``): the budget spent.
    spikes : float
        Output spikes recorded per sequence.
    train_accuracy_before, train_accuracy_after : float
        Accuracy on the played sequences with the mapped and with the refitted readout.
    """

    samples: int
    chip_seconds: float
    spikes: float
    train_accuracy_before: float
    train_accuracy_after: float

    def to_dict(self) -> dict[str, Any]:
        return {k: float(v) if isinstance(v, (float, np.floating)) else v for k, v in self.__dict__.items()}


def _fit_readout(features: np.ndarray, y: np.ndarray, n_classes: int, regularisation: float,
                 balanced: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression ``scores = W f + b`` on ``features`` (each class weighted
    by its inverse frequency when ``balanced``)."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 (fitting only)

    scale = features.std(0) + 1e-9
    mean = features.mean(0)
    clf = LogisticRegression(C=1.0 / regularisation, class_weight="balanced" if balanced else None,
                             max_iter=2000)
    clf.fit((features - mean) / scale, y)
    W = np.zeros((n_classes, features.shape[1]))
    b = np.full(n_classes, -1e3)  # a class never seen in calibration is never predicted
    if len(clf.classes_) == 2:  # binary: sklearn keeps one row for the second class
        rows = np.vstack([-clf.coef_[0] / 2, clf.coef_[0] / 2])
        icpt = np.array([-clf.intercept_[0] / 2, clf.intercept_[0] / 2])
    else:
        rows, icpt = clf.coef_, clf.intercept_
    for k, c in enumerate(clf.classes_):
        W[c] = rows[k] / scale  # undo the standardisation: W (f - m) / s + b = (W/s) f + (b - W m / s)
        b[c] = icpt[k] - rows[k] @ (mean / scale)
    return W, b


def calibrate_readout(config: HardwareConfig, board: Board, X: np.ndarray, y: np.ndarray, *,
                      regularisation: float = 1e-2, balanced: bool = True,
                      lengths: np.ndarray | None = None) -> tuple[HardwareConfig, CalibrationReport]:
    """Refit the host readout of ``config`` on ``board``'s own responses to ``X [N, T, F]``.

    Parameters
    ----------
    config : HardwareConfig
        The mapped network (the board runs it).
    board : Board
        The chip, seen only through ``play``.
    X, y : ndarray
        Labelled training sequences to play (the measurement budget: ``len(X)`` sequences).
    regularisation : float
        Inverse strength ``1/C`` of the logistic regression's L2 penalty on standardised features.
    balanced : bool
        Weight each class by its inverse frequency (for a task scored by balanced accuracy, as
        training weighs its loss).
    lengths : ndarray or None
        ``[N]`` lengths of zero-padded variable-length sequences: the readout reads each one's
        counts up to its end (the played padding carries no input and is not read).

    Returns
    -------
    config : HardwareConfig
        The same configuration with the refitted readout (the chip's biases, CAM and SRAM are
        unchanged).
    report : CalibrationReport
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=np.int64)
    if X.ndim != 3 or len(X) != len(y) or len(X) < 2:
        raise ValueError(f"calibration needs labelled sequences X (N>=2, T, F) and y (N,), got {X.shape}, {y.shape}")
    ro: Readout = config.readout
    counts = board.play(X)
    missing = [p for p in ro.populations if p not in counts]
    if missing:
        raise ValueError(f"the board returned no spikes of the readout population {missing[0]!r}")
    feats = ro.features(ro.gather(counts), config.step_duration, lengths)
    before = float(np.mean((feats @ ro.weights.T + ro.bias).argmax(1) == y))
    W, b = _fit_readout(feats, y, ro.weights.shape[0], regularisation, balanced)
    after = float(np.mean((feats @ W.T + b).argmax(1) == y))
    new = replace(ro, weights=W, bias=b)
    report = CalibrationReport(samples=len(X), chip_seconds=float(len(X) * X.shape[1] * config.step_duration),
                               spikes=float(sum(c.sum() for c in counts.values()) / len(X)),
                               train_accuracy_before=before, train_accuracy_after=after)
    return replace(config, readout=new), report
