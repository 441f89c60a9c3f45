"""Device mismatch: lognormal factors with mean 1 and the requested CV, seeded, positive."""

from __future__ import annotations

import numpy as np
import pytest

from brian_models.dpi import dpi_model
from brian_models.lif import lif_model
from brian_models.mismatch import (
    Mismatch,
    draw_mismatch,
    draw_synapse_mismatch,
    lognormal_factors,
)
from brian_models.neuron import build_group
from brian_models.checks import ParameterError

N = 20000


@pytest.mark.parametrize("cv", [0.1, 0.2, 0.5])
def test_mean_one_and_requested_cv(cv):
    f = lognormal_factors(N, cv, np.random.default_rng(7))
    # standard errors at N = 20000: cv / sqrt(N) for the mean; below 1 % (relative) for the
    # CV, even with the lognormal's heavy tail at cv = 0.5
    assert abs(f.mean() - 1.0) < 5 * cv / np.sqrt(N)
    assert f.std() / f.mean() == pytest.approx(cv, rel=0.03)
    assert np.all(f > 0)


def test_strictly_positive_even_for_large_cv():
    f = lognormal_factors(N, 2.0, 3)
    assert np.all(f > 0) and np.all(np.isfinite(f))


def test_reproducible_from_seed():
    keys = ("tau_mem", "R_mem", "t_ref")
    a = draw_mismatch(100, keys, 0.2, np.random.default_rng(42))
    b = draw_mismatch(100, keys, 0.2, 42)
    c = draw_mismatch(100, keys, 0.2, 43)
    for k in keys:
        np.testing.assert_array_equal(a[k], b[k])
        assert not np.allclose(a[k], c[k])
    assert not np.allclose(a["tau_mem"], a["R_mem"])  # independent per parameter
    np.testing.assert_array_equal(draw_synapse_mismatch(50, 0.1, 5), draw_synapse_mismatch(50, 0.1, 5))


def test_zero_cv_gives_exact_ones():
    f = draw_mismatch(10, ("a", "b"), 0.0, None)
    assert all(np.array_equal(v, np.ones(10)) for v in f.values())
    assert np.array_equal(draw_synapse_mismatch(7, 0.0), np.ones(7))


@pytest.mark.parametrize("cv", [-0.1, float("nan"), float("inf")])
def test_invalid_cv_raises(cv):
    with pytest.raises(ParameterError, match="cv"):
        lognormal_factors(5, cv, 0)


def test_missing_rng_raises():
    with pytest.raises(ParameterError, match="seed"):
        draw_mismatch(5, ("tau_mem",), 0.2, None)


def test_mismatch_object_streams_and_round_trip():
    m = Mismatch(cv=0.2, seed=11)
    assert Mismatch.from_dict(m.to_dict()) == m
    a = m.neuron_factors("hidden", 64, ("I_tau",))["I_tau"]
    np.testing.assert_array_equal(a, Mismatch(0.2, 11).neuron_factors("hidden", 64, ("I_tau",))["I_tau"])
    assert not np.allclose(a, m.neuron_factors("output", 64, ("I_tau",))["I_tau"])
    assert m.synapse_factors("rec", 30).shape == (30,)
    with pytest.raises(ParameterError):
        Mismatch(cv=0.2, seed=-1)


def test_factors_scale_the_model_parameters():
    model = lif_model()
    assert set(model.mismatch_keys) <= set(model.per_neuron)
    factors = draw_mismatch(5, model.mismatch_keys, 0.2, 0)
    group = build_group(model, 5, factors=factors)
    np.testing.assert_allclose(group.tau_mem_[:], 20e-3 * factors["tau_mem"])
    np.testing.assert_allclose(group.R_mem_[:], 100e6 * factors["R_mem"])
    np.testing.assert_allclose(group.v_thresh_[:], -50e-3)  # voltages are not perturbed
    dpi = dpi_model()
    assert "I_tau" in dpi.mismatch_keys and "U_T" not in dpi.mismatch_keys
    with pytest.raises(ParameterError, match="unknown parameters"):
        build_group(model, 5, factors={"I_tau": np.ones(5)})
    with pytest.raises(ParameterError, match="shape"):
        build_group(model, 5, factors={"tau_mem": np.ones(4)})
