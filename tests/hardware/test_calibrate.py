"""Calibration to one chip: it measures the chip only through spikes, and the refitted readout
does better on that chip than the mapped one."""

from __future__ import annotations

import numpy as np
import pytest

import brian_models.mismatch as mismatch_module
import brian_models.network as network_module
from hardware.calibrate import EmulatedBoard, calibrate_readout
from hardware.mapper import map_network


class SpyBoard:
    """A board that counts how it is used and flags when the chip is being played."""

    def __init__(self, inner: EmulatedBoard):
        self._inner = inner
        self.played = 0
        self.playing = False

    def play(self, X):
        self.played += 1
        self.playing = True
        try:
            return self._inner.play(X)
        finally:
            self.playing = False


def _labelled(n: int, rng: np.random.Generator):
    """Inputs whose class is which half of the channels is active (a task the readout can learn)."""
    X = rng.uniform(0, 0.2, (n, 5, 6))
    y = rng.integers(0, 2, n)
    X[y == 0, :, :3] += 0.8
    X[y == 1, :, 3:] += 0.8
    return np.clip(X, 0, 1), y


def test_calibration_reads_the_chip_only_through_its_spikes(monkeypatch, network_factory):
    config = map_network(network_factory(n_in=6, n_hidden=20, n_out=4, input_weight=3))
    board = SpyBoard(EmulatedBoard(config, mismatch=0.3, seed=5, settings={"batch_size": 64}))
    real_draw = mismatch_module.draw_chip

    def guarded_draw(*args, **kwargs):
        assert board.playing, "calibration drew the chip's mismatch outside the board"
        return real_draw(*args, **kwargs)

    monkeypatch.setattr(mismatch_module, "draw_chip", guarded_draw)
    monkeypatch.setattr(network_module, "draw_chip", guarded_draw)
    X, y = _labelled(60, np.random.default_rng(0))
    calibrated, report = calibrate_readout(config, board, X, y)
    assert board.played == 1 and report.samples == 60
    assert report.chip_seconds == pytest.approx(60 * 5 * config.step_duration)
    assert report.train_accuracy_after >= report.train_accuracy_before
    assert report.train_accuracy_after > 0.9
    # only the host readout changed: the chip's configuration is the same
    assert calibrated.configuration == config.configuration
    assert calibrated.readout.weights.shape == config.readout.weights.shape[:1] + (4,)


def test_refitted_readout_generalises_on_its_chip(network_factory):
    config = map_network(network_factory(n_in=6, n_hidden=20, n_out=4, input_weight=3))
    board = EmulatedBoard(config, mismatch=0.3, seed=5, settings={"batch_size": 64})
    rng = np.random.default_rng(1)
    X, y = _labelled(60, rng)
    calibrated, _ = calibrate_readout(config, board, X, y)
    X_test, y_test = _labelled(40, rng)
    counts = board.play(X_test)["out"]
    ro = calibrated.readout
    scores = ro.scores(counts, calibrated.step_duration)
    assert np.mean(scores.argmax(1) == y_test) >= 0.9


def test_bad_calibration_input_is_refused(small_net):
    config = map_network(small_net)
    with pytest.raises(ValueError, match="labelled sequences"):
        calibrate_readout(config, EmulatedBoard(config), np.zeros((1, 3, 6)), np.zeros(1))


def test_balanced_fit_trades_accuracy_for_the_rare_class():
    """On imbalanced, overlapping classes the unweighted fit predicts the majority more often
    (higher accuracy), the balanced one finds more of the rare class (higher balanced accuracy)."""
    from sklearn.metrics import balanced_accuracy_score

    from hardware.calibrate import _fit_readout

    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.15).astype(np.int64)
    f = rng.normal(size=(2000, 3)) + 0.8 * y[:, None]
    pred = {b: (f @ W.T + c).argmax(1) for b in (True, False) for W, c in [_fit_readout(f, y, 2, 1e-2, b)]}
    assert np.mean(pred[False] == y) > np.mean(pred[True] == y)
    assert balanced_accuracy_score(y, pred[True]) > balanced_accuracy_score(y, pred[False])


def _timed(n: int, rng: np.random.Generator):
    """The class is *when* the input comes (step 1 or step 3 of 5), not how much of it: a readout
    of the mean over the sequence sees the same activity for both classes."""
    X = rng.uniform(0, 0.1, (n, 5, 6))
    y = rng.integers(0, 2, n)
    X[np.arange(n), 1 + 2 * y, :] = 1.0
    return X, y


def test_cross_validation_picks_the_step_by_step_readout_when_time_carries_the_class(network_factory):
    from hardware.emulate import emulate

    config = map_network(network_factory(n_in=6, n_hidden=20, n_out=4, input_weight=3))
    board = EmulatedBoard(config, mismatch=0.2, seed=1, settings={"batch_size": 64})
    rng = np.random.default_rng(2)
    X, y = _timed(80, rng)
    mapped, _ = calibrate_readout(config, board, X, y, steps=0)
    calibrated, report = calibrate_readout(config, board, X, y)
    assert report.readout_steps == 5 and calibrated.readout.slices == 5
    assert report.regularisation in (1e-2, 1e-1, 1.0, 10.0) and report.cv_score > 0.9
    assert calibrated.readout.weights.shape == (4, 5 * 4)
    X_test, y_test = _timed(40, rng)
    emulated = emulate(calibrated, X_test, board_settings(board))
    counts = board.play(X_test)["out"]
    np.testing.assert_array_equal(emulated.predictions, calibrated.readout.scores(counts, config.step_duration).argmax(1))
    assert np.mean(emulated.predictions == y_test) >= 0.9
    baseline = mapped.readout.scores(counts, config.step_duration).argmax(1)
    assert np.mean(baseline == y_test) < np.mean(emulated.predictions == y_test)


def board_settings(board: EmulatedBoard):
    from brian_models.network import SimulationSettings

    return SimulationSettings(mismatch=board.mismatch, mismatch_seed=board.seed, seed=board.seed, batch_size=64)


def test_fleet_plays_each_sequence_on_its_own_chip(network_factory):
    """A fleet's counts of each sequence equal that sequence played alone on its assigned chip."""
    from hardware.calibrate import Fleet

    config = map_network(network_factory(n_in=6, n_hidden=12, n_out=4, input_weight=3))
    boards = [EmulatedBoard(config, mismatch=0.3, seed=s, settings={"batch_size": 64}) for s in (7, 8, 9)]
    fleet = Fleet(boards, seed=4)
    X, _ = _labelled(10, np.random.default_rng(3))
    which = fleet.assignment(len(X))
    assert sorted(np.bincount(which, minlength=3)) == [3, 3, 4]
    counts = fleet.play(X)["out"]
    for i in range(len(X)):
        np.testing.assert_array_equal(counts[i], boards[which[i]].play(X[i:i + 1])["out"][0])
    assert len({counts[which == k].sum() for k in range(3)}) > 1  # the chips differ
    with pytest.raises(ValueError, match="at least one board"):
        Fleet([])


def test_grouped_cross_validation_keeps_replays_of_a_sequence_in_one_fold():
    """Replays of the same sequence (on other chips) must not score each other: features that only
    identify the sequence, with labels drawn at random, score near chance when grouped."""
    from hardware.calibrate import cv_scores

    rng = np.random.default_rng(0)
    base = rng.normal(size=(60, 40))
    y = rng.integers(0, 2, 60)
    rows = np.repeat(np.arange(60), 4)
    features = base[rows] + 0.01 * rng.normal(size=(240, 40))
    leaky = cv_scores(features, y[rows], 2, (1e-2,), False, 3)[0]
    grouped = cv_scores(features, y[rows], 2, (1e-2,), False, 3, groups=rows)[0]
    assert leaky > 0.95 and grouped < 0.7


def test_cross_validation_leaves_out_the_priors_plays_of_held_out_sequences():
    """A fleet's prior played the same training sequences as the chip's own rows: a fold that
    holds a sequence out must not train on the prior's plays of it. Features that only identify
    the sequence, labels at random: near chance once the prior's plays are left out."""
    from hardware.calibrate import cv_scores

    rng = np.random.default_rng(0)
    base = rng.normal(size=(60, 40))
    y = rng.integers(0, 2, 60)
    own = np.arange(60)
    played = np.repeat(np.arange(60), 4)  # the fleet played every sequence four times
    prior = (base[played] + 0.01 * rng.normal(size=(240, 40)), y[played], 4.0)
    features = base + 0.01 * rng.normal(size=(60, 40))
    leaky = cv_scores(features, y, 2, (1e-2,), False, 3, prior=prior)[0]
    clean = cv_scores(features, y, 2, (1e-2,), False, 3, prior=prior, sequences=(own, played))[0]
    assert leaky > 0.95 and clean < 0.7


def test_plays_round_trip_with_and_without_their_sequences(tmp_path):
    from hardware.calibrate import Plays

    counts, y = np.arange(24).reshape(2, 3, 4), np.array([1, 0])
    for sequences in (np.array([7, 3]), None):
        Plays(counts, y, None, sequences).save(tmp_path / "plays.npz")
        back = Plays.load(tmp_path / "plays.npz")
        np.testing.assert_array_equal(back.counts, counts)
        np.testing.assert_array_equal(back.y, y)
        assert back.lengths is None
        assert (back.sequences is None) if sequences is None else back.sequences.tolist() == [7, 3]



def test_a_prior_that_repeats_the_own_plays_halves_the_l2_strength(network_factory):
    """Pooling a prior that repeats the chip's own plays (own rows weighted to count as much as
    the prior's in all) doubles every row's weight: the same fit as the own rows alone at half
    the L2 strength."""
    from hardware.calibrate import Plays, Recorder

    config = map_network(network_factory(n_in=6, n_hidden=12, n_out=4, input_weight=3))
    board = Recorder(EmulatedBoard(config, mismatch=0.2, seed=2, settings={"batch_size": 64}))
    X, y = _labelled(40, np.random.default_rng(5))
    own, _ = calibrate_readout(config, board, X, y, regularisation=0.5, steps=0)
    prior = Plays(config.readout.gather(board.counts), y)
    pooled, _ = calibrate_readout(config, board, X, y, regularisation=1.0, steps=0, prior=prior)
    np.testing.assert_allclose(pooled.readout.weights, own.readout.weights, rtol=2e-3, atol=1e-6)
    np.testing.assert_allclose(pooled.readout.bias[:2], own.readout.bias[:2], rtol=2e-3, atol=1e-4)
    without, _ = calibrate_readout(config, board, X, y, regularisation=1.0, steps=0)
    assert not np.allclose(without.readout.weights, own.readout.weights, rtol=2e-3)


def test_fleet_folds_hold_out_unseen_sequences_on_unseen_chips():
    from hardware.calibrate import Fleet, cv_folds

    y = np.repeat(np.arange(3), 40)[np.random.default_rng(1).permutation(120)]
    rows = np.arange(360) % 120  # each sequence played three times
    chips = Fleet([None] * 6, seed=2).assignment(360)
    folds = cv_folds(y[rows], 3, groups=rows, chips=chips)
    assert len(folds) == 3
    for train, held in folds:
        assert len(held) > 0 and len(train) > len(held)
        assert not set(rows[train]) & set(rows[held]) and not set(chips[train]) & set(chips[held])
    held_chips = [set(chips[held]) for _, held in folds]
    assert set().union(*held_chips) == set(range(6))  # every chip is held out once
    # two chips and three folds: the fold that holds out no chip is dropped, not scored as NaN
    two = Fleet([None] * 2, seed=2).assignment(360)
    folds = cv_folds(y[rows], 3, groups=rows, chips=two)
    assert len(folds) == 2 and all(len(held) and len(train) for train, held in folds)


def test_square_root_readout_is_fitted_on_square_roots_and_emulated_as_fitted(network_factory):
    """``transform="sqrt"`` fits the readout on the square roots of the chip's rates, and the
    emulator scores the written configuration the same way (checked against the square roots
    taken here); ``transform=None`` lets cross-validation choose between the two."""
    from hardware.emulate import emulate

    config = map_network(network_factory(n_in=6, n_hidden=20, n_out=4, input_weight=3))
    board = EmulatedBoard(config, mismatch=0.2, seed=3, settings={"batch_size": 64})
    rng = np.random.default_rng(4)
    X, y = _labelled(60, rng)
    calibrated, report = calibrate_readout(config, board, X, y, steps=0, transform="sqrt")
    assert calibrated.readout.transform == "sqrt" and report.readout_transform == "sqrt"
    X_test, _ = _labelled(30, rng)
    counts = board.play(X_test)["out"]
    rates = counts[:, -calibrated.readout.window_steps(config.step_duration):].mean(1) / (
        config.step_duration * calibrated.readout.rate_scale)
    by_hand = (np.sqrt(rates) @ calibrated.readout.weights.T + calibrated.readout.bias).argmax(1)
    np.testing.assert_array_equal(emulate(calibrated, X_test, board_settings(board)).predictions, by_hand)
    chosen, report = calibrate_readout(config, board, X, y, steps=0, transform=None)
    assert chosen.readout.transform == report.readout_transform in ("linear", "sqrt")
    with pytest.raises(ValueError, match="transform"):
        calibrate_readout(config, board, X, y, transform="log")
