"""The samna adapter: honest refusals without samna or a board, FPGA event lists by hand, and the
whole upload checked call by call against a recording samna double (``fake_samna``) that enforces
the signatures of samna's dynapse1 API as the public sources document them."""

from __future__ import annotations

import sys

import pytest
from fake_samna import (
    BoardError,
    DeviceInfo,
    Dynapse1Parameter,
    Dynapse1ParameterGroup,
    FpgaSpikeEvent,
    Spike,
    TimestampWrapEvent,
)

from hardware.config import (
    Dynapse1Destination,
    Dynapse1Neuron,
    Dynapse1Parameter as HwParameter,
    Dynapse1ParameterGroup as HwParameterGroup,
    Dynapse1Synapse,
    InputChannel,
)
from hardware.dynapse1 import DYNAPSE1, DYNAPSE1_BIAS_NAMES
from hardware.errors import HardwareConstraintError
from hardware.mapper import map_network
from hardware.samna_adapter import (
    OutputSpike,
    UploadUnavailable,
    find_boards,
    input_events,
    monitored_neurons,
    samna_available,
    spikes_by_population,
    to_samna,
    upload,
    write_parameter_codes,
)

#: Spike times (s) of the small network's six input channels; channel 1 stays silent.
INPUTS = [[0.001, 0.004], [], [0.002], [0.0005, 0.003], [0.0025], [0.006]]


def test_upload_without_samna_refuses_clearly(small_net, monkeypatch):
    monkeypatch.setitem(sys.modules, "samna", None)  # samna absent even where it is installed
    monkeypatch.setitem(sys.modules, "samna.dynapse1", None)
    assert not samna_available()
    config = map_network(small_net)
    with pytest.raises(UploadUnavailable) as err:
        upload(config)
    message = str(err.value)
    assert "samna is not installed" in message and "nothing was uploaded" in message
    assert "DYNAP-SE1 board" in message
    assert isinstance(err.value, RuntimeError)
    with pytest.raises(UploadUnavailable):
        to_samna(config)
    with pytest.raises(UploadUnavailable):
        find_boards()


def test_upload_without_a_board_refuses_clearly(fake_samna, small_net):
    fake = fake_samna([DeviceInfo("Speck2DevKit", "1")])
    assert samna_available()
    assert find_boards() == []
    with pytest.raises(UploadUnavailable, match="no DYNAP-SE1 board found.*nothing was uploaded"):
        upload(map_network(small_net))
    assert set(fake.names()) == {"device.get_unopened_devices"}  # nothing opened, nothing sent


def test_find_boards_filters_dynapse1(fake_samna):
    board = DeviceInfo("Dynapse1DevKit", "42")
    fake_samna([DeviceInfo("DYNAP-SE2 DevBoard", "7"), board])
    assert find_boards() == [board]


def test_a_board_that_cannot_be_opened_is_upload_unavailable(fake_samna, small_net):
    fake = fake_samna(open_error=RuntimeError("device busy"))
    with pytest.raises(UploadUnavailable, match="could not open.*device busy.*nothing was uploaded"):
        upload(map_network(small_net))
    assert fake.names() == ["device.get_unopened_devices", "device.open_device"]


def test_open_device_returning_a_devkit_is_refused_and_closed(fake_samna, small_net):
    fake = fake_samna(returns_devkit=True)
    with pytest.raises(UploadUnavailable, match="not a Dynapse1Model.*nothing was uploaded"):
        upload(map_network(small_net))
    assert fake.names() == ["device.get_unopened_devices", "device.open_device", "device.close_device"]


# -- the double itself enforces what the sources document ------------------------------------
def test_the_double_enforces_samna_signatures(fake_samna):
    fake = fake_samna()
    with pytest.raises(TypeError, match="positionally"):
        Dynapse1Parameter(param_name="IF_DC_P", coarse_value=1, fine_value=2)
    assert Dynapse1Parameter("IF_DC_P", 1, 2).fine_value == 2
    group = Dynapse1ParameterGroup()
    assert sorted(group.param_map) == sorted(DYNAPSE1_BIAS_NAMES)
    with pytest.raises(TypeError, match="in place"):
        group.param_map["IF_DC_P"] = Dynapse1Parameter("IF_DC_P", 1, 2)
    with pytest.raises(ValueError):
        group.param_map["IF_DC_P"].coarse_value = 8
    model = fake.samna.device.open_device(fake.samna.device.get_unopened_devices()[0])
    assert not hasattr(model, "get_model")
    graph = fake.samna.graph.EventFilterGraph()
    _, selector, _ = graph.sequential([model.get_source_node(), "Dynapse1NeuronSelect",
                                       fake.samna.BasicSinkNode_dynapse1_dynapse1_event()])
    with pytest.raises(TypeError, match="tuple"):
        selector.set_neurons([5, 300])
    with pytest.raises(TypeError, match="tuple"):
        selector.set_neurons([(0, 1)])
    selector.set_neurons([(0, 1, 5)])
    with pytest.raises(TypeError):
        model.update_parameter_group(group, chip_id=0, core_id=0)
    with pytest.raises(ValueError):
        FpgaSpikeEvent().isi = 2 ** 16
    fake.samna.device.close_device(model)
    with pytest.raises(RuntimeError, match="already closed"):
        fake.samna.device.close_device(model)


# -- translation into samna's object model -----------------------------------------------------
def _assert_cam_sram(samna_cfg, config):
    """Used CAM/SRAM slots equal the HardwareConfig's; the rest keep samna's defaults."""
    for n in config.configuration.iter_neurons():
        s = samna_cfg.chips[n.chip_id].cores[n.core_id].neurons[n.neuron_id]
        for slot, syn in enumerate(n.synapses):
            got = s.synapses[slot]
            assert (got.listen_core_id, got.listen_neuron_id, got.syn_type.name) == \
                (syn.listen_core_id, syn.listen_neuron_id, syn.syn_type.name)
        assert all((x.listen_core_id, x.listen_neuron_id, x.syn_type.name) == (0, 0, "NMDA")
                   for x in s.synapses[len(n.synapses):])
        for slot, d in enumerate(n.destinations):
            got = s.destinations[slot]
            assert (got.target_chip_id, got.in_use, got.virtual_core_id, got.core_mask,
                    got.sx, got.sy, got.dx, got.dy) == (d.target_chip_id, d.in_use, d.virtual_core_id,
                                                        d.core_mask, d.sx, d.sy, d.dx, d.dy)
        assert not any(x.in_use for x in s.destinations[len(n.destinations):])


def test_to_samna_copies_cam_sram_and_sets_biases_in_place(fake_samna, small_net):
    fake_samna()
    config = map_network(small_net)
    cfg = to_samna(config)
    _assert_cam_sram(cfg, config)
    used = {(c.chip_id, c.core_id): c for c in config.configuration.iter_cores()}
    for chip in range(4):
        for k in range(4):
            codes = cfg.chips[chip].cores[k].parameter_group.codes()
            if (chip, k) in used:
                assert codes == {n: (p.coarse_value, p.fine_value)
                                 for n, p in used[(chip, k)].parameter_group.param_map.items()}
            else:
                assert codes == Dynapse1ParameterGroup().codes()  # samna's defaults untouched


def test_write_parameter_codes_edits_entries_in_place(fake_samna, config_factory):
    fake_samna()
    group = config_factory([Dynapse1Neuron(0, 0, 1)]).configuration.chips[0].cores[0].parameter_group
    target = Dynapse1ParameterGroup()
    entries = dict(target.param_map)
    write_parameter_codes(target, group)
    assert target.codes() == {n: (p.coarse_value, p.fine_value) for n, p in group.param_map.items()}
    assert all(target.param_map[n] is entries[n] for n in entries)  # same objects, new codes
    unknown = HwParameterGroup({"NOT_A_BIAS": HwParameter("NOT_A_BIAS", 1, 1)})
    with pytest.raises(ValueError, match="NOT_A_BIAS"):
        write_parameter_codes(target, unknown)


def test_monitored_neurons_are_address_tuples(small_net):
    config = map_network(small_net)
    got = monitored_neurons(config)
    assert got == [a for addrs in config.neuron_map.values() for a in addrs]
    assert all(isinstance(a, tuple) and len(a) == 3 for a in got)
    assert len(set(got)) == len(got) == 24


# -- the upload, call by call ------------------------------------------------------------------
def _upload(fake_samna, config, inputs=INPUTS, **kwargs):
    fake = fake_samna()
    spikes = upload(config, inputs, **kwargs)
    return fake, spikes


def test_upload_call_sequence(fake_samna, small_net):
    config = map_network(small_net)
    fake, _ = _upload(fake_samna, config)
    n_cores = len(list(config.configuration.iter_cores()))
    assert fake.names() == (
        ["device.get_unopened_devices", "device.open_device", "model.apply_configuration",
         "model.get_configuration"]
        + ["model.update_parameter_group"] * n_cores
        + ["graph.EventFilterGraph", "model.get_source_node", "graph.sequential",
           "selector.set_neurons", "graph.start", "model.get_fpga_spike_gen",
           "spike_gen.set_variable_isi_mode", "spike_gen.preload_stimulus",
           "spike_gen.set_isi_multiplier", "spike_gen.set_repeat_mode", "sink.get_events",
           "spike_gen.start", "sleep", "spike_gen.stop", "sink.get_events", "graph.stop",
           "device.close_device"])
    assert fake.model.info.device_type_name == "Dynapse1DevKit"
    assert fake.closed == [fake.model]


def test_upload_without_inputs_leaves_the_spike_generator_alone(fake_samna, small_net):
    config = map_network(small_net)
    fake, _ = _upload(fake_samna, config, inputs=None, duration=0.5)
    assert not any(n.startswith("spike_gen.") or n == "model.get_fpga_spike_gen" for n in fake.names())
    assert ("sleep", 0.5) in fake.calls and fake.names()[-1] == "device.close_device"


def _two_chip_config(config_factory):
    """Neurons on chips 0 and 2 (cores 3 and 1), one input reaching both chips."""
    a = Dynapse1Neuron(0, 3, 7, (Dynapse1Synapse(1, 4, "AMPA"),),
                       (Dynapse1Destination(2, True, 3, 0b0010, False, True, 0, 1),))
    b = Dynapse1Neuron(2, 1, 255, (Dynapse1Synapse(3, 7, "GABA_B"), Dynapse1Synapse(1, 4, "NMDA")))
    channels = [InputChannel(0, 0, 1, 4, ((0, 0b1000), (2, 0b0010)))]
    return config_factory([a, b], channels, neuron_map={"x": ((0, 3, 7), (2, 1, 255))})


@pytest.mark.parametrize("which", ["mapped", "two_chips"])
def test_upload_sends_each_used_core_its_codes(fake_samna, small_net, config_factory, which):
    config = map_network(small_net) if which == "mapped" else _two_chip_config(config_factory)
    fake, _ = _upload(fake_samna, config, inputs=INPUTS[:len(config.input_channels)])
    updates = fake.model.parameter_updates
    want = {(c.chip_id, c.core_id): {n: (p.coarse_value, p.fine_value)
                                     for n, p in c.parameter_group.param_map.items()}
            for c in config.configuration.iter_cores()}
    assert [(chip, core) for chip, core, _, _ in updates] == list(want)
    for chip, core, codes, _ in updates:
        assert sorted(codes) == sorted(DYNAPSE1_BIAS_NAMES)  # the model's own full group
        assert codes == want[(chip, core)]
    assert len({gid for *_, gid in updates}) == len(updates)  # one group per core
    _assert_cam_sram(fake.model.applied, config)
    selected = [c for c in fake.calls if c[0] == "selector.set_neurons"]
    assert selected == [("selector.set_neurons", monitored_neurons(config))]


def test_upload_plays_exactly_the_input_events(fake_samna, small_net):
    config = map_network(small_net)
    fake, _ = _upload(fake_samna, config, isi_base=90)
    expected = input_events(INPUTS, config, isi_base=90)
    assert fake.model.spike_gen.stimulus == expected and len(expected) == 7
    calls = {c[0]: c[1:] for c in fake.calls}
    assert calls["spike_gen.set_variable_isi_mode"] == (True,)
    assert calls["spike_gen.set_isi_multiplier"] == (90,)
    assert calls["spike_gen.set_repeat_mode"] == (False,)
    played = sum(e["isi"] for e in expected) * 90 / DYNAPSE1.fpga_clock_hz
    assert played == pytest.approx(0.006)
    assert calls["sleep"][0] == pytest.approx(played + config.step_duration)


def test_upload_returns_the_filtered_spikes(fake_samna, small_net):
    config = map_network(small_net)
    hidden, out = config.neuron_map["hidden"], config.neuron_map["out"]
    unmapped = (0, 3, 200)
    assert unmapped not in config.address_map()
    board = [Spike(*hidden[3], 1000), TimestampWrapEvent(2000), Spike(*unmapped, 2500),
             Spike(*out[1], 3000)]
    fake_samna(board_events=board, stale_events=[Spike(*hidden[0], 5)])
    spikes = upload(config, INPUTS)
    # the unmapped neuron is filtered out, the wrap event skipped, the stale spike drained
    assert spikes == [OutputSpike(1000, *hidden[3]), OutputSpike(3000, *out[1])]
    assert spikes_by_population(spikes, config) == {"hidden": [(3, 1000)], "out": [(1, 3000)]}


@pytest.mark.parametrize("fail_in", ["apply_configuration", "update_parameter_group",
                                     "preload_stimulus", "start", "stop"])
def test_the_device_is_closed_once_when_the_upload_fails(fake_samna, small_net, fail_in):
    fake = fake_samna(fail_in=fail_in)
    with pytest.raises(BoardError, match=fail_in):
        upload(map_network(small_net), INPUTS)
    names = fake.names()
    assert names.count("device.close_device") == 1 and fake.closed == [fake.model]
    assert names.count("graph.stop") == names.count("graph.start")
    assert ("sleep" in names) == (fail_in == "stop")


# -- FPGA event lists ------------------------------------------------------------------------
def _input_config(config_factory):
    channels = [InputChannel(0, 0, 1, 3, ((0, 0b0001),)),              # generator 1*256+3 = 259
                InputChannel(1, 0, 2, 0, ((0, 0b0110), (1, 0b1000))),  # 512, two chips
                InputChannel(2, 0, 0, 9, ())]                          # unused
    return config_factory([Dynapse1Neuron(0, 0, 1)], channels)


def test_input_events_by_hand(config_factory):
    config = _input_config(config_factory)
    # isi_base 900 -> 10 us units: 1 ms = 100 units.
    events = input_events([[0.001, 0.003], [0.002], [0.0015]], config, isi_base=900)
    assert events == [
        {"core_mask": 0b0001, "target_chip": 0, "neuron_id": 259, "isi": 100},
        {"core_mask": 0b0110, "target_chip": 0, "neuron_id": 512, "isi": 100},
        {"core_mask": 0b1000, "target_chip": 1, "neuron_id": 512, "isi": 0},
        {"core_mask": 0b0001, "target_chip": 0, "neuron_id": 259, "isi": 100},
    ]


def test_input_events_round_on_an_absolute_grid(config_factory):
    config = _input_config(config_factory)
    times = [0.00001 * k + 0.000004 for k in range(1, 50)]  # 10 us apart, 4 us offset
    events = input_events([times], config, isi_base=900)
    assert [e["isi"] for e in events] == [1] * 49
    assert sum(e["isi"] for e in events) == round(times[-1] / 1e-5)


def test_input_events_isi_overflow_names_a_fix(config_factory):
    with pytest.raises(HardwareConstraintError) as err:
        input_events([[1.0]], _input_config(config_factory), isi_base=900)  # 100000 units
    assert err.value.rule == "fpga_isi_range" and err.value.limit == 65535
    assert "isi_base >= 1374" in err.value.hint
    assert input_events([[1.0]], _input_config(config_factory), isi_base=1374)[0]["isi"] <= 65535


def test_input_events_preload_limit(config_factory):
    times = [i * 1e-5 for i in range(2 ** 15)]
    with pytest.raises(HardwareConstraintError) as err:
        input_events([times], _input_config(config_factory))
    assert err.value.rule == "fpga_preload_length" and err.value.value == 2 ** 15


def test_input_events_reject_bad_input(config_factory):
    config = _input_config(config_factory)
    with pytest.raises(ValueError, match="finite and >= 0"):
        input_events([[-0.1]], config)
    with pytest.raises(ValueError, match="4 channels"):
        input_events([[], [], [], []], config)


def test_spikes_by_population(small_net):
    config = map_network(small_net)
    c, k, n = config.neuron_map["out"][2]
    spikes = [OutputSpike(10, c, k, n), OutputSpike(20, 3, 3, 255)]
    grouped = spikes_by_population(spikes, config)
    assert grouped["out"] == [(2, 10)] and grouped["hidden"] == []


def test_upload_refuses_a_negative_duration(fake_samna, small_net):
    fake = fake_samna()
    with pytest.raises(ValueError, match="duration"):
        upload(map_network(small_net), duration=-1.0)
    assert fake.calls == []
