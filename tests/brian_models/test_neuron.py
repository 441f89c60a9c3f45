"""The shared NeuronModel contract, make_model from typed parameters, and build_group."""

from __future__ import annotations

import numpy as np
import pytest
from brian2 import Network, SpikeMonitor, amp, ms, second

from brian_models.checks import ParameterError
from brian_models.description import Population
from brian_models.models import make_model
from brian_models.neuron import MODEL_NAMES, NeuronModel, build_group
from brian_models.parameters import NEURON_MODELS, NEURON_PARAMS, neuron_params


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_contract(name):
    model = make_model(neuron_params(name))
    assert model.name == name and model.method == "euler" and model.refractory == "t_ref"
    for tau in ("tau_ampa", "tau_nmda", "tau_gaba_a", "tau_gaba_b", "t_ref"):
        assert tau in model.per_neuron
    for var in ("I_ampa", "I_nmda", "I_gaba_a", "I_gaba_b", "I_ext", "I_inp"):
        assert model.initial[var] == 0 * amp
    assert set(model.mismatch_keys) <= set(model.per_neuron)
    group = build_group(model, 3)
    for var in ("I_ampa", "I_nmda", "I_gaba_a", "I_gaba_b", "I_ext", "I_inp", "I_in", "g_nmda"):
        assert var in group.variables
    assert group.variables["I_ext"].constant and not group.variables["I_inp"].constant
    assert model.recommended_dt == NEURON_PARAMS[name].recommended_dt
    assert model.mismatch_keys == NEURON_PARAMS[name].mismatch_keys


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_i_inp_can_be_changed_between_runs(name):
    model = make_model(neuron_params(name))
    group = build_group(model, 1, dt=model.recommended_dt * second)
    spikes = SpikeMonitor(group)
    net = Network(group, spikes)
    net.run(50 * ms)
    assert spikes.num_spikes == 0
    group.I_inp = 2e-9 * amp
    net.run(50 * ms)
    assert spikes.num_spikes > 3


def test_make_model_overrides_and_description_round_trip():
    model = make_model(neuron_params("lif", {"tau_mem": 0.01, "tau_nmda": 0.08}))
    assert float(model.per_neuron["tau_mem"] / second) == pytest.approx(0.01)
    assert float(model.per_neuron["tau_nmda"] / second) == pytest.approx(0.08)
    assert NEURON_MODELS == MODEL_NAMES
    for name in MODEL_NAMES:
        pop = Population(name="hidden", size=4, params=NEURON_PARAMS[name].default())
        again = Population.from_dict(pop.to_dict())
        assert again.neuron == name and again.params == NEURON_PARAMS[name].default()


@pytest.mark.parametrize("name, params, message", [
    ("izhikevich", {}, "unknown neuron model"),
    ("lif", {"tau_mem": -0.02}, "tau_mem"),
    ("adex", {"g_L": float("nan")}, "g_L"),
    ("dpi", {"tau_gaba_a": -1e-3}, "tau_gaba_a"),
    ("dpi", {"I_tau": float("inf")}, "I_tau"),
    ("lif", {"C_mem": 1e-12}, "unknown parameters"),
])
def test_neuron_params_errors(name, params, message):
    with pytest.raises(ParameterError, match=message):
        neuron_params(name, params)


def test_model_and_group_validation():
    model = make_model(neuron_params("dpi"))
    with pytest.raises(ParameterError, match="unknown neuron model"):
        NeuronModel("hh", "", "", "", "t_ref", "euler", {}, {}, ())
    with pytest.raises(ParameterError, match="mismatch keys"):
        NeuronModel("lif", "", "", "", "t_ref", "euler", {}, {}, ("tau_mem",))
    with pytest.raises(ParameterError, match="positive size"):
        build_group(model, 0)
    values = model.parameter_values(2, {"I_tau": np.array([1.0, 2.0])})
    np.testing.assert_allclose(np.asarray(values["I_tau"] / amp), [5e-12, 10e-12])
