"""The only module that talks to samna (imported lazily, inside functions).

- :func:`samna_available` / :func:`find_boards`: is samna installed, which DYNAP-SE1 boards
  (samna device type ``"Dynapse1DevKit"``) are attached and unopened.
- :func:`to_samna`: a :class:`~hardware.config.HardwareConfig` as a real
  ``samna.dynapse1.Dynapse1Configuration`` (CAM entries in slots ``0..len-1``, SRAM entries in
  slots ``0..len-1``; unused slots keep samna's defaults) plus one
  ``Dynapse1ParameterGroup`` per used core.
- :func:`input_events` (pure, no samna): spike times per input channel as the FPGA spike
  generator's event list, ``{"core_mask", "target_chip", "neuron_id", "isi"}`` dicts.
- :func:`upload`: open the first board, ``apply_configuration``, ``update_parameter_group`` per
  core, preload and play the input through ``get_fpga_spike_gen()`` in variable-ISI mode,
  collect output spikes from ``get_source_node()`` through a ``Dynapse1NeuronSelect`` filter
  into a buffer sink, close the device. Without samna or without a board it raises
  :class:`UploadUnavailable`; it never reports an upload that did not happen.

FPGA timing (samna dynapse1 reference, ``Dynapse1Utils.set_fpga_spike_gen``; INI ctxctl):
the ISI unit is ``isi_base / 90`` microseconds (a 90 MHz clock; ``isi_base = 900`` gives
10 us), ISIs are 16-bit and a preloaded stimulus holds at most ``2**15 - 1`` events. The
generator id of an event is ``core * 256 + neuron`` (0..1023) of its chip-0 address, and
``core_mask``/``target_chip`` say where the event goes.

The samna API changed between releases (device opening especially; see HARDWARE.md): this
module targets the names listed there and keeps every samna call here.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from hardware.config import HardwareConfig
from hardware.dynapse1 import DYNAPSE1, ChipSpec
from hardware.errors import HardwareConstraintError

__all__ = [
    "DYNAPSE1_DEVICE_TYPES",
    "DEFAULT_ISI_BASE",
    "UploadUnavailable",
    "OutputSpike",
    "samna_available",
    "find_boards",
    "to_samna",
    "samna_parameter_group",
    "input_events",
    "spikes_by_population",
    "upload",
]

#: samna ``device_type_name`` of DYNAP-SE1 boards (sinabs ``backend/dynapcnn/io.py`` device map).
DYNAPSE1_DEVICE_TYPES: tuple[str, ...] = ("Dynapse1DevKit",)
#: Default ISI multiplier: 900 / 90 MHz = 10 us per ISI unit (INI's examples).
DEFAULT_ISI_BASE = 900

INSTALL_HINT = ("install SynSense's samna (pip install samna, from SynSense's package index; "
                "the PyPI name alone does not ship the library) on a machine with a DYNAP-SE1 "
                "board attached over USB")


class UploadUnavailable(RuntimeError):
    """samna or a DYNAP-SE1 board is missing: nothing was uploaded."""


@dataclass(frozen=True)
class OutputSpike:
    """One spike read from the board: timestamp in microseconds (wraps) and neuron address."""

    timestamp: int
    chip_id: int
    core_id: int
    neuron_id: int


def _import_samna() -> Any:
    try:
        return importlib.import_module("samna")
    except ImportError as exc:
        raise UploadUnavailable(f"samna is not installed ({exc}); nothing was uploaded. "
                                f"To run on hardware, {INSTALL_HINT}.") from exc


def _import_dynapse1() -> Any:
    _import_samna()
    try:
        return importlib.import_module("samna.dynapse1")
    except ImportError as exc:
        raise UploadUnavailable(f"samna is installed but has no dynapse1 module ({exc}); "
                                "install a samna release with DYNAP-SE1 support") from exc


def samna_available() -> bool:
    """Whether ``samna.dynapse1`` can be imported."""
    try:
        _import_dynapse1()
    except UploadUnavailable:
        return False
    return True


def find_boards() -> list[Any]:
    """Unopened DYNAP-SE1 boards (``samna.device.get_unopened_devices()`` entries).

    Raises
    ------
    UploadUnavailable
        If samna is not installed.
    """
    samna = _import_samna()
    devices = samna.device.get_unopened_devices()
    return [d for d in devices if getattr(d, "device_type_name", None) in DYNAPSE1_DEVICE_TYPES]


def samna_parameter_group(group: Any, dyn1: Any) -> Any:
    """A ``samna.dynapse1.Dynapse1ParameterGroup`` with the codes of ``group``."""
    pg = dyn1.Dynapse1ParameterGroup()
    for name, p in group.param_map.items():
        pg.param_map[name] = dyn1.Dynapse1Parameter(
            param_name=name, coarse_value=p.coarse_value, fine_value=p.fine_value)
    return pg


def to_samna(config: HardwareConfig) -> Any:
    """``config`` as a ``samna.dynapse1.Dynapse1Configuration``.

    Raises
    ------
    UploadUnavailable
        If samna is not installed.
    """
    dyn1 = _import_dynapse1()
    cfg = dyn1.Dynapse1Configuration()
    for core in config.configuration.iter_cores():
        s_core = cfg.chips[core.chip_id].cores[core.core_id]
        s_core.parameter_group = samna_parameter_group(core.parameter_group, dyn1)
        for nid, neuron in sorted(core.neurons.items()):
            s_neuron = s_core.neurons[nid]
            for slot, syn in enumerate(neuron.synapses):
                s_syn = s_neuron.synapses[slot]
                s_syn.listen_core_id = syn.listen_core_id
                s_syn.listen_neuron_id = syn.listen_neuron_id
                s_syn.syn_type = getattr(dyn1.Dynapse1SynType, syn.syn_type.name)
            for slot, dest in enumerate(neuron.destinations):
                s_dest = s_neuron.destinations[slot]
                s_dest.target_chip_id = dest.target_chip_id
                s_dest.in_use = dest.in_use
                s_dest.virtual_core_id = dest.virtual_core_id
                s_dest.core_mask = dest.core_mask
                s_dest.sx = dest.sx
                s_dest.sy = dest.sy
                s_dest.dx = dest.dx
                s_dest.dy = dest.dy
    return cfg


def input_events(spike_times_per_channel: Sequence[Sequence[float]], config: HardwareConfig,
                 isi_base: int = DEFAULT_ISI_BASE, spec: ChipSpec = DYNAPSE1) -> list[dict[str, int]]:
    """The FPGA spike generator's event list for spike times given per input channel.

    Parameters
    ----------
    spike_times_per_channel : sequence of sequences of float
        ``spike_times_per_channel[c]`` holds the spike times in seconds (from the start of the
        stimulus, >= 0) of input channel ``c``; at most ``len(config.input_channels)`` entries.
    config : HardwareConfig
    isi_base : int
        ISI multiplier (``set_isi_multiplier``): one ISI unit is ``isi_base / 90 MHz``.
    spec : ChipSpec

    Returns
    -------
    list of dict
        Time-ordered events ``{"core_mask", "target_chip", "neuron_id", "isi"}``. Spike times
        are rounded to the nearest ISI unit on an absolute time grid (no drift accumulates);
        ``isi`` is the number of units since the previous event (for the first event, since
        the start). A spike of a channel that reaches several chips becomes one event per
        chip, the later ones with ``isi = 0``. Channels with no targets produce no events.

    Raises
    ------
    HardwareConstraintError
        ``fpga_isi_range`` if a gap exceeds the 16-bit ISI (raise ``isi_base``), and
        ``fpga_preload_length`` if there are more than ``2**15 - 1`` events.
    ValueError
        For more channels than the configuration has, or negative / non-finite times.
    """
    if int(isi_base) < 1:
        raise ValueError(f"isi_base must be a positive integer, got {isi_base}")
    if len(spike_times_per_channel) > len(config.input_channels):
        raise ValueError(f"spike times given for {len(spike_times_per_channel)} channels but the "
                         f"configuration has {len(config.input_channels)} input channels")
    unit = int(isi_base) / spec.fpga_clock_hz
    rows: list[tuple[int, int, int, int, int]] = []
    for c, times in enumerate(spike_times_per_channel):
        t = np.asarray(times, dtype=float).ravel()
        if t.size and not (np.all(np.isfinite(t)) and np.all(t >= 0)):
            raise ValueError(f"input channel {c}: spike times must be finite and >= 0 s")
        channel = config.input_channels[c]
        if not channel.targets or not t.size:
            continue
        ticks = np.rint(t / unit).astype(np.int64)
        gen = channel.fpga_neuron_id(spec)
        for tick in ticks.tolist():
            for chip, mask in channel.targets:
                rows.append((tick, c, chip, mask, gen))
    rows.sort()
    if len(rows) > spec.max_preloaded_events:
        raise HardwareConstraintError(
            "fpga_preload_length", "input stimulus", len(rows), spec.max_preloaded_events,
            "shorten the stimulus, lower the input rates, or split it into several preloads",
            "events")
    events: list[dict[str, int]] = []
    previous = 0
    for tick, _, chip, mask, gen in rows:
        isi = tick - previous
        if isi > spec.max_isi:
            needed = int(np.ceil(isi * int(isi_base) / spec.max_isi))
            raise HardwareConstraintError(
                "fpga_isi_range", f"input event at {tick * unit:.6g} s", f"an ISI of {isi} units",
                spec.max_isi, f"use isi_base >= {needed} (coarser time steps) or add input "
                "spikes in the gap")
        events.append({"core_mask": mask, "target_chip": chip, "neuron_id": gen, "isi": isi})
        previous = tick
    return events


def spikes_by_population(spikes: Sequence[OutputSpike], config: HardwareConfig
                         ) -> dict[str, list[tuple[int, int]]]:
    """Group board spikes as ``{population: [(index, timestamp_us), ...]}``; others dropped."""
    addr = config.address_map()
    out: dict[str, list[tuple[int, int]]] = {p: [] for p in config.neuron_map}
    for s in spikes:
        hit = addr.get((s.chip_id, s.core_id, s.neuron_id))
        if hit is not None:
            out[hit[0]].append((hit[1], s.timestamp))
    return out


def upload(config: HardwareConfig, inputs: Sequence[Sequence[float]] | None = None, *,
           isi_base: int = DEFAULT_ISI_BASE, duration: float | None = None,
           spec: ChipSpec = DYNAPSE1) -> list[OutputSpike]:
    """Configure a DYNAP-SE1 board, play ``inputs`` and return the spikes of mapped neurons.

    Parameters
    ----------
    config : HardwareConfig
    inputs : sequence of sequences of float, optional
        Spike times in seconds per input channel (see :func:`input_events`); ``None`` only
        configures the board.
    isi_base : int
        ISI multiplier of the FPGA spike generator.
    duration : float, optional
        Seconds to record; default: the last input time plus one ``step_duration``.
    spec : ChipSpec

    Returns
    -------
    list of OutputSpike

    Raises
    ------
    UploadUnavailable
        samna is not installed, no DYNAP-SE1 board is attached, or the board cannot be opened.
    """
    events = input_events(inputs, config, isi_base, spec) if inputs is not None else []
    samna = _import_samna()
    dyn1 = _import_dynapse1()
    boards = find_boards()
    if not boards:
        raise UploadUnavailable(
            "no DYNAP-SE1 board found: samna.device.get_unopened_devices() lists no device of "
            f"type {', '.join(DYNAPSE1_DEVICE_TYPES)}; attach a board (and close other programs "
            "using it); nothing was uploaded")
    try:
        model = samna.device.open_device(boards[0])
    except Exception as exc:  # samna raises its own types, which differ between releases
        raise UploadUnavailable(f"could not open the DYNAP-SE1 board {boards[0]!r}: {exc}; "
                                "nothing was uploaded") from exc
    try:
        model.apply_configuration(to_samna(config))
        for core in config.configuration.iter_cores():
            model.update_parameter_group(samna_parameter_group(core.parameter_group, dyn1),
                                         core.chip_id, core.core_id)
        graph = samna.graph.EventFilterGraph()
        sink = samna.BasicSinkNode_dynapse1_dynapse1_event()
        _, selector, _ = graph.sequential([model.get_source_node(), "Dynapse1NeuronSelect", sink])
        selector.set_neurons([spec.global_id(*a) for addrs in config.neuron_map.values() for a in addrs])
        graph.start()
        try:
            spike_gen = model.get_fpga_spike_gen()
            if events:
                stimulus = []
                for e in events:
                    ev = dyn1.FpgaSpikeEvent()
                    ev.core_mask, ev.target_chip = e["core_mask"], e["target_chip"]
                    ev.neuron_id, ev.isi = e["neuron_id"], e["isi"]
                    stimulus.append(ev)
                spike_gen.set_variable_isi_mode(True)
                spike_gen.preload_stimulus(stimulus)
                spike_gen.set_isi_multiplier(int(isi_base))
                spike_gen.set_repeat_mode(False)
            sink.get_events()  # drop what arrived before the stimulus
            unit = int(isi_base) / spec.fpga_clock_hz
            played = sum(e["isi"] for e in events) * unit
            wait = duration if duration is not None else played + config.step_duration
            if events:
                spike_gen.start()
            time.sleep(wait)
            if events:
                spike_gen.stop()
            received = sink.get_events()
        finally:
            graph.stop()
        return [OutputSpike(int(e.timestamp), int(e.chip_id), int(e.core_id), int(e.neuron_id))
                for e in received if hasattr(e, "neuron_id")]
    finally:
        samna.device.close_device(model)
