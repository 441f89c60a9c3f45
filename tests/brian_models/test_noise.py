"""Membrane noise: OU stationary statistics, white-noise limit, Poisson background."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from brian2 import Network, StateMonitor, amp, second, volt

from brian_models.adex import adex_model
from brian_models.dpi import dpi_model
from brian_models.parameters import DPIParams
from brian_models.lif import lif_model
from brian_models.parameters import LIFParams
from brian_models.neuron import build_group
from brian_models.checks import ParameterError
from brian_models.noise import PoissonBackground
from brian_models.parameters import NoiseParams

N, DT, DURATION = 400, 1e-4, 0.2


def _run(group, variables, extra=()):
    mon = StateMonitor(group, list(variables), record=True)
    Network(group, mon, *extra).run(DURATION * second)
    return {v: np.asarray(getattr(mon, v + "_")) for v in variables}


@pytest.mark.parametrize("factory", [lif_model, dpi_model], ids=["lif", "dpi"])
def test_ou_stationary_variance_and_correlation_time(factory):
    sigma, tau = 20e-12, 5e-3
    group = build_group(factory(noise=NoiseParams.ou(sigma, tau)), N, dt=DT * second)
    # start in the stationary distribution (seeded), so no burn-in is needed
    group.I_noise = sigma * np.random.default_rng(0).standard_normal(N) * amp
    x = _run(group, ["I_noise"])["I_noise"]
    # Euler-Maruyama's stationary variance is sigma^2 / (1 - dt / (2 tau)) (1 % high here);
    # ~8000 independent samples give a 2 % standard error
    assert x.var() == pytest.approx(sigma**2, rel=0.1)
    assert x.var() == pytest.approx(sigma**2 / (1 - DT / (2 * tau)), rel=0.06)
    lag = int(round(tau / DT))
    corr = np.mean(x[:, lag:] * x[:, :-lag]) / x.var()
    assert corr == pytest.approx(np.exp(-1), abs=0.05)


def test_white_noise_membrane_variance():
    """tau_mem dv/dt = -(v - v_rest) + R sigma_w xi: var(v) = (R sigma_w)^2 / (2 tau_mem)."""
    p = replace(LIFParams.default(), v_thresh=1.0)  # never spikes
    intensity = 2e-12  # A s^0.5
    group = build_group(lif_model(p, noise=NoiseParams.white(intensity)), N, dt=DT * second)
    expected = (p.R_mem * intensity) ** 2 / (2 * p.tau_mem)
    group.v = (p.v_rest + np.sqrt(expected) * np.random.default_rng(1).standard_normal(N)) * volt
    v = _run(group, ["v"])["v"]
    assert v.var() == pytest.approx(expected, rel=0.1)
    assert v.mean() == pytest.approx(p.v_rest, abs=3 * np.sqrt(expected / (N * 5)))


def test_white_noise_is_the_ou_limit():
    ou = NoiseParams.ou(10e-12, 2e-3)
    white = ou.white_equivalent()
    assert white.is_white and white.sigma == pytest.approx(10e-12 * np.sqrt(4e-3))
    assert "xi" in adex_model(noise=white).equations
    assert "I_noise" not in adex_model(noise=white).equations
    assert "I_noise" in adex_model(noise=ou).equations
    assert "xi" not in lif_model().equations  # no noise unless asked for


def test_poisson_background_mean_and_std():
    bg = PoissonBackground(rate=20.0, n_sources=50, efficacy=10e-12, synapse="AMPA")
    p = DPIParams.dynapse1()
    group = build_group(dpi_model(p), N, dt=DT * second)
    x = _run(group, ["I_ampa"], extra=[bg.to_brian(group)])["I_ampa"]
    settled = x[:, int(5 * p.synapse.tau_ampa / DT):]
    tau = p.synapse.tau_ampa
    assert bg.mean_current(tau) == pytest.approx(50e-12)
    # Campbell's theorem: mean n r e tau, variance n r e^2 tau / 2 (Euler-exact for the mean)
    assert settled.mean() == pytest.approx(bg.mean_current(tau), rel=0.03)
    assert settled.std() == pytest.approx(bg.current_std(tau), rel=0.1)


@pytest.mark.parametrize("make", [
    lambda: NoiseParams(sigma=-1e-12),
    lambda: NoiseParams(sigma=float("nan")),
    lambda: NoiseParams.ou(1e-12, 0.0),
    lambda: NoiseParams.from_dict({"sigma": 1e-12, "tau": 1e-3}),
    lambda: PoissonBackground(rate=-5.0, n_sources=10, efficacy=1e-12),
    lambda: PoissonBackground(rate=5.0, n_sources=10, efficacy=1e-12, synapse="GABA_C"),
])
def test_invalid_noise_raises(make):
    with pytest.raises(ParameterError):
        make()


def test_noise_round_trip():
    n = NoiseParams.ou(5e-12, 3e-3)
    assert NoiseParams.from_dict(n.to_dict()) == n
