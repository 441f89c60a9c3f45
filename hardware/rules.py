"""DYNAP-SE1 design rules: small named checks, each raising :class:`HardwareConstraintError`.

:func:`check_config` runs the configuration rules on a :class:`~hardware.config.HardwareConfig`
(in this order, the first broken one raises); :func:`load_config` reads a ``hardware.json`` and
runs them on it:

===================================== ==========================================================
``neurons_per_board``                 at most ``n_chips * 1024`` neurons in use
``neurons_per_core``                  at most 256 neurons per core, ids 0..255
``address_range``                     chip ids 0..3, core ids 0..3, tree keys match the ids
``cam_fan_in``                        at most 64 CAM entries per neuron (a weight k uses k)
``sram_fan_out``                      at most 4 SRAM entries per neuron, one per target chip,
                                      core masks 1..15, target chips on the board
``bias_codes_in_range``               every core has exactly the 25 biases, coarse 0..7, fine 0..255
``input_channels``                    at most 1023 generators (one address is the null address),
                                      on chip 0, unique addresses, targets on the board
``reserved_null_address``             no source (neuron with destinations, input generator) at
                                      core 0 neuron 0: unused CAM entries listen to it
``cam_aliasing``                      no neuron listens to an address that two sources reaching
                                      its core share (CAM entries hold no chip id)
``one_base_weight_per_type_per_core`` the efficacies the mapping merged into one base weight per
                                      (core, synapse type) agree within ``efficacy_tolerance``
===================================== ==========================================================

:func:`check_network` runs the rules that can be checked before mapping on a
:class:`~brian_models.description.SpikingNetwork`: ``supported_chip``, ``neuron_model`` (DPI only),
``input_encoder`` (rate-coded input only), ``neurons_per_board`` (4092 usable neurons: the
null address of each chip is never placed), ``input_channels``, ``cam_fan_in`` and, with a
tolerance, ``one_base_weight_per_type_per_core`` per post population.

Sources: INI ctxctl ``netgen_details.validate`` (CAM count with repeated entries, aliasing
check, SRAM reuse per target chip) and the samna dynapse1 reference; constants from
:data:`hardware.dynapse1.DYNAPSE1`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from brian_models.description import INPUT, SpikingNetwork
from hardware.config import CHIP_SPECS, ConfigFileError, HardwareConfig, sources_reaching
from hardware.dynapse1 import DYNAPSE1, ChipSpec
from hardware.errors import HardwareConstraintError, core_where, neuron_where

__all__ = [
    "CONFIG_RULES",
    "neurons_per_board",
    "neurons_per_core",
    "address_range",
    "cam_fan_in",
    "sram_fan_out",
    "bias_codes_in_range",
    "input_channels",
    "reserved_null_address",
    "cam_aliasing",
    "one_base_weight_per_type_per_core",
    "check_config",
    "load_config",
    "fan_in",
    "efficacy_spread",
    "check_network",
]

FAN_IN_HINT = "prune its inputs (rnn2dynapse quantize --max-fan-in {limit})"


# -- configuration rules --------------------------------------------------------------------
def neurons_per_board(config: HardwareConfig, spec: ChipSpec = DYNAPSE1) -> None:
    """Rule ``neurons_per_board``: at most ``spec.n_neurons`` neurons in use."""
    n = sum(1 for _ in config.configuration.iter_neurons())
    if n > spec.n_neurons:
        raise HardwareConstraintError("neurons_per_board", "configuration", n, spec.n_neurons,
                                      "use a smaller network", "neurons")


def neurons_per_core(config: HardwareConfig, spec: ChipSpec = DYNAPSE1) -> None:
    """Rule ``neurons_per_core``: at most 256 neurons per core, with ids 0..255."""
    for core in config.configuration.iter_cores():
        where = core_where(core.chip_id, core.core_id)
        if len(core.neurons) > spec.neurons_per_core:
            raise HardwareConstraintError("neurons_per_core", where, len(core.neurons),
                                          spec.neurons_per_core, "spread the neurons over more cores",
                                          "neurons")
        for nid in core.neurons:
            if not 0 <= nid < spec.neurons_per_core:
                raise HardwareConstraintError("neurons_per_core", where, f"neuron id {nid}",
                                              f"0..{spec.neurons_per_core - 1}",
                                              "use neuron ids the core has")


def address_range(config: HardwareConfig, spec: ChipSpec = DYNAPSE1) -> None:
    """Rule ``address_range``: chip and core ids exist on the board; tree keys match ids."""
    for c, chip in config.configuration.chips.items():
        if not 0 <= c < spec.n_chips or chip.chip_id != c:
            raise HardwareConstraintError("address_range", f"chip {c}", f"chip id {chip.chip_id}",
                                          f"0..{spec.n_chips - 1}, equal to its key",
                                          "place neurons on the board's chips")
        for k, core in chip.cores.items():
            if not 0 <= k < spec.cores_per_chip or core.core_id != k or core.chip_id != c:
                raise HardwareConstraintError(
                    "address_range", core_where(c, k), f"ids chip {core.chip_id} core {core.core_id}",
                    f"core 0..{spec.cores_per_chip - 1}, ids equal to the keys",
                    "place neurons on the board's cores")
            for n, neuron in core.neurons.items():
                if (neuron.chip_id, neuron.core_id, neuron.neuron_id) != (c, k, n):
                    raise HardwareConstraintError(
                        "address_range", neuron_where(c, k, n),
                        f"ids {neuron.chip_id}/{neuron.core_id}/{neuron.neuron_id}",
                        "ids equal to its place in the tree", "rebuild the configuration")


def cam_fan_in(config: HardwareConfig, spec: ChipSpec = DYNAPSE1) -> None:
    """Rule ``cam_fan_in``: at most 64 CAM entries per neuron, each naming a valid source."""
    for n in config.configuration.iter_neurons():
        where = neuron_where(n.chip_id, n.core_id, n.neuron_id)
        if len(n.synapses) > spec.cam_per_neuron:
            raise HardwareConstraintError("cam_fan_in", where, len(n.synapses), spec.cam_per_neuron,
                                          FAN_IN_HINT.format(limit=spec.cam_per_neuron), "CAM entries")
        for s in n.synapses:
            if not (0 <= s.listen_core_id < spec.cores_per_chip
                    and 0 <= s.listen_neuron_id < spec.neurons_per_core):
                raise HardwareConstraintError(
                    "cam_fan_in", where, f"a CAM entry for core {s.listen_core_id} neuron "
                    f"{s.listen_neuron_id}", f"core 0..{spec.cores_per_chip - 1}, neuron "
                    f"0..{spec.neurons_per_core - 1}", "listen to addresses on the chip")


def sram_fan_out(config: HardwareConfig, spec: ChipSpec = DYNAPSE1) -> None:
    """Rule ``sram_fan_out``: at most 4 SRAM entries, one per target chip, masks 1..15."""
    full = (1 << spec.cores_per_chip) - 1
    for n in config.configuration.iter_neurons():
        where = neuron_where(n.chip_id, n.core_id, n.neuron_id)
        used = [d for d in n.destinations if d.in_use]
        if len(n.destinations) > spec.sram_per_neuron:
            raise HardwareConstraintError(
                "sram_fan_out", where, len(n.destinations), spec.sram_per_neuron,
                "send to fewer chips: one SRAM entry per target chip with a core mask",
                "SRAM entries")
        chips = Counter(d.target_chip_id for d in used)
        for chip, count in chips.items():
            if count > 1:
                raise HardwareConstraintError(
                    "sram_fan_out", where, f"{count} SRAM entries for chip {chip}", 1,
                    "merge them into one entry with the union of their core masks")
            if not 0 <= chip < spec.n_chips:
                raise HardwareConstraintError("sram_fan_out", where, f"target chip {chip}",
                                              f"0..{spec.n_chips - 1}", "target the board's chips")
        for d in used:
            if not 1 <= d.core_mask <= full:
                raise HardwareConstraintError("sram_fan_out", where, f"core mask {d.core_mask}",
                                              f"1..{full}", "set the bits of the target cores")


def bias_codes_in_range(config: HardwareConfig, spec: ChipSpec = DYNAPSE1) -> None:
    """Rule ``bias_codes_in_range``: every core has the 25 named biases with valid codes."""
    names = set(spec.bias_names)
    for core in config.configuration.iter_cores():
        where = core_where(core.chip_id, core.core_id)
        have = set(core.parameter_group.param_map)
        if have != names:
            extra, missing = sorted(have - names), sorted(names - have)
            raise HardwareConstraintError(
                "bias_codes_in_range", where, f"biases {len(have)} (unknown {extra}, missing {missing})",
                f"the {len(names)} biases of {spec.name}", "set exactly the chip's bias names")
        for name, p in core.parameter_group.param_map.items():
            if not 0 <= p.coarse_value < spec.n_coarse:
                raise HardwareConstraintError("bias_codes_in_range", f"{where} bias {name}",
                                              f"coarse {p.coarse_value}", f"0..{spec.n_coarse - 1}",
                                              "use a coarse value of the chip")
            if not 0 <= p.fine_value <= spec.fine_max:
                raise HardwareConstraintError("bias_codes_in_range", f"{where} bias {name}",
                                              f"fine {p.fine_value}", f"0..{spec.fine_max}",
                                              "use a fine value of the chip")


def input_channels(config: HardwareConfig, spec: ChipSpec = DYNAPSE1) -> None:
    """Rule ``input_channels``: generators fit the FPGA, live on chip 0, target the board."""
    n = len(config.input_channels)
    if n > spec.usable_input_generators:
        raise HardwareConstraintError("input_channels", "input encoder", n, spec.usable_input_generators,
                                      "reduce the number of input features", "input channels")
    seen: dict[tuple[int, int], int] = {}
    full = (1 << spec.cores_per_chip) - 1
    for ch in config.input_channels:
        where = f"input channel {ch.channel}"
        if ch.chip_id != 0:
            raise HardwareConstraintError("input_channels", where, f"generator on chip {ch.chip_id}",
                                          "chip 0", "input generators live on chip 0 (the FPGA)")
        if not (0 <= ch.core_id < spec.cores_per_chip and 0 <= ch.neuron_id < spec.neurons_per_core):
            raise HardwareConstraintError(
                "input_channels", where, f"generator core {ch.core_id} neuron {ch.neuron_id}",
                f"core 0..{spec.cores_per_chip - 1}, neuron 0..{spec.neurons_per_core - 1}",
                "use one of the 1024 generator addresses")
        addr = (ch.core_id, ch.neuron_id)
        if addr in seen:
            raise HardwareConstraintError(
                "input_channels", where, f"generator core {addr[0]} neuron {addr[1]}",
                f"one channel per generator (channel {seen[addr]} uses it)", "give each channel its own generator")
        seen[addr] = ch.channel
        chips = Counter(c for c, _ in ch.targets)
        for chip, mask in ch.targets:
            if not 0 <= chip < spec.n_chips or not 1 <= mask <= full or chips[chip] > 1:
                raise HardwareConstraintError(
                    "input_channels", where, f"target chip {chip} core mask {mask}",
                    f"one target per chip 0..{spec.n_chips - 1}, masks 1..{full}",
                    "target the board's cores")


def reserved_null_address(config: HardwareConfig, spec: ChipSpec = DYNAPSE1) -> None:
    """Rule ``reserved_null_address``: no spike source uses the default CAM address."""
    if spec.null_address is None:
        return
    a, b = spec.null_address
    hint = (f"core {a} neuron {b} is what unused CAM entries listen to (as NMDA); "
            "leave it without destinations and use another generator")
    for n in config.configuration.iter_neurons():
        if (n.core_id, n.neuron_id) == (a, b) and any(d.in_use for d in n.destinations):
            raise HardwareConstraintError("reserved_null_address",
                                          neuron_where(n.chip_id, n.core_id, n.neuron_id),
                                          "to send spikes", "no destinations at the null address", hint)
    for ch in config.input_channels:
        if (ch.core_id, ch.neuron_id) == (a, b) and ch.targets:
            raise HardwareConstraintError("reserved_null_address", f"input channel {ch.channel}",
                                          f"generator core {a} neuron {b}", "any other generator", hint)


def cam_aliasing(config: HardwareConfig, spec: ChipSpec = DYNAPSE1) -> None:
    """Rule ``cam_aliasing``: a neuron never listens to an address two arriving sources share."""
    reach = sources_reaching(config, spec)
    for n in config.configuration.iter_neurons():
        arriving = reach.get((n.chip_id, n.core_id), {})
        for addr in {(s.listen_core_id, s.listen_neuron_id) for s in n.synapses}:
            sources = arriving.get(addr, [])
            if len(sources) > 1:
                names = ", ".join(_source_name(s) for s in sources)
                raise HardwareConstraintError(
                    "cam_aliasing", neuron_where(n.chip_id, n.core_id, n.neuron_id),
                    f"to tell apart {len(sources)} sources with address core {addr[0]} neuron "
                    f"{addr[1]} ({names})", "1 source per address reaching a core",
                    "move one source to another neuron id or stop routing it to this core")


def one_base_weight_per_type_per_core(config: HardwareConfig, spec: ChipSpec = DYNAPSE1,
                                      tolerance: float | None = None) -> None:
    """Rule ``one_base_weight_per_type_per_core`` on the efficacies a mapping merged.

    Reads ``mapping_report["efficacies"]`` (entries with ``chip, core, synapse, requested,
    mean, decoded, max_relative_spread``, written by :func:`hardware.mapper.map_network`): a
    core has one base weight per synapse type, so the efficacies of the projections of one
    type merged into it must lie within ``tolerance`` (relative) of their mean. ``None``
    accepts any merge (it is reported, not checked).
    """
    if tolerance is None:
        return
    for e in config.mapping_report.get("efficacies", []):
        err = float(e.get("max_relative_spread", 0.0))
        if err > tolerance:
            raise HardwareConstraintError(
                "one_base_weight_per_type_per_core",
                f"{core_where(e['chip'], e['core'])} synapse {e['synapse']}",
                f"efficacies {e.get('requested')} merged into one base weight "
                f"(relative spread {err:.3g})", f"relative spread {tolerance}",
                "give projections of one synapse type into one population the same efficacy, "
                "or use another synapse type for one of them")


#: The configuration rules in the order :func:`check_config` runs them.
CONFIG_RULES: tuple[Callable[[HardwareConfig, ChipSpec], None], ...] = (
    neurons_per_board, neurons_per_core, address_range, cam_fan_in, sram_fan_out,
    bias_codes_in_range, input_channels, reserved_null_address, cam_aliasing,
)


def check_config(config: HardwareConfig, spec: ChipSpec = DYNAPSE1,
                 efficacy_tolerance: float | None = None) -> None:
    """Run every configuration rule; the first broken one raises HardwareConstraintError."""
    for rule in CONFIG_RULES:
        rule(config, spec)
    one_base_weight_per_type_per_core(config, spec, efficacy_tolerance)


def load_config(path: str | Path, efficacy_tolerance: float | None = None) -> HardwareConfig:
    """Read a ``hardware.json`` (:meth:`HardwareConfig.load`) and run every rule of the chip it
    names on it (:func:`check_config`): every command that reads a configuration reads it here,
    so a file edited by hand is refused as one the mapper would not have written.

    Raises
    ------
    FileNotFoundError, hardware.config.ConfigFileError
        As :meth:`HardwareConfig.load`; also for a chip without a spec.
    HardwareConstraintError
        The first broken rule, its ``where`` prefixed with the file.
    """
    config = HardwareConfig.load(path)
    if config.chip not in CHIP_SPECS:
        raise ConfigFileError(f"{path} is for chip {config.chip!r}; known chips: {', '.join(CHIP_SPECS)}")
    try:
        check_config(config, CHIP_SPECS[config.chip], efficacy_tolerance)
    except HardwareConstraintError as err:
        raise HardwareConstraintError(err.rule, f"{path}: {err.where}", err.value, err.limit, err.hint,
                                      err.quantity) from None
    return config


def _source_name(src: tuple) -> str:
    if src[0] == "input":
        return f"input channel {src[1]}"
    return f"chip {src[1]} core {src[2]} neuron {src[3]}"


# -- network (pre-mapping) rules ----------------------------------------------------------------
def fan_in(net: SpikingNetwork) -> dict[str, np.ndarray]:
    """CAM entries each neuron needs: per population, the sum of its incoming weights."""
    out = {p.name: np.zeros(p.size, dtype=np.int64) for p in net.populations}
    for proj in net.projections:
        out[proj.post] += proj.weights.sum(axis=1)
    return out


def efficacy_spread(net: SpikingNetwork) -> dict[tuple[str, str], tuple[float, float]]:
    """Per ``(post population, synapse type)``: the synapse-weighted mean efficacy and the
    largest relative deviation of a projection's efficacy from it (0 when the mean is 0)."""
    groups: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for proj in net.projections:
        n = int(proj.weights.sum())
        if n > 0:
            groups.setdefault((proj.post, proj.synapse), []).append((float(proj.efficacy), n))
    out = {}
    for key, items in groups.items():
        values = {e for e, _ in items}
        if len(values) == 1:
            mean = values.pop()  # exact: no rounding of a weighted mean of equal values
        else:
            mean = sum(e * n for e, n in items) / sum(n for _, n in items)
        dev = 0.0 if mean == 0 else max(abs(e - mean) / mean for e, _ in items)
        out[key] = (mean, dev)
    return out


def check_network(net: SpikingNetwork, spec: ChipSpec = DYNAPSE1,
                  efficacy_tolerance: float | None = None) -> None:
    """The rules a :class:`~brian_models.description.SpikingNetwork` must pass before it is mapped.

    Raises
    ------
    HardwareConstraintError
        Naming the first broken rule among ``supported_chip``, ``neuron_model``,
        ``axonal_delays``, ``input_encoder``, ``neurons_per_board``, ``input_channels``, ``cam_fan_in`` and
        ``one_base_weight_per_type_per_core`` (only when ``efficacy_tolerance`` is given).
    """
    if not spec.supported:
        raise HardwareConstraintError("supported_chip", spec.name, "a mapper", "DYNAP-SE1 only",
                                      "map with --chip dynapse1")
    for pop in net.populations:
        if pop.neuron != "dpi":
            raise HardwareConstraintError(
                "neuron_model", f"population {pop.name!r}", f"neuron model {pop.neuron!r}", "'dpi'",
                "the chip's neurons are DPI circuits; convert with --neuron dpi")
    for proj in net.projections:
        if proj.delay > 0:
            raise HardwareConstraintError(
                "axonal_delays", f"projection {proj.name!r}", f"a delay of {proj.delay:g} s", "0 s",
                "DYNAP-SE1 has no programmable axonal delays, and a network converted with them relies "
                "on them; train the form the chip carries: rnn2dynapse train ... --chip dynapse1")
    uses_input = any(p.pre == INPUT for p in net.projections)
    if uses_input and net.encoder.kind != "rate":
        raise HardwareConstraintError(
            "input_encoder", "input encoder", f"kind {net.encoder.kind!r}", "'rate'",
            "the board receives input only as spikes from its FPGA generators; use rate coding")
    if net.n_neurons > spec.usable_neurons:
        raise HardwareConstraintError(
            "neurons_per_board", "network", net.n_neurons, spec.usable_neurons,
            f"use fewer neurons ({spec.name}: {spec.n_neurons} neurons, one per chip reserved as "
            "the null CAM address)", "neurons")
    if uses_input and net.encoder.n_channels > spec.usable_input_generators:
        raise HardwareConstraintError("input_channels", "input encoder", net.encoder.n_channels,
                                      spec.usable_input_generators, "reduce the number of input features",
                                      "input channels")
    for name, counts in fan_in(net).items():
        if counts.size and counts.max() > spec.cam_per_neuron:
            i = int(np.argmax(counts))
            raise HardwareConstraintError(
                "cam_fan_in", f"neuron {i} of population {name!r}", int(counts[i]), spec.cam_per_neuron,
                FAN_IN_HINT.format(limit=spec.cam_per_neuron), "CAM entries")
    if efficacy_tolerance is not None:
        for (post, syn), (mean, dev) in efficacy_spread(net).items():
            if dev > efficacy_tolerance:
                effs = sorted({float(p.efficacy) for p in net.projections
                               if p.post == post and p.synapse == syn})
                raise HardwareConstraintError(
                    "one_base_weight_per_type_per_core", f"population {post!r} synapse {syn}",
                    f"efficacies {effs} (relative spread {dev:.3g} around {mean:.3g} A)",
                    f"relative spread {efficacy_tolerance}",
                    "give projections of one synapse type into one population the same efficacy, "
                    "or use another synapse type for one of them")
