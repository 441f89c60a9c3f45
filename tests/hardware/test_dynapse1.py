"""The DYNAP-SE spec: constants as HARDWARE.md states them, addresses round trip."""

from __future__ import annotations

import dataclasses

import pytest

from hardware.dynapse1 import DYNAPSE1, DYNAPSE2, ChipSpec


def test_dynapse1_geometry_matches_hardware_md():
    # HARDWARE.md: 4 chips x 4 cores x 256 neurons, 64 CAM, 4 SRAM, 1024 generators.
    assert (DYNAPSE1.n_chips, DYNAPSE1.cores_per_chip, DYNAPSE1.neurons_per_core) == (4, 4, 256)
    assert DYNAPSE1.n_neurons == 4096 and DYNAPSE1.n_cores == 16
    assert (DYNAPSE1.cam_per_neuron, DYNAPSE1.sram_per_neuron) == (64, 4)
    assert DYNAPSE1.synapse_types == ("AMPA", "NMDA", "GABA_A", "GABA_B")
    assert DYNAPSE1.n_input_generators == 1024
    assert DYNAPSE1.max_isi == 2 ** 16 - 1
    assert DYNAPSE1.max_preloaded_events == 2 ** 15 - 1
    # One address per chip (core 0 neuron 0) and one generator are reserved.
    assert DYNAPSE1.usable_neurons == 4092 and DYNAPSE1.usable_input_generators == 1023


def test_bias_names_and_coarse_table():
    assert len(DYNAPSE1.bias_names) == 25 == len(set(DYNAPSE1.bias_names))
    for name in ("IF_TAU1_N", "IF_THR_N", "IF_RFR_N", "PS_WEIGHT_EXC_F_N", "PULSE_PWLK_P", "R2R_P"):
        assert name in DYNAPSE1.bias_names
    expected = [15e-12, 105e-12, 820e-12, 6.5e-9, 50e-9, 0.4e-6, 3.2e-6, 24e-6]  # HARDWARE.md
    assert DYNAPSE1.coarse_imax == pytest.approx(expected, rel=1e-12)
    assert DYNAPSE1.fine_max == 255 and DYNAPSE1.n_coarse == 8


def test_global_id_formula_and_inverse_for_every_neuron():
    seen = set()
    for chip in range(4):
        for core in range(4):
            for neuron in range(256):
                gid = DYNAPSE1.global_id(chip, core, neuron)
                assert gid == neuron + 256 * core + 1024 * chip  # HARDWARE.md
                assert DYNAPSE1.from_global_id(gid) == (chip, core, neuron)
                seen.add(gid)
    assert seen == set(range(4096))


@pytest.mark.parametrize("address", [(4, 0, 0), (0, 4, 0), (0, 0, 256), (-1, 0, 0)])
def test_global_id_rejects_addresses_off_the_board(address):
    with pytest.raises(ValueError, match="outside"):
        DYNAPSE1.global_id(*address)


def test_from_global_id_rejects_out_of_range():
    with pytest.raises(ValueError, match="4096"):
        DYNAPSE1.from_global_id(4096)


def test_core_masks_round_trip():
    for mask in range(16):
        assert DYNAPSE1.core_mask(DYNAPSE1.cores_of_mask(mask)) == mask
    assert DYNAPSE1.core_mask([0, 2]) == 0b0101


def test_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DYNAPSE1.n_chips = 5  # type: ignore[misc]
    assert isinstance(DYNAPSE2, ChipSpec)


def test_dynapse2_is_a_documented_unsupported_spec():
    assert not DYNAPSE2.supported
    assert (DYNAPSE2.cores_per_chip, DYNAPSE2.neurons_per_core) == (4, 256)
    assert (DYNAPSE2.cam_per_neuron, DYNAPSE2.sram_per_neuron) == (64, 4)
    assert DYNAPSE2.synapse_types == ("AMPA", "NMDA", "GABA", "SHUNT")
    with pytest.raises(ValueError, match="ISI"):
        DYNAPSE2.max_isi
