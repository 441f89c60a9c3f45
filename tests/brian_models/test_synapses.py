"""Synapses: closed-form PSCs of the four types, their effect on each model, the NMDA gate."""

from __future__ import annotations

import numpy as np
import pytest
from brian2 import Network, SpikeGeneratorGroup, StateMonitor, amp, second

from brian_models.adex import adex_model
from brian_models.parameters import AdExParams
from brian_models.dpi import dpi_model
from brian_models.parameters import DPIParams
from brian_models.lif import lif_model
from brian_models.parameters import LIFParams
from brian_models.neuron import build_group
from brian_models.checks import ParameterError
from brian_models.synapses import (
    SYNAPSE_TAU,
    SYNAPSE_TYPES,
    SYNAPSE_VARIABLE,
    SynapseParams,
    make_synapses,
    on_pre,
)
from brian_models.synapse_types import SYNAPSE_TYPES as SPEC_SYNAPSE_TYPES

MODELS = {
    "lif": (lif_model, LIFParams.default()),
    "adex": (adex_model, AdExParams.default()),
    "dpi": (dpi_model, DPIParams.dynapse1()),
}
MEMBRANE = {"lif": "v", "adex": "v", "dpi": "I_mem"}
W, E, T_SPIKE = 3, 10e-12, 0.002


def one_spike_per_type(model, dt: float, duration: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Neuron k receives one spike at T_SPIKE through a synapse of type SYNAPSE_TYPES[k]."""
    group = build_group(model, 4, dt=dt * second)
    gen = SpikeGeneratorGroup(1, [0], [T_SPIKE] * second, dt=dt * second)
    objects = [group, gen]
    for k, syn_type in enumerate(SYNAPSE_TYPES):
        weights = np.zeros((4, 1), int)
        weights[k, 0] = W
        objects.append(make_synapses(gen, group, syn_type, weights, E))
    mon = StateMonitor(group, list(SYNAPSE_VARIABLE.values()), record=True)
    objects.append(mon)
    Network(*objects).run(duration * second)
    return np.asarray(mon.t_), {v: np.asarray(getattr(mon, v + "_")) for v in SYNAPSE_VARIABLE.values()}


def test_single_spike_matches_closed_form():
    """I_x(t) = w e exp(-(t - t_s)/tau_x), the spike showing from the next step on."""
    dt = 1e-5  # Euler's relative error t dt / (2 tau^2) stays below 0.4 % over 20 ms
    params = LIFParams.default()
    t, currents = one_spike_per_type(lif_model(params), dt, 0.02)
    after = t >= T_SPIKE + dt - 1e-12
    for k, syn_type in enumerate(SYNAPSE_TYPES):
        tau = getattr(params.synapse, SYNAPSE_TAU[syn_type])
        I = currents[SYNAPSE_VARIABLE[syn_type]]
        expected = W * E * np.exp(-(t[after] - T_SPIKE - dt) / tau)
        np.testing.assert_allclose(I[k, after], expected, rtol=0.01, err_msg=syn_type)
        assert np.all(I[k, ~after] == 0)
        others = [j for j in range(4) if j != k]
        assert np.all(I[others] == 0), f"{syn_type} leaked into other neurons"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_has_the_synapse_contract(name):
    """At the recommended dt each model's currents follow Euler's (1 - dt/tau)^n exactly,
    whose sum keeps the charge w e tau of the continuous PSC."""
    factory, params = MODELS[name]
    model = factory(params)
    dt = model.recommended_dt
    t, currents = one_spike_per_type(model, dt, 0.02)
    n = np.round((t - T_SPIKE) / dt).astype(int) - 1
    for k, syn_type in enumerate(SYNAPSE_TYPES):
        tau = getattr(params.synapse, SYNAPSE_TAU[syn_type])
        expected = np.where(n >= 0, W * E * (1 - dt / tau) ** np.maximum(n, 0), 0.0)
        np.testing.assert_allclose(currents[SYNAPSE_VARIABLE[syn_type]][k], expected,
                                   rtol=1e-9, atol=1e-24, err_msg=f"{name} {syn_type}")
        charge = W * E * dt / (1 - (1 - dt / tau))  # geometric series of the Euler PSC
        assert charge == pytest.approx(W * E * tau, rel=1e-12)
    for var in ("I_ext", "I_inp", "I_in", "g_nmda", "tau_ampa", "tau_nmda", "tau_gaba_a", "tau_gaba_b"):
        assert var in model.equations


#: Constant drive above rheobase and a constant inhibitory current per model.
DRIVE = {"lif": (300e-12, 100e-12), "adex": (1.0e-9, 300e-12), "dpi": (200e-12, 40e-12)}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_inhibition_lowers_firing(name, brian_run):
    factory, params = MODELS[name]
    drive, inhibition = DRIVE[name]
    slow = {"tau_gaba_a": np.full(3, 1e4), "tau_gaba_b": np.full(3, 1e4)}  # frozen currents
    run = brian_run(factory(params), n=3, dt=factory(params).recommended_dt, duration=0.2,
                    I_ext=drive, factors=slow,
                    init={"I_gaba_b": [0, inhibition, 0] * amp, "I_gaba_a": [0, 0, inhibition] * amp})
    control, gaba_b, gaba_a = (len(run.spikes(i)) for i in range(3))
    assert control >= 5
    assert gaba_b < control, "GABA_B (subtractive) must lower the rate"
    assert gaba_a < control, "GABA_A (shunting) must lower the rate"


def test_gaba_a_is_a_shunt_lif(brian_run):
    """LIF: the shunt reverses at v_rest (silent at rest), GABA_B hyperpolarises."""
    p = LIFParams.default()
    slow = {"tau_gaba_a": np.full(2, 1e4), "tau_gaba_b": np.full(2, 1e4)}
    run = brian_run(lif_model(p), n=2, dt=p.recommended_dt, duration=0.1, factors=slow,
                    init={"I_gaba_a": [1e-9, 0] * amp, "I_gaba_b": [0, 1e-9] * amp}, record=("v",))
    v = run.state["v"][-1]
    assert v[0] == pytest.approx(p.v_rest, abs=1e-12)
    charged = 1 - np.exp(-run.t[-1] / p.tau_mem)
    assert p.v_rest - v[1] == pytest.approx(p.R_mem * 1e-9 * charged, rel=1e-2)


def test_gaba_a_is_a_shunt_dpi(brian_run):
    """DPI: with I_gaba_a = I_tau the leak doubles, the decay time constant halves."""
    p = DPIParams.dynapse1()
    slow = {"tau_gaba_a": np.full(2, 1e4)}
    run = brian_run(dpi_model(p), n=2, dt=p.recommended_dt, duration=0.03, factors=slow,
                    init={"I_mem": 200e-12 * amp, "I_gaba_a": [0, p.I_tau] * amp}, record=("I_mem",))
    for i, expected in enumerate((p.tau_mem, p.tau_mem / 2)):
        I = run.state["I_mem"][:, i]
        use = I > 20 * p.I_0
        tau = -1.0 / np.polyfit(run.t[use], np.log(I[use]), 1)[0]
        assert tau == pytest.approx(expected, rel=0.015)


#: Sub-threshold depolarising drive per model (the "high" membrane state).
DEPOLARISE = {"lif": 120e-12, "adex": 0.4e-9, "dpi": 90e-12}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_nmda_gate_weaker_at_low_membrane_state(name, brian_run):
    """Rest vs depolarised, each with no input, one AMPA or one NMDA spike of equal size:
    NMDA's effect relative to AMPA's is smaller at rest; g_nmda follows its formula."""
    factory, params = MODELS[name]
    model = factory(params)
    dt = model.recommended_dt
    mem = MEMBRANE[name]
    drive = np.repeat([0.0, DEPOLARISE[name]], 3)  # [rest x (none, AMPA, NMDA), depol x ...]
    amount = 50e-12

    def setup(group):
        gen = SpikeGeneratorGroup(1, [0], [0.1] * second, dt=dt * second)
        out = [gen]
        for syn_type, targets in (("AMPA", (1, 4)), ("NMDA", (2, 5))):
            weights = np.zeros((6, 1), int)
            weights[list(targets), 0] = 1
            out.append(make_synapses(gen, group, syn_type, weights, amount))
        return out

    run = brian_run(model, n=6, dt=dt, duration=0.12, I_ext=drive, setup=setup,
                    record=(mem, "g_nmda"))
    x = run.state[mem]
    window = run.t > 0.1
    excess = np.max(x[window] - x[window][:, [0, 0, 0, 3, 3, 3]], axis=0)
    ratio_rest, ratio_depol = excess[2] / excess[1], excess[5] / excess[4]
    assert excess[1] > 0 and excess[4] > 0
    assert ratio_rest < ratio_depol
    g = run.state["g_nmda"][-1]
    assert g[0] < g[3]
    state = x[-1]
    if name == "dpi":
        expected = state / (state + params.synapse.I_nmda_thr)
    else:
        syn = params.synapse
        expected = 1.0 / (1.0 + np.exp(-(state - syn.v_nmda_half) / syn.v_nmda_slope))
    np.testing.assert_allclose(g, expected, rtol=1e-9)


def test_make_synapses_counts_and_factors():
    p = LIFParams.default()
    post = build_group(lif_model(p), 2)
    pre = SpikeGeneratorGroup(3, [], [] * second)
    weights = np.array([[0, 2, 0], [1, 0, 3]])
    syn = make_synapses(pre, post, "GABA_B", weights, 5e-12, efficacy_factors=np.array([1.0, 0.5, 2.0]))
    # row-major order of np.nonzero: (post 0, pre 1), (post 1, pre 0), (post 1, pre 2)
    assert list(zip(syn.i[:], syn.j[:])) == [(1, 0), (0, 1), (2, 1)]
    np.testing.assert_array_equal(syn.w_syn[:], [2, 1, 3])
    np.testing.assert_allclose(syn.e_syn_[:], [5e-12, 2.5e-12, 10e-12])
    with pytest.raises(ParameterError, match="shape"):
        make_synapses(pre, post, "AMPA", np.ones((3, 2), int), 1e-12)
    with pytest.raises(ParameterError, match="non-negative integer"):
        make_synapses(pre, post, "AMPA", -weights, 1e-12)
    with pytest.raises(ParameterError, match="efficacy_factors"):
        make_synapses(pre, post, "AMPA", weights, 1e-12, efficacy_factors=np.ones(2))


def test_names_match_the_spec():
    assert tuple(SYNAPSE_VARIABLE) == SPEC_SYNAPSE_TYPES == SYNAPSE_TYPES
    assert on_pre("NMDA") == "I_nmda_post += w_syn*e_syn"
    with pytest.raises(ParameterError, match="unknown synapse type"):
        on_pre("GLUTAMATE")


def test_synapse_params():
    s = SynapseParams.dynapse1()
    assert s.tau_ampa == pytest.approx(5e-3)
    assert 50e-3 <= s.tau_nmda <= 100e-3
    assert 5e-3 <= s.tau_gaba_a <= 10e-3
    assert 20e-3 <= s.tau_gaba_b <= 50e-3
    with pytest.raises(ParameterError, match="tau_gaba_b"):
        SynapseParams(tau_gaba_b=-1e-3)
    with pytest.raises(ParameterError, match="I_nmda_thr"):
        SynapseParams(I_nmda_thr=float("nan"))
