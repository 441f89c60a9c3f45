"""BatchNetwork and simulate on the numpy target: batching, input coding, windows, validation.

References: batched runs against one-sample runs; current-coded input against the analytic
LIF f-I curve (:func:`brian_models.lif.lif_rate`) and a hand computation of
``input_currents``; regular rate-coded input against ``x * max_rate * window``; readout
scores and decision latency against hand-computed examples; the specialised models of
:func:`brian_models.network.specialise` against the full models.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from brian2 import Network, SpikeGeneratorGroup, SpikeMonitor, StateMonitor, amp, second

from brian_models.adex import adex_model
from brian_models.dpi import dpi_model
from brian_models.lif import lif_model, lif_rate
from brian_models.parameters import LIFParams
from brian_models.network import BatchNetwork, SimulationSettings, input_currents, specialise
from brian_models.neuron import build_group
from brian_models.checks import ParameterError
from brian_models.simulate import decision_latency, readout_scores, simulate
from brian_models.synapses import make_synapses
from brian_models.description import DescriptionError, InputEncoder, Population, Projection, Readout, SpikingNetwork
from brian_models.parameters import neuron_params

DT = LIFParams.recommended_dt
STEP = 0.02


def readout(pop: str, n: int, n_classes: int = 2, window: float = STEP) -> Readout:
    return Readout(pop, np.ones((n_classes, n)), np.zeros(n_classes), rate_scale=100.0, window=window)


def small_net(kind: str = "current", seed: int = 0) -> SpikingNetwork:
    """4 inputs -> 6 hidden LIF (excitatory + inhibitory input, recurrence with a 2 ms delay)
    -> 3 output LIF (NMDA and a delayed GABA_A shunt): every synapse type is used."""
    rng = np.random.default_rng(seed)
    F, H, O = 4, 6, 3
    current = kind == "current"
    projections = (
        Projection("in", "input", "hid", "AMPA", rng.integers(1, 3, (H, F)), 120e-12 if current else 60e-12),
        Projection("in_inh", "input", "hid", "GABA_B", rng.integers(0, 2, (H, F)), 40e-12 if current else 20e-12),
        Projection("rec_exc", "hid", "hid", "AMPA", (rng.random((H, H)) < 0.5).astype(int), 60e-12, delay=2e-3),
        Projection("rec_inh", "hid", "hid", "GABA_B", (rng.random((H, H)) < 0.3).astype(int), 60e-12),
        Projection("out_exc", "hid", "out", "NMDA", rng.integers(1, 3, (O, H)), 150e-12),
        Projection("out_inh", "hid", "out", "GABA_A", (rng.random((O, H)) < 0.3).astype(int), 50e-12, delay=1e-3),
    )
    populations = (Population("hid", H, neuron_params("lif"), bias_current=np.full(H, 80e-12)),
                   Population("out", O, neuron_params("lif"), bias_current=np.full(O, 120e-12)))
    return SpikingNetwork(populations, projections, InputEncoder(kind, F, max_rate=200.0),
                          readout("out", O), STEP)


@pytest.fixture(scope="module")
def X_small() -> np.ndarray:
    return np.random.default_rng(1).uniform(0.2, 1.0, (3, 4, 4))


# -- batching --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["current", "rate"])
@pytest.mark.parametrize("mismatch", [0.0, 0.2])
def test_batched_equals_one_by_one(kind, mismatch, X_small):
    net = small_net(kind)
    settings = SimulationSettings(mismatch=mismatch, mismatch_seed=5)
    # batches of 2: the second batch holds one sample and one padded copy
    batched = simulate(net, X_small, replace(settings, batch_size=2), progress=False)
    single = simulate(net, X_small, replace(settings, batch_size=1), progress=False)
    for name in ("hid", "out"):
        np.testing.assert_array_equal(batched.counts[name], single.counts[name])
        assert batched.counts[name].shape == (3, 4, net.population(name).size)
        assert batched.counts[name].sum() > 0, f"population {name} never spiked: the test proves nothing"
    per_sample = batched.counts["hid"].sum(axis=(1, 2))
    assert len(set(per_sample.tolist())) > 1  # the copies really saw different samples


def test_mismatch_is_one_chip_shared_by_all_copies():
    net = small_net("current")
    x = np.random.default_rng(2).uniform(0.3, 1.0, (1, 4, 4))
    X = np.repeat(x, 3, axis=0)  # the same sample in three copies
    counts = {cv_seed: simulate(net, X, SimulationSettings(batch_size=3, mismatch=cv_seed[0],
                                                           mismatch_seed=cv_seed[1]),
                                progress=False).counts["hid"]
              for cv_seed in [(0.0, 0), (0.3, 0), (0.3, 1)]}
    for c in counts.values():
        np.testing.assert_array_equal(c[0], c[1])
        np.testing.assert_array_equal(c[0], c[2])
    # mismatch changes the spikes, and another seed is another chip
    assert not np.array_equal(counts[(0.0, 0)], counts[(0.3, 0)])
    assert not np.array_equal(counts[(0.3, 0)], counts[(0.3, 1)])


# -- input coding ----------------------------------------------------------------------------
def test_current_input_drives_i_inp_at_the_lif_rate():
    """Each neuron fires at ``lif_rate(I_inp + bias)`` with ``I_inp`` from input_currents."""
    k = np.array([4, 5, 6, 9])
    bias = np.array([0.0, 50e-12, 100e-12, 0.0])
    e_exc, e_inh = 100e-12, 20e-12
    net = SpikingNetwork(
        (Population("p", 4, neuron_params("lif"), bias_current=bias),),
        (Projection("in", "input", "p", "AMPA", np.diag(k), e_exc),
         Projection("in_inh", "input", "p", "GABA_B", np.ones((4, 4), int), e_inh)),
        InputEncoder("current", 4), readout("p", 4), STEP)
    T, half = 20, 10
    X = np.empty((1, T, 4))
    X[0, :half], X[0, half:] = 0.7, 1.0
    I = input_currents(net, X)["p"]
    # hand computation: e_exc * k_i * x_i - e_inh * sum_f x_f
    for t, x in ((0, 0.7), (T - 1, 1.0)):
        np.testing.assert_allclose(I[0, t], e_exc * k * x - e_inh * 4 * x, rtol=1e-12)
    counts = simulate(net, X, SimulationSettings(batch_size=1, random_phase=False),
                      progress=False).counts["p"][0]
    skip = 2  # let the membrane settle (tau_mem = 20 ms) after each change of input
    for start, x in ((0, 0.7), (half, 1.0)):
        steps = slice(start + skip, start + half)
        seconds = (half - skip) * STEP
        total = I[0, start] + bias
        expected = lif_rate(total) * seconds
        got = counts[steps].sum(0)
        assert np.all(expected > 5)
        # +-1 spike for the window edges, plus Brian2's refractory timing (within one dt per
        # interval) and the 0.3 % Euler error (see test_lif)
        tol = 1 + expected * (DT * lif_rate(total) + 3e-3)
        assert np.all(np.abs(got - expected) <= tol), (x, got, expected)


def test_regular_rate_input_gives_x_max_rate_window_spikes():
    """A relay neuron per channel (a huge, 0.2 ms synaptic kick) copies every input spike."""
    F, T, max_rate = 4, 8, 500.0
    relay = Population("relay", F, neuron_params("lif", {"tau_ampa": 2e-4, "t_ref": 5e-4}))
    net = SpikingNetwork((relay,), (Projection("in", "input", "relay", "AMPA", np.eye(F, dtype=int), 50e-9),),
                         InputEncoder("rate", F, max_rate=max_rate, regular=True), readout("relay", F), STEP)
    X = np.random.default_rng(3).integers(0, 11, (2, T, F)) / 10.0
    X[0, :, 0] = 0.0  # a silent channel
    counts = simulate(net, X, SimulationSettings(batch_size=2, random_phase=False),
                      progress=False).counts["relay"]
    expected = X * max_rate * STEP  # 0 ... 10 spikes per window
    assert np.all(np.abs(counts - expected) <= 1), np.abs(counts - expected).max()
    assert np.all(counts[0, :, 0] == 0)
    # over the whole sequence the phase accumulator loses nothing: the total is within 1
    assert np.all(np.abs(counts.sum(1) - expected.sum(1)) <= 1)


def test_counts_land_in_the_right_window():
    """Neuron k of sample n gets 0.8 nA only in window (k + n) % T; it fires there and only there."""
    n, T = 3, 4
    net = SpikingNetwork((Population("p", n, neuron_params("lif")),),
                         (Projection("in", "input", "p", "AMPA", np.eye(n, dtype=int), 0.8e-9),),
                         InputEncoder("current", n), readout("p", n), STEP)
    X = np.zeros((2, T, n))
    for s in range(2):
        for k in range(n):
            X[s, (k + s) % T, k] = 1.0
    counts = simulate(net, X, SimulationSettings(batch_size=2, random_phase=False),
                      progress=False).counts["p"]
    # analytic spike count in one window from rest: first spike after tau ln(RI/(RI - 15 mV)),
    # then one every 1/lif_rate (margins >= 1.5 ms, far above the dt effects)
    p = LIFParams.default()
    RI = p.R_mem * 0.8e-9
    first = p.tau_mem * math.log(RI / (RI - (p.v_thresh - p.v_rest)))
    per_window = int((STEP - first) * lif_rate(0.8e-9)) + 1
    assert per_window == 3
    expected = (X * per_window).astype(int)
    np.testing.assert_array_equal(counts, expected)


# -- validation ------------------------------------------------------------------------------
def test_bad_input_raises_value_error():
    net = small_net("current")
    good = np.full((2, 3, 4), 0.5)
    with pytest.raises(ValueError, match="shape"):
        simulate(net, good[0], SimulationSettings(batch_size=2), progress=False)
    with pytest.raises(ValueError, match=r"shape \(N, T, 4\)"):
        simulate(net, np.full((2, 3, 5), 0.5), SimulationSettings(batch_size=2), progress=False)
    for bad, match in ((np.nan, "NaN"), (np.inf, "NaN or inf"), (-0.1, r"\[0, 1\]"), (1.5, r"\[0, 1\]")):
        X = good.copy()
        X[1, 2, 3] = bad
        with pytest.raises(ValueError, match=match):
            simulate(net, X, SimulationSettings(batch_size=2), progress=False)
    with BatchNetwork(net, 3, SimulationSettings(batch_size=2)) as bn:
        with pytest.raises(ValueError, match="does not fit"):
            bn.run(np.full((3, 3, 4), 0.5))  # more samples than the batch size
        with pytest.raises(ValueError, match="does not fit"):
            bn.run(np.full((2, 4, 4), 0.5))  # more steps than built for
        with pytest.raises(ValueError, match="at least one sample"):
            bn.run(np.zeros((0, 3, 4)))


@pytest.mark.parametrize("kwargs, match", [
    ({"device": "gpu"}, "unknown device"),
    ({"target": "c++"}, "unknown code generation target"),
    ({"mismatch": -0.1}, "mismatch"),
    ({"mismatch": float("nan")}, "mismatch"),
    ({"batch_size": 0}, "batch_size"),
    ({"dt": 0.0}, "dt"),
    ({"dt": float("inf")}, "dt"),
    ({"noise": -1e-12}, "noise"),
])
def test_bad_settings_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SimulationSettings(**kwargs)


def test_step_duration_must_be_a_multiple_of_dt():
    with pytest.raises(ValueError, match="not a multiple of dt"):
        BatchNetwork(small_net(), 3, SimulationSettings(dt=3e-4))
    # a finer dt that divides the step is fine, and windows stay 20 ms long
    net = SpikingNetwork((Population("p", 1, neuron_params("lif")),),
                         (Projection("in", "input", "p", "AMPA", np.ones((1, 1), int), 0.8e-9),),
                         InputEncoder("current", 1), readout("p", 1), STEP)
    X = np.array([[[1.0], [0.0]]])
    counts = simulate(net, X, SimulationSettings(dt=5e-5, batch_size=1, random_phase=False),
                      progress=False).counts["p"]
    np.testing.assert_array_equal(counts[0, :, 0], [3, 0])


def _net_with(populations=None, projections=None) -> SpikingNetwork:
    pops = populations or (Population("p", 3, neuron_params("lif")),)
    projs = projections or (Projection("in", "input", "p", "AMPA", np.ones((3, 2), int), 1e-10),)
    return SpikingNetwork(pops, projs, InputEncoder("current", 2), readout("p", 3), STEP)


def test_bad_specs_raise_spec_error():
    with pytest.raises(DescriptionError, match=r"shape \(3, 3\).*needs \(3, 2\)"):
        _net_with(projections=(Projection("in", "input", "p", "AMPA", np.ones((3, 3), int), 1e-10),))
    with pytest.raises(DescriptionError, match="unknown post population"):
        _net_with(projections=(Projection("in", "input", "q", "AMPA", np.ones((3, 2), int), 1e-10),))
    with pytest.raises(ParameterError, match="unknown neuron model 'hh'"):
        Population("p", 3, neuron_params("hh"))
    with pytest.raises(DescriptionError, match="unknown neuron model 'hh'"):
        Population.from_dict({"name": "p", "size": 3, "neuron": "hh", "params": {}})
    with pytest.raises(DescriptionError, match="params must be one of"):
        Population("p", 3, {"tau_mem": 0.02})
    with pytest.raises(DescriptionError, match="unknown synapse type 'GABA_C'"):
        Projection("in", "input", "p", "GABA_C", np.ones((3, 2), int), 1e-10)
    w = np.ones((3, 2))
    w[0, 1] = np.nan
    with pytest.raises(DescriptionError, match="NaN"):
        Projection("in", "input", "p", "AMPA", w, 1e-10)
    with pytest.raises(DescriptionError, match="non-negative"):
        Projection("in", "input", "p", "AMPA", -np.ones((3, 2), int), 1e-10)
    with pytest.raises(DescriptionError, match="delay"):
        Projection("in", "input", "p", "AMPA", np.ones((3, 2), int), 1e-10, delay=-1e-3)
    with pytest.raises(ParameterError, match="tau_mem"):
        Population("p", 3, neuron_params("lif", {"tau_mem": float("nan")}))


@pytest.mark.parametrize("params, match", [
    ({"tau_mem": -0.02}, "tau_mem must be > 0"),
    ({"tau_ampa": -5e-3}, "tau_ampa must be > 0"),
    ({"t_ref": -1e-3}, "t_ref must be >= 0"),
    ({"tau_membrane": 0.02}, "unknown parameters"),
])
def test_bad_neuron_params_raise_parameter_error(params, match):
    """The typed parameters refuse wrong signs and unknown names when they are made."""
    with pytest.raises(ParameterError, match=match):
        neuron_params("lif", params)


# -- readout ---------------------------------------------------------------------------------
def test_readout_scores_by_hand():
    ro = Readout("p", np.array([[1.0, -1.0], [0.5, 2.0]]), np.array([0.1, -0.2]), rate_scale=50.0,
                 window=2 * STEP)
    net = SpikingNetwork((Population("p", 2, neuron_params("lif")),),
                         (Projection("in", "input", "p", "AMPA", np.ones((2, 1), int), 1e-10),),
                         InputEncoder("current", 1), ro, STEP)
    counts = {"p": np.array([[[1, 2], [3, 0], [2, 4]]])}
    # last two steps: activations (3 + 2) / (0.04 s * 50 Hz) = 2.5 and 4 / 2 = 2
    np.testing.assert_allclose(readout_scores(net, counts), [[2.5 - 2.0 + 0.1, 1.25 + 4.0 - 0.2]])
    # after step 1 the window holds one step: activations 1 / (0.02 * 50) = 1 and 2
    np.testing.assert_allclose(readout_scores(net, counts, end_step=1), [[1 - 2 + 0.1, 0.5 + 4 - 0.2]])


def test_sliced_readout_reads_each_part_of_the_window_by_hand():
    """Three slices of one step each: each step's rates by their own columns; a window that
    starts before the first step reads silence there."""
    w = np.arange(12, dtype=float).reshape(2, 6) / 10
    ro = Readout("p", w, np.zeros(2), rate_scale=50.0, window=3 * STEP, slices=3)
    counts = np.array([[[1, 2], [3, 0], [2, 4]]], dtype=float)
    rates = counts[0] / (STEP * 50.0)
    np.testing.assert_allclose(ro.features(counts, STEP), rates.reshape(1, 6))
    np.testing.assert_allclose(ro.scores(counts, STEP), rates.reshape(1, 6) @ w.T)
    # read after step 2: the first slice lies before the run, steps 1 and 2 follow
    np.testing.assert_allclose(ro.features(counts, STEP, end_step=np.array([2])),
                               np.concatenate([[0, 0], rates[0], rates[1]])[None])
    assert Readout.from_dict(ro.to_dict()) == ro
    with pytest.raises(DescriptionError, match="slices"):
        Readout("p", np.zeros((2, 5)), np.zeros(2), rate_scale=50.0, window=STEP, slices=2)


def test_square_root_readout_by_hand():
    """``transform="sqrt"`` scores the square roots of the windowed rates, per slice and per
    sample end, and survives its file round trip (a linear readout's dict stays as it was)."""
    w = np.array([[1.0, -1.0, 0.5, 2.0]])
    ro = Readout("p", w, np.array([0.3]), rate_scale=50.0, window=2 * STEP, slices=2, transform="sqrt")
    counts = np.array([[[1, 0], [4, 9]], [[9, 4], [0, 1]]], dtype=float)
    rates = counts / (STEP * 50.0)  # one step per slice: the rates themselves
    np.testing.assert_allclose(ro.features(counts, STEP), np.sqrt(rates.reshape(2, 4)))
    np.testing.assert_allclose(ro.scores(counts, STEP), np.sqrt(rates.reshape(2, 4)) @ w.T + 0.3)
    # sample 0 read after one step: its first slice lies before the run (silent), the second is step 0
    np.testing.assert_allclose(ro.features(counts, STEP, end_step=np.array([1, 2]))[0],
                               np.sqrt([0, 0, rates[0, 0, 0], rates[0, 0, 1]]))
    assert Readout.from_dict(ro.to_dict()) == ro and ro.to_dict()["transform"] == "sqrt"
    assert "transform" not in replace(ro, transform="linear").to_dict()
    with pytest.raises(DescriptionError, match="transform"):
        replace(ro, transform="log")


def test_decision_latency_by_hand():
    net = SpikingNetwork((Population("p", 2, neuron_params("lif")),),
                         (Projection("in", "input", "p", "AMPA", np.ones((2, 1), int), 1e-10),),
                         InputEncoder("current", 1),
                         Readout("p", np.eye(2), np.zeros(2), rate_scale=100.0, window=STEP), STEP)
    votes = {0: [2, 0], 1: [0, 2]}
    decisions = [[1, 0, 0, 0],   # settles after step 2
                 [1, 1, 1, 1],   # right from step 1
                 [0, 1, 0, 1]]   # only at the last step
    counts = {"p": np.array([[votes[d] for d in row] for row in decisions])}
    np.testing.assert_array_equal(decision_latency(net, counts), [2, 1, 4])


# -- random initial phase --------------------------------------------------------------------
def test_random_phase_is_reproducible_from_the_seed():
    net = small_net("current")
    X = np.full((2, 2, 4), 0.6)

    def first_window(seed: int, random_phase: bool = True) -> np.ndarray:
        settings = SimulationSettings(batch_size=2, seed=seed, random_phase=random_phase)
        return simulate(net, X, settings, progress=False).counts["hid"][:, 0]

    a, b, c = first_window(3), first_window(3), first_window(4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, first_window(3, random_phase=False))
    np.testing.assert_array_equal(a[0], a[1])  # the same phases in every copy


# -- specialised models ----------------------------------------------------------------------
def _trace(model, namespace, state: str, I_inp: float, events) -> tuple[np.ndarray, np.ndarray]:
    group = build_group(model, 1, dt=DT * second, namespace=namespace)
    group.I_inp = I_inp * amp
    mon, spikes = StateMonitor(group, state, record=True), SpikeMonitor(group)
    objects = [group, mon, spikes]
    for t, syn, amount in events:
        gen = SpikeGeneratorGroup(1, [0], [t] * second, dt=DT * second)
        objects += [gen, make_synapses(gen, group, syn, np.ones((1, 1), int), amount)]
    Network(*objects).run(0.1 * second)
    return np.asarray(getattr(mon, state + "_"))[0], np.asarray(spikes.t_)


@pytest.mark.parametrize("make, state, I_inp", [(lif_model, "v", 300e-12), (adex_model, "v", 1e-9),
                                                (dpi_model, "I_mem", 300e-12)])
def test_specialised_model_keeps_the_dynamics(make, state, I_inp):
    """Inlined constants and dropped unused synapses change rounding, not the trajectory."""
    full = make()
    events = [(0.01, "AMPA", 80e-12), (0.03, "GABA_B", 60e-12), (0.05, "AMPA", 80e-12)]
    reduced, namespace = specialise(full, per_neuron_keys=(), used_synapses={"AMPA", "GABA_B"},
                                    zero_inputs=["I_ext"])
    assert "I_nmda" not in reduced.initial and "g_nmda" in namespace and reduced.per_neuron == {}
    ref, ref_spikes = _trace(full, None, state, I_inp, events)
    got, got_spikes = _trace(reduced, namespace, state, I_inp, events)
    assert len(ref_spikes) >= 2
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
    np.testing.assert_allclose(got_spikes, ref_spikes, atol=1e-12)


def test_traces_record_the_first_copy(X_small):
    """Traced spikes of copy 0 are the counts of copy 0; the traced voltage resets at each spike."""
    net = small_net()
    bn = BatchNetwork(net, X_small.shape[1], SimulationSettings(batch_size=3))
    counts = bn.run(X_small, trace=2)
    tr = bn.traces["hid"]
    assert tr["value"].shape == (2, len(tr["t"]))
    assert len(tr["spike_t"]) == counts["hid"][0].sum() > 0
    lif = LIFParams.default()
    for k in range(2):
        for ts in tr["spike_t"][tr["spike_i"] == k]:
            after = np.searchsorted(tr["t"], ts + DT / 2)
            if after < len(tr["t"]):
                assert tr["value"][k, after] == pytest.approx(lif.v_reset, abs=1e-6)
    with BatchNetwork(net, 4, SimulationSettings(batch_size=1, device="cpp_standalone")) as sa:
        with pytest.raises(ValueError, match="runtime"):
            sa.run(X_small[:1], trace=1)
