"""The input-only baseline: the chip's readout fitted on the input spikes the chip is sent.

It reads the input in the readout's own form: with a window over the last step it cannot see
a class shown only at the first step (a memory task read after the cue, at chance); reading
every step one by one, it can, and cross-validation picks that form when it may choose.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from hardware.baseline import InputWire, input_only_accuracy
from hardware.emulate import input_spike_counts
from hardware.mapper import map_network


def _cue_first(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of 5 steps over 6 channels whose class (0-2) is shown only at the first step
    (channels 2y, 2y+1); the other steps are the same noise for every class."""
    X = rng.uniform(0.0, 0.3, (n, 5, 6))
    y = rng.integers(0, 3, n)
    X[np.arange(n), 0, 2 * y] = 1.0
    X[np.arange(n), 0, 2 * y + 1] = 1.0
    return X, y


def test_the_wire_returns_the_input_spikes_step_by_step(network_factory):
    config = map_network(network_factory(n_in=6, n_hidden=10, n_out=3))
    X, _ = _cue_first(4, np.random.default_rng(0))
    counts = InputWire(config.encoder, config.step_duration).play(X)["input"]
    assert counts.shape == X.shape
    np.testing.assert_array_equal(counts.sum(axis=1), input_spike_counts(config.encoder, X, config.step_duration))


def test_the_baseline_reads_the_input_in_the_readouts_form(network_factory):
    config = map_network(network_factory(n_in=6, n_hidden=10, n_out=3))
    rng = np.random.default_rng(1)
    X, y = _cue_first(240, rng)
    Xt, yt = _cue_first(150, rng)
    dt = config.step_duration
    last = replace(config, readout=replace(config.readout, window=dt, slices=1))
    every = replace(config, readout=replace(config.readout, window=5 * dt, slices=5,
                                            weights=np.zeros((3, 5 * config.readout.weights.shape[1])),
                                            leak=1.0))
    after_cue, report = input_only_accuracy(last, X, y, Xt, yt)
    whole, _ = input_only_accuracy(every, X, y, Xt, yt)
    assert report.samples == 240 and report.cv_score is not None
    assert after_cue < 0.5  # chance is 1/3: the last step carries no class
    assert whole > 0.95
    # steps=None: the window or every step, as a calibration chooses; here every step
    chosen, report = input_only_accuracy(last, X, y, Xt, yt, steps=None)
    assert report.readout_steps == 5 and chosen > 0.95
