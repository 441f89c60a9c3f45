"""The network description: the single hand-off to every simulator, to the mapper and to NIR.

Numpy only: this module imports neither brian2 nor torch, and nothing of the project outside
:mod:`brian_models`'s description layer (:mod:`brian_models.parameters`,
:mod:`brian_models.synapse_types`). A spiking network is described by plain, frozen
dataclasses:

- :class:`Population`: a group of neurons of one model with its typed parameters
  (:class:`~brian_models.parameters.LIFParams`, ``AdExParams``, ``DPIParams``) and an
  optional per-neuron constant input current (the converted ANN bias).
- :class:`Projection`: a connection between two populations (or from the input) with one
  DYNAP-SE synapse type, a non-negative integer weight matrix ``[n_post, n_pre]`` (entry ``k``
  means ``k`` identical synapses, as repeated CAM entries on the chip) and one shared
  efficacy per projection (the per-core base weight of the chip).
- :class:`InputEncoder`: how a sequence element ``x_t`` becomes spikes or current.
- :class:`Readout`: how spike counts become class scores.

File format: :meth:`SpikingNetwork.save` writes ``network.json`` (format
``rnn2dynapse.SpikingNetwork/2``: every population with its complete parameter set);
:meth:`SpikingNetwork.load` reads format 2 and format 1 (populations hold only the
parameters that differ from the model's preset, which the reader fills in). The round trip
is exact.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from brian_models.checks import ParameterError, read_json_object
from brian_models.parameters import NEURON_MODELS, NEURON_PARAMS, NeuronParams
from brian_models.synapse_types import EXCITATORY, SYNAPSE_TYPES

__all__ = [
    "FORMAT",
    "INPUT",
    "Population",
    "Projection",
    "InputEncoder",
    "Readout",
    "READOUT_TRANSFORMS",
    "SpikingNetwork",
    "DescriptionError",
    "TransferFunction",
    "replicate",
    "read_description_file",
]

FORMAT = "rnn2dynapse.SpikingNetwork/2"
_READABLE = ("rnn2dynapse.SpikingNetwork/1", FORMAT)
INPUT = "input"


class DescriptionError(ValueError):
    """A network description is inconsistent (shapes, names, values) or its file unreadable."""


def _array_to_list(a: np.ndarray | None) -> list | None:
    return None if a is None else np.asarray(a).tolist()


def read_description_file(path: str | Path, default_name: str) -> tuple[Path, dict[str, Any]]:
    """The JSON object in ``path`` (or ``path/default_name``), with a clear error naming the file."""
    return read_json_object(path, default_name, "network description", DescriptionError)


@dataclass(frozen=True)
class TransferFunction:
    """Linear fit ``I(h) = I0 + gain * h`` that makes a neuron fire at ``rate_scale * h``.

    ``rms_error`` is the RMS deviation of the measured rates from ``rate_scale * h`` at the
    fitted currents, relative to the top of the fitted range.
    """

    I0: float
    gain: float
    rate_scale: float
    rms_error: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Population:
    """A group of identical neurons.

    Parameters
    ----------
    name : str
        Unique name; ``"input"`` is reserved for the input encoder.
    size : int
        Number of neurons.
    params : LIFParams, AdExParams or DPIParams
        The neuron model and its parameters (SI units).
    bias_current : ndarray of float, shape (size,), optional
        Constant input current per neuron in amperes (the ANN bias, as DC input).
    """

    name: str
    size: int
    params: NeuronParams
    bias_current: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.name == INPUT:
            raise DescriptionError(f"population name {INPUT!r} is reserved for the input encoder")
        if type(self.params) not in NEURON_PARAMS.values():
            raise DescriptionError(
                f"population {self.name!r}: params must be one of "
                f"{', '.join(c.__name__ for c in NEURON_PARAMS.values())}, got {type(self.params).__name__}")
        if int(self.size) <= 0:
            raise DescriptionError(f"population {self.name!r}: size must be positive, got {self.size}")
        if self.bias_current is not None:
            b = np.asarray(self.bias_current, dtype=float)
            if b.shape != (self.size,):
                raise DescriptionError(
                    f"population {self.name!r}: bias_current has shape {b.shape}, needs ({self.size},)")
            if not np.all(np.isfinite(b)):
                raise DescriptionError(f"population {self.name!r}: bias_current holds NaN or inf")
            object.__setattr__(self, "bias_current", b)

    @property
    def neuron(self) -> str:
        """The neuron model's name (``"lif"``, ``"adex"``, ``"dpi"``)."""
        return self.params.model

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": int(self.size),
            "neuron": self.neuron,
            "params": self.params.to_dict(),
            "bias_current": _array_to_list(self.bias_current),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Population":
        """A population from its dict; missing parameters take the model's preset (format 1)."""
        model = d.get("neuron")
        if model not in NEURON_PARAMS:
            raise DescriptionError(f"population {d.get('name')!r}: unknown neuron model {model!r}; "
                                   f"choose one of {', '.join(NEURON_MODELS)}")
        try:
            params = NEURON_PARAMS[model].from_dict(dict(d.get("params") or {}))
        except ParameterError as err:
            raise DescriptionError(f"population {d.get('name')!r}: {err}") from None
        bias = d.get("bias_current")
        return cls(name=d["name"], size=int(d["size"]), params=params,
                   bias_current=None if bias is None else np.asarray(bias, dtype=float))


@dataclass(frozen=True, eq=False)
class Projection:
    """Synapses of one type from ``pre`` to ``post``.

    Parameters
    ----------
    name : str
        Unique name, e.g. ``"rec_exc"``.
    pre, post : str
        Source population (or ``"input"``) and target population.
    synapse : str
        One of :data:`SYNAPSE_TYPES`.
    weights : ndarray of int, shape (n_post, n_pre)
        Non-negative synapse counts; 0 means no synapse.
    efficacy : float
        Shared weight of one synapse in amperes (the peak synaptic current one spike adds).
    delay : float
        Axonal delay in seconds (0 on DYNAP-SE).
    """

    name: str
    pre: str
    post: str
    synapse: str
    weights: np.ndarray
    efficacy: float
    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.synapse not in SYNAPSE_TYPES:
            raise DescriptionError(
                f"projection {self.name!r}: unknown synapse type {self.synapse!r}; "
                f"choose one of {', '.join(SYNAPSE_TYPES)}"
            )
        w = np.asarray(self.weights)
        if w.ndim != 2:
            raise DescriptionError(f"projection {self.name!r}: weights must be 2-D, got shape {w.shape}")
        if w.dtype.kind == "f":
            if not np.all(np.isfinite(w)):
                raise DescriptionError(f"projection {self.name!r}: weights hold NaN or inf")
            if not np.all(w == np.round(w)):
                raise DescriptionError(f"projection {self.name!r}: weights must be integer synapse counts")
        if np.any(w < 0):
            raise DescriptionError(
                f"projection {self.name!r}: weights must be non-negative counts; "
                "put negative weights in an inhibitory projection"
            )
        object.__setattr__(self, "weights", w.astype(np.int64))
        if not (math.isfinite(self.efficacy) and self.efficacy >= 0):
            raise DescriptionError(f"projection {self.name!r}: efficacy must be finite and >= 0, got {self.efficacy}")
        if not (math.isfinite(self.delay) and self.delay >= 0):
            raise DescriptionError(f"projection {self.name!r}: delay must be >= 0, got {self.delay}")

    @property
    def sign(self) -> int:
        """+1 for excitatory synapse types, -1 for inhibitory ones."""
        return 1 if self.synapse in EXCITATORY else -1

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pre": self.pre,
            "post": self.post,
            "synapse": self.synapse,
            "weights": self.weights.tolist(),
            "efficacy": float(self.efficacy),
            "delay": float(self.delay),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Projection":
        return cls(
            name=d["name"],
            pre=d["pre"],
            post=d["post"],
            synapse=d["synapse"],
            weights=np.asarray(d["weights"], dtype=np.int64).reshape(len(d["weights"]), -1),
            efficacy=float(d["efficacy"]),
            delay=float(d.get("delay", 0.0)),
        )


@dataclass(frozen=True)
class InputEncoder:
    """How one sequence element ``x_t`` (features scaled to [0, 1]) drives the network.

    Parameters
    ----------
    kind : {"rate", "current"}
        ``"rate"``: each feature drives one spike generator at ``x * max_rate`` Hz
        (``regular=True`` gives evenly spaced spikes, otherwise Poisson), connected through
        projections with ``pre="input"``. ``"current"``: no input spikes; the input
        projections' efficacies are read as amperes per unit of ``x`` and injected directly.
    n_channels : int
        Number of input features ``F``.
    max_rate : float
        Rate in Hz for ``x = 1`` (rate coding).
    regular : bool
        Regular instead of Poisson spike trains.
    """

    kind: str
    n_channels: int
    max_rate: float = 200.0
    regular: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("rate", "current"):
            raise DescriptionError(f"input encoder kind must be 'rate' or 'current', got {self.kind!r}")
        if self.n_channels <= 0:
            raise DescriptionError(f"input encoder needs a positive number of channels, got {self.n_channels}")
        if not self.max_rate > 0:
            raise DescriptionError(f"input encoder max_rate must be > 0 Hz, got {self.max_rate}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "n_channels": int(self.n_channels),
                "max_rate": float(self.max_rate), "regular": bool(self.regular)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "InputEncoder":
        return cls(**d)


#: The feature transforms a :class:`Readout` applies to its windowed rates.
READOUT_TRANSFORMS = ("linear", "sqrt")


@dataclass(frozen=True, eq=False)
class Readout:
    """Class scores from the spike counts of one population (or several, side by side).

    ``population`` names one population, or a tuple of them whose neurons the weights read in
    that order (:meth:`gather`): an adaptive and a plain population on their own cores, say.

    Per sequence step ``t`` the rate ``r_t = counts_t / (step_duration * rate_scale)`` (in
    units of ANN activation) is optionally low-pass filtered, ``s_t = (1 - leak) s_{t-1} +
    leak r_t`` (``leak = 1``: no filter), and ``scores = weights @ g(mean(s over the last
    window seconds)) + bias``. ``rate_scale`` is the firing rate in Hz that stands for an
    activation of 1. ``transform`` names ``g``: ``"linear"`` (the identity) or ``"sqrt"``
    (square root, which evens out the spread of rates that mismatch scales up and down).
    """

    population: str | tuple[str, ...]
    weights: np.ndarray
    bias: np.ndarray
    rate_scale: float
    window: float
    leak: float = 1.0
    slices: int = 1
    transform: str = "linear"

    def __post_init__(self) -> None:
        if not isinstance(self.population, str):
            object.__setattr__(self, "population", tuple(str(p) for p in self.population))
            if not self.population:
                raise DescriptionError("readout reads no population")
        w = np.asarray(self.weights, dtype=float)
        b = np.asarray(self.bias, dtype=float)
        if w.ndim != 2 or b.shape != (w.shape[0],):
            raise DescriptionError(f"readout weights {w.shape} and bias {b.shape} do not match")
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(b))):
            raise DescriptionError("readout weights or bias hold NaN or inf")
        if not (self.rate_scale > 0 and self.window > 0):
            raise DescriptionError("readout rate_scale and window must be positive")
        if not 0 < self.leak <= 1:
            raise DescriptionError(f"readout leak must lie in (0, 1], got {self.leak}")
        if int(self.slices) != self.slices or self.slices < 1 or w.shape[1] % int(self.slices):
            raise DescriptionError(f"readout slices must be a positive integer dividing the {w.shape[1]} "
                                   f"weight columns, got {self.slices}")
        if self.transform not in READOUT_TRANSFORMS:
            raise DescriptionError(f"readout transform must be one of {READOUT_TRANSFORMS}, got {self.transform!r}")
        object.__setattr__(self, "slices", int(self.slices))
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "bias", b)

    @property
    def populations(self) -> tuple[str, ...]:
        """The populations read, in the order of the weights' columns."""
        return (self.population,) if isinstance(self.population, str) else self.population

    def gather(self, counts: Mapping[str, np.ndarray]) -> np.ndarray:
        """The read populations' counts side by side: ``[N, T, n]`` from ``{population: [N, T, n_p]}``."""
        return np.concatenate([np.asarray(counts[p]) for p in self.populations], axis=2)

    def scores(self, counts: np.ndarray, step_duration: float,
               end_step: int | np.ndarray | None = None) -> np.ndarray:
        """Class scores ``[N, C]`` from spike counts ``[N, T, n]`` (:meth:`gather`) read up to
        ``end_step`` (one for all samples, or ``[N]``: each sample's own)."""
        return self.features(counts, step_duration, end_step) @ self.weights.T + self.bias

    def window_steps(self, step_duration: float) -> int:
        """Sequence steps in the window: a whole number of steps per slice, at least one."""
        per_slice = max(1, int(round(self.window / step_duration / self.slices)))
        return per_slice * self.slices

    def features(self, counts: np.ndarray, step_duration: float,
                 end_step: int | np.ndarray | None = None) -> np.ndarray:
        """What the weights multiply: ``[N, slices n]`` filtered rates over the readout window,
        transformed by ``transform``.

        ``end_step`` ends the window after that many steps: ``None`` after all ``T``, an int
        for every sample, an ``[N]`` array of integers in ``1..T`` per sample (the lengths of
        variable-length sequences): each sample is then read as if its counts stopped there.
        """
        means = self._window_means(np.asarray(counts, dtype=float), step_duration, end_step)
        return np.sqrt(means) if self.transform == "sqrt" else means

    def _window_means(self, counts: np.ndarray, step_duration: float,
                      end_step: int | np.ndarray | None) -> np.ndarray:
        """:meth:`features` before ``transform``."""
        if end_step is not None and np.ndim(end_step) == 1:
            ends = np.asarray(end_step, dtype=np.int64)
            if ends.shape != counts.shape[:1]:
                raise DescriptionError(f"readout needs one end step per sample ({counts.shape[0]}), "
                                       f"got {ends.shape}")
            out = np.zeros((counts.shape[0], self.slices * counts.shape[2]))
            for end in np.unique(ends):
                rows = ends == end
                out[rows] = self._window_means(counts[rows], step_duration, int(end))
            return out
        end = counts.shape[1] if end_step is None else end_step
        rates = counts[:, :end] / (step_duration * self.rate_scale)
        if self.leak < 1:
            state = np.zeros_like(rates[:, 0]) if end else np.zeros(rates.shape[::2])
            filtered = []
            for t in range(end):
                state = (1 - self.leak) * state + self.leak * rates[:, t]
                filtered.append(state)
            rates = np.stack(filtered, 1) if filtered else rates
        n_win = self.window_steps(step_duration)
        if self.slices == 1:
            return rates[:, max(0, end - n_win):end].mean(1)
        parts = np.array_split(np.arange(end - n_win, end), self.slices)  # steps before 0 read as silent
        return np.concatenate([np.where((p >= 0)[None, :, None], rates[:, np.clip(p, 0, None)], 0.0).mean(1)
                               for p in parts], axis=1)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Readout) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        return {"population": self.population if isinstance(self.population, str) else list(self.population),
                "weights": self.weights.tolist(),
                "bias": self.bias.tolist(), "rate_scale": float(self.rate_scale),
                "window": float(self.window), "leak": float(self.leak),
                **({"slices": self.slices} if self.slices > 1 else {}),
                **({"transform": self.transform} if self.transform != "linear" else {})}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Readout":
        return cls(d["population"], np.asarray(d["weights"], float), np.asarray(d["bias"], float),
                   float(d["rate_scale"]), float(d["window"]), float(d.get("leak", 1.0)),
                   int(d.get("slices", 1)), str(d.get("transform", "linear")))


@dataclass(frozen=True, eq=False)
class SpikingNetwork:
    """A complete spiking network: populations, projections, input encoder and readout.

    Parameters
    ----------
    populations : tuple of Population
    projections : tuple of Projection
    encoder : InputEncoder
    readout : Readout
    step_duration : float
        Seconds each sequence element is presented (e.g. 0.02).
    metadata : dict
        Free-form provenance (source checkpoint, calibration figures).
    """

    populations: tuple[Population, ...]
    projections: tuple[Projection, ...]
    encoder: InputEncoder
    readout: Readout
    step_duration: float = 0.02
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "populations", tuple(self.populations))
        object.__setattr__(self, "projections", tuple(self.projections))
        sizes = {p.name: p.size for p in self.populations}
        if len(sizes) != len(self.populations):
            raise DescriptionError("population names must be unique")
        names = [p.name for p in self.projections]
        if len(set(names)) != len(names):
            raise DescriptionError("projection names must be unique")
        sizes_in = dict(sizes, **{INPUT: self.encoder.n_channels})
        for proj in self.projections:
            if proj.pre not in sizes_in:
                raise DescriptionError(f"projection {proj.name!r}: unknown pre population {proj.pre!r}")
            if proj.post not in sizes:
                raise DescriptionError(f"projection {proj.name!r}: unknown post population {proj.post!r}")
            expected = (sizes[proj.post], sizes_in[proj.pre])
            if proj.weights.shape != expected:
                raise DescriptionError(
                    f"projection {proj.name!r}: weights have shape {proj.weights.shape} but "
                    f"{proj.post!r} x {proj.pre!r} needs {expected}"
                )
        unknown = [p for p in self.readout.populations if p not in sizes]
        if unknown:
            raise DescriptionError(f"readout reads unknown population {unknown[0]!r}")
        n_read = sum(sizes[p] for p in self.readout.populations)
        if self.readout.weights.shape[1] != n_read * self.readout.slices:
            sliced = f" read in {self.readout.slices} slices" if self.readout.slices > 1 else ""
            raise DescriptionError(
                f"readout weights have {self.readout.weights.shape[1]} columns but population "
                f"{self.readout.population!r} has {n_read} neurons{sliced}"
            )
        if not self.step_duration > 0:
            raise DescriptionError(f"step_duration must be positive, got {self.step_duration}")

    def population(self, name: str) -> Population:
        """The population called ``name``."""
        for p in self.populations:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def n_neurons(self) -> int:
        return sum(p.size for p in self.populations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "populations": [p.to_dict() for p in self.populations],
            "projections": [p.to_dict() for p in self.projections],
            "encoder": self.encoder.to_dict(),
            "readout": self.readout.to_dict(),
            "step_duration": float(self.step_duration),
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SpikingNetwork":
        """A network from its dict (formats 1 and 2, see the module docstring)."""
        fmt = d.get("format", _READABLE[0])
        if fmt not in _READABLE:
            raise DescriptionError(f"unknown network format {fmt!r}; this version reads {', '.join(_READABLE)}")
        try:
            return cls(
                populations=tuple(Population.from_dict(p) for p in d["populations"]),
                projections=tuple(Projection.from_dict(p) for p in d["projections"]),
                encoder=InputEncoder.from_dict(d["encoder"]),
                readout=Readout.from_dict(d["readout"]),
                step_duration=float(d["step_duration"]),
                metadata=dict(d.get("metadata", {})),
            )
        except (KeyError, TypeError) as err:
            raise DescriptionError(f"network description lacks or mangles the field {err}") from None

    def save(self, path: str | Path) -> Path:
        """Write the description as JSON (``path`` may be a directory: then ``network.json`` in it)."""
        path = Path(path)
        if path.is_dir():
            path = path / "network.json"
        path.write_text(json.dumps(self.to_dict(), allow_nan=False))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "SpikingNetwork":
        """Read a description written by :meth:`save` (this or the previous format)."""
        path, data = read_description_file(path, "network.json")
        try:
            return cls.from_dict(data)
        except DescriptionError as err:
            raise DescriptionError(f"{path}: {err}") from None


def replicate(net: SpikingNetwork, copies: int) -> SpikingNetwork:
    """``copies`` independent copies of ``net`` on their own neurons, averaged by the readout.

    Every population grows to ``copies * size`` neurons (neuron ``c * size + j`` is unit ``j``
    of copy ``c``); a projection between populations becomes block diagonal (each copy
    listens only to itself, so no neuron gains inputs: the CAM fan-in is unchanged), an input
    projection feeds every copy, and the readout takes the mean of the copies' rates. Without
    mismatch or noise every copy fires exactly as ``net``; on a chip each copy draws its own
    device mismatch, and the readout averages those errors (an ensemble of ``copies`` chips'
    worth of neurons, at ``copies`` times the neurons and synaptic events).
    """
    if int(copies) != copies or copies < 1:
        raise DescriptionError(f"copies must be a positive integer, got {copies}")
    copies = int(copies)
    if copies == 1:
        return net
    pops = tuple(replace(p, size=copies * p.size,
                         bias_current=None if p.bias_current is None else np.tile(p.bias_current, copies))
                 for p in net.populations)
    projs = tuple(replace(p, weights=np.tile(p.weights, (copies, 1)) if p.pre == INPUT
                          else np.kron(np.eye(copies, dtype=p.weights.dtype), p.weights))
                  for p in net.projections)
    ro = net.readout  # each population's columns (in each slice) repeated for its copies
    sizes = [net.population(p).size for p in ro.populations]
    blocks = [np.tile(b, (1, copies)) for part in np.split(ro.weights, ro.slices, axis=1)
              for b in np.split(part, np.cumsum(sizes)[:-1], axis=1)]
    readout = replace(ro, weights=np.concatenate(blocks, axis=1) / copies)
    return replace(net, populations=pops, projections=projs, readout=readout,
                   metadata=dict(net.metadata, copies=copies))
