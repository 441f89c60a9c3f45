"""Hardware-neutral DYNAP-SE1 configuration: samna's ``Dynapse1Configuration`` tree, one to one.

The classes mirror ``samna.dynapse1`` (samna dynapse1 reference; Rockpool's samna alias
``devices/dynapse/samna_alias/dynapse1.py`` copies the same data segments)::

    Dynapse1Configuration(chips)
      -> Dynapse1Chip(chip_id, cores)
        -> Dynapse1Core(chip_id, core_id, neurons, parameter_group)
          -> Dynapse1Neuron(chip_id, core_id, neuron_id, synapses, destinations)
             synapses:     Dynapse1Synapse(listen_core_id, listen_neuron_id, syn_type)   (CAM)
             destinations: Dynapse1Destination(target_chip_id, in_use, virtual_core_id,
                                               core_mask, sx, sy, dx, dy)                  (SRAM)
          parameter_group: Dynapse1ParameterGroup(param_map[name] ->
                                                  Dynapse1Parameter(param_name, coarse_value, fine_value))

Differences from samna, all to keep the configuration light and exact:

- Sparse: ``chips``, ``cores`` and ``neurons`` are dicts holding only what is in use, so
  ``config.chips[c].cores[k].neurons[n]`` works for every mapped neuron.
- ``synapses`` holds the used CAM entries only (at most 64, in CAM slot order) and
  ``destinations`` the used SRAM entries only (at most 4, all ``in_use``). The samna adapter
  writes them into slots ``0..len-1``; the remaining slots keep samna's defaults (an unused CAM
  entry listens to core 0 neuron 0 as NMDA, which is why that address is never a source; see
  :attr:`hardware.dynapse1.ChipSpec.null_address`).
- A parameter group carries no chip/core id (its core does).

:class:`HardwareConfig` adds what the board needs besides the samna tree: which FPGA spike
generator carries each input feature (:class:`InputChannel`), which neuron holds each
population index (``neuron_map``), the silicon constants each population was mapped with
(``analog_constants``), the readout and encoder of the :class:`~brian_models.description.SpikingNetwork`,
the step duration and the mapping report. JSON round trips are exact: ``from_json(to_json(c))
== c`` and ``to_json(from_json(s)) == s`` for any ``s`` written by :meth:`HardwareConfig.to_json`.

Routing semantics (:func:`sources_reaching`, :func:`resolve_connections`): a spike of a neuron
at ``(chip x, core a, neuron b)`` travels to every core set in the ``core_mask`` of each of
its SRAM destinations on ``target_chip_id``, and an input event of the generator at address
``(a, b)`` to the ``(target chip, core mask)`` pairs of its channel. There every neuron with a
CAM entry ``(listen_core_id=a, listen_neuron_id=b, syn_type)`` receives one synaptic event per
matching entry: a weight ``k`` is ``k`` identical CAM entries, and CAM entries carry no chip
id (two sources with the same ``(a, b)`` reaching one core are indistinguishable).
"""

from __future__ import annotations

import enum
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

from brian_models.checks import read_json_object
from brian_models.description import InputEncoder, Readout
from hardware.dynapse1 import DYNAPSE1, DYNAPSE2, ChipSpec

__all__ = [
    "FORMAT",
    "CHIP_SPECS",
    "ConfigFileError",
    "Dynapse1SynType",
    "Dynapse1Synapse",
    "Dynapse1Destination",
    "Dynapse1Neuron",
    "Dynapse1Parameter",
    "Dynapse1ParameterGroup",
    "Dynapse1Core",
    "Dynapse1Chip",
    "Dynapse1Configuration",
    "InputChannel",
    "HardwareConfig",
    "Source",
    "sources_reaching",
    "resolve_connections",
    "population_weights",
]

#: Format tag written into every saved :class:`HardwareConfig`.
FORMAT = "rnn2dynapse.HardwareConfig/1"

#: A spike source: ``("input", channel)`` or ``("neuron", chip, core, neuron)``.
Source = tuple

#: The chip a configuration names (``HardwareConfig.chip``), for its rules.
CHIP_SPECS: dict[str, ChipSpec] = {spec.name: spec for spec in (DYNAPSE1, DYNAPSE2)}


class ConfigFileError(ValueError):
    """A ``hardware.json`` cannot be read as a configuration; the message names the file."""


def _json_normal(value: Any) -> Any:
    """``value`` as it comes back from JSON (tuples become lists, numpy scalars Python ones)."""
    return json.loads(json.dumps(value, allow_nan=False, default=_json_default))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, enum.Enum):
        return obj.name
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


class Dynapse1SynType(enum.Enum):
    """The four DYNAP-SE1 synapse types; values as in Rockpool's samna alias."""

    GABA_B = 0  #: slow inhibitory (subtractive), old SLOW_INH
    GABA_A = 1  #: fast inhibitory (shunting), old FAST_INH
    NMDA = 2  #: slow excitatory (voltage gated), old SLOW_EXC
    AMPA = 3  #: fast excitatory, old FAST_EXC

    @classmethod
    def parse(cls, value: "Dynapse1SynType | str") -> "Dynapse1SynType":
        """The member named ``value`` (or ``value`` itself)."""
        if isinstance(value, cls):
            return value
        try:
            return cls[str(value)]
        except KeyError:
            raise ValueError(
                f"unknown synapse type {value!r}; choose one of {', '.join(m.name for m in cls)}"
            ) from None


@dataclass(frozen=True)
class Dynapse1Synapse:
    """One CAM entry: listen to ``(listen_core_id, listen_neuron_id)`` with ``syn_type``."""

    listen_core_id: int
    listen_neuron_id: int
    syn_type: Dynapse1SynType

    def __post_init__(self) -> None:
        object.__setattr__(self, "listen_core_id", int(self.listen_core_id))
        object.__setattr__(self, "listen_neuron_id", int(self.listen_neuron_id))
        object.__setattr__(self, "syn_type", Dynapse1SynType.parse(self.syn_type))

    def to_list(self) -> list:
        """Compact JSON form ``[listen_core_id, listen_neuron_id, "AMPA"]``."""
        return [self.listen_core_id, self.listen_neuron_id, self.syn_type.name]

    @classmethod
    def from_list(cls, item: list) -> "Dynapse1Synapse":
        return cls(int(item[0]), int(item[1]), Dynapse1SynType.parse(item[2]))


@dataclass(frozen=True)
class Dynapse1Destination:
    """One SRAM entry: send spikes to the cores in ``core_mask`` of chip ``target_chip_id``.

    ``sx, sy, dx, dy`` are the sign and distance of the chip-to-chip hop (written as INI's
    ``netgen_details.check_and_write_pre_sram`` does, see :func:`hardware.mapper.route_bits`);
    ``virtual_core_id`` is the source core.
    """

    target_chip_id: int
    in_use: bool
    virtual_core_id: int
    core_mask: int
    sx: bool
    sy: bool
    dx: int
    dy: int

    def __post_init__(self) -> None:
        for name in ("target_chip_id", "virtual_core_id", "core_mask", "dx", "dy"):
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("in_use", "sx", "sy"):
            object.__setattr__(self, name, bool(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        return {"target_chip_id": self.target_chip_id, "in_use": self.in_use,
                "virtual_core_id": self.virtual_core_id, "core_mask": self.core_mask,
                "sx": self.sx, "sy": self.sy, "dx": self.dx, "dy": self.dy}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Dynapse1Destination":
        return cls(d["target_chip_id"], d["in_use"], d["virtual_core_id"], d["core_mask"],
                   d["sx"], d["sy"], d["dx"], d["dy"])


@dataclass(frozen=True)
class Dynapse1Neuron:
    """One neuron: its used CAM entries (fan-in) and SRAM entries (fan-out)."""

    chip_id: int
    core_id: int
    neuron_id: int
    synapses: tuple[Dynapse1Synapse, ...] = ()
    destinations: tuple[Dynapse1Destination, ...] = ()

    def __post_init__(self) -> None:
        for name in ("chip_id", "core_id", "neuron_id"):
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "synapses", tuple(self.synapses))
        object.__setattr__(self, "destinations", tuple(self.destinations))

    def to_dict(self) -> dict[str, Any]:
        return {"chip_id": self.chip_id, "core_id": self.core_id, "neuron_id": self.neuron_id,
                "synapses": [s.to_list() for s in self.synapses],
                "destinations": [d.to_dict() for d in self.destinations]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Dynapse1Neuron":
        return cls(d["chip_id"], d["core_id"], d["neuron_id"],
                   tuple(Dynapse1Synapse.from_list(s) for s in d["synapses"]),
                   tuple(Dynapse1Destination.from_dict(x) for x in d["destinations"]))


@dataclass(frozen=True)
class Dynapse1Parameter:
    """One bias: ``current = fine_value / 255 * Imax[coarse_value]`` (see :mod:`hardware.biases`)."""

    param_name: str
    coarse_value: int
    fine_value: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "param_name", str(self.param_name))
        object.__setattr__(self, "coarse_value", int(self.coarse_value))
        object.__setattr__(self, "fine_value", int(self.fine_value))


@dataclass(frozen=True)
class Dynapse1ParameterGroup:
    """The biases of one core, by name (``param_map``)."""

    param_map: dict[str, Dynapse1Parameter]

    def __post_init__(self) -> None:
        pm = dict(self.param_map)
        for name, p in pm.items():
            if p.param_name != name:
                raise ValueError(f"parameter group: entry {name!r} holds parameter {p.param_name!r}")
        object.__setattr__(self, "param_map", pm)

    def get_parameter_by_name(self, param_name: str) -> Dynapse1Parameter:
        """The parameter called ``param_name`` (samna's method of the same name)."""
        try:
            return self.param_map[param_name]
        except KeyError:
            raise KeyError(f"parameter group has no bias {param_name!r}") from None

    def codes(self) -> tuple[tuple[str, int, int], ...]:
        """``(name, coarse, fine)`` of every bias, sorted by name: a hashable identity."""
        return tuple((n, p.coarse_value, p.fine_value) for n, p in sorted(self.param_map.items()))

    def to_dict(self) -> dict[str, list[int]]:
        """``{name: [coarse, fine]}``."""
        return {n: [p.coarse_value, p.fine_value] for n, p in self.param_map.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Dynapse1ParameterGroup":
        return cls({n: Dynapse1Parameter(n, int(v[0]), int(v[1])) for n, v in d.items()})


@dataclass(frozen=True)
class Dynapse1Core:
    """One core: its used neurons (by neuron id) and its shared parameter group."""

    chip_id: int
    core_id: int
    neurons: dict[int, Dynapse1Neuron]
    parameter_group: Dynapse1ParameterGroup

    def __post_init__(self) -> None:
        object.__setattr__(self, "chip_id", int(self.chip_id))
        object.__setattr__(self, "core_id", int(self.core_id))
        object.__setattr__(self, "neurons", {int(k): v for k, v in self.neurons.items()})

    def to_dict(self) -> dict[str, Any]:
        return {"chip_id": self.chip_id, "core_id": self.core_id,
                "parameter_group": self.parameter_group.to_dict(),
                "neurons": [n.to_dict() for _, n in sorted(self.neurons.items())]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Dynapse1Core":
        neurons = [Dynapse1Neuron.from_dict(n) for n in d["neurons"]]
        return cls(d["chip_id"], d["core_id"], {n.neuron_id: n for n in neurons},
                   Dynapse1ParameterGroup.from_dict(d["parameter_group"]))


@dataclass(frozen=True)
class Dynapse1Chip:
    """One chip: its used cores (by core id)."""

    chip_id: int
    cores: dict[int, Dynapse1Core]

    def __post_init__(self) -> None:
        object.__setattr__(self, "chip_id", int(self.chip_id))
        object.__setattr__(self, "cores", {int(k): v for k, v in self.cores.items()})

    def to_dict(self) -> dict[str, Any]:
        return {"chip_id": self.chip_id, "cores": [c.to_dict() for _, c in sorted(self.cores.items())]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Dynapse1Chip":
        cores = [Dynapse1Core.from_dict(c) for c in d["cores"]]
        return cls(d["chip_id"], {c.core_id: c for c in cores})


@dataclass(frozen=True)
class Dynapse1Configuration:
    """The board: its used chips (by chip id)."""

    chips: dict[int, Dynapse1Chip]

    def __post_init__(self) -> None:
        object.__setattr__(self, "chips", {int(k): v for k, v in self.chips.items()})

    def iter_cores(self) -> Iterator[Dynapse1Core]:
        """Every core in use, by chip then core id."""
        for _, chip in sorted(self.chips.items()):
            for _, core in sorted(chip.cores.items()):
                yield core

    def iter_neurons(self) -> Iterator[Dynapse1Neuron]:
        """Every neuron in use, by chip, core, then neuron id."""
        for core in self.iter_cores():
            for _, neuron in sorted(core.neurons.items()):
                yield neuron

    def neuron(self, chip: int, core: int, neuron: int) -> Dynapse1Neuron:
        """The neuron at ``(chip, core, neuron)``; KeyError naming it if not in use."""
        try:
            return self.chips[chip].cores[core].neurons[neuron]
        except KeyError:
            raise KeyError(f"neuron chip {chip} core {core} neuron {neuron} is not in the configuration") from None

    def to_dict(self) -> dict[str, Any]:
        return {"chips": [c.to_dict() for _, c in sorted(self.chips.items())]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Dynapse1Configuration":
        chips = [Dynapse1Chip.from_dict(c) for c in d["chips"]]
        return cls({c.chip_id: c for c in chips})

    def to_json(self) -> str:
        """JSON text of the tree (keys sorted, so equal trees give equal text)."""
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> "Dynapse1Configuration":
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class InputChannel:
    """The FPGA spike generator that carries one input feature.

    Parameters
    ----------
    channel : int
        Input feature index (column of ``x_t``).
    chip_id, core_id, neuron_id : int
        Generator address; generators live on chip 0 (the FPGA's virtual chip), so a CAM
        entry listening to this input holds ``(core_id, neuron_id)``.
    targets : tuple of (int, int)
        ``(target_chip, core_mask)`` pairs: one FPGA event per pair and input spike.
    """

    channel: int
    chip_id: int
    core_id: int
    neuron_id: int
    targets: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        for name in ("channel", "chip_id", "core_id", "neuron_id"):
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "targets", tuple((int(c), int(m)) for c, m in self.targets))

    def fpga_neuron_id(self, spec: ChipSpec = DYNAPSE1) -> int:
        """``FpgaSpikeEvent.neuron_id``: ``core_id * neurons_per_core + neuron_id`` (0..1023)."""
        return self.core_id * spec.neurons_per_core + self.neuron_id

    def to_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "chip_id": self.chip_id, "core_id": self.core_id,
                "neuron_id": self.neuron_id, "targets": [list(t) for t in self.targets]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "InputChannel":
        return cls(d["channel"], d["chip_id"], d["core_id"], d["neuron_id"],
                   tuple(tuple(t) for t in d["targets"]))


@dataclass(frozen=True)
class HardwareConfig:
    """Everything needed to run a mapped network on (or emulate) a DYNAP-SE1 board.

    Parameters
    ----------
    configuration : Dynapse1Configuration
        The samna-like tree (CAM, SRAM, biases).
    input_channels : tuple of InputChannel
        One per input feature, indexed by ``channel``.
    neuron_map : dict of str to tuple of (int, int, int)
        ``neuron_map[population][i] = (chip, core, neuron)``, in the spec's population order
        (kept in the JSON file, which stores it as a list).
    analog_constants : dict of str to dict
        Per population, the parameters the biases do not set (silicon constants such as
        ``C_mem``, ``U_T``, ``kappa``, ``I_0``, ``I_spkthr``, ``I_reset``, the circuit
        capacitances, and parameters the mapping did not recognise), as used by
        :func:`hardware.biases.params_from_biases`.
    readout : Readout
        The host-side readout of the network (:class:`brian_models.description.Readout`).
    encoder : InputEncoder
        How the host turns inputs into FPGA spike trains.
    step_duration : float
        Seconds per sequence element.
    mapping_report : dict
        JSON-compatible report of the mapping (cores and chips used, fan-in/out, bias
        quantisation errors, efficacy approximations, warnings).
    chip : str
        Name of the target (``"DYNAP-SE1"``).
    """

    configuration: Dynapse1Configuration
    input_channels: tuple[InputChannel, ...]
    neuron_map: dict[str, tuple[tuple[int, int, int], ...]]
    analog_constants: dict[str, dict[str, float]]
    readout: Readout
    encoder: InputEncoder
    step_duration: float
    mapping_report: dict[str, Any] = field(default_factory=dict)
    chip: str = DYNAPSE1.name

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_channels", tuple(self.input_channels))
        object.__setattr__(self, "neuron_map", {
            str(p): tuple((int(a), int(b), int(c)) for a, b, c in addrs)
            for p, addrs in self.neuron_map.items()
        })
        object.__setattr__(self, "analog_constants", {
            str(p): {str(k): float(v) for k, v in d.items()} for p, d in self.analog_constants.items()
        })
        if not isinstance(self.readout, Readout) or not isinstance(self.encoder, InputEncoder):
            raise ValueError("hardware config: readout and encoder must be a Readout and an InputEncoder")
        object.__setattr__(self, "mapping_report", _json_normal(dict(self.mapping_report)))
        step = float(self.step_duration)
        if not (math.isfinite(step) and step > 0):
            raise ValueError(f"hardware config: step_duration must be positive, got {self.step_duration}")
        object.__setattr__(self, "step_duration", step)
        for i, ch in enumerate(self.input_channels):
            if ch.channel != i:
                raise ValueError(f"hardware config: input channel at position {i} says channel {ch.channel}")

    # -- lookups ------------------------------------------------------------------------
    def address_map(self) -> dict[tuple[int, int, int], tuple[str, int]]:
        """Inverse of ``neuron_map``: ``(chip, core, neuron) -> (population, index)``."""
        return {addr: (pop, i) for pop, addrs in self.neuron_map.items() for i, addr in enumerate(addrs)}

    def population_cores(self, population: str) -> tuple[tuple[int, int], ...]:
        """The ``(chip, core)`` pairs holding neurons of ``population``, in order of use."""
        seen: dict[tuple[int, int], None] = {}
        for chip, core, _ in self.neuron_map[population]:
            seen[(chip, core)] = None
        return tuple(seen)

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "chip": self.chip,
            "configuration": self.configuration.to_dict(),
            "input_channels": [c.to_dict() for c in self.input_channels],
            "neuron_map": [{"population": p, "neurons": [list(a) for a in addrs]}
                           for p, addrs in self.neuron_map.items()],
            "analog_constants": self.analog_constants,
            "readout": self.readout.to_dict(),
            "encoder": self.encoder.to_dict(),
            "step_duration": self.step_duration,
            "mapping_report": self.mapping_report,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "HardwareConfig":
        fmt = d.get("format")
        if fmt != FORMAT:
            raise ValueError(f"not a hardware configuration: format is {fmt!r}, expected {FORMAT!r}")
        return cls(
            configuration=Dynapse1Configuration.from_dict(d["configuration"]),
            input_channels=tuple(InputChannel.from_dict(c) for c in d["input_channels"]),
            neuron_map={e["population"]: tuple(tuple(a) for a in e["neurons"]) for e in d["neuron_map"]},
            analog_constants=d["analog_constants"],
            readout=Readout.from_dict(d["readout"]),
            encoder=InputEncoder.from_dict(d["encoder"]),
            step_duration=d["step_duration"],
            mapping_report=d["mapping_report"],
            chip=d["chip"],
        )

    def to_json(self) -> str:
        """JSON text (keys sorted): equal configurations give identical text."""
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> "HardwareConfig":
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path`` (a directory: ``hardware.json`` in it)."""
        path = Path(path)
        if path.is_dir():
            path = path / "hardware.json"
        path.write_text(self.to_json())
        return path

    @classmethod
    def load(cls, path: str | Path) -> "HardwareConfig":
        """Read a configuration written by :meth:`save` (``path`` may be its directory). To
        also check it against its chip's rules, read it with :func:`hardware.rules.load_config`.

        Raises
        ------
        FileNotFoundError
            No file at ``path``.
        ConfigFileError
            The file is not JSON, not an object or not a configuration (the file named).
        """
        path, data = read_json_object(path, "hardware.json", "hardware configuration", ConfigFileError)
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
            detail = f"missing key {err}" if isinstance(err, KeyError) else " ".join(str(err).split())
            raise ConfigFileError(f"{path} is not a hardware configuration that rnn2dynapse map wrote "
                                  f"({detail[:200]})") from None


# -- routing semantics ------------------------------------------------------------------------
def sources_reaching(config: HardwareConfig, spec: ChipSpec = DYNAPSE1
                     ) -> dict[tuple[int, int], dict[tuple[int, int], list[Source]]]:
    """Which sources' spikes arrive at each core, by source address.

    Returns
    -------
    dict
        ``reach[(chip, core)][(src_core, src_neuron)]`` is the list of sources (see
        :data:`Source`) whose spikes reach core ``core`` of chip ``chip`` carrying that
        address. More than one entry under one address is CAM aliasing.
    """
    reach: dict[tuple[int, int], dict[tuple[int, int], list[Source]]] = {}
    for n in config.configuration.iter_neurons():
        src: Source = ("neuron", n.chip_id, n.core_id, n.neuron_id)
        for d in n.destinations:
            if not d.in_use:
                continue
            for k in spec.cores_of_mask(d.core_mask):
                reach.setdefault((d.target_chip_id, k), {}).setdefault(
                    (n.core_id, n.neuron_id), []).append(src)
    for ch in config.input_channels:
        src = ("input", ch.channel)
        for chip, mask in ch.targets:
            for k in spec.cores_of_mask(mask):
                reach.setdefault((chip, k), {}).setdefault((ch.core_id, ch.neuron_id), []).append(src)
    return reach


def resolve_connections(config: HardwareConfig, spec: ChipSpec = DYNAPSE1
                        ) -> dict[tuple[Source, tuple[int, int, int], str], int]:
    """The synaptic connections the board implements, as the chip sees them.

    Returns
    -------
    dict
        ``{(source, (chip, core, neuron), syn_type_name): n_cam_entries}``: each spike of
        ``source`` causes ``n_cam_entries`` synaptic events of that type in the neuron. With
        CAM aliasing a CAM entry connects to every source reaching its core with its address.
    """
    reach = sources_reaching(config, spec)
    out: dict[tuple[Source, tuple[int, int, int], str], int] = {}
    for n in config.configuration.iter_neurons():
        arriving = reach.get((n.chip_id, n.core_id), {})
        post = (n.chip_id, n.core_id, n.neuron_id)
        counts = Counter((s.listen_core_id, s.listen_neuron_id, s.syn_type.name) for s in n.synapses)
        for (a, b, syn), k in counts.items():
            for src in arriving.get((a, b), ()):
                key = (src, post, syn)
                out[key] = out.get(key, 0) + k
    return out


def population_weights(config: HardwareConfig, spec: ChipSpec = DYNAPSE1
                       ) -> dict[tuple[str, str, str], np.ndarray]:
    """Integer weight matrices by ``(pre population or "input", post population, syn type)``.

    Each matrix has shape ``[n_post, n_pre]`` and counts CAM entries, like
    ``Projection.weights``; projections of one type between the same two populations appear
    summed. Connections to or from neurons outside ``neuron_map`` raise ValueError.
    """
    addr = config.address_map()
    sizes = {p: len(a) for p, a in config.neuron_map.items()}
    n_in = len(config.input_channels)
    out: dict[tuple[str, str, str], np.ndarray] = {}
    for (src, post, syn), k in resolve_connections(config, spec).items():
        if post not in addr:
            raise ValueError(f"neuron chip {post[0]} core {post[1]} neuron {post[2]} has synapses "
                             "but belongs to no population")
        post_pop, j = addr[post]
        if src[0] == "input":
            pre_pop, i, n_pre = "input", src[1], n_in
        else:
            if src[1:] not in addr:
                raise ValueError(f"neuron chip {src[1]} core {src[2]} neuron {src[3]} sends spikes "
                                 "but belongs to no population")
            pre_pop, i = addr[src[1:]]
            n_pre = sizes[pre_pop]
        key = (pre_pop, post_pop, syn)
        if key not in out:
            out[key] = np.zeros((sizes[post_pop], n_pre), dtype=np.int64)
        out[key][j, i] += k
    return out
