"""AdEx: Brian2 model vs the numpy reference, adaptation, the published preset, parameters."""

from __future__ import annotations

import numpy as np
import pytest

from brian_models.adex import adex_model
from brian_models.parameters import AdExParams
from brian_models.checks import ParameterError
from brian_models.reference import simulate_adex

DT = AdExParams.recommended_dt
I_STEP, T_ON, DURATION = 1.0e-9, 0.02, 0.15


@pytest.fixture(scope="module")
def step_runs(brian_run, step, events):
    """Brian2 at the recommended dt, the reference at the same dt and at dt / 10."""
    p = AdExParams.default()
    record = ("v", "w", "I_ampa", "I_nmda", "I_gaba_a", "I_gaba_b")
    b = brian_run(adex_model(p), dt=DT, duration=DURATION, I_inp=I_STEP, t_on=T_ON,
                  events=events, record=record)
    same = simulate_adex(p, step(I_STEP, T_ON), DT, DURATION, events=events)
    fine = simulate_adex(p, step(I_STEP, T_ON), DT, DURATION, events=events, substeps=10)
    return b, same, fine


def test_trace_matches_reference_at_same_dt(step_runs):
    b, same, _ = step_runs
    # same scheme, two implementations: equal up to rounding (1e-12 V, 1e-18 A)
    np.testing.assert_allclose(b.state["v"], same.state["v"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.state["w"], same.state["w"], rtol=0, atol=1e-18)
    for var in ("I_ampa", "I_nmda", "I_gaba_a", "I_gaba_b"):
        np.testing.assert_allclose(b.state[var], same.state[var], rtol=1e-9, atol=1e-21)
    assert len(b.spike_t) >= 5
    np.testing.assert_allclose(b.spike_t, same.spike_t, atol=0.01 * DT)


def test_recommended_dt_matches_converged_reference(step_runs):
    b, _, fine = step_runs
    first = fine.spike_t[0]
    before = b.t < first - 5 * DT
    # sub-threshold trace within 0.3 mV of the dt/10 integration, first spike within 2 dt,
    # mean inter-spike interval within 1 %
    assert np.max(np.abs(b.state["v"][before] - fine.state["v"][before])) < 0.3e-3
    assert abs(b.spike_t[0] - first) <= 2 * DT
    assert len(b.spike_t) == len(fine.spike_t)
    assert np.mean(np.diff(b.spike_t)) == pytest.approx(np.mean(np.diff(fine.spike_t)), rel=0.01)


def test_spike_frequency_adaptation(step_runs):
    b, _, _ = step_runs
    isi = np.diff(b.spike_t)
    assert np.all(np.diff(isi) > 0)  # tonic spiking with adaptation: intervals lengthen
    # every spike adds b to w (w decays by < 0.1 % within one step)
    k = np.round(b.spike_t / DT).astype(int)
    jumps = b.state["w"][k + 1, 0] - b.state["w"][k, 0]
    np.testing.assert_allclose(jumps, AdExParams.default().b, rtol=0.02)


def test_brette_gerstner_preset():
    p = AdExParams.brette_gerstner_2005()
    # Brette & Gerstner (2005), J. Neurophysiol. 94, Table 1
    assert (p.C_mem, p.g_L, p.E_L, p.V_T, p.Delta_T) == (281e-12, 30e-9, -70.6e-3, -50.4e-3, 2e-3)
    assert (p.tau_w, p.a, p.b, p.t_ref) == (144e-3, 4e-9, 80.5e-12, 0.0)
    assert p.V_spike == pytest.approx(p.V_T + 5 * p.Delta_T)
    assert p.tau_mem == pytest.approx(9.37e-3, rel=1e-3)
    assert AdExParams.default().t_ref == 2e-3


def test_no_spikes_below_rheobase(brian_run):
    # g_L (V_T - E_L - Delta_T) ~ 0.55 nA is where the exponential takes over (a = 4 nS adds)
    run = brian_run(adex_model(AdExParams.default()), dt=DT, duration=0.3, I_ext=0.4e-9)
    assert len(run.spike_t) == 0


def test_params_round_trip():
    p = AdExParams.default()
    assert AdExParams.from_dict(p.to_dict()) == p
    assert AdExParams.from_dict({"b": 0.0}).b == 0.0


@pytest.mark.parametrize("bad, message", [
    ({"tau_w": -0.1}, "tau_w"),
    ({"tau_gaba_b": 0.0}, "tau_gaba_b"),
    ({"C_mem": float("nan")}, "C_mem"),
    ({"V_spike": -0.06}, "V_spike"),
    ({"Vt": -0.05}, "unknown"),
])
def test_invalid_parameters_raise(bad, message):
    with pytest.raises(ParameterError, match=message):
        AdExParams.from_dict(bad)
