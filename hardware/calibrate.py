"""Calibrate a mapped network to one chip, measuring the chip only through its spikes.

Every chip has its own frozen transistor mismatch, which nobody can read out. What a board
offers is spikes in (the FPGA generators) and spikes out (the neurons' events). Calibration
therefore plays a budget of labelled training sequences through the chip, records the
output population's spike counts, and adapts what can change after mapping on the host:
the readout, refitted on that chip's own responses (a multinomial logistic
regression on the features :class:`~brian_models.description.Readout` reads), as
reservoir computing fits its readout on the chip's activity (He et al. 2019). The refitted
readout may read the mapped window, or the last ``K`` sequence steps one by one
(``Readout.slices``), and its rates as they are or their square roots (``Readout.transform``);
which one, and the strength of the L2 penalty, are chosen by k-fold
cross-validation on the played sequences themselves, so no test data and no extra chip time
go into the choice.

A readout fitted on one chip serves that chip. A readout for *any* chip is fitted the same
way on a :class:`Fleet`: many simulated chips, each playing its share of the sequences, so
the fit sees the spread of responses that mismatch makes and none of the chips it will be
evaluated on (a mismatch-aware readout, trained as the chip computes).

:class:`Board` is the only way this module touches a chip: ``play(X)`` returns spike counts.
:class:`EmulatedBoard` is a board emulated (in Brian2 unless told) at a given mismatch and seed (the
chip's factors stay inside the emulation); with samna and a real board attached, an
object with the same ``play`` would probe the board.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol

import numpy as np

from brian_models.description import READOUT_TRANSFORMS, Readout
from hardware.config import HardwareConfig

__all__ = ["Board", "EmulatedBoard", "Fleet", "Recorder", "Plays", "CalibrationReport", "assign_chips", "calibrate_readout",
           "cv_folds", "cv_scores", "step_readout", "REGULARISATIONS"]


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
    simulator : callable, optional
        ``simulator(net, X, settings, progress)`` returning a
        :class:`~brian_models.simulate.SimulationResult` (default Brian2's
        :func:`~brian_models.simulate.simulate`), e.g. the torch chip model.
    progress : bool
        Show a progress bar while playing.
    """

    config: HardwareConfig
    mismatch: float = 0.0
    seed: int = 0
    settings: dict[str, Any] | None = None
    simulator: Callable[..., Any] | None = None
    progress: bool = False

    def play(self, X: np.ndarray) -> dict[str, np.ndarray]:
        from brian_models.network import SimulationSettings  # noqa: PLC0415 (Brian2 only when playing)
        from brian_models.simulate import simulate  # noqa: PLC0415
        from hardware.emulate import network_from_config  # noqa: PLC0415

        sim = SimulationSettings(mismatch=self.mismatch, mismatch_seed=self.seed, seed=self.seed,
                                 **(self.settings or {}))
        return (self.simulator or simulate)(network_from_config(self.config), X, sim, self.progress).counts


@dataclass
class Fleet:
    """Several boards played as one: each sequence goes to one board, drawn by ``seed``.

    Parameters
    ----------
    boards : list of Board
    seed : int
        Seed of the assignment of sequences to boards (balanced: the boards' shares differ
        by at most one sequence).
    play_shares : callable, optional
        ``play_shares(boards, shares)`` returns ``[board.play(share) ...]`` in order; the
        default plays the boards one after another (the caller may play them side by side,
        e.g. in worker processes: a board's counts do not depend on where it plays).
    """

    boards: list[Board]
    seed: int = 0
    play_shares: Callable[[list[Board], list[np.ndarray]], list[dict[str, np.ndarray]]] | None = None

    def __post_init__(self) -> None:
        if not self.boards:
            raise ValueError("a fleet needs at least one board")

    def assignment(self, n: int) -> np.ndarray:
        """The board index of each of ``n`` sequences (:func:`assign_chips`)."""
        return assign_chips(n, len(self.boards), self.seed)

    def play(self, X: np.ndarray) -> dict[str, np.ndarray]:
        which = self.assignment(len(X))
        rows = [np.flatnonzero(which == k) for k in range(len(self.boards))]
        boards = [b for b, r in zip(self.boards, rows) if len(r)]
        rows = [r for r in rows if len(r)]
        shares = [X[r] for r in rows]
        played = (self.play_shares(boards, shares) if self.play_shares
                  else [b.play(share) for b, share in zip(boards, shares)])
        out: dict[str, np.ndarray] = {}
        for r, counts in zip(rows, played):
            for name, c in counts.items():
                if name not in out:
                    out[name] = np.zeros((len(X),) + c.shape[1:], dtype=c.dtype)
                out[name][r] = c
        return out


def assign_chips(n: int, chips: int, seed: int) -> np.ndarray:
    """The chip (``0..chips-1``) that plays each of ``n`` sequences in a fleet seeded ``seed``:
    an even share each, in an order drawn from ``seed`` (what :meth:`Fleet.assignment` plays, and
    what a later fit on the fleet's saved plays reads back)."""
    return np.random.default_rng(seed).permutation(n) % chips


@dataclass
class Recorder:
    """A board that keeps the counts it last returned (``counts``), e.g. to save a fleet's plays."""

    board: Board
    counts: dict[str, np.ndarray] | None = None

    def play(self, X: np.ndarray) -> dict[str, np.ndarray]:
        self.counts = self.board.play(X)
        return self.counts


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
    readout_steps : int
        Steps the refitted readout reads one by one (0: the mapped readout's window).
    readout_transform : str
        What the refitted readout applies to its rates (:attr:`Readout.transform`).
    regularisation : float
        The L2 strength used.
    cv_score : float or None
        Mean k-fold cross-validated score of that choice on the played sequences (None when
        nothing was chosen).
    """

    samples: int
    chip_seconds: float
    spikes: float
    train_accuracy_before: float
    train_accuracy_after: float
    readout_steps: int = 0
    readout_transform: str = "linear"
    regularisation: float = 1e-2
    cv_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: float(v) if isinstance(v, (float, np.floating)) else v for k, v in self.__dict__.items()}


#: The L2 strengths (``1/C`` on standardised features) cross-validation chooses from.
REGULARISATIONS = (1e-2, 1e-1, 1.0, 10.0, 1e2, 1e3, 1e4)


def _fit_path(features: np.ndarray, y: np.ndarray, n_classes: int, regularisations: tuple[float, ...],
              balanced: bool = True, weights: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Multinomial logistic regressions ``scores = W f + b`` on ``features``, one per L2 strength
    (``1/C`` on standardised features), each class weighted by its inverse frequency when
    ``balanced`` and each row by ``weights``. The fits run from the strongest penalty down,
    each starting from the last."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 (fitting only)

    scale = features.std(0) + 1e-9
    mean = features.mean(0)
    z = (features - mean) / scale
    clf = LogisticRegression(class_weight="balanced" if balanced else None, max_iter=2000, warm_start=True)
    fits: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    for reg in sorted(regularisations, reverse=True):
        clf.set_params(C=1.0 / reg)
        clf.fit(z, y, sample_weight=weights)
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
        fits[reg] = (W, b)
    return [fits[reg] for reg in regularisations]


def _fit_readout(features: np.ndarray, y: np.ndarray, n_classes: int, regularisation: float,
                 balanced: bool = True, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One fit of :func:`_fit_path`."""
    return _fit_path(features, y, n_classes, (regularisation,), balanced, weights)[0]


@dataclass(frozen=True)
class Plays:
    """Sequences played on other chips (a fleet), pooled into a calibration's fit as a prior.

    Attributes
    ----------
    counts : ndarray
        ``[M, T, n]`` spike counts of the readout's populations (:meth:`Readout.gather`).
    y : ndarray
        ``[M]`` labels.
    lengths : ndarray or None
        ``[M]`` lengths of variable-length sequences.
    sequences : ndarray or None
        ``[M]`` which training sequence each play is (its index in the training split): with
        the chip's own ``sequences`` (:func:`calibrate_readout`), cross-validation leaves the
        prior's plays of a held-out sequence out of the fold that holds it out.
    """

    counts: np.ndarray
    y: np.ndarray
    lengths: np.ndarray | None = None
    sequences: np.ndarray | None = None

    def save(self, path: Any) -> None:
        optional = {k: v for k, v in (("lengths", self.lengths), ("sequences", self.sequences)) if v is not None}
        np.savez_compressed(path, counts=self.counts, y=self.y, **optional)

    @classmethod
    def load(cls, path: Any) -> "Plays":
        with np.load(path, allow_pickle=False) as f:
            return cls(f["counts"], f["y"], *(f[k] if k in f else None for k in ("lengths", "sequences")))


def step_readout(ro: Readout, steps: int, step_duration: float) -> Readout:
    """``ro`` reading its populations' last ``steps`` sequence steps one by one (0: ``ro`` itself)."""
    if steps == 0:
        return ro
    n = ro.weights.shape[1] // ro.slices
    return replace(ro, weights=np.zeros((ro.weights.shape[0], steps * n)), window=steps * step_duration,
                   slices=steps)


def cv_folds(y: np.ndarray, folds: int, groups: np.ndarray | None = None,
             chips: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, held-out) row indices of stratified folds (shuffled with seed 0). Rows of one
    group (one sequence played more than once) stay in one fold. With ``chips`` (the chip each
    row was played on) each fold also holds out a share of the chips: it trains on the other
    chips' plays of the other sequences and scores the held-out chips' plays of the held-out
    sequences, as a readout for any chip is used (on chips and sequences it never saw)."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold  # noqa: PLC0415 (fitting only)

    k = max(2, min(folds, int(np.bincount(y).max())))
    if groups is None:
        splits = list(StratifiedKFold(k, shuffle=True, random_state=0).split(y, y))
    else:
        splits = list(StratifiedGroupKFold(k, shuffle=True, random_state=0).split(y, y, groups))
    if chips is None:
        return splits
    ids = np.unique(chips)
    fold_of = dict(zip(np.random.default_rng(0).permutation(ids), np.arange(len(ids)) % k))
    chip_fold = np.array([fold_of[c] for c in chips])
    out = []
    for i, (_, held) in enumerate(splits):
        held_seq = np.zeros(len(y), dtype=bool)
        held_seq[held] = True
        train, test = np.flatnonzero(~held_seq & (chip_fold != i)), np.flatnonzero(held_seq & (chip_fold == i))
        if len(train) and len(test):  # fewer chips than folds leave a fold without chips: it scores nothing
            out.append((train, test))
    return out


def cv_scores(features: np.ndarray, y: np.ndarray, n_classes: int, regularisations: tuple[float, ...],
              balanced: bool, folds: int, groups: np.ndarray | None = None,
              prior: tuple[np.ndarray, np.ndarray, float] | None = None,
              chips: np.ndarray | None = None,
              sequences: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Mean held-out score of each L2 strength over the folds of :func:`cv_folds`. ``prior``
    (features, labels, weight of each own row) joins every training fold and is never held out;
    with ``sequences`` (the own rows' and the prior's training-sequence indices) a fold leaves out
    the prior's plays of the sequences it holds out, which would otherwise tell it their labels."""
    from sklearn.metrics import balanced_accuracy_score  # noqa: PLC0415 (fitting only)

    scores = []
    splits = cv_folds(y, folds, groups, chips)
    for train, held in splits:
        row = []
        fold_prior = prior
        if prior is not None and sequences is not None:
            keep = ~np.isin(sequences[1], sequences[0][held])
            fold_prior = (prior[0][keep], prior[1][keep], prior[2])
        f, t, w = _pooled(features[train], y[train], fold_prior)
        for W, b in _fit_path(f, t, n_classes, regularisations, balanced, w):
            pred = (features[held] @ W.T + b).argmax(1)
            row.append(balanced_accuracy_score(y[held], pred) if balanced else np.mean(pred == y[held]))
        scores.append(row)
    return np.mean(scores, axis=0)


def _pooled(features: np.ndarray, y: np.ndarray, prior: tuple[np.ndarray, np.ndarray, float] | None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Own rows (each of weight ``prior[2]``) followed by the prior's rows (weight 1)."""
    if prior is None:
        return features, y, None
    fp, yp, weight = prior
    return (np.vstack([features, fp]), np.concatenate([y, yp]),
            np.concatenate([np.full(len(y), weight), np.ones(len(yp))]))


def calibrate_readout(config: HardwareConfig, board: Board, X: np.ndarray, y: np.ndarray, *,
                      regularisation: float | None = None, steps: int | None = None, balanced: bool = True,
                      lengths: np.ndarray | None = None, folds: int = 3,
                      groups: np.ndarray | None = None, chips: np.ndarray | None = None,
                      prior: Plays | None = None,
                      sequences: np.ndarray | None = None,
                      transform: str | None = "linear") -> tuple[HardwareConfig, CalibrationReport]:
    """Refit the host readout of ``config`` on ``board``'s own responses to ``X [N, T, F]``.

    Parameters
    ----------
    config : HardwareConfig
        The mapped network (the board runs it).
    board : Board
        The chip, seen only through ``play``.
    X, y : ndarray
        Labelled training sequences to play (the measurement budget: ``len(X)`` sequences).
    regularisation : float or None
        Inverse strength ``1/C`` of the logistic regression's L2 penalty on standardised
        features; None: chosen from :data:`REGULARISATIONS` by cross-validation.
    steps : int or None
        Read the last ``steps`` sequence steps one by one (0: the mapped readout's window);
        None: chosen by cross-validation between 0 and all ``T`` steps.
    balanced : bool
        Weight each class by its inverse frequency (for a task scored by balanced accuracy, as
        training weighs its loss); cross-validation then scores balanced accuracy.
    lengths : ndarray or None
        ``[N]`` lengths of zero-padded variable-length sequences: the readout reads each one's
        counts up to its end (the played padding carries no input and is not read).
    folds : int
        Folds of the cross-validation.
    groups : ndarray or None
        ``[N]`` group of each sequence, kept within one fold (the same training sequence
        played on several chips of a :class:`Fleet`).
    chips : ndarray or None
        ``[N]`` chip each sequence was played on (:meth:`Fleet.assignment`): cross-validation
        then also holds out chips, and scores plays of unseen sequences on unseen chips.
    prior : Plays or None
        Sequences played on other chips (a fleet's), pooled into every fit: the chip's own
        rows, weighted so that they count as much as the prior's in all, correct what the
        fleet's spread leaves open (cross-validation holds out own rows only).
    sequences : ndarray or None
        ``[N]`` training-sequence index of each of ``X``: with a prior that has its own
        (:attr:`Plays.sequences`), cross-validation leaves out the prior's plays of the
        sequences a fold holds out (the fleet played the same training sequences, so they would
        show the held-out labels and make the weakest penalty look best).
    transform : str or None
        What the refitted readout applies to its windowed rates (:attr:`Readout.transform`);
        None: chosen by cross-validation from :data:`READOUT_TRANSFORMS`.

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
    if steps is not None and not 0 <= steps <= X.shape[1]:
        raise ValueError(f"readout steps must lie in 0..{X.shape[1]} (the sequence length), got {steps}")
    if transform is not None and transform not in READOUT_TRANSFORMS:
        raise ValueError(f"readout transform must be one of {READOUT_TRANSFORMS}, got {transform!r}")
    ro: Readout = config.readout
    counts = board.play(X)
    missing = [p for p in ro.populations if p not in counts]
    if missing:
        raise ValueError(f"the board returned no spikes of the readout population {missing[0]!r}")
    gathered = ro.gather(counts)
    feats = ro.features(gathered, config.step_duration, lengths)
    before = float(np.mean((feats @ ro.weights.T + ro.bias).argmax(1) == y))
    n_classes = ro.weights.shape[0]
    # the readouts cross-validation chooses from: (steps read one by one, transform)
    choices = [(k, g) for k in ([0, X.shape[1]] if steps is None else [steps])
               for g in (READOUT_TRANSFORMS if transform is None else (transform,))]
    reg_choices = REGULARISATIONS if regularisation is None else (regularisation,)
    readouts = {c: replace(step_readout(ro, c[0], config.step_duration), transform=c[1]) for c in choices}
    features = {c: r.features(gathered, config.step_duration, lengths) for c, r in readouts.items()}
    pooled = {c: None if prior is None else
              (r.features(prior.counts, config.step_duration, prior.lengths), prior.y, len(prior.y) / len(y))
              for c, r in readouts.items()}
    held_out = (None if prior is None or prior.sequences is None or sequences is None
                else (np.asarray(sequences), np.asarray(prior.sequences)))
    cv = None
    chosen, chosen_reg = choices[0], reg_choices[0]
    if len(choices) * len(reg_choices) > 1:  # the first best: the mapped window, linear, weakest penalty first
        for c in choices:
            for reg, score in zip(reg_choices, cv_scores(features[c], y, n_classes, reg_choices, balanced, folds,
                                                         groups, pooled[c], chips, held_out)):
                if cv is None or score > cv:
                    cv, chosen, chosen_reg = float(score), c, reg
    f, t, w = _pooled(features[chosen], y, pooled[chosen])
    W, b = _fit_readout(f, t, n_classes, chosen_reg, balanced, w)
    after = float(np.mean((features[chosen] @ W.T + b).argmax(1) == y))
    new = replace(readouts[chosen], weights=W, bias=b)
    report = CalibrationReport(samples=len(X), chip_seconds=float(len(X) * X.shape[1] * config.step_duration),
                               spikes=float(sum(c.sum() for c in counts.values()) / len(X)),
                               train_accuracy_before=before, train_accuracy_after=after,
                               readout_steps=chosen[0], readout_transform=chosen[1],
                               regularisation=chosen_reg, cv_score=cv)
    return replace(config, readout=new), report
