"""A recording stand-in for the parts of samna that ``hardware.samna_adapter`` uses.

Real samna cannot be installed here, so the adapter is tested against this double. It
records every call, in order, in :attr:`FakeSamna.calls` and enforces the signatures the
public sources document (see the adapter's module docstring for where each comes from):

- ``samna.device.get_unopened_devices()`` returns :class:`DeviceInfo` entries with
  ``.device_type_name`` and ``.serial_number``; ``open_device(info)`` takes one of them and
  returns the :class:`Dynapse1Model` itself (it has no ``get_model``); ``close_device(model)``
  takes that model, and closing it twice is an error.
- ``Dynapse1Parameter(param_name, coarse_value, fine_value)`` is positional only: keywords are
  refused, as are codes outside coarse 0..7 / fine 0..255.
- ``Dynapse1ParameterGroup()`` already holds all 25 biases (default codes (0, 0) here, a
  placeholder). ``param_map[name] = ...`` and replacing ``param_map`` or a core's
  ``parameter_group`` are refused: that encodes the project's rule of editing
  ``.coarse_value`` / ``.fine_value`` in place, as INI's examples do (one of them notes that
  replacing the entry did "not work"), not an error samna is known to raise.
- ``Dynapse1NeuronSelect.set_neurons`` takes a list of ``(chip, core, neuron)`` tuples and
  refuses ints (global ids belong to the older ``BufferSinkNode`` API).
- ``graph.sequential`` takes ``[model.get_source_node(), "Dynapse1NeuronSelect", sink]``.
- ``model.update_parameter_group(group, chip, core)`` is positional; the group's codes are
  recorded as they are at the call.
- ``FpgaSpikeEvent`` fields are range-checked (core mask 4 bits, target chip 0..3, generator
  id 0..1023, 16-bit ISI); the spike generator records ``set_variable_isi_mode``,
  ``preload_stimulus``, ``set_isi_multiplier``, ``set_repeat_mode``, ``start`` and ``stop``.

When the spike generator starts while the graph runs, the "board" emits
:attr:`Dynapse1Model.board_events`, which reach the sink only through the neuron filter (other
events, such as :class:`TimestampWrapEvent`, pass unfiltered). :attr:`Dynapse1Model.stale_events`
reach the sink when the graph starts (before any stimulus). ``fail_in`` names one method that
raises :class:`BoardError` when called, to test clean-up.
"""

from __future__ import annotations

import copy
import enum
import types
from typing import Any, Iterable

from hardware.dynapse1 import DYNAPSE1_BIAS_NAMES

__all__ = [
    "BoardError",
    "DeviceInfo",
    "Dynapse1SynType",
    "Dynapse1Parameter",
    "Dynapse1ParameterGroup",
    "Dynapse1Configuration",
    "FpgaSpikeEvent",
    "Spike",
    "TimestampWrapEvent",
    "Dynapse1Model",
    "FakeSamna",
]

SELECT = "Dynapse1NeuronSelect"


class BoardError(RuntimeError):
    """Raised by the method named in ``fail_in``."""


def _int(name: str, value: Any, low: int, high: int) -> int:
    """``value`` if it is an int in ``low..high`` (pybind11 refuses floats and strings)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")
    return value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return value


class _Checked:
    """Attributes limited to ``_fields``, each set through its checker."""

    _fields: dict[str, Any] = {}

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._fields:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
        object.__setattr__(self, name, self._fields[name](name, value))


class DeviceInfo:
    """An entry of ``samna.device.get_unopened_devices()``."""

    __slots__ = ("device_type_name", "serial_number")

    def __init__(self, device_type_name: str, serial_number: str) -> None:
        self.device_type_name = device_type_name
        self.serial_number = serial_number

    def __repr__(self) -> str:
        return f"DeviceInfo(device_type_name={self.device_type_name}, serial_number={self.serial_number})"


class Dynapse1SynType(enum.Enum):
    """samna's synapse types (the values are this double's own)."""

    AMPA = "fake-AMPA"
    NMDA = "fake-NMDA"
    GABA_A = "fake-GABA_A"
    GABA_B = "fake-GABA_B"


def _syn_type(name: str, value: Any) -> Dynapse1SynType:
    if not isinstance(value, Dynapse1SynType):
        raise TypeError(f"{name} must be a samna.dynapse1.Dynapse1SynType, got {value!r}")
    return value


class Dynapse1Parameter(_Checked):
    """``Dynapse1Parameter(param_name, coarse_value, fine_value)``, positional only."""

    _fields = {"param_name": lambda n, v: str(v), "coarse_value": lambda n, v: _int(n, v, 0, 7),
               "fine_value": lambda n, v: _int(n, v, 0, 255)}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs or len(args) != 3:
            raise TypeError("Dynapse1Parameter(): incompatible constructor arguments; it takes "
                            "(param_name, coarse_value, fine_value) positionally, got "
                            f"args={args!r} kwargs={kwargs!r}")
        self.param_name, self.coarse_value, self.fine_value = args


class _ParamMap(dict):
    """``param_map``: entries are edited in place, never replaced, added or removed."""

    def __setitem__(self, key: str, value: Any) -> None:
        raise TypeError(f"param_map[{key!r}] = ...: set .coarse_value / .fine_value of the "
                        "existing entry in place instead")

    def __delitem__(self, key: str) -> None:
        raise TypeError("param_map entries cannot be removed")

    def update(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("param_map entries are edited in place, not replaced")

    def pop(self, *args: Any) -> Any:
        raise TypeError("param_map entries cannot be removed")

    def setdefault(self, *args: Any) -> Any:
        raise TypeError("param_map entries cannot be added")

    def __deepcopy__(self, memo: dict) -> "_ParamMap":
        new = _ParamMap()
        for name, p in self.items():
            dict.__setitem__(new, name, copy.deepcopy(p, memo))
        return new


class Dynapse1ParameterGroup:
    """A core's 25 biases; built with all of them, as samna's default group."""

    def __init__(self) -> None:
        pm = _ParamMap()
        for name in DYNAPSE1_BIAS_NAMES:
            dict.__setitem__(pm, name, Dynapse1Parameter(name, 0, 0))
        object.__setattr__(self, "_param_map", pm)

    @property
    def param_map(self) -> _ParamMap:
        return self._param_map

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Dynapse1ParameterGroup.{name} cannot be replaced; edit "
                             "param_map[name].coarse_value / .fine_value in place")

    def codes(self) -> dict[str, tuple[int, int]]:
        """``{name: (coarse, fine)}`` (a test helper, not a samna name)."""
        return {n: (p.coarse_value, p.fine_value) for n, p in self.param_map.items()}


class Dynapse1Synapse(_Checked):
    """A CAM entry; samna's default listens to core 0 neuron 0 as NMDA."""

    _fields = {"listen_core_id": lambda n, v: _int(n, v, 0, 3),
               "listen_neuron_id": lambda n, v: _int(n, v, 0, 255), "syn_type": _syn_type}

    def __init__(self) -> None:
        self.listen_core_id, self.listen_neuron_id, self.syn_type = 0, 0, Dynapse1SynType.NMDA


class Dynapse1Destination(_Checked):
    """An SRAM entry, unused by default."""

    _fields = {"target_chip_id": lambda n, v: _int(n, v, 0, 3), "in_use": _bool,
               "virtual_core_id": lambda n, v: _int(n, v, 0, 3),
               "core_mask": lambda n, v: _int(n, v, 0, 15), "sx": _bool, "sy": _bool,
               "dx": lambda n, v: _int(n, v, 0, 3), "dy": lambda n, v: _int(n, v, 0, 3)}

    def __init__(self) -> None:
        self.target_chip_id, self.in_use, self.virtual_core_id, self.core_mask = 0, False, 0, 0
        self.sx, self.sy, self.dx, self.dy = False, False, 0, 0


class Dynapse1Neuron:
    """64 CAM and 4 SRAM entries, edited attribute by attribute (the tuples refuse slots)."""

    def __init__(self, chip_id: int, core_id: int, neuron_id: int) -> None:
        self.chip_id, self.core_id, self.neuron_id = chip_id, core_id, neuron_id
        self.synapses = tuple(Dynapse1Synapse() for _ in range(64))
        self.destinations = tuple(Dynapse1Destination() for _ in range(4))


class _Neurons:
    """A core's 256 neurons, made when first looked at (4096 per board would be slow)."""

    def __init__(self, chip_id: int, core_id: int) -> None:
        self.chip_id, self.core_id, self.made = chip_id, core_id, {}

    def __len__(self) -> int:
        return 256

    def __getitem__(self, n: int) -> Dynapse1Neuron:
        _int("neuron index", n, 0, 255)
        if n not in self.made:
            self.made[n] = Dynapse1Neuron(self.chip_id, self.core_id, n)
        return self.made[n]


class Dynapse1Core:
    """One core: its neurons and its parameter group (which is edited, not replaced)."""

    def __init__(self, chip_id: int, core_id: int) -> None:
        object.__setattr__(self, "chip_id", chip_id)
        object.__setattr__(self, "core_id", core_id)
        object.__setattr__(self, "neurons", _Neurons(chip_id, core_id))
        object.__setattr__(self, "parameter_group", Dynapse1ParameterGroup())

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Dynapse1Core.{name} cannot be replaced here; edit it in place")


class Dynapse1Chip:
    """One chip: its 4 cores."""

    def __init__(self, chip_id: int) -> None:
        self.chip_id = chip_id
        self.cores = tuple(Dynapse1Core(chip_id, k) for k in range(4))


class Dynapse1Configuration:
    """The board: 4 chips x 4 cores; the constructor takes no arguments."""

    def __init__(self) -> None:
        self.chips = tuple(Dynapse1Chip(c) for c in range(4))


class FpgaSpikeEvent(_Checked):
    """One preloaded input event, built empty and filled field by field."""

    _fields = {"core_mask": lambda n, v: _int(n, v, 0, 15),
               "target_chip": lambda n, v: _int(n, v, 0, 3),
               "neuron_id": lambda n, v: _int(n, v, 0, 1023), "isi": lambda n, v: _int(n, v, 0, 65535)}

    def __init__(self, *args: Any) -> None:
        if args and len(args) != 4:
            raise TypeError("FpgaSpikeEvent(): takes no arguments or (core_mask, neuron_id, "
                            "target_chip, isi)")
        if args:
            self.core_mask, self.neuron_id, self.target_chip, self.isi = args

    def as_dict(self) -> dict[str, int]:
        return {"core_mask": self.core_mask, "target_chip": self.target_chip,
                "neuron_id": self.neuron_id, "isi": self.isi}


class Spike:
    """An output spike: timestamp in microseconds and neuron address."""

    def __init__(self, chip_id: int, core_id: int, neuron_id: int, timestamp: int) -> None:
        self.chip_id, self.core_id, self.neuron_id, self.timestamp = chip_id, core_id, neuron_id, timestamp


class TimestampWrapEvent:
    """The board's other output event: the 32-bit timestamp wrapped."""

    def __init__(self, timestamp: int) -> None:
        self.timestamp = timestamp


class _SourceNode:
    """``model.get_source_node()``: where the board's events enter a graph."""

    def __init__(self, model: "Dynapse1Model") -> None:
        self.model = model


class BasicSinkNode:
    """``samna.BasicSinkNode_dynapse1_dynapse1_event``: buffers events until ``get_events``."""

    def __init__(self, fake: "FakeSamna") -> None:
        self.fake, self.buffer = fake, []

    def get_events(self) -> list[Any]:
        self.fake.record("sink.get_events")
        out, self.buffer = self.buffer, []
        return out


class NeuronSelect:
    """The ``Dynapse1NeuronSelect`` filter node."""

    def __init__(self, fake: "FakeSamna") -> None:
        self.fake, self.neurons = fake, None

    def set_neurons(self, neurons: Any) -> None:
        if not isinstance(neurons, list):
            raise TypeError(f"set_neurons(): takes a list of (chip, core, neuron) tuples, got {neurons!r}")
        for item in neurons:
            if not (isinstance(item, tuple) and len(item) == 3):
                raise TypeError("set_neurons(): incompatible function arguments; each entry must be "
                                f"a (chip, core, neuron) tuple, got {item!r} (global ids are the old "
                                "BufferSinkNode API)")
            for label, value, high in zip(("chip", "core", "neuron"), item, (3, 3, 255)):
                _int(label, value, 0, high)
        self.fake.record("selector.set_neurons", list(neurons))
        self.neurons = set(neurons)

    def passes(self, event: Any) -> bool:
        if not hasattr(event, "neuron_id"):
            return True
        return self.neurons is not None and (event.chip_id, event.core_id, event.neuron_id) in self.neurons


class EventFilterGraph:
    """``samna.graph.EventFilterGraph``: one ``source -> Dynapse1NeuronSelect -> sink`` chain."""

    def __init__(self, fake: "FakeSamna") -> None:
        self.fake, self.chain, self.running = fake, None, False
        fake.record("graph.EventFilterGraph")
        fake.graphs.append(self)

    def sequential(self, nodes: Any) -> list[Any]:
        if not (isinstance(nodes, list) and len(nodes) == 3 and isinstance(nodes[0], _SourceNode)
                and nodes[1] == SELECT and isinstance(nodes[2], BasicSinkNode)):
            raise TypeError("sequential(): expected [model.get_source_node(), "
                            f"'{SELECT}', BasicSinkNode_dynapse1_dynapse1_event()], got {nodes!r}")
        self.fake.record("graph.sequential", [type(nodes[0]).__name__, nodes[1], type(nodes[2]).__name__])
        self.chain = (nodes[0], NeuronSelect(self.fake), nodes[2])
        return list(self.chain)

    def start(self) -> None:
        self.fake.record("graph.start")
        self.running = True
        source, _, sink = self.chain
        sink.buffer.extend(source.model.stale_events)

    def stop(self) -> None:
        self.fake.record("graph.stop")
        self.running = False

    def emit(self, events: Iterable[Any]) -> None:
        if self.running:
            _, selector, sink = self.chain
            sink.buffer.extend(e for e in events if selector.passes(e))


class Dynapse1FpgaSpikeGen:
    """``model.get_fpga_spike_gen()``."""

    def __init__(self, model: "Dynapse1Model") -> None:
        self.model, self.fake = model, model.fake
        self.stimulus: list[dict[str, int]] | None = None

    def _call(self, name: str, *args: Any) -> None:
        self.model.maybe_fail(name)
        self.fake.record(f"spike_gen.{name}", *args)

    def set_variable_isi_mode(self, enabled: Any) -> None:
        self._call("set_variable_isi_mode", _bool("enabled", enabled))

    def preload_stimulus(self, events: Any) -> None:
        if not (isinstance(events, list) and all(isinstance(e, FpgaSpikeEvent) for e in events)):
            raise TypeError("preload_stimulus(): takes a list of samna.dynapse1.FpgaSpikeEvent")
        if len(events) > 2 ** 15 - 1:
            raise ValueError(f"preload_stimulus(): {len(events)} events exceed 2**15 - 1")
        self.stimulus = [e.as_dict() for e in events]
        self._call("preload_stimulus", len(events))

    def set_isi_multiplier(self, multiplier: Any) -> None:
        self._call("set_isi_multiplier", _int("multiplier", multiplier, 1, 2 ** 32 - 1))

    def set_repeat_mode(self, repeat: Any) -> None:
        self._call("set_repeat_mode", _bool("repeat", repeat))

    def start(self) -> None:
        self._call("start")
        for graph in self.fake.graphs:
            graph.emit(self.model.board_events)

    def stop(self) -> None:
        self._call("stop")


class Dynapse1Model:
    """What ``samna.device.open_device`` returns for a DYNAP-SE1 board (no ``get_model``)."""

    def __init__(self, fake: "FakeSamna", info: DeviceInfo) -> None:
        self.fake, self.info = fake, info
        self.applied: Dynapse1Configuration | None = None
        self.parameter_updates: list[tuple[int, int, dict[str, tuple[int, int]], int]] = []
        self.board_events: list[Any] = []
        self.stale_events: list[Any] = []
        self.fail_in: str | None = None
        self.spike_gen = Dynapse1FpgaSpikeGen(self)
        self.source = _SourceNode(self)

    def maybe_fail(self, name: str) -> None:
        if self.fail_in == name:
            raise BoardError(f"board error in {name}")

    def apply_configuration(self, config: Any) -> None:
        self.maybe_fail("apply_configuration")
        if not isinstance(config, Dynapse1Configuration):
            raise TypeError(f"apply_configuration(): expected a Dynapse1Configuration, got {config!r}")
        self.fake.record("model.apply_configuration")
        self.applied = copy.deepcopy(config)

    def get_configuration(self) -> Dynapse1Configuration:
        """A copy of the last applied configuration (samna: "Returns a copy")."""
        self.fake.record("model.get_configuration")
        return copy.deepcopy(self.applied) if self.applied is not None else Dynapse1Configuration()

    def update_parameter_group(self, *args: Any, **kwargs: Any) -> None:
        self.maybe_fail("update_parameter_group")
        if kwargs or len(args) != 3:
            raise TypeError("update_parameter_group(): takes (parameter_group, chip_id, core_id) "
                            f"positionally, got args={args!r} kwargs={kwargs!r}")
        group, chip, core = args
        if not isinstance(group, Dynapse1ParameterGroup):
            raise TypeError(f"update_parameter_group(): expected a Dynapse1ParameterGroup, got {group!r}")
        _int("chip_id", chip, 0, 3)
        _int("core_id", core, 0, 3)
        self.fake.record("model.update_parameter_group", chip, core)
        self.parameter_updates.append((chip, core, group.codes(), id(group)))

    def get_source_node(self) -> _SourceNode:
        self.fake.record("model.get_source_node")
        return self.source

    def get_fpga_spike_gen(self) -> Dynapse1FpgaSpikeGen:
        self.fake.record("model.get_fpga_spike_gen")
        return self.spike_gen


class FakeSamna:
    """The ``samna`` and ``samna.dynapse1`` modules of the double, sharing one call log.

    Parameters
    ----------
    devices : iterable of DeviceInfo
        What ``get_unopened_devices`` lists.
    open_error : Exception, optional
        Raised by ``open_device``.
    returns_devkit : bool
        ``open_device`` returns an object with ``get_model`` (another samna generation's
        device kit) instead of the model.
    board_events, stale_events : iterable
        What the opened board emits when its spike generator starts / when the graph starts
        (see :class:`Dynapse1Model`).
    fail_in : str, optional
        Name of the model or spike-generator method that raises :class:`BoardError`.
    """

    def __init__(self, devices: Iterable[DeviceInfo] = (), open_error: Exception | None = None,
                 returns_devkit: bool = False, board_events: Iterable[Any] = (),
                 stale_events: Iterable[Any] = (), fail_in: str | None = None) -> None:
        self.calls: list[tuple] = []
        self.unopened = list(devices)
        self.open_error = open_error
        self.returns_devkit = returns_devkit
        self.board_events, self.stale_events = list(board_events), list(stale_events)
        self.fail_in = fail_in
        self.models: list[Any] = []
        self.closed: list[Any] = []
        self.graphs: list[EventFilterGraph] = []

        dyn1 = types.ModuleType("samna.dynapse1")
        for cls in (Dynapse1SynType, Dynapse1Parameter, Dynapse1ParameterGroup,
                    Dynapse1Configuration, FpgaSpikeEvent, Spike, TimestampWrapEvent):
            setattr(dyn1, cls.__name__, cls)
        samna = types.ModuleType("samna")
        samna.dynapse1 = dyn1
        samna.device = types.SimpleNamespace(get_unopened_devices=self.get_unopened_devices,
                                             open_device=self.open_device,
                                             close_device=self.close_device)
        samna.graph = types.SimpleNamespace(EventFilterGraph=lambda: EventFilterGraph(self))
        samna.BasicSinkNode_dynapse1_dynapse1_event = lambda: BasicSinkNode(self)
        self.samna, self.dynapse1 = samna, dyn1

    def record(self, name: str, *args: Any) -> None:
        self.calls.append((name,) + args)

    def names(self) -> list[str]:
        """The recorded call names, in order."""
        return [c[0] for c in self.calls]

    @property
    def model(self) -> Dynapse1Model:
        """The one model opened so far."""
        if len(self.models) != 1:
            raise AssertionError(f"{len(self.models)} devices were opened")
        return self.models[0]

    def get_unopened_devices(self) -> list[DeviceInfo]:
        self.record("device.get_unopened_devices")
        return list(self.unopened)

    def open_device(self, info: Any) -> Any:
        self.record("device.open_device", info)
        if not isinstance(info, DeviceInfo) or info not in self.unopened:
            raise TypeError(f"open_device(): {info!r} is not an unopened device info")
        if self.open_error is not None:
            raise self.open_error
        self.unopened.remove(info)
        if self.returns_devkit:
            device: Any = types.SimpleNamespace(get_model=lambda: None, info=info)
        else:
            device = Dynapse1Model(self, info)
            device.board_events, device.stale_events = self.board_events, self.stale_events
            device.fail_in = self.fail_in
        self.models.append(device)
        return device

    def close_device(self, device: Any) -> None:
        self.record("device.close_device")
        if not any(device is m for m in self.models):
            raise TypeError(f"close_device(): {device!r} was not opened")
        if any(device is c for c in self.closed):
            raise RuntimeError("close_device(): device already closed")
        self.closed.append(device)
