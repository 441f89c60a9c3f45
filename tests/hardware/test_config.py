"""The configuration tree and HardwareConfig: exact JSON round trips, samna-like access."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardware.config import (
    Dynapse1Configuration,
    Dynapse1Destination,
    Dynapse1Neuron,
    Dynapse1Synapse,
    Dynapse1SynType,
    HardwareConfig,
    InputChannel,
    population_weights,
    resolve_connections,
)
from hardware.mapper import map_network

synapses = st.builds(Dynapse1Synapse, st.integers(0, 3), st.integers(0, 255),
                     st.sampled_from(list(Dynapse1SynType)))
destinations = st.builds(Dynapse1Destination, st.integers(0, 3), st.booleans(), st.integers(0, 3),
                         st.integers(0, 15), st.booleans(), st.booleans(), st.integers(0, 1),
                         st.integers(0, 1))


@st.composite
def configs(draw, make_config):
    addresses = draw(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 255)),
                              min_size=1, max_size=12, unique=True))
    neurons = [Dynapse1Neuron(c, k, n, tuple(draw(st.lists(synapses, max_size=6))),
                              tuple(draw(st.lists(destinations, max_size=4))))
               for c, k, n in addresses]
    n_ch = draw(st.integers(0, 4))
    channels = [InputChannel(i, 0, i // 2, 10 + i, ((0, draw(st.integers(1, 15))),)) for i in range(n_ch)]
    report = {"max_fan_in": draw(st.integers(0, 64)),
              "errors": draw(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=3)),
              "pair": (1, 2), "numpy": np.float64(0.25)}
    return make_config(neurons, channels, report)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_json_round_trip_is_exact(config_factory, data):
    config = data.draw(configs(config_factory))
    text = config.to_json()
    back = HardwareConfig.from_json(text)
    assert back == config
    assert back.to_json() == text


def test_report_is_normalised_to_json_types(config_factory):
    config = config_factory([Dynapse1Neuron(0, 0, 1)], report={"pair": (1, 2), "x": np.int64(3)})
    assert config.mapping_report == {"pair": [1, 2], "x": 3}


def test_mapped_config_round_trips_through_a_file(small_net, tmp_path):
    config = map_network(small_net)
    path = config.save(tmp_path)
    assert path.name == "hardware.json"
    loaded = HardwareConfig.load(tmp_path)
    assert loaded == config
    assert loaded.to_json() == path.read_text()
    file_path = config.save(tmp_path / "other.json")
    assert HardwareConfig.load(file_path) == config


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no hardware configuration"):
        HardwareConfig.load(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="format"):
        HardwareConfig.from_dict({"format": "something/else"})


def test_samna_like_tree_access(small_net):
    config = map_network(small_net)
    chip, core, nid = config.neuron_map["hidden"][3]
    neuron = config.configuration.chips[chip].cores[core].neurons[nid]
    assert (neuron.chip_id, neuron.core_id, neuron.neuron_id) == (chip, core, nid)
    assert config.configuration.neuron(chip, core, nid) is neuron
    pg = config.configuration.chips[chip].cores[core].parameter_group
    assert pg.get_parameter_by_name("IF_TAU1_N").param_name == "IF_TAU1_N"
    with pytest.raises(KeyError, match="not in the configuration"):
        config.configuration.neuron(3, 3, 255)


def test_configuration_tree_json_round_trip(small_net):
    tree = map_network(small_net).configuration
    assert Dynapse1Configuration.from_json(tree.to_json()) == tree


def test_synapse_type_parsing():
    assert Dynapse1SynType.parse("GABA_A") is Dynapse1SynType.GABA_A
    with pytest.raises(ValueError, match="unknown synapse type"):
        Dynapse1SynType.parse("GABA")


def test_resolve_connections_follows_cam_and_sram(config_factory):
    # Neuron (0,0,5) sends to chip 0 cores 1 and 2; (0,1,7) listens twice, (0,2,9) once,
    # (0,3,1) listens but is not reached.
    src = Dynapse1Neuron(0, 0, 5, (), (Dynapse1Destination(0, True, 0, 0b0110, False, True, 0, 0),))
    listen = Dynapse1Synapse(0, 5, "AMPA")
    a = Dynapse1Neuron(0, 1, 7, (listen, listen))
    b = Dynapse1Neuron(0, 2, 9, (Dynapse1Synapse(0, 5, "NMDA"),))
    c = Dynapse1Neuron(0, 3, 1, (listen,))
    ch = InputChannel(0, 0, 2, 3, ((0, 0b0010),))
    d = Dynapse1Neuron(0, 1, 8, (Dynapse1Synapse(2, 3, "GABA_B"),))
    config = config_factory([src, a, b, c, d], [ch],
                         neuron_map={"p": ((0, 0, 5), (0, 1, 7), (0, 2, 9), (0, 3, 1), (0, 1, 8))})
    conns = resolve_connections(config)
    assert conns == {(("neuron", 0, 0, 5), (0, 1, 7), "AMPA"): 2,
                     (("neuron", 0, 0, 5), (0, 2, 9), "NMDA"): 1,
                     (("input", 0), (0, 1, 8), "GABA_B"): 1}
    w = population_weights(config)
    assert w[("p", "p", "AMPA")][1, 0] == 2 and w[("p", "p", "AMPA")].sum() == 2
    assert w[("input", "p", "GABA_B")].tolist() == [[0], [0], [0], [0], [1]]


def test_input_channels_must_be_in_order(config_factory):
    with pytest.raises(ValueError, match="position 0"):
        config_factory([Dynapse1Neuron(0, 0, 1)], [InputChannel(1, 0, 0, 1)])


def test_json_text_is_plain_json(small_net):
    data = json.loads(map_network(small_net).to_json())
    assert data["format"] == "rnn2dynapse.HardwareConfig/1"
    assert data["chip"] == "DYNAP-SE1"


def test_population_order_survives_json(config_factory):
    neurons = [Dynapse1Neuron(0, 1, 2), Dynapse1Neuron(0, 1, 3)]
    config = config_factory(neurons, neuron_map={"zeta": ((0, 1, 2),), "alpha": ((0, 1, 3),)})
    assert list(HardwareConfig.from_json(config.to_json()).neuron_map) == ["zeta", "alpha"]
