"""The only module that talks to samna (imported lazily, inside functions).

- :func:`samna_available` / :func:`find_boards`: is samna installed, which DYNAP-SE1 boards
  (samna ``device_type_name == "Dynapse1DevKit"``) are attached and unopened.
- :func:`to_samna`: a :class:`~hardware.config.HardwareConfig` written into a fresh
  ``samna.dynapse1.Dynapse1Configuration``: CAM entries into slots ``0..len-1`` and SRAM
  entries into slots ``0..len-1`` attribute by attribute (unused slots keep samna's defaults),
  and each used core's bias codes set in place on the core's own parameter group
  (:func:`write_parameter_codes`).
- :func:`monitored_neurons`: the ``(chip, core, neuron)`` tuples the output filter passes.
- :func:`input_events` (pure, no samna): spike times per input channel as the FPGA spike
  generator's event list, ``{"core_mask", "target_chip", "neuron_id", "isi"}`` dicts;
  :func:`fpga_spike_events` turns them into ``samna.dynapse1.FpgaSpikeEvent`` objects.
- :func:`upload`: open the first board with ``samna.device.open_device(info)`` (on DYNAP-SE1
  this returns the ``Dynapse1Model`` itself), ``apply_configuration``, then per used core set
  the codes in place on the parameter group of ``model.get_configuration()`` and send it with
  ``update_parameter_group(group, chip, core)``; filter the output with a
  ``Dynapse1NeuronSelect`` node between ``model.get_source_node()`` and a
  ``samna.BasicSinkNode_dynapse1_dynapse1_event`` (``graph.sequential``), given
  ``(chip, core, neuron)`` tuples; preload and play the input through
  ``model.get_fpga_spike_gen()`` in variable-ISI mode; read the sink;
  ``samna.device.close_device(model)`` exactly once, also when something fails mid-upload.
  Without samna or without a board it raises :class:`UploadUnavailable`; it never reports an
  upload that did not happen.

Helpers written here, not taken from INI's ctxctl_contrib: ``dynapse1utils.get_global_id``
and ``dynapse1utils.set_fpga_spike_gen`` are functions of that helper library, not names in
``samna.dynapse1``. The output filter takes ``(chip, core, neuron)`` tuples, so no global id is
needed (the project's own numbering is :meth:`hardware.dynapse1.ChipSpec.global_id`);
:func:`fpga_spike_events` and the private ``_preload_stimulus`` do what ``set_fpga_spike_gen``
does, in the same order of calls.

FPGA timing (ctxctl_contrib ``set_fpga_spike_gen`` docstring and ``dynapse1constants.py``):
one ISI unit is ``isi_base / 90`` microseconds (a 90 MHz clock; ``isi_base = 900`` gives
10 us), ISIs are 16-bit and a preloaded stimulus holds at most ``2**15 - 1`` events. An
event's ``neuron_id`` is its generator id ``core * 256 + neuron`` (0..1023) of its chip-0
address; ``core_mask``/``target_chip`` say where it goes.

Sources, each point checked against them (the samna API changed between releases, device
opening and the output filter especially):

- samna device controller, https://synsense-sys-int.gitlab.io/samna/deviceController.html:
  ``samna.device.get_unopened_devices()``, ``samna.device.open_device(info)``,
  ``samna.device.close_device(device)``.
- samna ``dynapse1`` reference, https://synsense-sys-int.gitlab.io/samna/reference/dynapse1/index.html:
  the configuration tree; ``Dynapse1Core.parameter_group`` is a group "including 25
  parameters".
- INI ctxctl_contrib, samna-dynapse1 branch (https://gitlab.com/neuroinf/ctxctl_contrib/-/tree/samna-dynapse1),
  read as vendored in GitHub ``blakeyy/neuromorphic_dreaming``:
  ``dynapse/dynapse1utils.py`` (``open_device`` returns the model that ``apply_configuration``,
  ``get_source_node`` and ``get_fpga_spike_gen`` are called on; ``close_dynapse1`` calls
  ``samna.device.close_device(model)``; ``create_neuron_select_graph`` builds
  ``graph.sequential([model.get_source_node(), "Dynapse1NeuronSelect", sink])`` with a
  ``BasicSinkNode_dynapse1_dynapse1_event`` and calls ``set_neurons`` with
  "list[tuple(int, int, int)] ... in the order of (chip, core, neuron)";
  ``set_fpga_spike_gen`` fills ``FpgaSpikeEvent().core_mask/.target_chip/.neuron_id/.isi`` and
  calls ``set_variable_isi_mode``, ``preload_stimulus``, ``set_isi_multiplier``,
  ``set_repeat_mode``; every ``Dynapse1Parameter`` is built positionally),
  ``dynapse/netgen.py`` (``NeuronGroup.tuple_neuron_ids``), ``src/agent.py``
  (``set_neurons`` gets those tuples; ``update_parameter_group(group, chip, core)``),
  ``src/params.py`` (a ``Dynapse1ParameterGroup()`` edited in place through
  ``param_map[name].coarse_value`` / ``.fine_value``), ``details/netgen_details.py`` (CAM and
  SRAM written attribute by attribute into ``config.chips[c].cores[k].neurons[n]``).
- GitHub ``BernardMaacaron/JointAttractorNets``: ``dynapse1utils.py`` (``load_ctxctl_biases``
  and ``copy_parameters2core`` edit ``param_map[name]`` in place on the groups of
  ``model.get_configuration()`` and pass them to ``update_parameter_group(group, chip, core)``),
  ``dynap-se1/gridSearch_DynapseRA.py`` (``model = samna.device.open_device(devices[0])``).
- GitHub ``synsense/sinabs``: ``sinabs/backend/dynapcnn/io.py`` (device map
  ``"dynapse1devkit": "Dynapse1DevKit"``).

The older ctxctl API (``BufferSinkNode_dynapse1_dynapse1_event``, ``add_filter_node``) gave
``set_neurons`` global neuron ids; this module targets the ``BasicSinkNode`` /
``graph.sequential`` generation only.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from hardware.config import Dynapse1ParameterGroup, HardwareConfig
from hardware.dynapse1 import DYNAPSE1, ChipSpec
from hardware.errors import HardwareConstraintError

__all__ = [
    "DYNAPSE1_DEVICE_TYPES",
    "DEFAULT_ISI_BASE",
    "NEURON_SELECT_FILTER",
    "UploadUnavailable",
    "OutputSpike",
    "samna_available",
    "find_boards",
    "write_parameter_codes",
    "to_samna",
    "monitored_neurons",
    "input_events",
    "fpga_spike_events",
    "spikes_by_population",
    "upload",
]

#: samna ``device_type_name`` of DYNAP-SE1 boards (sinabs ``backend/dynapcnn/io.py`` device map).
DYNAPSE1_DEVICE_TYPES: tuple[str, ...] = ("Dynapse1DevKit",)
#: Default ISI multiplier: 900 / 90 MHz = 10 us per ISI unit (INI's examples).
DEFAULT_ISI_BASE = 900
#: Name of samna's filter node that passes the spikes of selected neurons.
NEURON_SELECT_FILTER = "Dynapse1NeuronSelect"

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


def write_parameter_codes(target: Any, group: Dynapse1ParameterGroup) -> None:
    """Set the codes of ``group`` in place on the samna parameter group ``target``.

    ``target.param_map[name].coarse_value`` and ``.fine_value`` are changed for every bias in
    ``group``; no ``Dynapse1Parameter`` is built and no entry or group is replaced (INI's
    helpers edit the core's own group the same way; it already holds all 25 names).

    Raises
    ------
    ValueError
        If ``target`` has no bias of one of ``group``'s names.
    """
    for name, p in sorted(group.param_map.items()):
        try:
            entry = target.param_map[name]
        except KeyError:
            raise ValueError(f"the samna parameter group has no bias {name!r}; this samna release "
                             "does not name the 25 DYNAP-SE1 biases as HARDWARE.md lists them") from None
        entry.coarse_value = int(p.coarse_value)
        entry.fine_value = int(p.fine_value)


def to_samna(config: HardwareConfig) -> Any:
    """``config`` as a fresh ``samna.dynapse1.Dynapse1Configuration``.

    CAM and SRAM entries are written attribute by attribute into slots ``0..len-1`` (unused
    slots keep samna's defaults); each used core's bias codes are set in place on that core's
    parameter group (:func:`write_parameter_codes`); unused cores keep samna's default codes.

    Raises
    ------
    UploadUnavailable
        If samna is not installed.
    """
    dyn1 = _import_dynapse1()
    cfg = dyn1.Dynapse1Configuration()
    for core in config.configuration.iter_cores():
        s_core = cfg.chips[core.chip_id].cores[core.core_id]
        write_parameter_codes(s_core.parameter_group, core.parameter_group)
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


def monitored_neurons(config: HardwareConfig) -> list[tuple[int, int, int]]:
    """The ``(chip, core, neuron)`` tuples of every mapped neuron, in ``neuron_map`` order.

    This is what ``Dynapse1NeuronSelect.set_neurons`` takes (not global neuron ids).
    """
    seen: dict[tuple[int, int, int], None] = {}
    for addrs in config.neuron_map.values():
        for chip, core, neuron in addrs:
            seen[(int(chip), int(core), int(neuron))] = None
    return list(seen)


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


def fpga_spike_events(events: Sequence[dict[str, int]], dyn1: Any) -> list[Any]:
    """``samna.dynapse1.FpgaSpikeEvent`` objects for an :func:`input_events` list.

    Each event is built empty and its ``core_mask``, ``target_chip``, ``neuron_id`` and ``isi``
    set one by one, as ctxctl_contrib's ``set_fpga_spike_gen`` does.
    """
    out = []
    for e in events:
        ev = dyn1.FpgaSpikeEvent()
        ev.core_mask = int(e["core_mask"])
        ev.target_chip = int(e["target_chip"])
        ev.neuron_id = int(e["neuron_id"])
        ev.isi = int(e["isi"])
        out.append(ev)
    return out


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


def _preload_stimulus(spike_gen: Any, stimulus: list[Any], isi_base: int) -> None:
    """Load ``stimulus`` into a ``Dynapse1FpgaSpikeGen`` to be played once, variable ISIs."""
    spike_gen.set_variable_isi_mode(True)
    spike_gen.preload_stimulus(stimulus)
    spike_gen.set_isi_multiplier(int(isi_base))
    spike_gen.set_repeat_mode(False)


def _update_parameter_groups(model: Any, config: HardwareConfig) -> None:
    """Per used core: codes set in place on the model's current group, then sent to the board."""
    current = model.get_configuration()
    for core in config.configuration.iter_cores():
        group = current.chips[core.chip_id].cores[core.core_id].parameter_group
        write_parameter_codes(group, core.parameter_group)
        model.update_parameter_group(group, core.chip_id, core.core_id)


def _open_model(samna: Any, board: Any) -> Any:
    """``samna.device.open_device(board)``: the ``Dynapse1Model`` itself on DYNAP-SE1."""
    try:
        model = samna.device.open_device(board)
    except Exception as exc:  # samna raises its own types, which differ between releases
        raise UploadUnavailable(f"could not open the DYNAP-SE1 board {board!r}: {exc}; "
                                "nothing was uploaded") from exc
    if not hasattr(model, "apply_configuration"):
        samna.device.close_device(model)
        raise UploadUnavailable(
            f"samna.device.open_device returned a {type(model).__name__} without "
            "apply_configuration, not a Dynapse1Model: this samna release opens DYNAP-SE1 "
            "boards differently from the one this adapter targets; nothing was uploaded")
    return model


def upload(config: HardwareConfig, inputs: Sequence[Sequence[float]] | None = None, *,
           isi_base: int = DEFAULT_ISI_BASE, duration: float | None = None,
           spec: ChipSpec = DYNAPSE1) -> list[OutputSpike]:
    """Configure a DYNAP-SE1 board, play ``inputs`` and return the spikes of mapped neurons.

    Parameters
    ----------
    config : HardwareConfig
    inputs : sequence of sequences of float, optional
        Spike times in seconds per input channel (see :func:`input_events`); ``None`` only
        configures the board (and listens for ``duration``).
    isi_base : int
        ISI multiplier of the FPGA spike generator.
    duration : float, optional
        Seconds to record; default: the last input time plus one ``step_duration``.
    spec : ChipSpec

    Returns
    -------
    list of OutputSpike
        The spikes the ``Dynapse1NeuronSelect`` filter passed (timestamp wrap events dropped).

    Raises
    ------
    UploadUnavailable
        samna is not installed, no DYNAP-SE1 board is attached, or the board cannot be opened.
    ValueError
        For a negative ``duration`` (and see :func:`input_events`).
    """
    if duration is not None and not duration >= 0:
        raise ValueError(f"duration must be >= 0 s, got {duration}")
    events = input_events(inputs, config, isi_base, spec) if inputs is not None else []
    samna = _import_samna()
    dyn1 = _import_dynapse1()
    boards = find_boards()
    if not boards:
        raise UploadUnavailable(
            "no DYNAP-SE1 board found: samna.device.get_unopened_devices() lists no device of "
            f"type {', '.join(DYNAPSE1_DEVICE_TYPES)}; attach a board (and close other programs "
            "using it); nothing was uploaded")
    model = _open_model(samna, boards[0])
    try:
        model.apply_configuration(to_samna(config))
        _update_parameter_groups(model, config)
        graph = samna.graph.EventFilterGraph()
        sink = samna.BasicSinkNode_dynapse1_dynapse1_event()
        _, selector, _ = graph.sequential([model.get_source_node(), NEURON_SELECT_FILTER, sink])
        selector.set_neurons(monitored_neurons(config))
        graph.start()
        try:
            spike_gen = model.get_fpga_spike_gen() if events else None
            if spike_gen is not None:
                _preload_stimulus(spike_gen, fpga_spike_events(events, dyn1), isi_base)
            sink.get_events()  # drop what arrived before the stimulus
            unit = int(isi_base) / spec.fpga_clock_hz
            played = sum(e["isi"] for e in events) * unit
            wait = duration if duration is not None else played + config.step_duration
            if spike_gen is not None:
                spike_gen.start()
            try:
                time.sleep(wait)
            finally:
                if spike_gen is not None:
                    spike_gen.stop()
            received = sink.get_events()
        finally:
            graph.stop()
        return [OutputSpike(int(e.timestamp), int(e.chip_id), int(e.core_id), int(e.neuron_id))
                for e in received if hasattr(e, "neuron_id")]
    finally:
        samna.device.close_device(model)
