"""Emulate a DYNAP-SE1 board in Brian2 from its :class:`~hardware.config.HardwareConfig` alone.

:func:`network_from_config` reads back what the board would run, without the ANN or the
:class:`~brian_models.description.SpikingNetwork` the configuration was mapped from:

- **Neurons**: one DPI population per entry of ``config.neuron_map``, its
  :class:`~brian_models.parameters.DPIParams` decoded from the coarse/fine codes of its
  cores' parameter group by :func:`hardware.biases.decode_core` (with
  ``config.analog_constants[population]`` for the silicon constants no bias sets). The
  core's shared ``IF_DC_P`` becomes every neuron's ``bias_current``.
- **Synapses**: integer weight matrices from the CAM entries as the routing delivers them
  (:func:`hardware.config.population_weights`: SRAM core masks and FPGA channel targets
  decide which sources reach a core, repeated CAM entries make a weight ``k``), one matrix per
  ``(pre, post, synapse type)``. The efficacy of a matrix is the post core's decoded
  efficacy of that type: one base weight per core and synapse type, as on the chip.
- **No delays**: DYNAP-SE1 has no programmable axonal delays (the mapper drops them).
- **Encoder and readout**: copied from the configuration.

:func:`emulate` simulates that network with :func:`brian_models.simulate.simulate` (frozen
device mismatch through ``SimulationSettings(mismatch=..., mismatch_seed=...)``), and
:func:`chip_energy_per_inference` prices the emulated activity with :mod:`hardware.energy`:
every neuron spike and every FPGA input event (rate-coded input, counted from the encoder's
spike trains by :func:`input_spike_counts`) causes one synaptic event per matching CAM entry
in its target cores.

What the mapping approximated (one DC per core instead of one per neuron, one base weight per
core and synapse type, quantised biases, dropped delays) is in the configuration, so the
emulation shows its cost. Known differences from the silicon: every core of one population
must share one parameter group (a population is one set of scalar DPI parameters); the AHP
jump is ``IF_AHW_P`` itself (see :mod:`hardware.biases`); an ``IF_NMDA_N`` of 0 A opens the
NMDA gate fully; mismatch is the simulator's model (per neuron parameter and per synapse),
not a measured chip.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from brian_models.description import INPUT, InputEncoder, Population, Projection, Readout, SpikingNetwork
from brian_models.synapse_types import SYNAPSE_TYPES, SYNAPSES
from hardware.biases import CoreParameters, decode_core
from hardware.config import HardwareConfig, population_weights
from hardware.dynapse1 import DYNAPSE1, ChipSpec
from hardware.energy import ChipEnergy, chip_energy, count_events

if TYPE_CHECKING:  # Brian2 is imported only when emulating
    from brian_models.network import SimulationSettings
    from brian_models.simulate import SimulationResult

__all__ = [
    "EmulationError",
    "decode_population",
    "network_from_config",
    "input_spike_counts",
    "input_step_counts",
    "input_spike_times",
    "emulate",
    "chip_energy_per_inference",
]


class EmulationError(ValueError):
    """A hardware configuration cannot be turned into an emulated network."""


def decode_population(config: HardwareConfig, population: str, spec: ChipSpec = DYNAPSE1
                      ) -> CoreParameters:
    """What the biases of ``population``'s cores say: its DPI parameters, DC and efficacies.

    :func:`hardware.biases.decode_core` of the population's parameter group with
    ``config.analog_constants[population]``.

    Raises
    ------
    EmulationError
        If the population is unknown, its cores hold different parameter groups or a needed
        bias is 0 A.
    """
    if population not in config.neuron_map:
        raise EmulationError(f"population {population!r} is not in the configuration's neuron map "
                             f"({', '.join(config.neuron_map) or 'empty'})")
    cores = config.population_cores(population)
    groups = {}
    for chip, core in cores:
        try:
            groups[(chip, core)] = config.configuration.chips[chip].cores[core].parameter_group
        except KeyError:
            raise EmulationError(f"population {population!r} has neurons on chip {chip} core {core}, "
                                 "which the configuration does not hold") from None
    distinct = {g.codes() for g in groups.values()}
    if len(distinct) > 1:
        raise EmulationError(
            f"population {population!r} spans cores {sorted(groups)} with different biases; the "
            "emulator gives one population one set of DPI parameters: give those cores the same "
            "parameter group or split the population")
    group = next(iter(groups.values()))
    try:
        return decode_core(group, config.analog_constants.get(population, {}), spec)
    except ValueError as err:
        raise EmulationError(f"population {population!r}: {err}") from None


def network_from_config(config: HardwareConfig, spec: ChipSpec = DYNAPSE1) -> SpikingNetwork:
    """The spiking network a DYNAP-SE1 board runs with ``config`` (see the module docstring).

    Parameters
    ----------
    config : HardwareConfig
    spec : ChipSpec

    Returns
    -------
    SpikingNetwork
        DPI populations in ``neuron_map`` order, one projection per ``(pre, post, synapse
        type)`` named ``"{pre}_to_{post}_{type}"`` (a Brian2 identifier) with delay 0, the
        configuration's encoder, readout and step duration. ``metadata["decoded"]`` holds the
        decoded parameters.

    Raises
    ------
    EmulationError
        A population spans cores with different biases, a needed bias is 0 A, or the input
        channels do not match the encoder.
    """
    encoder = config.encoder
    readout = config.readout
    decoded = {pop: decode_population(config, pop, spec) for pop in config.neuron_map}
    populations = []
    for pop, addrs in config.neuron_map.items():
        core = decoded[pop]
        # IF_DC_P is shared by a core; all cores of a population share one group (checked).
        bias = np.full(len(addrs), float(core.dc))
        populations.append(Population(pop, len(addrs), core.neuron, bias_current=bias))

    n_channels = encoder.n_channels
    if len(config.input_channels) > n_channels:
        raise EmulationError(f"the configuration has {len(config.input_channels)} input channels but "
                             f"its encoder only {n_channels}")
    order = {name: k for k, name in enumerate([INPUT, *config.neuron_map])}
    syn_order = {name: k for k, name in enumerate(SYNAPSE_TYPES)}
    projections = []
    weights = population_weights(config, spec)
    for (pre, post, syn) in sorted(weights, key=lambda k: (order[k[1]], order[k[0]], syn_order[k[2]])):
        w = weights[(pre, post, syn)]
        if pre == INPUT and w.shape[1] < n_channels:
            w = np.pad(w, ((0, 0), (0, n_channels - w.shape[1])))
        efficacy = float(decoded[post].efficacy[syn])
        projections.append(Projection(f"{pre}_to_{post}_{syn}", pre, post, syn, w, efficacy, 0.0))
    meta: dict[str, Any] = {
        "emulated_from": config.chip,
        "decoded": {pop: {**c.neuron.to_dict(), **c.circuit, "I_dc": c.dc,
                          **{f"efficacy_{SYNAPSES[syn].key}": e for syn, e in c.efficacy.items()}}
                    for pop, c in decoded.items()},
    }
    return SpikingNetwork(tuple(populations), tuple(projections), encoder, readout,
                          config.step_duration, meta)


def input_spike_counts(encoder: InputEncoder, X: np.ndarray, step_duration: float) -> np.ndarray:
    """Input spikes per sample and channel, ``[N, F]``, that the encoder sends for ``X [N, T, F]``:
    :func:`input_step_counts` summed over the steps (regular trains: ``floor(0.5 + sum_t x_t
    * max_rate * step_duration)``; Poisson trains: its expectation; current coding: none)."""
    return input_step_counts(encoder, X, step_duration).sum(axis=1)


def input_step_counts(encoder: InputEncoder, X: np.ndarray, step_duration: float) -> np.ndarray:
    """Input spikes per sample, sequence step and channel, ``[N, T, F]``, that the encoder sends
    for ``X [N, T, F]``: the steps' shares of :func:`input_spike_counts` (regular trains: the
    integers the phase ``0.5 + sum x max_rate dt`` crosses in each step; Poisson trains: the
    expectation; current coding: none)."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 3 or X.shape[2] != encoder.n_channels:
        raise ValueError(f"input must have shape (N, T, {encoder.n_channels}), got {X.shape}")
    if encoder.kind != "rate":
        return np.zeros_like(X)
    expected = X * encoder.max_rate * step_duration
    if not encoder.regular:
        return expected
    # A tiny tolerance keeps exact integers (e.g. 0.5 + 9.5) from rounding down in floating point.
    reached = np.floor(0.5 + np.cumsum(expected, axis=1) + 1e-9)
    return np.diff(reached, axis=1, prepend=0.0)


def input_spike_times(encoder: InputEncoder, x: np.ndarray, step_duration: float) -> list[np.ndarray]:
    """Regular spike times in seconds, per channel, for one sample ``x [T, F]`` (rate coding).

    The same trains as the simulator's regular generator: the phase grows by
    ``x_t * max_rate`` per second from 0.5 and each crossing of an integer is a spike.
    """
    x = np.asarray(x, dtype=float)
    if encoder.kind != "rate" or not encoder.regular:
        raise ValueError("spike times are defined for regular rate-coded input only")
    if x.ndim != 2 or x.shape[1] != encoder.n_channels:
        raise ValueError(f"one sample must have shape (T, {encoder.n_channels}), got {x.shape}")
    edges = np.arange(x.shape[0] + 1) * step_duration
    out = []
    for c in range(x.shape[1]):
        rates = x[:, c] * encoder.max_rate
        phase = 0.5 + np.concatenate([[0.0], np.cumsum(rates * step_duration)])
        targets = np.arange(1, int(np.floor(phase[-1] + 1e-9)) + 1, dtype=float)
        # Step k-1 is the one in which the phase reaches the integer: phase[k-1] < n <= phase[k].
        k = np.minimum(np.searchsorted(phase, targets, side="left"), len(phase) - 1)
        seg = k - 1
        out.append(edges[seg] + np.clip((targets - phase[seg]) / np.maximum(rates[seg], 1e-300),
                                        0.0, step_duration))
    return out


def emulate(config: HardwareConfig, X: np.ndarray, settings: SimulationSettings | None = None, *,
            spec: ChipSpec = DYNAPSE1, progress: bool = False) -> SimulationResult:
    """Simulate the board configured by ``config`` on inputs ``X [N, T, F]`` (features in [0, 1]).

    Parameters
    ----------
    config : HardwareConfig
    X : ndarray [N, T, F]
    settings : brian_models.network.SimulationSettings, optional
        Device, batch size, ``mismatch`` (CV) and ``mismatch_seed`` (one frozen chip).
    spec : ChipSpec
    progress : bool
        Show a progress bar.

    Returns
    -------
    brian_models.simulate.SimulationResult
    """
    from brian_models.network import SimulationSettings  # noqa: PLC0415 (Brian2 on demand)
    from brian_models.simulate import simulate  # noqa: PLC0415

    net = network_from_config(config, spec)
    return simulate(net, X, settings or SimulationSettings(), progress=progress)


def chip_energy_per_inference(config: HardwareConfig, counts: dict[str, np.ndarray],
                              X: np.ndarray | None = None, spec: ChipSpec = DYNAPSE1) -> ChipEnergy:
    """Mean chip energy of one inference from emulated spike counts.

    Parameters
    ----------
    config : HardwareConfig
    counts : dict of str to ndarray [N, T, n]
        Spike counts per population (``SimulationResult.counts``).
    X : ndarray [N, T, F], optional
        The inputs, for the FPGA input events of a rate-coded encoder.
    spec : ChipSpec
    """
    per_neuron = {pop: np.asarray(c, dtype=float).sum(axis=1).mean(axis=0) for pop, c in counts.items()}
    inputs = None
    if X is not None and len(config.input_channels):
        encoder = config.encoder
        per_channel = input_spike_counts(encoder, X, config.step_duration).mean(axis=0)
        inputs = per_channel[:len(config.input_channels)]
    return chip_energy(count_events(config, per_neuron, inputs, spec))
