"""Bias codes (exhaustive sweep), DPI relations (analytic and numeric references) and the
parameter <-> bias round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brian_models.parameters import DYNAPSE1_SMALLEST_BIAS
from brian_models.synapse_types import SYNAPSE_TYPES
from hardware.config import Dynapse1SynType
from hardware.dynapse1 import DYNAPSE1
from hardware.biases import (
    SYNAPSE_BIASES,
    DEFAULT_CODES,
    DEFAULT_DPI_GAIN,
    biases_from_params,
    code_to_current,
    current_to_code,
    dpi_current,
    dpi_time,
    params_from_biases,
    quantisation_error,
    synaptic_efficacy,
    weight_current,
)
from hardware.dynapse1 import DYNAPSE1
from hardware.errors import HardwareConstraintError

IMAX = [15e-12, 105e-12, 820e-12, 6.5e-9, 50e-9, 0.4e-6, 3.2e-6, 24e-6]  # HARDWARE.md
ALL_CODES = [(c, f) for c in range(8) for f in range(256)]
ALL_CURRENTS = np.array([code_to_current(c, f) for c, f in ALL_CODES])


def test_code_to_current_matches_the_formula():
    for (c, f), current in zip(ALL_CODES, ALL_CURRENTS):
        assert current == pytest.approx(f / 255 * IMAX[c], rel=1e-12, abs=0)


def test_every_code_round_trips_to_a_code_with_the_identical_current():
    for (c, f), current in zip(ALL_CODES, ALL_CURRENTS):
        c2, f2 = current_to_code(current)
        assert code_to_current(c2, f2) == current, (c, f, c2, f2)
        if (c2, f2) != (c, f):
            # Only an equal current may replace a code, in a smaller coarse range (or fine 0).
            assert c2 < c or current == 0


def test_equivalent_codes_give_bit_identical_currents():
    # 105 pA = 7 x 15 pA, so (1, f) and (0, 7 f) are the same current.
    for f in range(1, 37):
        assert code_to_current(1, f) == code_to_current(0, 7 * f)
        assert current_to_code(code_to_current(1, f)) == (0, 7 * f)


@settings(max_examples=30, deadline=None)
@given(st.floats(min_value=0.0, max_value=24e-6, allow_nan=False))
def test_current_to_code_has_the_least_error_of_all_codes(current):
    c, f = current_to_code(current)
    errors = np.abs(ALL_CURRENTS - current)
    if current > 0:
        errors[[i for i, (_, fine) in enumerate(ALL_CODES) if fine == 0]] = np.inf
    assert abs(code_to_current(c, f) - current) == errors.min()
    # On a tie the smallest coarse range wins.
    best = [code for code, e in zip(ALL_CODES, errors) if e == errors.min()]
    assert c == min(code[0] for code in best)


@settings(max_examples=30, deadline=None)
@given(st.floats(min_value=1e-12, max_value=24e-6, allow_nan=False))
def test_quantisation_error_is_at_most_half_a_fine_step_of_the_smallest_range(current):
    c_min = next(i for i, m in enumerate(IMAX) if m >= current)
    bound = 0.5 * IMAX[c_min] / 255 / current
    assert quantisation_error(current) <= bound * (1 + 1e-9)


def test_positive_currents_never_switch_a_bias_off():
    assert current_to_code(1e-18) == (0, 1)
    assert current_to_code(0.0) == (0, 0)


@pytest.mark.parametrize("current", [-1e-12, 30e-6, math.inf, math.nan])
def test_currents_outside_the_generator_raise(current):
    with pytest.raises(HardwareConstraintError) as err:
        current_to_code(current)
    assert err.value.rule == "bias_current_range"


@pytest.mark.parametrize("code", [(8, 0), (-1, 3), (0, 256)])
def test_codes_outside_the_range_raise(code):
    with pytest.raises(HardwareConstraintError) as err:
        code_to_current(*code)
    assert err.value.rule == "bias_codes_in_range"


def test_dpi_time_constant_relation_by_hand():
    # tau = C U_T / (kappa I): 2 pF * 25 mV / (0.7 * 20 ms) = 3.5714... pA
    assert dpi_current(20e-3, 2e-12, 0.025, 0.7) == pytest.approx(2e-12 * 0.025 / (0.7 * 20e-3))
    assert dpi_current(20e-3, 2e-12, 0.025, 0.7) == pytest.approx(3.571428571e-12, rel=1e-9)
    for tau in (1e-4, 5e-3, 0.1, 2.0):
        assert dpi_time(dpi_current(tau, 25e-12, 0.025, 0.7), 25e-12, 0.025, 0.7) == pytest.approx(tau)
    assert dpi_time(0.0, 1e-12, 0.025, 0.7) == math.inf


def test_synaptic_efficacy_against_numerical_integration():
    # tau dI/dt = -I + (I_g/I_tau) I_w during a pulse of width t_pulse, from I = 0.
    C, U_T, kappa = 24.5e-12, 0.025, 0.7
    I_tau, I_g, I_w, t_pulse = 2e-10, 6e-10, 3e-8, 40e-6
    tau = C * U_T / (kappa * I_tau)
    dt, current = t_pulse / 20000, 0.0
    for _ in range(20000):
        current += dt / tau * (-current + I_g / I_tau * I_w)
    got = synaptic_efficacy(I_w, I_g, I_tau, t_pulse, C, U_T, kappa)
    assert got == pytest.approx(current, rel=1e-3)
    assert weight_current(got, I_g, I_tau, t_pulse, C, U_T, kappa) == pytest.approx(I_w)


def test_params_to_biases_to_params_within_reported_error(dpi_params):
    params = dict(dpi_params, efficacy_ampa=1e-10, efficacy_gaba_b=5e-11, t_pulse=10e-6)
    group, report = biases_from_params(params)
    decoded = params_from_biases(group, report.constants)
    assert set(report.requested) >= {"I_tau", "I_th", "t_ref", "tau_ampa", "efficacy_ampa"}
    for key, want in report.requested.items():
        err = report.relative_error[key]
        assert abs(decoded[key] - want) <= err * abs(want) * (1 + 1e-9) + 1e-30, key
        assert err <= 0.02, (key, err)  # half a fine step of a range above 1/8 of it: < 1.6 %
    # Silicon constants come back unchanged.
    for key in ("C_mem", "U_T", "kappa", "I_0", "I_spkthr", "I_reset"):
        assert decoded[key] == dpi_params[key]


def test_each_parameter_sets_its_bias(dpi_params):
    group, _ = biases_from_params(dpi_params)
    codes = {n: (p.coarse_value, p.fine_value) for n, p in group.param_map.items()}
    lay = DYNAPSE1.layout
    assert codes["IF_TAU1_N"] == current_to_code(dpi_params["I_tau"])
    assert codes["IF_THR_N"] == current_to_code(dpi_params["I_th"])
    assert codes["IF_RFR_N"] == current_to_code(lay.C_ref * 0.025 / (0.7 * dpi_params["t_ref"]))
    assert codes["NPDPIE_TAU_F_P"] == current_to_code(lay.C_ampa * 0.025 / (0.7 * 5e-3))
    assert codes["NPDPIE_TAU_S_P"] == current_to_code(lay.C_nmda * 0.025 / (0.7 * 0.1))
    assert codes["NPDPII_TAU_F_P"] == current_to_code(lay.C_gaba_a * 0.025 / (0.7 * 0.01))
    assert codes["NPDPII_TAU_S_P"] == current_to_code(lay.C_gaba_b * 0.025 / (0.7 * 0.03))
    assert codes["IF_AHTAU_N"] == current_to_code(lay.C_ahp * 0.025 / (0.7 * 0.05))
    # Default synaptic gain: 4 x the quantised time-constant current.
    i_tau = code_to_current(*codes["NPDPIE_TAU_F_P"])
    assert codes["NPDPIE_THR_F_P"] == current_to_code(DEFAULT_DPI_GAIN * i_tau)
    assert codes["IF_AHW_P"] == (0, 0)
    assert len(codes) == 25


def test_missing_parameters_get_the_documented_defaults():
    group, report = biases_from_params({})
    assert {n: (p.coarse_value, p.fine_value) for n, p in group.param_map.items()} == DEFAULT_CODES
    assert set(report.defaulted) == set(DYNAPSE1.bias_names)


def test_unknown_keys_are_reported_and_kept_as_constants(dpi_params):
    group, report = biases_from_params(dict(dpi_params, I_a_gain=5e-11, I_x_unknown=3e-12))
    assert report.unknown == ("I_x_unknown",)  # I_a_gain is a recognised constant: no bias sets it
    decoded = params_from_biases(group, report.constants)
    assert decoded["I_a_gain"] == 5e-11 and decoded["I_x_unknown"] == 3e-12


def test_tau_mem_alternative_to_I_tau():
    group, report = biases_from_params({"tau_mem": 20e-3, "C_mem": 2e-12})
    assert group.param_map["IF_TAU1_N"].coarse_value == current_to_code(3.5714285714e-12)[0]
    assert report.relative_error["tau_mem"] < 0.01


def test_synapse_kind_leaves_membrane_biases_at_defaults(dpi_params):
    group, report = biases_from_params(dpi_params, kind="synapse")
    p = group.param_map["IF_TAU1_N"]
    assert (p.coarse_value, p.fine_value) == DEFAULT_CODES["IF_TAU1_N"]
    assert "I_tau" in report.ignored
    q = group.param_map["NPDPIE_TAU_F_P"]
    assert (q.coarse_value, q.fine_value) == current_to_code(DYNAPSE1.layout.C_ampa * 0.025 / (0.7 * 5e-3))


def test_too_large_efficacy_raises_with_a_hint(dpi_params):
    with pytest.raises(HardwareConstraintError) as err:
        biases_from_params(dict(dpi_params, efficacy_ampa=1e-3))
    assert err.value.rule == "bias_current_range"
    assert "efficacy_ampa" in str(err.value)


def test_bad_kind_raises():
    with pytest.raises(ValueError, match="kind"):
        biases_from_params({}, kind="membrane")


def test_one_declaration_of_the_synapse_types_and_the_smallest_bias():
    """The hardware names derive from brian_models.synapse_types; the description layer's
    copy of the smallest bias is the chip's."""
    assert tuple(SYNAPSE_BIASES) == SYNAPSE_TYPES == DYNAPSE1.synapse_types
    assert {m.name for m in Dynapse1SynType} == set(SYNAPSE_TYPES)
    assert SYNAPSE_BIASES["NMDA"].weight == "PS_WEIGHT_EXC_S_N"
    assert SYNAPSE_BIASES["GABA_A"].tau == "NPDPII_TAU_F_P"
    assert DYNAPSE1_SMALLEST_BIAS == code_to_current(0, 1)
