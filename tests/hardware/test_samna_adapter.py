"""The samna adapter: honest refusals without samna or a board, FPGA event lists by hand, and the
translation into samna's object model checked against a stand-in module with samna's names."""

from __future__ import annotations

import sys
import types

import pytest

from hardware.config import Dynapse1Neuron, InputChannel
from hardware.errors import HardwareConstraintError
from hardware.mapper import map_network
from hardware.samna_adapter import (
    OutputSpike,
    UploadUnavailable,
    find_boards,
    input_events,
    samna_available,
    spikes_by_population,
    to_samna,
    upload,
)

requires_no_samna = pytest.mark.skipif(samna_available(), reason="samna is installed here")


@requires_no_samna
def test_upload_without_samna_refuses_clearly(small_net):
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


# -- a stand-in for samna with the names HARDWARE.md lists --------------------------------------
class _Obj:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class _Lazy(dict):
    def __init__(self, make):
        super().__init__()
        self.make = make

    def __missing__(self, key):
        self[key] = self.make(key)
        return self[key]


def _fake_samna(devices):
    dyn1 = types.ModuleType("samna.dynapse1")
    dyn1.Dynapse1SynType = types.SimpleNamespace(AMPA="S_AMPA", NMDA="S_NMDA", GABA_A="S_GABA_A",
                                                 GABA_B="S_GABA_B")

    def parameter(*, param_name, coarse_value, fine_value):  # keywords only, as samna's
        return _Obj(param_name=param_name, coarse_value=coarse_value, fine_value=fine_value)

    dyn1.Dynapse1Parameter = parameter
    dyn1.Dynapse1ParameterGroup = lambda: _Obj(param_map={})

    def neuron(c, k, n):
        return _Obj(chip_id=c, core_id=k, neuron_id=n,
                    synapses=[_Obj(listen_core_id=0, listen_neuron_id=0, syn_type="S_NMDA") for _ in range(64)],
                    destinations=[_Obj(target_chip_id=0, in_use=False, virtual_core_id=0, core_mask=0,
                                       sx=False, sy=False, dx=0, dy=0) for _ in range(4)])

    def configuration():
        return _Obj(chips=[_Obj(chip_id=c, cores=[_Obj(chip_id=c, core_id=k, parameter_group=None,
                                                        neurons=_Lazy(lambda n, c=c, k=k: neuron(c, k, n)))
                                                   for k in range(4)]) for c in range(4)])

    dyn1.Dynapse1Configuration = configuration
    samna = types.ModuleType("samna")
    samna.dynapse1 = dyn1
    samna.device = types.SimpleNamespace(get_unopened_devices=lambda: list(devices))
    return samna, dyn1


@pytest.fixture
def fake_samna(monkeypatch):
    def install(devices=()):
        samna, dyn1 = _fake_samna(devices)
        monkeypatch.setitem(sys.modules, "samna", samna)
        monkeypatch.setitem(sys.modules, "samna.dynapse1", dyn1)
        return samna
    return install


def test_upload_without_a_board_refuses_clearly(fake_samna, small_net):
    fake_samna([types.SimpleNamespace(device_type_name="Speck2DevKit", serial_number="1")])
    assert samna_available()
    assert find_boards() == []
    with pytest.raises(UploadUnavailable, match="no DYNAP-SE1 board found.*nothing was uploaded"):
        upload(map_network(small_net))


def test_find_boards_filters_dynapse1(fake_samna):
    board = types.SimpleNamespace(device_type_name="Dynapse1DevKit", serial_number="42")
    fake_samna([types.SimpleNamespace(device_type_name="DYNAP-SE2 DevBoard"), board])
    assert find_boards() == [board]


def test_to_samna_copies_cam_sram_and_biases(fake_samna, small_net):
    fake_samna()
    config = map_network(small_net)
    cfg = to_samna(config)
    for n in config.configuration.iter_neurons():
        s = cfg.chips[n.chip_id].cores[n.core_id].neurons[n.neuron_id]
        for slot, syn in enumerate(n.synapses):
            got = s.synapses[slot]
            assert (got.listen_core_id, got.listen_neuron_id, got.syn_type) == \
                (syn.listen_core_id, syn.listen_neuron_id, "S_" + syn.syn_type.name)
        assert all(x.syn_type == "S_NMDA" and x.listen_core_id == 0 for x in s.synapses[len(n.synapses):])
        for slot, d in enumerate(n.destinations):
            got = s.destinations[slot]
            assert (got.target_chip_id, got.in_use, got.virtual_core_id, got.core_mask,
                    got.sx, got.sy, got.dx, got.dy) == (d.target_chip_id, d.in_use, d.virtual_core_id,
                                                        d.core_mask, d.sx, d.sy, d.dx, d.dy)
    for core in config.configuration.iter_cores():
        pm = cfg.chips[core.chip_id].cores[core.core_id].parameter_group.param_map
        assert {k: (p.coarse_value, p.fine_value) for k, p in pm.items()} == \
            {k: (p.coarse_value, p.fine_value) for k, p in core.parameter_group.param_map.items()}


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
