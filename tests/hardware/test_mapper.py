"""The mapper: random DPI networks either map to a rule-abiding configuration with exactly the
spec's connectivity, or raise the rule they break."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.biases import code_to_current, params_from_biases
from hardware.config import population_weights
from hardware.dynapse1 import DYNAPSE1
from hardware.errors import HardwareConstraintError
from hardware.mapper import map_network, route_bits
from hardware.rules import check_config
from hardware.rules import fan_in as network_fan_in
from brian_models.description import InputEncoder, Population, Projection, Readout, SpikingNetwork
from brian_models.synapse_types import SYNAPSE_TYPES
from brian_models.parameters import neuron_params


@st.composite
def random_networks(draw, dpi_params):
    """Seeded random DPI networks: 1-3 populations, random integer weights and synapse types."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    sizes = [draw(st.sampled_from([1, 7, 60, 255, 256, 700, 1300])) for _ in range(draw(st.integers(1, 3)))]
    shared = draw(st.booleans())  # identical parameters let populations share cores
    pops = tuple(Population(f"p{i}", s, neuron_params("dpi", dict(dpi_params, I_tau=(5 if shared else 5 + i) * 1e-12)))
                 for i, s in enumerate(sizes))
    n_in = draw(st.integers(1, 40))
    fan = draw(st.sampled_from([0.5, 2.0, 8.0, 30.0, 80.0]))  # mean synapses per post neuron
    max_w = draw(st.integers(1, 3))
    pairs = [("input", "p0")] + [(a.name, b.name) for a in pops for b in pops
                                 if draw(st.booleans())]
    projs = []
    for k, (pre, post) in enumerate(pairs):
        n_pre = n_in if pre == "input" else sizes[int(pre[1:])]
        n_post = sizes[int(post[1:])]
        p = min(1.0, fan / (len(pairs) * max_w * n_pre))
        w = (rng.random((n_post, n_pre)) < p) * rng.integers(1, max_w + 1, (n_post, n_pre))
        syn = SYNAPSE_TYPES[int(rng.integers(0, 4))] if pre != "input" else "AMPA"
        projs.append(Projection(f"proj{k}", pre, post, syn, w, float(rng.choice([1e-10, 2e-10]))))
    readout = Readout("p0", np.ones((2, sizes[0])), np.zeros(2), 100.0, 0.1)
    return SpikingNetwork(pops, tuple(projs), InputEncoder("rate", n_in), readout)


def expected_weights(net: SpikingNetwork) -> dict[tuple[str, str, str], np.ndarray]:
    out: dict[tuple[str, str, str], np.ndarray] = {}
    for p in net.projections:
        key = (p.pre, p.post, p.synapse)
        out[key] = out.get(key, 0) + p.weights
    return {k: v for k, v in out.items() if v.any()}


def cores_upper_bound(net: SpikingNetwork) -> int:
    """Cores the mapper needs if no two populations share a core (chip 0 first)."""
    index = 0
    for pop in net.populations:
        left = pop.size
        while left > 0:
            left -= 255 if index % 4 == 0 else 256
            index += 1
    return index


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_random_networks_map_exactly_or_raise_the_right_rule(data, dpi_params):
    net = data.draw(random_networks(dpi_params))
    fan_in = max(int(v.max()) for v in network_fan_in(net).values())
    try:
        config = map_network(net)
    except HardwareConstraintError as err:
        if net.n_neurons > DYNAPSE1.usable_neurons:
            assert err.rule == "neurons_per_board"
        elif fan_in > DYNAPSE1.cam_per_neuron:
            assert err.rule == "cam_fan_in"
        elif err.rule == "cores_per_board":
            assert cores_upper_bound(net) > DYNAPSE1.n_cores
        else:
            # Aliasing is only possible once neurons and inputs outgrow chip 0's addresses.
            assert err.rule == "cam_aliasing"
            assert cores_upper_bound(net) > 4 or net.n_neurons + net.encoder.n_channels > 1023
        return
    assert net.n_neurons <= DYNAPSE1.usable_neurons and fan_in <= DYNAPSE1.cam_per_neuron
    check_config(config)
    # Connectivity: CAM entries per (pre, post, type) equal the spec's integer weights.
    got = population_weights(config)
    want = expected_weights(net)
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key])
    # Populations keep their size; every core of a population has the same biases.
    for pop in net.populations:
        assert len(config.neuron_map[pop.name]) == pop.size
        groups = [config.configuration.chips[c].cores[k].parameter_group
                  for c, k in config.population_cores(pop.name)]
        assert all(g == groups[0] for g in groups)
    assert config.mapping_report["max_fan_in"] == fan_in
    assert config.mapping_report["neurons_used"] == net.n_neurons


def test_three_hundred_inputs_into_one_neuron_is_cam_fan_in(dpi_params):
    pop = Population("p", 1, neuron_params("dpi", dpi_params))
    proj = Projection("in", "input", "p", "AMPA", np.ones((1, 300), int), 1e-10)
    net = SpikingNetwork((pop,), (proj,), InputEncoder("rate", 300), Readout("p", np.ones((1, 1)), np.zeros(1), 1.0, 1.0))
    with pytest.raises(HardwareConstraintError) as err:
        map_network(net)
    assert err.value.rule == "cam_fan_in" and err.value.value == 300


def test_five_thousand_neurons_is_neurons_per_board(dpi_params):
    pop = Population("p", 5000, neuron_params("dpi", dpi_params))
    proj = Projection("in", "input", "p", "AMPA", np.zeros((5000, 2), int), 1e-10)
    net = SpikingNetwork((pop,), (proj,), InputEncoder("rate", 2), Readout("p", np.ones((1, 5000)), np.zeros(1), 1.0, 1.0))
    with pytest.raises(HardwareConstraintError) as err:
        map_network(net)
    assert err.value.rule == "neurons_per_board"


def test_lif_population_is_refused_with_a_conversion_hint(small_net):
    pops = tuple(Population(p.name, p.size, neuron_params("lif", {})) for p in small_net.populations)
    net = SpikingNetwork(pops, small_net.projections, small_net.encoder, small_net.readout)
    with pytest.raises(HardwareConstraintError, match="--neuron dpi") as err:
        map_network(net)
    assert err.value.rule == "neuron_model"


def test_small_network_report_and_placement(small_net):
    config = map_network(small_net)
    report = config.mapping_report
    assert report["chips_used"] == 1 and report["cores_used"] == 2  # hidden and out differ (I_tau)
    assert report["max_fan_out"] == 1
    assert config.neuron_map["hidden"][0] == (0, 0, 1)  # core 0 neuron 0 is the null address
    assert {c for c, _, _ in config.neuron_map["out"]} == {0}
    for pop in ("hidden", "out"):
        assert pop in report["bias_quantisation"]
        assert max(report["bias_quantisation"][pop]["relative_error"].values()) < 0.02
    assert config.readout == small_net.readout
    assert config.encoder == small_net.encoder
    assert config.step_duration == small_net.step_duration


def test_per_neuron_dc_becomes_the_core_mean(small_net):
    config = map_network(small_net)
    hidden = small_net.population("hidden")
    c, k = config.population_cores("hidden")[0]
    group = config.configuration.chips[c].cores[k].parameter_group
    got = code_to_current(group.param_map["IF_DC_P"].coarse_value, group.param_map["IF_DC_P"].fine_value)
    assert got == pytest.approx(hidden.bias_current.mean(), rel=0.02)
    assert config.mapping_report["dc"]["hidden"]["mean"] == pytest.approx(hidden.bias_current.mean())


def test_efficacies_merge_to_the_synapse_weighted_mean(dpi_params):
    pop = Population("p", 4, neuron_params("dpi", dpi_params))
    a = Projection("a", "input", "p", "AMPA", np.ones((4, 1), int), 1e-10)       # 4 synapses
    b = Projection("b", "p", "p", "AMPA", 3 * np.eye(4, dtype=int), 2e-10)        # 12 synapses
    net = SpikingNetwork((pop,), (a, b), InputEncoder("rate", 1), Readout("p", np.ones((1, 4)), np.zeros(1), 1.0, 1.0))
    config = map_network(net)
    (entry,) = config.mapping_report["efficacies"]
    mean = (4 * 1e-10 + 12 * 2e-10) / 16
    assert entry["mean"] == pytest.approx(mean)
    assert entry["max_relative_spread"] == pytest.approx((mean - 1e-10) / mean)
    c, k = config.population_cores("p")[0]
    decoded = params_from_biases(config.configuration.chips[c].cores[k].parameter_group,
                                 config.analog_constants["p"])
    assert decoded["efficacy_ampa"] == pytest.approx(mean, rel=0.02)
    with pytest.raises(HardwareConstraintError) as err:
        map_network(net, efficacy_tolerance=0.1)
    assert err.value.rule == "one_base_weight_per_type_per_core"


def test_identical_populations_share_a_core_and_different_ones_do_not(dpi_params):
    def net_with(params_b, b_efficacy=None):
        a = Population("a", 10, neuron_params("dpi", dpi_params))
        b = Population("b", 10, neuron_params("dpi", params_b))
        projs = [Projection("in", "input", "a", "AMPA", np.ones((10, 1), int), 1e-10)]
        if b_efficacy is not None:
            projs.append(Projection("in_b", "input", "b", "AMPA", np.ones((10, 1), int), b_efficacy))
        return SpikingNetwork((a, b), tuple(projs), InputEncoder("rate", 1),
                              Readout("a", np.ones((1, 10)), np.zeros(1), 1.0, 1.0))
    # "b" receives no AMPA, so its weight bias differs from "a"'s: separate cores.
    apart = map_network(net_with(dict(dpi_params)))
    assert apart.population_cores("a") == ((0, 0),) and apart.population_cores("b") == ((0, 1),)
    # Given the same AMPA efficacy, "b" has exactly "a"'s biases: one core.
    shared = map_network(net_with(dict(dpi_params), b_efficacy=1e-10))
    assert shared.population_cores("a") == shared.population_cores("b") == ((0, 0),)
    split = map_network(net_with(dict(dpi_params, I_tau=9e-12), b_efficacy=1e-10))
    assert split.population_cores("a") != split.population_cores("b")


def test_large_population_fills_chip_zero_first(dpi_params):
    pop = Population("p", 1500, neuron_params("dpi", dpi_params))
    w = np.zeros((1500, 1), int)
    w[::50] = 1
    net = SpikingNetwork((pop,), (Projection("in", "input", "p", "AMPA", w, 1e-10),),
                         InputEncoder("rate", 1), Readout("p", np.ones((1, 1500)), np.zeros(1), 1.0, 1.0))
    config = map_network(net)
    cores = config.population_cores("p")
    assert cores == ((0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1))
    groups = [config.configuration.chips[c].cores[k].parameter_group for c, k in cores]
    assert all(g == groups[0] for g in groups)
    (channel,) = config.input_channels
    assert channel.targets == ((0, 0b1111), (1, 0b0011))


def test_sources_never_use_the_null_address(small_net):
    config = map_network(small_net)
    for n in config.configuration.iter_neurons():
        assert (n.core_id, n.neuron_id) != (0, 0)
    assert all((ch.core_id, ch.neuron_id) != (0, 0) for ch in config.input_channels)


def test_recurrent_population_across_chips_aliases(dpi_params):
    # 1300 neurons all talking to each other need 1300 distinct addresses at every core, but
    # neuron ids repeat on chip 1: the mapper names the rule instead of mis-wiring.
    n = 1300
    pop = Population("p", n, neuron_params("dpi", dpi_params))
    rng = np.random.default_rng(1)
    w = (rng.random((n, n)) < 0.02).astype(int)
    net = SpikingNetwork((pop,), (Projection("rec", "p", "p", "AMPA", w, 1e-10),),
                         InputEncoder("rate", 1), Readout("p", np.ones((1, n)), np.zeros(1), 1.0, 1.0))
    with pytest.raises(HardwareConstraintError) as err:
        map_network(net)
    assert err.value.rule == "cam_aliasing"


@pytest.mark.parametrize("pre,post,bits", [
    # INI netgen: x = bit 0, y = bit 1 of the chip id; sx = (dx<0), sy = not (dy<0).
    (0, 0, (False, True, 0, 0)), (0, 1, (False, True, 1, 0)), (1, 0, (True, True, 1, 0)),
    (0, 2, (False, True, 0, 1)), (2, 0, (False, False, 0, 1)), (0, 3, (False, True, 1, 1)),
    (3, 0, (True, False, 1, 1)),
])
def test_route_bits(pre, post, bits):
    assert route_bits(pre, post) == bits


def two_chip_network(dpi_params) -> SpikingNetwork:
    """A 1100-neuron feed-forward chain spread over chips 0 and 1."""
    a = Population("a", 900, neuron_params("dpi", dpi_params))
    b = Population("b", 200, neuron_params("dpi", dict(dpi_params, I_tau=7e-12)))
    w = np.zeros((200, 900), int)
    w[np.arange(200), np.arange(200) * 4] = 2
    projs = (Projection("in", "input", "a", "AMPA", np.ones((900, 1), int), 1e-10),
             Projection("ab", "a", "b", "NMDA", w, 1e-10))
    return SpikingNetwork((a, b), projs, InputEncoder("rate", 1),
                          Readout("b", np.ones((1, 200)), np.zeros(1), 1.0, 1.0))


def test_destinations_cover_the_target_cores(dpi_params):
    config = map_network(two_chip_network(dpi_params))
    assert config.mapping_report["chips_used"] == 2
    checked = 0
    for (pre, post, _), w in population_weights(config).items():
        if pre == "input":
            continue
        for j, i in zip(*np.nonzero(w)):
            src = config.configuration.neuron(*config.neuron_map[pre][i])
            chip, core, _ = config.neuron_map[post][j]
            assert any(d.target_chip_id == chip and d.core_mask >> core & 1 for d in src.destinations)
            assert all(d.virtual_core_id == src.core_id for d in src.destinations)
            checked += 1
    assert checked == 200


def test_copies_too_many_for_one_chip_go_whole_onto_chips(network_factory):
    """12 copies of a 104-neuron network need 6 cores: 6 whole copies on each of two chips,
    and no connection crosses chips (the CAM holds no chip id, so cross-chip sources alias)."""
    from brian_models.description import replicate

    net = replicate(network_factory(n_hidden=100), 12)
    config = map_network(net)
    check_config(config)
    assert config.mapping_report["chips_used"] == 2
    for pop in net.populations:
        unit = pop.size // 12
        chips = [config.neuron_map[pop.name][i][0] for i in range(pop.size)]
        assert chips == [i // unit // 6 for i in range(pop.size)]
    for n in config.configuration.iter_neurons():
        assert {d.target_chip_id for d in n.destinations} <= {n.chip_id}
    got, want = population_weights(config), expected_weights(net)
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key])
