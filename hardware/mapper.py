"""Map a :class:`~brian_models.description.SpikingNetwork` onto the DYNAP-SE1 board.

``map_network(net, spec) -> HardwareConfig``, in six steps:

1. **Rules first** (:func:`hardware.rules.check_network`): DPI populations only (LIF/AdEx
   parameters have no honest bias mapping: convert with ``--neuron dpi``), no axonal delays
   (the chip has none, and a network converted with them relies on them), rate-coded input,
   at most 4092 neurons, at most 1023 input channels, at most 64 CAM entries per neuron.
2. **Biases per population** (:func:`hardware.biases.core_biases`): the population's
   DPI parameters plus, per synapse type, one efficacy: the synapse-count-weighted mean of the
   efficacies of the projections of that type into the population (a core has one base
   weight per type). The relative deviation of each projection from the merged, quantised
   efficacy is reported; with ``efficacy_tolerance`` set, a spread above it raises
   ``one_base_weight_per_type_per_core`` instead. ``Population.bias_current`` (one DC per
   neuron) becomes the core's single ``IF_DC_P`` = the population mean (negative means are
   clipped to 0); the deviation is reported.
3. **Cores**: populations whose parameter groups (and silicon constants) are identical form
   one bias class and may share cores; every other pair of populations sits on different
   cores. A class larger than a core spans consecutive cores with the same parameter group.
   Cores are filled chip 0 first (core 0..3), then chip 1, ... to keep traffic on chip; a
   network of independent copies (``simulate --copies``) too large for one chip goes as
   groups of whole copies, one group per chip, so that no connection crosses chips.
   Running out raises ``cores_per_board``.
4. **Addresses**: each neuron gets the lowest free neuron id in its core such that no other
   source reaching any of its target cores carries the same ``(core, neuron)`` address (CAM
   entries hold no chip id, so that would alias); core 0 neuron 0 of every chip is never used
   (unused CAM entries listen to it). Input channels then take FPGA generator addresses
   (chip 0, core 0..3, neuron 0..255, never core 0 neuron 0) under the same condition.
   No valid address raises ``cam_aliasing``.
5. **CAM and SRAM**: a projection weight ``k`` becomes ``k`` identical CAM entries
   ``(source core, source neuron id, synapse type)`` in the post neuron, in projection order
   then presynaptic index; each source neuron gets one SRAM destination per target chip whose
   core mask covers all cores holding its targets (``virtual_core_id`` = its core, hop bits by
   :func:`route_bits`). An input channel targets the same ``(chip, core mask)`` pairs through
   its FPGA events.
6. **Report and final check**: ``mapping_report`` (cores/chips used, fan-in/out, bias
   quantisation errors, efficacy merges, DC approximations, warnings) and :func:`hardware.rules.check_config` on the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from brian_models.synapse_types import SYNAPSES
from brian_models.description import INPUT, SpikingNetwork
from hardware.biases import BiasReport, CoreParameters, core_biases, decode_core
from hardware.config import (
    Dynapse1Chip,
    Dynapse1Configuration,
    Dynapse1Core,
    Dynapse1Destination,
    Dynapse1Neuron,
    Dynapse1ParameterGroup,
    Dynapse1Synapse,
    Dynapse1SynType,
    HardwareConfig,
    InputChannel,
)
from hardware.dynapse1 import DYNAPSE1, ChipSpec
from hardware.errors import HardwareConstraintError
from hardware.rules import check_config, check_network, efficacy_spread

__all__ = ["map_network", "route_bits", "snap_to_chip"]

_Key = tuple  # ("pop", name, index) or ("input", channel)


def route_bits(pre_chip: int, post_chip: int) -> tuple[bool, bool, int, int]:
    """``(sx, sy, dx, dy)`` of an SRAM entry from ``pre_chip`` to ``post_chip`` (2 x 2 chips).

    Written as INI's ``netgen_details.check_and_write_pre_sram`` does: x is bit 0 and y bit 1
    of the chip id, ``sx = dx_signed < 0`` but ``sy = not (dy_signed < 0)``.
    """
    d = (post_chip & 1) - (pre_chip & 1)
    sx, dx = d < 0, abs(d)
    d = ((post_chip & 2) >> 1) - ((pre_chip & 2) >> 1)
    sy, dy = not d < 0, abs(d)
    return sx, sy, dx, dy


@dataclass
class _PopBiases:
    group: Dynapse1ParameterGroup
    report: BiasReport
    dc: dict[str, Any] | None


def _population_biases(net: SpikingNetwork, spec: ChipSpec, warnings: list[str]) -> dict[str, _PopBiases]:
    spread = efficacy_spread(net)
    out = {}
    for pop in net.populations:
        efficacy = {syn: spread[(pop.name, syn)][0] for syn in SYNAPSES if (pop.name, syn) in spread}
        dc = None
        core_dc = None
        if pop.bias_current is not None:
            total = pop.bias_current
            mean = float(np.mean(total))
            dev = float(np.max(np.abs(total - mean)))
            dc = {"mean": mean, "max_abs_deviation": dev,
                  "max_relative_deviation": None if mean == 0 else dev / abs(mean),
                  "clipped_negative": mean < 0}
            if mean < 0:
                warnings.append(f"population {pop.name!r}: mean bias current {mean:.3g} A is "
                                "negative; IF_DC_P can only inject current, so it is set to 0")
            core_dc = max(mean, 0.0)
        group, report = core_biases(CoreParameters(pop.params, efficacy, core_dc), spec)
        if report.unknown:
            warnings.append(f"population {pop.name!r}: parameters {list(report.unknown)} set no "
                            "bias; kept as constants")
        out[pop.name] = _PopBiases(group, report, dc)
    return out


def snap_to_chip(net: SpikingNetwork, spec: ChipSpec = DYNAPSE1) -> tuple[SpikingNetwork, dict[str, Any]]:
    """``net`` with every parameter the chip sets through a bias replaced by the value its
    coarse/fine code decodes to, as :func:`map_network` would program it.

    Each population's DPI parameters, its one efficacy per synapse type (the synapse-weighted
    mean of its incoming projections of that type) and its one DC current (the mean of
    ``bias_current + I_dc``, clipped at 0) take their decoded values, so a Brian2 simulation of
    the result runs the network the board can hold and an emulation of its mapping should
    reproduce it spike for spike. Parameters no bias sets stay as they are.

    Returns
    -------
    net : SpikingNetwork
    report : dict
        Per population ``relative_error`` of every snapped parameter, and the warnings
        (merged efficacies, negative DC clipped) the mapping would give.
    """
    check_network(net, spec)
    warnings: list[str] = []
    biases = _population_biases(net, spec, warnings)
    decoded = {name: decode_core(b.group, b.report.constants, spec) for name, b in biases.items()}
    pops, report = [], {"relative_error": {}, "warnings": warnings}
    for pop in net.populations:
        core = decoded[pop.name]
        bias_current = pop.bias_current
        if bias_current is not None:  # the one DC of the core, as a per-neuron current
            bias_current = np.full(pop.size, core.dc)
        pops.append(replace(pop, params=core.neuron, bias_current=bias_current))
        report["relative_error"][pop.name] = dict(biases[pop.name].report.relative_error)
    projs = []
    for proj in net.projections:
        snapped = proj.efficacy if int(proj.weights.sum()) == 0 else decoded[proj.post].efficacy[proj.synapse]
        projs.append(replace(proj, efficacy=float(snapped)))
    meta = dict(net.metadata, snapped_to=spec.name)
    return replace(net, populations=tuple(pops), projections=tuple(projs), metadata=meta), report


_Placement = tuple[dict[tuple[int, int], list[tuple[str, int]]], dict[tuple[int, int], str]]


def _fill_cores(classes: list[list[tuple[str, int]]], owners: list[str], cores: list[tuple[int, int]],
                spec: ChipSpec) -> _Placement | None:
    """Each class's neurons onto consecutive ``cores`` (a core holds one class); ``None`` when
    they run out."""
    placement: dict[tuple[int, int], list[tuple[str, int]]] = {}
    owner: dict[tuple[int, int], str] = {}
    free = iter(cores)
    for neurons, name in zip(classes, owners):
        while neurons:
            cc = next(free, None)
            if cc is None:
                return None
            cap = spec.neurons_per_core - (1 if spec.null_address is not None and cc[1] == spec.null_address[0] else 0)
            placement[cc], owner[cc] = neurons[:cap], name
            neurons = neurons[cap:]
    return placement, owner


def _copies_per_chip(classes: list[list[tuple[str, int]]], owners: list[str], copies: int,
                     per_chip: list[list[tuple[int, int]]], spec: ChipSpec) -> _Placement | None:
    """Whole copies on each chip, in as few groups as fit (``classes``: each class's
    populations with one copy's size; copy ``c`` of a population is its neurons ``c*size`` to
    ``(c+1)*size - 1``); ``None`` when no split fits."""
    for groups in range(2, min(copies, len(per_chip)) + 1):
        placement: dict[tuple[int, int], list[tuple[str, int]]] = {}
        owner: dict[tuple[int, int], str] = {}
        for chip, chunk in enumerate(np.array_split(np.arange(copies), groups)):
            units = [[(p, c * size + j) for p, size in pops for c in chunk.tolist() for j in range(size)]
                     for pops in classes]
            on_chip = _fill_cores(units, owners, per_chip[chip], spec)
            if on_chip is None:
                break
            placement.update(on_chip[0])
            owner.update(on_chip[1])
        else:
            return placement, owner
    return None


def _allocate_cores(net: SpikingNetwork, biases: dict[str, _PopBiases], spec: ChipSpec) -> _Placement:
    """Neurons of each bias class onto consecutive cores, chip 0 first.

    A network of independent copies (:func:`brian_models.description.replicate`) too large for
    one chip is split into groups of whole copies, one group per chip, so that no connection
    crosses chips (cross-chip sources share the CAM's address space: a full board aliases).
    """
    classes: dict[Any, list[str]] = {}
    for pop in net.populations:
        b = biases[pop.name]
        key = (b.group.codes(), tuple(sorted(b.report.constants.items())))
        classes.setdefault(key, []).append(pop.name)
    sizes = {p.name: p.size for p in net.populations}
    owners = [pops[0] for pops in classes.values()]
    units = [[(p, i) for p in pops for i in range(sizes[p])] for pops in classes.values()]
    per_chip = [[(chip, core) for core in range(spec.cores_per_chip)] for chip in range(spec.n_chips)]
    filled = _fill_cores(units, owners, per_chip[0], spec)
    copies = int(net.metadata.get("copies", 1))
    if filled is None and copies > 1:
        filled = _copies_per_chip([[(p, sizes[p] // copies) for p in pops] for pops in classes.values()],
                                  owners, copies, per_chip, spec)
    if filled is None:
        filled = _fill_cores(units, owners, [cc for chip in per_chip for cc in chip], spec)
    if filled is None:
        unlimited = [divmod(k, spec.cores_per_chip) for k in range(net.n_neurons + spec.cores_per_chip)]
        raise HardwareConstraintError(
            "cores_per_board", "network", len(_fill_cores(units, owners, unlimited, spec)[0]), spec.n_cores,
            "populations with different parameters (or efficacies) cannot share a core; give "
            "small populations identical DPI parameters so that they share cores, or use fewer "
            "populations", "cores")
    return filled


def _targets(net: SpikingNetwork, core_of: dict[tuple[str, int], tuple[int, int]]
             ) -> dict[_Key, set[tuple[int, int]]]:
    """Target cores of every source (population neuron or input channel)."""
    post_cores = {p.name: [core_of[(p.name, i)] for i in range(p.size)] for p in net.populations}
    out: dict[_Key, set[tuple[int, int]]] = {}
    for proj in net.projections:
        cores = post_cores[proj.post]
        post_idx, pre_idx = np.nonzero(proj.weights)
        for j, i in zip(post_idx.tolist(), pre_idx.tolist()):
            key = ("input", i) if proj.pre == INPUT else ("pop", proj.pre, i)
            out.setdefault(key, set()).add(cores[j])
    return out


def _assign_addresses(placement: dict[tuple[int, int], list[tuple[str, int]]],
                      targets: dict[_Key, set[tuple[int, int]]], n_inputs: int, spec: ChipSpec
                      ) -> tuple[dict[tuple[str, int], tuple[int, int, int]], list[tuple[int, int]]]:
    """Neuron ids and generator addresses with no two equal addresses reaching one core."""
    reaching: dict[tuple[int, int], set[tuple[int, int]]] = {}
    null = spec.null_address
    addr: dict[tuple[str, int], tuple[int, int, int]] = {}
    for (chip, core), neurons in placement.items():
        free = [b for b in range(spec.neurons_per_core) if null is None or (core, b) != null]
        for pop, i in neurons:
            tset = targets.get(("pop", pop, i), ())
            for pos, b in enumerate(free):
                if not any((core, b) in reaching.get(t, ()) for t in tset):
                    break
            else:
                raise HardwareConstraintError(
                    "cam_aliasing", f"neuron {i} of population {pop!r} (chip {chip} core {core})",
                    "a neuron id no other source reaching its target cores uses",
                    "unique (core, neuron) addresses per target core",
                    "the board is too full for aliasing-free routing; use fewer neurons or fewer "
                    "cross-chip connections")
            free.pop(pos)
            addr[(pop, i)] = (chip, core, b)
            for t in tset:
                reaching.setdefault(t, set()).add((core, b))
    generators: list[tuple[int, int]] = []
    taken: set[tuple[int, int]] = set()
    for ch in range(n_inputs):
        tset = targets.get(("input", ch), ())
        for gid in range(spec.n_input_generators or 0):
            a = divmod(gid, spec.neurons_per_core)
            if a == null or a in taken or any(a in reaching.get(t, ()) for t in tset):
                continue
            break
        else:
            raise HardwareConstraintError(
                "cam_aliasing", f"input channel {ch}", "a generator address no neuron reaching "
                "its target cores uses", "unique (core, neuron) addresses per target core",
                "use fewer input channels or fewer neurons on the cores the inputs reach")
        taken.add(a)
        generators.append(a)
        for t in tset:
            reaching.setdefault(t, set()).add(a)
    return addr, generators


def _masks(tset: set[tuple[int, int]], spec: ChipSpec) -> list[tuple[int, int]]:
    by_chip: dict[int, set[int]] = {}
    for chip, core in tset:
        by_chip.setdefault(chip, set()).add(core)
    return [(chip, spec.core_mask(cores)) for chip, cores in sorted(by_chip.items())]


def _rel(a: float, b: float) -> float:
    return 0.0 if a == b else abs(a - b) / abs(b) if b != 0 else math.inf


def _efficacy_entries(net: SpikingNetwork, placement: dict[tuple[int, int], list[tuple[str, int]]],
                      groups: dict[tuple[int, int], Dynapse1ParameterGroup],
                      constants: dict[str, dict[str, float]], spec: ChipSpec) -> list[dict[str, Any]]:
    """One entry per (core, population on it, synapse type) with incoming synapses."""
    spread = efficacy_spread(net)
    entries = []
    for (chip, core), neurons in placement.items():
        for pop in sorted({p for p, _ in neurons}):
            decoded = decode_core(groups[(chip, core)], constants[pop], spec)
            for syn in SYNAPSES:
                if (pop, syn) not in spread:
                    continue
                projs = [p for p in net.projections
                         if p.post == pop and p.synapse == syn and int(p.weights.sum()) > 0]
                effs = [float(p.efficacy) for p in projs]
                mean, dev = spread[(pop, syn)]
                got = decoded.efficacy[syn]
                error = max((_rel(got, e) for e in effs if e != 0), default=0.0)
                entries.append({"chip": chip, "core": core, "synapse": syn, "population": pop,
                                "projections": [p.name for p in projs], "requested": effs,
                                "synapses": [int(p.weights.sum()) for p in projs], "mean": mean,
                                "decoded": got, "max_relative_spread": dev,
                                "max_relative_error": error})
    return entries


def map_network(net: SpikingNetwork, spec: ChipSpec = DYNAPSE1, *,
                efficacy_tolerance: float | None = None) -> HardwareConfig:
    """Place, route and bias ``net`` on the board described by ``spec``.

    Parameters
    ----------
    net : SpikingNetwork
        DPI populations, projections with integer weights, rate-coded input.
    spec : ChipSpec
        :data:`hardware.dynapse1.DYNAPSE1` (the only supported target).
    efficacy_tolerance : float, optional
        Largest relative spread of the efficacies of projections of one synapse type into one
        population that may be merged into one base weight; ``None`` (default) merges any
        spread into the synapse-weighted mean and reports it.

    Returns
    -------
    HardwareConfig
        A configuration that passes :func:`hardware.rules.check_config`.

    Raises
    ------
    HardwareConstraintError
        Naming the broken rule when the network does not fit (see the module docstring).
    """
    check_network(net, spec, efficacy_tolerance)
    warnings: list[str] = []
    biases = _population_biases(net, spec, warnings)
    placement, owner = _allocate_cores(net, biases, spec)
    core_of = {n: cc for cc, ns in placement.items() for n in ns}
    targets = _targets(net, core_of)
    uses_input = any(p.pre == INPUT for p in net.projections)
    n_inputs = net.encoder.n_channels if uses_input else 0
    addr, generators = _assign_addresses(placement, targets, n_inputs, spec)

    src_addr: dict[_Key, tuple[int, int]] = {("pop", p, i): (a[1], a[2]) for (p, i), a in addr.items()}
    src_addr.update({("input", ch): g for ch, g in enumerate(generators)})
    cams: dict[tuple[str, int], list[Dynapse1Synapse]] = {}
    for proj in net.projections:
        syn_type = Dynapse1SynType[proj.synapse]
        post_idx, pre_idx = np.nonzero(proj.weights)
        for j, i in zip(post_idx.tolist(), pre_idx.tolist()):
            key = ("input", i) if proj.pre == INPUT else ("pop", proj.pre, i)
            entry = Dynapse1Synapse(*src_addr[key], syn_type)
            cams.setdefault((proj.post, j), []).extend([entry] * int(proj.weights[j, i]))

    groups = {cc: biases[owner[cc]].group for cc in placement}
    chips: dict[int, dict[int, Dynapse1Core]] = {}
    fan_out, n_targets = [], []
    for (chip, core), neurons in placement.items():
        tree_neurons = {}
        for pop, i in neurons:
            _, _, nid = addr[(pop, i)]
            tset = targets.get(("pop", pop, i), set())
            dests = tuple(Dynapse1Destination(tchip, True, core, mask, *route_bits(chip, tchip))
                          for tchip, mask in _masks(tset, spec))
            fan_out.append(len(dests))
            n_targets.append(len(tset))
            tree_neurons[nid] = Dynapse1Neuron(chip, core, nid, tuple(cams.get((pop, i), ())), dests)
        chips.setdefault(chip, {})[core] = Dynapse1Core(chip, core, tree_neurons, groups[(chip, core)])
    configuration = Dynapse1Configuration({c: Dynapse1Chip(c, cores) for c, cores in chips.items()})
    channels = tuple(InputChannel(ch, 0, a, b, tuple(_masks(targets.get(("input", ch), set()), spec)))
                     for ch, (a, b) in enumerate(generators))
    neuron_map = {p.name: tuple(addr[(p.name, i)] for i in range(p.size)) for p in net.populations}
    constants = {p.name: dict(biases[p.name].report.constants) for p in net.populations}

    fan_in = [len(n.synapses) for n in configuration.iter_neurons()]
    report: dict[str, Any] = {
        "chip": spec.name,
        "chips_used": len(chips),
        "cores_used": len(placement),
        "neurons_used": len(addr),
        "input_channels_used": sum(1 for ch in channels if ch.targets),
        "max_fan_in": max(fan_in, default=0),
        "max_fan_out": max(fan_out, default=0),
        "max_target_cores": max(n_targets, default=0),
        "cam_entries": int(sum(fan_in)),
        "cores": [{"chip": chip, "core": core, "n_neurons": len(ns),
                   "populations": sorted({p for p, _ in ns})} for (chip, core), ns in placement.items()],
        "bias_quantisation": {name: b.report.to_dict() for name, b in biases.items()},
        "max_bias_relative_error": max((b.report.max_relative_error for b in biases.values()), default=0.0),
        "efficacies": _efficacy_entries(net, placement, groups, constants, spec),
        "dc": {name: b.dc for name, b in biases.items() if b.dc is not None},
        "efficacy_tolerance": efficacy_tolerance,
        "warnings": warnings,
    }
    config = HardwareConfig(
        configuration=configuration,
        input_channels=channels,
        neuron_map=neuron_map,
        analog_constants=constants,
        readout=net.readout,
        encoder=net.encoder,
        step_duration=net.step_duration,
        mapping_report=report,
        chip=spec.name,
    )
    check_config(config, spec, efficacy_tolerance)
    return config
