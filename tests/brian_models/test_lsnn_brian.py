"""The LSNN in Brian2 against the torch model it came from: step-by-step spike agreement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brian_models.description import DescriptionError
from brian_models.lsnn import simulate_lsnn as run_lsnn
from brian_models.lsnn_description import DPIMapping
from transfer.lsnn import describe_lsnn
from transfer.models import ModelConfig, build_model
from transfer.quantize import TernaryConfig, Ternarizer, bake


def _model(H=12, F=4, K=4, seed=1, **extra):
    extra = {"input_gain": 4.0, "beta": 30.0, "tau_adapt_ms": 300.0, **extra}
    return build_model(ModelConfig("lsnn", F, H, 3, substeps=K, extra=extra), seed=seed).double()


def simulate_lsnn(model, X, neuron="alif", dpi=None, **kwargs):
    """The Brian2 LSNN runner on the description of ``model``."""
    return run_lsnn(describe_lsnn(model, neuron, dpi), X, **kwargs)


def _torch(model, X):
    with torch.no_grad():
        out, raster = model(torch.tensor(X), return_states=True)
    return out.numpy(), raster.numpy().astype(bool)


@pytest.mark.parametrize("readout", ["last", "mean"])
def test_alif_spikes_match_torch_step_by_step(readout):
    """Float64 on both sides: identical rasters (bound: 0 mismatched spikes) and scores."""
    model = _model(readout=readout)
    X = np.random.default_rng(0).random((5, 6, 4))
    out, raster = _torch(model, X)
    res = simulate_lsnn(model, X, record=True, batch_size=3)  # two batches: 3 + 2 copies
    assert raster.sum() > 50
    assert np.count_nonzero(res.raster != raster) == 0
    np.testing.assert_array_equal(res.counts.sum(1), raster.sum(1))
    per_element = raster.reshape(raster.shape[0], -1, model.substeps, raster.shape[2]).sum(2)
    np.testing.assert_array_equal(res.counts, per_element)
    np.testing.assert_allclose(res.scores, out, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(res.predictions, out.argmax(1))


def test_ternary_alif_spikes_match_torch():
    model = _model(H=16)
    bake(model, Ternarizer(TernaryConfig(max_fan_in=8)))
    X = np.random.default_rng(1).random((4, 5, 4))
    _, raster = _torch(model, X)
    res = simulate_lsnn(model, X, record=True, batch_size=4)
    assert raster.sum() > 20
    assert np.count_nonzero(res.raster != raster) == 0


def test_mismatch_is_seeded_and_changes_spikes():
    model = _model()
    X = np.random.default_rng(2).random((2, 5, 4))
    clean = simulate_lsnn(model, X, record=True)
    a = simulate_lsnn(model, X, mismatch=0.3, seed=4, record=True)
    b = simulate_lsnn(model, X, mismatch=0.3, seed=4, record=True)
    np.testing.assert_array_equal(a.raster, b.raster)
    assert np.count_nonzero(a.raster != clean.raster) > 0


def test_dpi_adaptation_lowers_the_rate_of_adaptive_neurons():
    """A constant input of 2 units: the AHP makes adaptive DPI neurons fire less than LIF ones."""
    model = _model(H=4, F=1, K=4, adaptive_fraction=0.5, tau_adapt_ms=500.0)
    with torch.no_grad():
        model.w_in.fill_(2.0)
        model.w_rec.zero_()
    X = np.ones((1, 10, 1))
    on = simulate_lsnn(model, X, neuron="dpi").counts[0].sum(0)
    off = simulate_lsnn(model, X, neuron="dpi", dpi=DPIMapping(ahp_scale=0.0)).counts[0].sum(0)
    assert off.min() >= 6  # a 2-unit input is above the DPI's threshold (8 spikes in 200 ms)
    np.testing.assert_array_equal(on[2:], off[2:])  # neurons 2, 3 do not adapt
    assert np.all(on[:2] < 0.8 * off[:2])


def test_bad_arguments_raise_clear_errors():
    model = _model()
    X = np.zeros((1, 3, 4))
    with pytest.raises(DescriptionError, match="neuron"):
        simulate_lsnn(model, X, neuron="adex")
    with pytest.raises(ValueError, match=r"shape \(N, T, 4\)"):
        simulate_lsnn(model, np.zeros((1, 3, 5)))
    rnn = build_model(ModelConfig("rnn", 4, 8, 3))
    with pytest.raises(ValueError, match="LSNN"):
        simulate_lsnn(rnn, X)
