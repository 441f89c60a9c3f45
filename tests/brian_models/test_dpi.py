"""DPI neuron: Brian2 model vs the numpy reference, membrane time constant, floor, adaptation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from brian2 import amp

from brian_models.dpi import dpi_model
from brian_models.parameters import DPIParams
from brian_models.checks import ParameterError
from brian_models.parameters import NoiseParams
from brian_models.reference import simulate_dpi

DT = DPIParams.recommended_dt
I_STEP, T_ON, DURATION = 300e-12, 0.02, 0.15


@pytest.fixture(scope="module")
def step_runs(brian_run, step, events):
    """Adapting DPI neuron: Brian2 at the recommended dt, reference at dt and at dt / 10."""
    p = replace(DPIParams.dynapse1(), I_ahp_w=2e-12)
    record = ("I_mem", "I_ahp", "I_ampa", "I_nmda", "I_gaba_a", "I_gaba_b")
    b = brian_run(dpi_model(p), dt=DT, duration=DURATION, I_inp=I_STEP, t_on=T_ON,
                  events=events, record=record)
    same = simulate_dpi(p, step(I_STEP, T_ON), DT, DURATION, events=events)
    fine = simulate_dpi(p, step(I_STEP, T_ON), DT, DURATION, events=events, substeps=10)
    return p, b, same, fine


def test_trace_matches_reference_at_same_dt(step_runs):
    _, b, same, _ = step_runs
    # same scheme, two implementations: equal up to rounding (relative 1e-9 of the currents)
    np.testing.assert_allclose(b.state["I_mem"], same.state["I_mem"], rtol=1e-9, atol=1e-21)
    for var in ("I_ahp", "I_ampa", "I_nmda", "I_gaba_a", "I_gaba_b"):
        np.testing.assert_allclose(b.state[var], same.state[var], rtol=1e-9, atol=1e-21)
    assert len(b.spike_t) >= 5
    np.testing.assert_allclose(b.spike_t, same.spike_t, atol=0.01 * DT)


def test_recommended_dt_matches_converged_reference_spiking(step_runs):
    _, b, _, fine = step_runs
    # first spike within 4 dt of the dt/10 integration (Euler lags 2-4 steps in the fast,
    # logistic rise from I_0), mean inter-spike interval within 3 %
    assert abs(b.spike_t[0] - fine.spike_t[0]) <= 4 * DT
    assert abs(len(b.spike_t) - len(fine.spike_t)) <= 1
    assert np.mean(np.diff(b.spike_t)) == pytest.approx(np.mean(np.diff(fine.spike_t)), rel=0.03)


def test_recommended_dt_matches_converged_reference_subthreshold(brian_run):
    p = DPIParams.dynapse1()
    currents = np.array([60e-12, 100e-12])
    run = brian_run(dpi_model(p), n=2, dt=DT, duration=0.1, I_ext=currents, record=("I_mem",))
    fine = simulate_dpi(p, 0.0, DT, 0.1, I_ext=currents, substeps=10)
    b, f = run.state["I_mem"], fine.state["I_mem"]
    # whole trace within 1 % of the final value, steady state within 0.01 %
    assert np.all(np.max(np.abs(b - f), axis=0) < 0.01 * f[-1])
    np.testing.assert_allclose(b[-1], f[-1], rtol=1e-4)
    # and it approaches the closed form I_th (I_in - I_tau) / I_tau (feedback ~ 0 here;
    # still 0.3 % short after 7 tau at 60 pA)
    np.testing.assert_allclose(b[-1], p.I_th * (currents - p.I_tau) / p.I_tau, rtol=5e-3)


def test_ahp_adapts_and_jumps_by_weight(step_runs):
    p, b, _, _ = step_runs
    isi = np.diff(b.spike_t)
    assert isi[-1] > isi[0] * 1.1
    k = np.round(b.spike_t / DT).astype(int)
    jumps = b.state["I_ahp"][k + 1, 0] - b.state["I_ahp"][k, 0]
    np.testing.assert_allclose(jumps, p.I_ahp_w, rtol=0.01)


def test_membrane_time_constant(brian_run):
    """Sub-threshold decay without input: tau dI_mem/dt = -I_mem exactly, tau = C U_T/(kappa I_tau)."""
    p = DPIParams.dynapse1()
    factors = {"I_tau": np.array([1.0, 0.7, 1.4])}
    run = brian_run(dpi_model(p), n=3, dt=DT, duration=0.04, factors=factors,
                    init={"I_mem": 200e-12 * amp}, record=("I_mem",))
    assert p.tau_mem == pytest.approx(2e-12 * 25e-3 / (0.7 * 5e-12))  # 14.29 ms
    for i, f in enumerate(factors["I_tau"]):
        I = run.state["I_mem"][:, i]
        use = I > 20 * p.I_0  # stay clear of the I_0 floor
        slope = np.polyfit(run.t[use], np.log(I[use]), 1)[0]
        # Euler's decay factor (1 - dt/tau) per step biases the fit by dt / (2 tau) ~ 0.5 %
        assert -1.0 / slope == pytest.approx(p.tau_mem / f, rel=0.01)


def test_i_mem_never_below_i0(brian_run):
    p = DPIParams.dynapse1()
    # a 5 nA shunt would drive an unclipped Euler step far below zero
    run = brian_run(dpi_model(p), n=2, dt=DT, duration=0.05, I_ext=[0.0, 400e-12],
                    init={"I_mem": 300e-12 * amp}, events=[(0.01, "GABA_A", 5e-9)],
                    record=("I_mem",))
    I = run.state["I_mem"]
    assert np.all(np.isfinite(I))
    assert I.min() >= p.I_0 * (1 - 1e-12)
    assert I[-1, 0] == pytest.approx(p.I_0)


def test_rheobase_matches_steady_state_analysis(brian_run):
    p = DPIParams.dynapse1()
    rheobase = p.rheobase
    assert rheobase == pytest.approx(112.2e-12, rel=2e-3)  # max of G on the grid, see DPIParams
    run = brian_run(dpi_model(p), n=2, dt=DT, duration=0.3, I_ext=[0.98 * rheobase, 1.02 * rheobase])
    assert len(run.spikes(0)) == 0 and len(run.spikes(1)) > 0


def test_refractory_holds_reset(brian_run):
    p = DPIParams.dynapse1()
    run = brian_run(dpi_model(p), dt=DT, duration=0.03, I_ext=1e-9, record=("I_mem",))
    k = int(round(run.spikes(0)[0] / DT))
    held = run.state["I_mem"][k + 1:k + int(round(p.t_ref / DT)), 0]
    np.testing.assert_allclose(held, p.I_reset, rtol=1e-12)


def test_dynapse1_preset_ranges():
    p = DPIParams.dynapse1()
    assert 1.5e-12 <= p.C_mem <= 3e-12
    assert 10e-3 <= p.tau_mem <= 20e-3
    assert p.t_ref == 2e-3 and p.tau_ahp == 50e-3 and p.I_ahp_w == 0.0
    assert (p.U_T, p.kappa) == (25e-3, 0.7)
    assert p.with_tau_mem(0.02).tau_mem == pytest.approx(0.02)
    assert DPIParams.from_dict(p.to_dict()) == p


def test_white_noise_is_refused():
    with pytest.raises(ParameterError, match="multiplicatively"):
        dpi_model(DPIParams.dynapse1(), noise=NoiseParams.white(1e-13))


@pytest.mark.parametrize("bad, message", [
    ({"I_tau": -5e-12}, "I_tau"),
    ({"tau_ahp": -0.05}, "tau_ahp"),
    ({"tau_ampa": -0.005}, "tau_ampa"),
    ({"I_th": float("nan")}, "I_th"),
    ({"I_reset": 0.1e-12}, "I_reset"),
    ({"v_nmda_half": -0.02}, "unknown"),
])
def test_invalid_parameters_raise(bad, message):
    with pytest.raises(ParameterError, match=message):
        DPIParams.from_dict(bad)
