"""Build a Brian2 network from a :class:`~brian_models.description.SpikingNetwork`, for a batch of samples.

Batching: ``B`` samples run as ``B`` copies of the network inside one set of Brian2 groups
(copy ``b`` of population neuron ``k`` is neuron ``b * n + k``; synapses are
block-diagonal), so one ``run()`` evaluates ``B`` samples. Device mismatch is a frozen
property of one chip: every copy gets the *same* mismatch factors.

Input: a 2-D :class:`brian2.TimedArray` ``stim[t, channel]`` with one row per sequence
element. Rate coding drives a generator group with ``x * max_rate`` Hz (regular spikes
from a phase accumulator, or Poisson); current coding drives each neuron's ``I_inp`` with
the input projections' currents, computed from ``x`` and the efficacies.

Devices: ``runtime`` (numpy or cython code generation) builds the objects for each batch;
``cpp_standalone`` builds and compiles once, then re-runs the binary with
``device.run(run_args={stim: ...})`` for every new batch, without recompiling.

Speed (``experiments/bench_simulation.py``): with every model parameter stored per neuron,
the neuron state update took >90 % of a standalone run. Each population's model is therefore
:func:`specialise`-d before it is built (parameters without mismatch become inlined
constants, synaptic currents that no projection feeds are dropped), synapse counts and
efficacies shared by a whole projection are inlined too, and spike counts are binned with
one ``bincount``. On the 128-neuron benchmark this made ``cpp_standalone`` ~4x faster
(the state update alone ~20x); the spike counts stayed bit-identical to the unspecialised
build (checked for LIF, AdEx and DPI with mismatch and NMDA on).
"""

from __future__ import annotations

import math
import re
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from brian2 import (Equations, Hz, Network, NeuronGroup, Quantity, SpikeMonitor, StateMonitor, Synapses,
                    TimedArray, amp, device, second)
from brian2 import seed as brian2_seed

from brian_models.batching import block_indices
from brian_models.brian_device import DEVICES, TARGETS, brian_device
from brian_models.description import INPUT, Population, Projection, SpikingNetwork
from brian_models.initial_state import initial_phase
from brian_models.mismatch import draw_chip
from brian_models.models import make_model
from brian_models.neuron import NeuronModel, build_group
from brian_models.parameters import NoiseParams
from brian_models.synapses import SYNAPSE_MODEL, SYNAPSE_VARIABLE, on_pre

__all__ = ["SimulationSettings", "BatchNetwork", "input_currents", "specialise", "DEVICES"]


@dataclass(frozen=True)
class SimulationSettings:
    """How to simulate a spiking network.

    Parameters
    ----------
    device : {"runtime", "cpp_standalone"}
    target : {"numpy", "cython"}
        Code generation target of the runtime device.
    dt : float or None
        Integration step in seconds; default: the smallest ``recommended_dt`` of the models.
    batch_size : int
        Samples simulated together as copies of the network.
    mismatch : float
        Coefficient of variation of device mismatch (0: none).
    mismatch_seed : int
        Seed of the frozen mismatch draw (one chip).
    noise : float
        Standard deviation of the membrane noise current in amperes (0: none).
    noise_tau : float
        Correlation time of the Ornstein-Uhlenbeck noise in seconds.
    seed : int
        Seed of Brian2's random numbers (Poisson input, noise) and of the initial phases.
        The runtime device reseeds Brian2 for every batch from ``(seed, batch index)``;
        ``cpp_standalone`` compiles the seed in, so every batch replays the same random
        stream (copy ``b`` of each batch sees the same draws).
    random_phase : bool
        Start each neuron at a random point of its firing cycle (between reset and
        threshold) instead of at rest, so that spike counts in a window are unbiased
        estimates of rate x window (the same draw for every batch copy).
    build_dir : str or None
        Where standalone code and Brian2's files go (default: a new temporary folder).
    """

    device: str = "runtime"
    target: str = "numpy"
    dt: float | None = None
    batch_size: int = 64
    mismatch: float = 0.0
    mismatch_seed: int = 0
    noise: float = 0.0
    noise_tau: float = 5e-3
    seed: int = 0
    random_phase: bool = True
    build_dir: str | None = None

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")
        if self.target not in TARGETS:
            raise ValueError(f"unknown code generation target {self.target!r}; choose one of {', '.join(TARGETS)}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if not (0 <= self.mismatch < 1):
            raise ValueError(f"mismatch CV must lie in [0, 1), got {self.mismatch}")
        if not self.noise >= 0 or not self.noise_tau > 0:
            raise ValueError(f"noise must be >= 0 A and noise_tau > 0 s, got {self.noise}, {self.noise_tau}")
        if self.dt is not None and not (self.dt > 0 and math.isfinite(self.dt)):
            raise ValueError(f"dt must be positive and finite, got {self.dt}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def input_currents(net: SpikingNetwork, X: np.ndarray) -> dict[str, np.ndarray]:
    """Current-coded input: ``{population: I [N, T, n] in amperes}`` from ``X [N, T, F]``."""
    out: dict[str, np.ndarray] = {}
    for proj in net.projections:
        if proj.pre != INPUT:
            continue
        contrib = proj.sign * proj.efficacy * np.einsum("ntf,kf->ntk", X, proj.weights)
        out[proj.post] = out.get(proj.post, 0.0) + contrib
    return out


def _check_input(net: SpikingNetwork, X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 3 or X.shape[2] != net.encoder.n_channels:
        raise ValueError(f"spiking input must have shape (N, T, {net.encoder.n_channels}), got {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"spiking input needs at least one sample and one step, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("spiking input holds NaN or inf")
    if X.min() < 0 or X.max() > 1 + 1e-6:
        raise ValueError(f"spiking input must be scaled to [0, 1], got [{X.min():.3g}, {X.max():.3g}]")
    return X


def _defined_name(line: str) -> str:
    """The variable an equation line defines: ``x`` in ``dx/dt = ...``, ``x = ...``, ``x : unit``
    (``""`` for anything else, e.g. a comment: such lines are kept)."""
    match = re.match(r"\s*(?:d(\w+)/dt|(\w+))\s*[=:]", line)
    return "" if match is None else match.group(1) or match.group(2)


def specialise(model: NeuronModel, per_neuron_keys: Iterable[str], used_synapses: Iterable[str],
               zero_inputs: Iterable[str] = ()) -> tuple[NeuronModel, dict[str, Any]]:
    """The same dynamics with less work per neuron and time step.

    Brian2 loads every per-neuron parameter from memory on every step and evaluates every
    equation, also for synaptic currents that never receive a spike; on a batch of
    ``10^5`` neurons this dominates the run time. The returned model differs only in how
    it is computed:

    - a parameter not in ``per_neuron_keys`` (the same for every neuron, e.g. not touched
      by mismatch) becomes a constant in the group's namespace, which Brian2 inlines and
      lifts out of the loop (``dt/tau`` is computed once per step, not per neuron);
    - the synaptic current of a type not in ``used_synapses`` stays 0 for ever: its
      equation is dropped and its name becomes the constant ``0 A``; if NMDA is unused the
      NMDA gate ``g_nmda`` (a ``tanh`` per neuron and step) is dropped too, provided it only
      appears as ``g_nmda*I_nmda`` in ``I_in``;
    - the input currents named in ``zero_inputs`` (``I_ext``, ``I_inp``) become ``0 A``.

    Parameters
    ----------
    model : NeuronModel
    per_neuron_keys : iterable of str
        Parameters that differ between neurons (those with mismatch factors).
    used_synapses : iterable of str
        Synapse types (``"AMPA"``...) that some projection delivers to the population.
    zero_inputs : iterable of str
        Input currents that are 0 for every neuron during the whole run.

    Returns
    -------
    model : NeuronModel
        The reduced model (its ``per_neuron`` and ``initial`` hold only what is left).
    namespace : dict
        Constants for :func:`~brian_models.neuron.build_group`'s ``namespace``.
    """
    eqs = Equations(model.equations)
    keep = set(per_neuron_keys)
    used = set(used_synapses)
    namespace: dict[str, Any] = {k: v for k, v in model.per_neuron.items() if k not in keep}
    drop = set(namespace)
    for syn, var in SYNAPSE_VARIABLE.items():
        if syn not in used and var in eqs:
            drop.add(var)
            namespace[var] = 0 * amp
    if "NMDA" not in used and "g_nmda" in eqs:
        readers = [eq for eq in eqs.values() if eq.expr is not None and "g_nmda" in eq.identifiers]
        code = "" if len(readers) != 1 else str(readers[0].expr.code).replace(" ", "")
        if readers and readers[0].varname == "I_in" and ("g_nmda*I_nmda" in code or "I_nmda*g_nmda" in code):
            drop.add("g_nmda")
            namespace["g_nmda"] = 0.0
    for var in zero_inputs:
        if var in eqs:
            drop.add(var)
            namespace[var] = 0 * amp
    reduced = NeuronModel(
        name=model.name,
        equations="".join(line + "\n" for line in model.equations.splitlines()
                          if line.strip() and _defined_name(line) not in drop),
        threshold=model.threshold,
        reset=model.reset,
        refractory=model.refractory,
        method=model.method,
        per_neuron={k: v for k, v in model.per_neuron.items() if k not in drop},
        initial={k: v for k, v in model.initial.items() if k not in drop},
        mismatch_keys=tuple(k for k in model.mismatch_keys if k not in drop),
        recommended_dt=model.recommended_dt,
    )
    return reduced, namespace


class BatchNetwork:
    """Brian2 objects for ``batch_size`` copies of a spiking network.

    Use :meth:`run` to simulate one batch ``X [B', T, F]`` (``B' <= batch_size``) and get
    spike counts per population, time window and neuron. Create one per network and
    settings; call :meth:`close` (or use it as a context manager) to release a standalone
    device.
    """

    def __init__(self, net: SpikingNetwork, n_steps: int, settings: SimulationSettings = SimulationSettings()):
        self.net = net
        self.settings = settings
        self.n_steps = int(n_steps)
        self.B = settings.batch_size
        self.models = {}
        noise = NoiseParams(sigma=settings.noise, tau_noise=settings.noise_tau) if settings.noise > 0 else None
        for pop in net.populations:
            self.models[pop.name] = make_model(pop.params, noise=noise)
        self.dt = settings.dt or min(m.recommended_dt for m in self.models.values())
        steps_per_window = net.step_duration / self.dt
        if abs(steps_per_window - round(steps_per_window)) > 1e-6:
            raise ValueError(f"step_duration {net.step_duration} s is not a multiple of dt {self.dt} s")
        self._window_steps = int(round(steps_per_window))
        chip = draw_chip(net, settings.mismatch, settings.mismatch_seed)  # one frozen chip
        self._neuron_factors = {p.name: chip.neuron.get(p.name, {}) for p in net.populations}
        self._synapse_factors = {p.name: chip.synapse.get(p.name) for p in net.projections}
        self.build_dir = Path(settings.build_dir or tempfile.mkdtemp(prefix="rnn2dynapse_brian_"))
        self.build_dir.mkdir(parents=True, exist_ok=True)
        self.compile_seconds = 0.0
        self._standalone = settings.device == "cpp_standalone"
        self._compiled = False
        self._batches = 0
        self.traces: dict[str, dict[str, np.ndarray]] = {}
        self._brian = ExitStack()
        self._brian.enter_context(brian_device(settings.device, settings.target,
                                               str(self.build_dir / "standalone")))

    def _used_synapses(self, pop_name: str) -> set[str]:
        """Synapse types that some simulated projection delivers to population ``pop_name``."""
        current = self.net.encoder.kind == "current"
        return {p.synapse for p in self.net.projections
                if p.post == pop_name and not (current and p.pre == INPUT)}

    # -- building -------------------------------------------------------------------------
    def _stim_values(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """TimedArray values ``[T, B * channels]`` (padded to the batch size) per stimulus."""
        B, n_steps = self.B, self.n_steps
        pad = np.zeros((B - len(X),) + X.shape[1:])
        X = np.concatenate([X, pad]) if len(pad) else X
        if self.net.encoder.kind == "rate":
            rates = X * self.net.encoder.max_rate  # Hz
            return {"input": rates.transpose(1, 0, 2).reshape(n_steps, -1)}
        return {pop: I.transpose(1, 0, 2).reshape(n_steps, -1)
                for pop, I in input_currents(self.net, X).items()}

    def _build(self, stim: dict[str, np.ndarray]) -> None:
        net, B = self.net, self.B
        step = self.net.step_duration * second
        objects: list[Any] = []
        self.groups: dict[str, Any] = {}
        self.stims: dict[str, TimedArray] = {}
        for pop in net.populations:
            own = self._neuron_factors[pop.name]
            zero = [name for name, unused in (("I_ext", pop.bias_current is None),
                                              ("I_inp", pop.name not in stim)) if unused]
            model, constants = specialise(self.models[pop.name], own, self._used_synapses(pop.name), zero)
            factors = {k: np.tile(f, B) for k, f in own.items()}
            group = build_group(model, pop.size * B, dt=self.dt * second,
                                factors={k: f for k, f in factors.items() if k in model.per_neuron},
                                name=f"pop_{pop.name}", namespace=constants)
            if pop.bias_current is not None:
                group.I_ext = np.tile(pop.bias_current, B) * amp
            if self.settings.random_phase:
                self._randomize_phase(group, pop)
            self.groups[pop.name] = group
            objects.append(group)
        if net.encoder.kind == "rate":
            ta = TimedArray(stim["input"] * Hz, dt=step, name="stim_input")
            self.stims["input"] = ta
            if net.encoder.regular:
                gen = NeuronGroup(net.encoder.n_channels * B,
                                  "dphase/dt = stim_input(t, i) : 1", threshold="phase >= 1",
                                  reset="phase -= 1", method="euler", dt=self.dt * second,
                                  name="input_generator")
                gen.phase = 0.5  # first spike after half an inter-spike interval
            else:
                gen = NeuronGroup(net.encoder.n_channels * B, "", threshold="rand() < stim_input(t, i)*dt",
                                  dt=self.dt * second, name="input_generator")
            self.groups[INPUT] = gen
            objects.append(gen)
        else:
            for pop_name, values in stim.items():
                ta = TimedArray(values * amp, dt=step, name=f"stim_{pop_name}")
                self.stims[pop_name] = ta
                group = self.groups[pop_name]
                objects.append(group.run_regularly(f"I_inp = stim_{pop_name}(t, i)", dt=step,
                                                   when="start", name=f"drive_{pop_name}"))
        for proj in net.projections:
            if proj.pre == INPUT and net.encoder.kind == "current":
                continue  # folded into I_inp
            if not np.any(proj.weights):
                continue  # an all-zero matrix makes no synapses
            objects.append(self._synapses(proj))
        self.monitors = {pop.name: SpikeMonitor(self.groups[pop.name], name=f"spikes_{pop.name}")
                         for pop in net.populations}
        objects.extend(self.monitors.values())
        self.network = Network(*objects)

    def _randomize_phase(self, group: NeuronGroup, pop: Population) -> None:
        """Start each neuron at a uniform point between reset and threshold (same for every copy).

        The draw is :func:`brian_models.initial_state.initial_phase` (with the neurons'
        mismatch factors), computed here, not read back from the group (which standalone
        mode cannot do before a run).
        """
        var, value = initial_phase(pop, self.settings.seed, self._neuron_factors[pop.name])
        setattr(group, var, Quantity(np.tile(value, self.B), dim=group.variables[var].dim))

    def _synapses(self, proj: Projection) -> Synapses:
        """Block-diagonal synapses of ``proj`` for the ``B`` copies.

        A synapse count or efficacy shared by every synapse (ternary weights, no mismatch)
        becomes a constant that Brian2 inlines: one memory load less per synaptic event.
        """
        n_pre = self.net.encoder.n_channels if proj.pre == INPUT else self.net.population(proj.pre).size
        n_post = self.net.population(proj.post).size
        post_idx, pre_idx = np.nonzero(proj.weights)
        factors = self._synapse_factors[proj.name]
        values = {"w_syn": (proj.weights[post_idx, pre_idx].astype(float), 1.0),
                  "e_syn": (proj.efficacy * (np.ones(len(pre_idx)) if factors is None else factors), amp)}
        shared = {k: v[0] * unit for k, (v, unit) in values.items() if len(v) and np.all(v == v[0])}
        model = "".join(line + "\n" for line in SYNAPSE_MODEL.splitlines()
                        if line.strip() and _defined_name(line) not in shared)
        syn = Synapses(self.groups[proj.pre], self.groups[proj.post], model=model,
                       on_pre=on_pre(proj.synapse), dt=self.dt * second, name=f"syn_{proj.name}",
                       namespace=shared)
        i, j = block_indices(pre_idx, post_idx, self.B, n_pre, n_post)
        syn.connect(i=i, j=j)
        for key, (v, unit) in values.items():
            if len(v) and key not in shared:
                setattr(syn, key, np.tile(v, self.B) * unit)
        if proj.delay:
            syn.delay = proj.delay * second
        return syn

    # -- running --------------------------------------------------------------------------
    def run(self, X: np.ndarray, trace: int = 0) -> dict[str, np.ndarray]:
        """Simulate one batch; return spike counts ``{population: [B', T, n] int}``.

        ``trace > 0`` (runtime device only) also records, for the first copy, the state
        phase variable (membrane voltage or current, :mod:`brian_models.parameters`) of the first
        ``trace`` neurons of each population and every spike, into :attr:`traces`:
        ``{population: {"t": [K], "value": [trace, K], "spike_i": [S], "spike_t": [S]}}``.
        """
        X = _check_input(self.net, X)
        if trace and self._standalone:
            raise ValueError("state traces need the runtime device; use device='runtime'")
        if len(X) > self.B or X.shape[1] != self.n_steps:
            raise ValueError(f"batch of shape {X.shape} does not fit batch size {self.B} "
                             f"and {self.n_steps} steps")
        stim = self._stim_values(X)
        duration = self.n_steps * self.net.step_duration * second
        if not self._standalone:
            self._build(stim)
            states = {}
            for pop in self.net.populations if trace else ():
                var = type(pop.params).phase.name
                states[pop.name] = StateMonitor(self.groups[pop.name], var, record=range(min(trace, pop.size)),
                                                name=f"trace_{pop.name}")
                self.network.add(states[pop.name])
            # a new stream per batch, reproducible from the settings' seed
            brian2_seed(int(np.random.SeedSequence([self.settings.seed, self._batches]).generate_state(1)[0]))
            self.network.run(duration, namespace=self._namespace())
            self.traces = {}
            for name, mon in states.items():
                var = type(self.net.population(name).params).phase.name
                spikes = self.monitors[name]
                first = np.asarray(spikes.i_[:]) < self.net.population(name).size  # copy 0
                self.traces[name] = {"t": np.asarray(mon.t_[:]), "value": np.asarray(getattr(mon, var + "_")[:]),
                                     "spike_i": np.asarray(spikes.i_[:])[first],
                                     "spike_t": np.asarray(spikes.t_[:])[first]}
        else:
            if not self._compiled:
                self._build(stim)
                brian2_seed(self.settings.seed)  # compiled in: every re-run replays this stream
                self.network.run(duration, namespace=self._namespace())
                t0 = time.perf_counter()
                device.build(run=False, directory=str(self.build_dir / "standalone"))
                self.compile_seconds = time.perf_counter() - t0
                self._compiled = True
            unit = Hz if self.net.encoder.kind == "rate" else amp
            device.run(run_args={self.stims[k]: v * unit for k, v in stim.items()})
        self._batches += 1
        return {name: self._counts(mon, self.net.population(name).size)[:len(X)]
                for name, mon in self.monitors.items()}

    def _namespace(self) -> dict[str, TimedArray]:
        return {f"stim_{name}": ta for name, ta in self.stims.items()}

    def _counts(self, mon: SpikeMonitor, n: int) -> np.ndarray:
        """Spikes per copy, window and neuron ``[B, T, n]`` from a monitor's ``i`` and ``t``."""
        idx = np.asarray(mon.i_[:], dtype=np.int64)
        steps = np.round(np.asarray(mon.t_[:], dtype=float) / self.dt).astype(np.int64)
        window = np.minimum(steps // self._window_steps, self.n_steps - 1)
        flat = ((idx // n) * self.n_steps + window) * n + idx % n  # bincount: ~10x np.add.at
        size = self.B * self.n_steps * n
        return np.bincount(flat, minlength=size).astype(np.int32).reshape(self.B, self.n_steps, n)

    def close(self) -> None:
        """Give Brian2 back the device the caller had (and release a standalone build)."""
        self._brian.close()

    def __enter__(self) -> "BatchNetwork":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
