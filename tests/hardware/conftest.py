"""Shared builders for the hardware tests: DPI parameters, small networks, hand-made configs,
and the recording samna double (:mod:`fake_samna`) installed in ``sys.modules``."""

from __future__ import annotations

import sys
import types
from types import MappingProxyType
from typing import Mapping

import numpy as np
import pytest
from fake_samna import DeviceInfo, FakeSamna

from hardware.biases import DEFAULT_CODES
from hardware.config import (
    Dynapse1Chip,
    Dynapse1Configuration,
    Dynapse1Core,
    Dynapse1Neuron,
    Dynapse1Parameter,
    Dynapse1ParameterGroup,
    HardwareConfig,
)
from brian_models.description import InputEncoder, Population, Projection, Readout, SpikingNetwork
from brian_models.parameters import neuron_params

#: A DPI population's parameters as the brief describes them (SI units).
DPI_PARAMS = {
    "C_mem": 2e-12, "I_tau": 5e-12, "I_th": 20e-12, "I_0": 1e-12, "U_T": 0.025, "kappa": 0.7,
    "I_spkthr": 1e-9, "I_reset": 1e-12, "t_ref": 2e-3, "tau_ahp": 0.05, "I_ahp_w": 0.0,
    "tau_ampa": 5e-3, "tau_nmda": 0.1, "tau_gaba_a": 0.01, "tau_gaba_b": 0.03,
}


def default_group() -> Dynapse1ParameterGroup:
    """The default codes as a parameter group."""
    return Dynapse1ParameterGroup({n: Dynapse1Parameter(n, c, f) for n, (c, f) in DEFAULT_CODES.items()})


def make_config(neurons, channels=(), report=None, neuron_map=None) -> HardwareConfig:
    """A HardwareConfig holding ``neurons`` (Dynapse1Neuron) with default biases everywhere."""
    tree: dict[int, dict[int, dict[int, Dynapse1Neuron]]] = {}
    for n in neurons:
        tree.setdefault(n.chip_id, {}).setdefault(n.core_id, {})[n.neuron_id] = n
    group = default_group()
    chips = {c: Dynapse1Chip(c, {k: Dynapse1Core(c, k, ns, group) for k, ns in cores.items()})
             for c, cores in tree.items()}
    if neuron_map is None:
        neuron_map = {"all": tuple((n.chip_id, n.core_id, n.neuron_id) for n in neurons)}
    first = next(iter(neuron_map))
    readout = Readout(first, np.zeros((1, len(neuron_map[first]))), np.zeros(1), rate_scale=1.0, window=0.02)
    return HardwareConfig(
        configuration=Dynapse1Configuration(chips), input_channels=tuple(channels),
        neuron_map=neuron_map, analog_constants={}, readout=readout,
        encoder=InputEncoder("rate", max(1, len(channels))), step_duration=0.02,
        mapping_report=report or {})


def small_network(n_in: int = 6, n_hidden: int = 20, n_out: int = 4, seed: int = 0,
                  input_weight: int = 1) -> SpikingNetwork:
    """Input -> recurrent hidden (AMPA + GABA_B) -> output, DPI neurons, seeded sparse weights."""
    rng = np.random.default_rng(seed)
    hidden = Population("hidden", n_hidden, neuron_params("dpi", dict(DPI_PARAMS)), bias_current=rng.uniform(1e-12, 4e-12, n_hidden))
    out = Population("out", n_out, neuron_params("dpi", dict(DPI_PARAMS, I_tau=8e-12)))
    w_in = input_weight * (rng.random((n_hidden, n_in)) < 0.5)
    w_exc = (rng.random((n_hidden, n_hidden)) < 0.2).astype(int)
    w_inh = (rng.random((n_hidden, n_hidden)) < 0.1).astype(int)
    w_out = (rng.random((n_out, n_hidden)) < 0.3).astype(int)
    projections = (
        Projection("in", "input", "hidden", "AMPA", w_in, 1e-10),
        Projection("rec_exc", "hidden", "hidden", "AMPA", w_exc, 1e-10),
        Projection("rec_inh", "hidden", "hidden", "GABA_B", w_inh, 5e-11),
        Projection("out", "hidden", "out", "AMPA", w_out, 2e-10),
    )
    readout = Readout("out", np.eye(n_out), np.zeros(n_out), 100.0, 0.1)
    return SpikingNetwork((hidden, out), projections, InputEncoder("rate", n_in), readout, 0.02)


@pytest.fixture(scope="session")
def dpi_params() -> Mapping[str, float]:
    """:data:`DPI_PARAMS`, read-only (session-scoped so hypothesis tests may use it)."""
    return MappingProxyType(DPI_PARAMS)


@pytest.fixture
def small_net() -> SpikingNetwork:
    """:func:`small_network` with its defaults."""
    return small_network()


@pytest.fixture(scope="session")
def config_factory():
    """:func:`make_config` (session-scoped so hypothesis tests may use it)."""
    return make_config


@pytest.fixture(scope="session")
def network_factory():
    """:func:`small_network`."""
    return small_network



@pytest.fixture
def fake_samna(monkeypatch):
    """Install a :class:`fake_samna.FakeSamna` as ``samna`` / ``samna.dynapse1``.

    Call the returned function with the unopened devices (default: one DYNAP-SE1 board) and
    the other :class:`~fake_samna.FakeSamna` options; it returns the double. The adapter's
    ``time.sleep`` is replaced by a recorder that logs ``("sleep", seconds)`` in the same
    call log, so tests run at once and see how long the adapter would have listened.
    """
    import hardware.samna_adapter as adapter  # noqa: PLC0415

    def install(devices=None, **options) -> FakeSamna:
        if devices is None:
            devices = [DeviceInfo("Dynapse1DevKit", "DS1-0001")]
        fake = FakeSamna(devices, **options)
        monkeypatch.setitem(sys.modules, "samna", fake.samna)
        monkeypatch.setitem(sys.modules, "samna.dynapse1", fake.dynapse1)
        monkeypatch.setattr(adapter, "time", types.SimpleNamespace(sleep=lambda s: fake.record("sleep", s)))
        return fake
    return install
