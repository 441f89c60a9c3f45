"""LIF: Brian2 model vs the numpy reference and vs the analytic f-I curve; parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from brian_models.lif import lif_model, lif_rate
from brian_models.parameters import LIFParams
from brian_models.checks import ParameterError
from brian_models.reference import simulate_lif

DT = LIFParams.recommended_dt
I_STEP, T_ON, DURATION = 250e-12, 0.02, 0.15


@pytest.fixture(scope="module")
def step_runs(brian_run, step, events):
    """Brian2 at the recommended dt, the reference at the same dt and at dt / 10."""
    p = LIFParams.default()
    record = ("v", "I_ampa", "I_nmda", "I_gaba_a", "I_gaba_b")
    b = brian_run(lif_model(p), dt=DT, duration=DURATION, I_inp=I_STEP, t_on=T_ON,
                  events=events, record=record)
    same = simulate_lif(p, step(I_STEP, T_ON), DT, DURATION, events=events)
    fine = simulate_lif(p, step(I_STEP, T_ON), DT, DURATION, events=events, substeps=10)
    return b, same, fine


def test_trace_matches_reference_at_same_dt(step_runs):
    b, same, _ = step_runs
    # the same Euler scheme in two implementations: equal up to rounding (1e-12 V, 1e-21 A)
    np.testing.assert_allclose(b.state["v"], same.state["v"], rtol=0, atol=1e-12)
    for var in ("I_ampa", "I_nmda", "I_gaba_a", "I_gaba_b"):
        np.testing.assert_allclose(b.state[var], same.state[var], rtol=1e-9, atol=1e-21)
    assert len(b.spike_t) >= 5
    np.testing.assert_allclose(b.spike_t, same.spike_t, atol=0.01 * DT)


def test_recommended_dt_matches_converged_reference(step_runs):
    b, _, fine = step_runs
    first = fine.spike_t[0]
    before = b.t < first - 2 * DT
    # sub-threshold trace within 0.05 mV of the dt/10 integration, first spike within 2 dt
    assert np.max(np.abs(b.state["v"][before] - fine.state["v"][before])) < 0.05e-3
    assert abs(b.spike_t[0] - first) <= 2 * DT
    assert abs(len(b.spike_t) - len(fine.spike_t)) <= 1


def test_firing_rate_matches_analytic_fi_curve(brian_run):
    p = LIFParams.default()
    currents = np.array([140e-12, 170e-12, 200e-12, 300e-12, 500e-12, 1000e-12])
    run = brian_run(lif_model(p), n=len(currents), dt=DT, duration=1.0, I_ext=currents)
    expected = lif_rate(currents, p)
    assert expected[0] == 0.0 and len(run.spikes(0)) == 0  # below rheobase (150 pA)
    for i in range(1, len(currents)):
        isi = np.mean(np.diff(run.spikes(i)))
        # Brian2 holds v for t_ref - dt and detects the crossing at the end of a step:
        # the interval is within one dt of the analytic one (plus 0.3 % Euler error)
        assert abs(isi - 1.0 / expected[i]) <= DT + 3e-3 / expected[i], (currents[i], isi)


def test_lif_rate_formula():
    p = LIFParams.default()
    I = 300e-12
    RI = p.R_mem * I
    textbook = 1.0 / (p.t_ref + p.tau_mem * math.log(RI / (RI - (p.v_thresh - p.v_reset))))
    assert lif_rate(I, p) == pytest.approx(textbook, rel=1e-12)
    assert lif_rate(p.rheobase * 0.99, p) == 0.0
    assert p.rheobase == pytest.approx(150e-12)


def test_refractory_period_holds_v_at_reset(brian_run):
    p = LIFParams.default()
    run = brian_run(lif_model(p), dt=DT, duration=0.05, I_ext=2e-9, record=("v",))
    t0 = run.spikes(0)[0]
    k = int(round(t0 / DT))
    held = run.state["v"][k + 1:k + int(round(p.t_ref / DT)), 0]
    np.testing.assert_allclose(held, p.v_reset, atol=1e-15)


def test_params_round_trip_and_defaults():
    p = LIFParams.default()
    d = p.to_dict()
    assert set(d) >= {"tau_mem", "R_mem", "v_rest", "v_reset", "v_thresh", "t_ref",
                      "tau_ampa", "tau_nmda", "tau_gaba_a", "tau_gaba_b"}
    assert LIFParams.from_dict(d) == p
    q = LIFParams.from_dict({"tau_mem": 0.01, "tau_ampa": 0.002})
    assert q.tau_mem == 0.01 and q.synapse.tau_ampa == 0.002 and q.R_mem == p.R_mem


@pytest.mark.parametrize("bad, message", [
    ({"tau_mem": -0.02}, "tau_mem"),
    ({"tau_nmda": -0.05}, "tau_nmda"),
    ({"t_ref": float("nan")}, "t_ref"),
    ({"v_thresh": -0.07}, "v_thresh"),
    ({"tau_membrane": 0.02}, "unknown"),
])
def test_invalid_parameters_raise(bad, message):
    with pytest.raises(ValueError, match=message):
        LIFParams.from_dict(bad)
    with pytest.raises(ParameterError):
        LIFParams.from_dict(bad)
