"""Energy model against hand computation on a hand-made configuration."""

from __future__ import annotations

import numpy as np
import pytest

from hardware.config import Dynapse1Destination, Dynapse1Neuron, Dynapse1Synapse, InputChannel
from hardware.energy import (
    MORADI2018,
    EventEnergies,
    chip_energy,
    count_events,
    cpu_energy,
    mcu_energy,
    rnn_macs,
)
from hardware.mapper import map_network


@pytest.fixture
def energy_config(config_factory):
    # Source A at chip 0 core 0 neuron 1 sends to chip 0 cores 0+1 and chip 1 core 2.
    a = Dynapse1Neuron(0, 0, 1, (), (Dynapse1Destination(0, True, 0, 0b0011, False, True, 0, 0),
                                     Dynapse1Destination(1, True, 0, 0b0100, True, True, 1, 0)))
    listen_a = Dynapse1Synapse(0, 1, "AMPA")
    b = Dynapse1Neuron(0, 0, 2, (listen_a, listen_a, Dynapse1Synapse(1, 7, "NMDA")))  # 2 from A, 1 from input
    c = Dynapse1Neuron(0, 1, 3, (listen_a,))
    d = Dynapse1Neuron(1, 2, 4, (listen_a,) * 3)
    channel = InputChannel(0, 0, 1, 7, ((0, 0b0001),))
    return config_factory([a, b, c, d], [channel],
                          neuron_map={"a": ((0, 0, 1),), "post": ((0, 0, 2), (0, 1, 3), (1, 2, 4))})


def test_event_counts_by_hand(energy_config):
    counts = count_events(energy_config, {"a": np.array([10.0]), "post": np.array([5.0, 0, 0])},
                          np.array([4.0]))
    assert counts.spikes == 15 and counts.input_events == 4
    assert counts.broadcasts == 10 * 3 + 4 * 1          # A reaches 3 cores, the input 1
    assert counts.routes == 10 * 2 + 4 * 1              # A's own core is not routed
    assert counts.synaptic_events == 10 * (2 + 1 + 3) + 4 * 1


def test_chip_energy_by_hand(energy_config):
    counts = count_events(energy_config, {"a": np.array([10.0]), "post": np.array([5.0, 0, 0])},
                          np.array([4.0]))
    e = chip_energy(counts)
    # Moradi et al. 2018: 883 pJ/spike, 6.84 nJ/broadcast, 360 pJ/route, 324 pJ/pulse.
    assert e.spike_generation == pytest.approx(15 * 883e-12)
    assert e.broadcast == pytest.approx(34 * 6.84e-9)
    assert e.routing == pytest.approx(24 * 360e-12)
    assert e.synaptic == pytest.approx(64 * 324e-12)
    assert e.total == pytest.approx(15 * 883e-12 + 34 * 6.84e-9 + 24 * 360e-12 + 64 * 324e-12)
    assert e.to_dict()["total"] == e.total
    unit = chip_energy(counts, EventEnergies(spike=1.0, broadcast=0.0, route=0.0, pulse=0.0))
    assert unit.total == 15


def test_silence_costs_nothing(small_net):
    config = map_network(small_net)
    counts = count_events(config, {})
    assert chip_energy(counts).total == 0.0


def test_count_events_checks_shapes(energy_config):
    with pytest.raises(ValueError, match="shape"):
        count_events(energy_config, {"a": np.zeros(2)})
    with pytest.raises(ValueError, match="unknown populations"):
        count_events(energy_config, {"b": np.zeros(1)})
    with pytest.raises(ValueError, match="input counts"):
        count_events(energy_config, {}, np.zeros(3))


def test_cpu_energy_by_hand():
    # Horowitz ISSCC 2014: 3.7 pJ fp32 multiply + 0.9 pJ add; 5 pJ per 32-bit SRAM read.
    e = cpu_energy(1000)
    assert e.arithmetic == pytest.approx(1000 * 4.6e-12)
    assert e.memory == pytest.approx(1000 * 5e-12)
    assert e.total == pytest.approx(1000 * 9.6e-12)
    with pytest.raises(ValueError):
        cpu_energy(-1)


def test_mcu_energy_is_the_measured_figure_per_mac():
    # MLPerf Tiny v1.0, STMicroelectronics: ResNet-8 (12,534,936 MACs) at a median 3641.998 uJ
    # per inference on the STM32U575; the same network costs that again
    assert mcu_energy(12_534_936) == pytest.approx(3641.998e-6)
    assert mcu_energy(1000, pj_per_mac=852.1) == pytest.approx(852.1e-9)
    with pytest.raises(ValueError):
        mcu_energy(-1)


def test_rnn_macs_by_hand():
    assert rnn_macs(8, 16, 10, 8) == 8 * (8 + 16) * 16 + 10 * 16
    assert rnn_macs(8, 16, 10, 8, gates=4) == 4 * 8 * (8 + 16) * 16 + 10 * 16


def test_published_figures():
    assert (MORADI2018.spike, MORADI2018.broadcast, MORADI2018.route, MORADI2018.pulse) == \
        (883e-12, 6.84e-9, 360e-12, 324e-12)
