"""Each design rule passes a valid configuration and raises its named error on a crafted violation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hardware.config import (
    Dynapse1Core,
    Dynapse1Destination,
    Dynapse1Neuron,
    Dynapse1Parameter,
    Dynapse1Synapse,
    HardwareConfig,
    InputChannel,
)
from hardware.dynapse1 import DYNAPSE1, DYNAPSE2
from hardware.errors import HardwareConstraintError
from hardware.mapper import map_network
from hardware.rules import check_config, check_network
from brian_models.description import InputEncoder, Population, Projection, Readout, SpikingNetwork
from brian_models.parameters import neuron_params


def dest(chip: int, mask: int) -> Dynapse1Destination:
    return Dynapse1Destination(chip, True, 0, mask, False, True, 0, 0)


def assert_rule(config_or_call, rule: str, **kwargs) -> HardwareConstraintError:
    with pytest.raises(HardwareConstraintError) as info:
        if isinstance(config_or_call, HardwareConfig):
            check_config(config_or_call, **kwargs)
        else:
            config_or_call()
    err = info.value
    assert err.rule == rule
    message = str(err)
    assert message.startswith(f"rule {rule}: {err.where} needs ")
    assert f"limit {err.limit}" in message and err.hint in message
    assert isinstance(err, ValueError)
    return err


def test_valid_mapped_config_passes_every_rule(small_net):
    config = map_network(small_net)
    assert check_config(config, DYNAPSE1, efficacy_tolerance=0.0) is None  # raises on a broken rule
    assert sum(len(p) for p in config.neuron_map.values()) == small_net.n_neurons


def test_valid_hand_made_config_passes(config_factory):
    src = Dynapse1Neuron(0, 1, 5, (), (dest(0, 0b0001), dest(1, 0b1000)))
    post = Dynapse1Neuron(0, 0, 3, (Dynapse1Synapse(1, 5, "AMPA"),) * 64)
    config = config_factory([src, post], [InputChannel(0, 0, 2, 2, ((0, 1),))])
    assert check_config(config) is None  # 64 CAM entries and two destinations are within the limits


def test_neurons_per_board(config_factory):
    neurons = [Dynapse1Neuron(c, k, n) for c in range(5) for k in range(4) for n in range(256)]
    err = assert_rule(config_factory(neurons), "neurons_per_board")
    assert (err.value, err.limit) == (5120, 4096)


def test_neurons_per_core(config_factory):
    neurons = [Dynapse1Neuron(0, 2, n) for n in range(257)]
    err = assert_rule(config_factory(neurons), "neurons_per_core")
    assert err.where == "core chip 0 core 2" and err.value == 257


def test_neuron_id_off_the_core(config_factory):
    assert_rule(config_factory([Dynapse1Neuron(0, 0, 300)]), "neurons_per_core")


def test_address_range(config_factory):
    assert_rule(config_factory([Dynapse1Neuron(4, 0, 1)]), "address_range")
    assert_rule(config_factory([Dynapse1Neuron(0, 5, 1)]), "address_range")


def test_cam_fan_in_counts_repeated_entries(config_factory):
    entry = Dynapse1Synapse(1, 17, "AMPA")
    err = assert_rule(config_factory([Dynapse1Neuron(0, 1, 17, (entry,) * 80)]), "cam_fan_in")
    assert str(err).startswith("rule cam_fan_in: neuron chip 0 core 1 neuron 17 needs 80 CAM "
                               "entries, limit 64; prune its inputs (rnn2dynapse quantize --max-fan-in 64)")


def test_cam_entry_must_name_a_chip_address(config_factory):
    assert_rule(config_factory([Dynapse1Neuron(0, 1, 2, (Dynapse1Synapse(4, 1, "AMPA"),))]), "cam_fan_in")


@pytest.mark.parametrize("dests", [
    tuple(dest(c % 4, 1) for c in range(5)),   # five entries
    (dest(1, 1), dest(1, 2)),                  # two entries for one chip
    (dest(0, 0),),                             # empty core mask
    (dest(0, 16),),                            # core mask off the chip
    (dest(4, 1),),                             # target chip off the board
])
def test_sram_fan_out(config_factory, dests):
    assert_rule(config_factory([Dynapse1Neuron(0, 1, 3, (), dests)]), "sram_fan_out")


def test_bias_codes_in_range(config_factory):
    config = config_factory([Dynapse1Neuron(0, 0, 1)])
    core = config.configuration.chips[0].cores[0]
    pm = dict(core.parameter_group.param_map)
    for broken in (Dynapse1Parameter("IF_DC_P", 8, 0), Dynapse1Parameter("IF_DC_P", 0, 256)):
        pm["IF_DC_P"] = broken
        bad = _with_core(config, dataclasses.replace(
            core, parameter_group=dataclasses.replace(core.parameter_group, param_map=dict(pm))))
        err = assert_rule(bad, "bias_codes_in_range")
        assert "IF_DC_P" in err.where
    del pm["IF_DC_P"]
    bad = _with_core(config, dataclasses.replace(
        core, parameter_group=dataclasses.replace(core.parameter_group, param_map=pm)))
    assert_rule(bad, "bias_codes_in_range")


def _with_core(config: HardwareConfig, core: Dynapse1Core) -> HardwareConfig:
    chip = config.configuration.chips[core.chip_id]
    chip = dataclasses.replace(chip, cores={**chip.cores, core.core_id: core})
    tree = dataclasses.replace(config.configuration, chips={**config.configuration.chips, chip.chip_id: chip})
    return dataclasses.replace(config, configuration=tree)


@pytest.mark.parametrize("channels", [
    [InputChannel(0, 1, 0, 5, ((0, 1),))],                           # not on chip 0
    [InputChannel(0, 0, 0, 5, ((0, 1),)), InputChannel(1, 0, 0, 5)],  # shared generator
    [InputChannel(0, 0, 4, 5)],                                      # core off the FPGA
    [InputChannel(0, 0, 1, 5, ((0, 0),))],                           # empty mask
    [InputChannel(i, 0, *divmod(i + 1, 256)) for i in range(1024)],  # too many channels
])
def test_input_channels(config_factory, channels):
    assert_rule(config_factory([Dynapse1Neuron(0, 0, 1)], channels), "input_channels")


def test_reserved_null_address(config_factory):
    null_source = Dynapse1Neuron(2, 0, 0, (), (dest(2, 1),))
    assert_rule(config_factory([null_source]), "reserved_null_address")
    assert_rule(config_factory([Dynapse1Neuron(0, 1, 1)], [InputChannel(0, 0, 0, 0, ((0, 1),))]),
                "reserved_null_address")
    # A neuron at the null address is fine as long as it sends nothing.
    check_config(config_factory([Dynapse1Neuron(2, 0, 0, (Dynapse1Synapse(1, 1, "AMPA"),))]))


def test_cam_aliasing(config_factory):
    # Two sources at (core 1, neuron 5), on chips 0 and 1, both reach chip 0 core 0,
    # where a neuron listens to (1, 5).
    a = Dynapse1Neuron(0, 1, 5, (), (dest(0, 0b0001),))
    b = Dynapse1Neuron(1, 1, 5, (), (dest(0, 0b0001),))
    post = Dynapse1Neuron(0, 0, 7, (Dynapse1Synapse(1, 5, "NMDA"),))
    err = assert_rule(config_factory([a, b, post]), "cam_aliasing")
    assert err.where == "neuron chip 0 core 0 neuron 7"
    # An input generator at the same address aliases too.
    ch = InputChannel(0, 0, 1, 5, ((0, 0b0001),))
    assert_rule(config_factory([a, post], [ch]), "cam_aliasing")
    # Without the listener nothing is ambiguous.
    check_config(config_factory([a, b, Dynapse1Neuron(0, 0, 7)]))


def test_one_base_weight_per_type_per_core(config_factory):
    report = {"efficacies": [{"chip": 0, "core": 0, "synapse": "AMPA", "requested": [1e-10, 3e-10],
                              "mean": 2e-10, "decoded": 2e-10, "max_relative_spread": 0.5}]}
    config = config_factory([Dynapse1Neuron(0, 0, 1)], report=report)
    check_config(config)  # merges are reported, not checked, without a tolerance
    assert_rule(config, "one_base_weight_per_type_per_core", efficacy_tolerance=0.1)


# -- pre-mapping checks on a SpikingNetwork ------------------------------------------------
def _net(sizes=(10,), n_in=4, neuron="dpi", kind="rate", in_weights=None, params=None,
         extra=()) -> SpikingNetwork:
    pops = tuple(Population(f"p{i}", s, neuron_params(neuron, dict(params or {}))) for i, s in enumerate(sizes))
    w = np.ones((sizes[0], n_in), int) if in_weights is None else in_weights
    projs = (Projection("in", "input", "p0", "AMPA", w, 1e-10),) + tuple(extra)
    readout = Readout("p0", np.ones((2, sizes[0])), np.zeros(2), 100.0, 0.1)
    return SpikingNetwork(pops, projs, InputEncoder(kind, n_in), readout)


def test_check_network_passes_a_small_dpi_network(small_net):
    assert check_network(small_net) is None  # raises HardwareConstraintError on a broken rule


def test_network_neuron_model():
    err = assert_rule(lambda: check_network(_net(neuron="lif")), "neuron_model")
    assert "--neuron dpi" in err.hint


def test_network_input_encoder():
    assert_rule(lambda: check_network(_net(kind="current")), "input_encoder")


def test_network_neurons_per_board():
    err = assert_rule(lambda: check_network(_net(sizes=(5000,), in_weights=np.zeros((5000, 4), int))),
                      "neurons_per_board")
    assert (err.value, err.limit) == (5000, 4092)


def test_network_input_channels():
    assert_rule(lambda: check_network(_net(n_in=1100, in_weights=np.zeros((10, 1100), int))),
                "input_channels")


def test_network_cam_fan_in():
    err = assert_rule(lambda: check_network(_net(n_in=300)), "cam_fan_in")
    assert err.value == 300 and err.limit == 64


def test_network_one_base_weight_with_tolerance():
    extra = (Projection("rec", "p0", "p0", "AMPA", np.eye(10, dtype=int), 3e-10),)
    net = _net(extra=extra)
    check_network(net)  # no tolerance: merged by the mapper and reported
    assert_rule(lambda: check_network(net, efficacy_tolerance=0.05), "one_base_weight_per_type_per_core")


def test_unsupported_chip(small_net):
    assert_rule(lambda: check_network(small_net, DYNAPSE2), "supported_chip")


def test_load_config_runs_every_rule_on_the_file_and_names_it(small_net, config_factory, tmp_path):
    from hardware.config import ConfigFileError
    from hardware.rules import load_config

    good = map_network(small_net)
    assert load_config(good.save(tmp_path / "good.json")) == good
    post = Dynapse1Neuron(0, 0, 3, (Dynapse1Synapse(1, 5, "AMPA"),) * 65)
    path = config_factory([post]).save(tmp_path / "edited.json")  # HardwareConfig does not check rules
    err = assert_rule(lambda: load_config(path), "cam_fan_in")
    assert err.where.startswith(f"{path}: neuron chip 0 core 0 neuron 3") and err.value == 65
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(ConfigFileError, match="list.json holds a JSON list"):
        load_config(tmp_path / "list.json")
    (tmp_path / "cut.json").write_text(good.to_json()[:50])
    with pytest.raises(ConfigFileError, match="cut.json is not a readable JSON hardware configuration"):
        load_config(tmp_path / "cut.json")
