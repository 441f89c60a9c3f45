"""A batched torch simulator of any :class:`~brian_models.description.SpikingNetwork`, step for step as Brian2.

:func:`simulate_torch` runs a network description on LIF, AdEx or DPI neurons
(:mod:`transfer.chip_dynamics`) and returns the same
:class:`~brian_models.simulate.SimulationResult` as Brian2's
:func:`~brian_models.simulate.simulate`. It reads the frozen mismatch factors from
:func:`brian_models.mismatch.draw_chip`, the initial phases from
:func:`brian_models.initial_state.initial_phase` and scores with the description's
:class:`~brian_models.description.Readout`, so on the same input, ``dt`` and chip it
reproduces Brian2's spikes (float64; the tests measure how closely). The same code, with
tensors that carry gradients, is the forward pass of :class:`transfer.chip_network.ChipNetwork`.

One time step ``k`` (``t = k dt``) in the order of Brian2's schedule (``start``, ``groups``,
``thresholds``, ``synapses``, ``resets``), as :class:`brian_models.network.BatchNetwork` builds it:

1. ``start``: at the first step of sequence element ``m`` (``k = m S``, ``S =
   step_duration / dt``) the current input ``I_inp`` takes element ``m``'s value (the
   ``run_regularly`` of current coding; Brian2's ``TimedArray`` index ``int(round(t/eps)/K)``
   is ``k // S`` for any ``dt`` that divides the element);
2. ``groups``: every state variable makes one Euler step from the old values: the regular
   input generator's phase ``phase += dt * x * max_rate`` (starting at 0.5), the synaptic
   currents ``I -= (dt / tau) I``, the membrane only where ``not_refractory = (k - k_last)
   >= int((t_ref + 1e-3 dt) / dt)`` (Brian2's ``timestep``; ``k_last`` is the step of the
   last spike; the ``(unless refractory)`` variable is held, the others move on);
3. ``thresholds``: the input generator spikes where ``phase >= 1`` (Poisson: ``rand() <
   rate dt``), a neuron where its membrane variable exceeds its threshold and it is not
   refractory (then ``k_last = k``);
4. ``synapses``: each projection, in the order of Brian2's object names
   (``syn_<name>_pre``), adds ``count * efficacy * factor`` of every presynaptic spike of
   step ``k - D`` to its synaptic current (``D = round(delay / dt)``: a ring of the last
   ``D + 1`` spike vectors), so a spike shows in the state from step ``k + 1`` on;
5. ``resets``: ``phase -= 1``; the neuron's reset.

Without autograd (simulation) on the CPU the synaptic events of a step are added one by one
in ascending presynaptic index (``index_add``), the order of Brian2's ``numpy.add.at``; with
autograd (training) or on a GPU as a matrix product, whose sums may round differently. What can still
differ by rounding (~1e-16 relative): ``tanh``/``exp``, which numpy and torch compute with
different libraries, and sympy's reordering of the membrane equation when parameters carry
mismatch. Measured in float64 (``tests/transfer/test_chip_model.py``): every spike at the
same step as Brian2's, for LIF, AdEx and DPI with all four synapse types, AHP, mismatch,
spike and current input and delays; also all 719,769 spikes of 128 samples of the
128-neuron recurrent DPI network of ``experiments/bench_rockpool.py`` with mismatch 0.2.
Noise (an Ornstein-Uhlenbeck current, :mod:`brian_models.noise`) and Poisson input come from
torch's own generator: they follow the same distributions but cannot repeat Brian2's random
stream, so those runs agree only in statistics.

Compiled (``compiled=True``, the ``torch-fast`` backend; float32, faithful rather than
bit-equal): each population's step is one graph under ``torch.compile`` that also adds the
last step's synaptic increments (each sample's events summed first, one bag of presynaptic
rows per sample) and the window's counts; only the search for the step's events
(``nonzero``) and their bags run outside it. Measured on the 128-neuron network of
``experiments/bench_rockpool.py`` (batch 1024, one thread): 4.6 ns per neuron and step, 2.3
times faster than the per-population graph with the additions outside and the threshold
condition returned as a bool tensor.
"""

from __future__ import annotations

import functools
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F_nn
from torch import Tensor
from tqdm.auto import tqdm

from brian_models.description import INPUT, InputEncoder, SpikingNetwork
from brian_models.initial_state import initial_phase
from brian_models.mismatch import ChipDraw, draw_chip
from brian_models.network import SimulationSettings
from brian_models.simulate import SimulationResult, cut_at_lengths, decision_latency, readout_scores
from brian_models.synapse_types import SYNAPSES
from transfer.chip_dynamics import DYNAMICS, spike
from transfer.processes import map_in_processes

__all__ = ["TorchPopulation", "TorchProjection", "TorchNetwork", "RunOutput", "default_device",
           "network_dt", "build_network", "run_network", "simulate_torch"]

#: The step from which a neuron that never spiked integrates (Brian2's ``lastspike`` is -1e4 s).
_NEVER = -(2 ** 30)


def default_device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def network_dt(net: SpikingNetwork, dt: float | None = None) -> tuple[float, int]:
    """The integration step (default: the smallest ``recommended_dt``) and steps per element."""
    dt = float(dt) if dt is not None else min(type(p.params).recommended_dt for p in net.populations)
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be positive and finite, got {dt}")
    steps = net.step_duration / dt
    if abs(steps - round(steps)) > 1e-6 or round(steps) < 1:
        raise ValueError(f"step_duration {net.step_duration} s is not a multiple of dt {dt} s")
    return dt, int(round(steps))


@dataclass
class TorchPopulation:
    """A population as tensors: per-neuron constants ``[n]`` in the run's dtype.

    Attributes
    ----------
    name, model : str
    size : int
    consts : dict of str to Tensor
        The model's derived constants (:data:`transfer.chip_dynamics.DYNAMICS` ``derive``).
    decay : dict of str to Tensor
        ``dt / tau`` of each synapse type that some spike projection feeds.
    n_ref : Tensor of int64
        Refractory steps ``int((t_ref + 1e-3 dt) / dt)`` (int32).
    bias : Tensor or None
        DC current ``I_ext``.
    init : dict of str to Tensor
        Initial values of the model's own state variables.
    """

    name: str
    model: str
    size: int
    consts: dict[str, Tensor]
    decay: dict[str, Tensor]
    n_ref: Tensor
    bias: Tensor | None
    init: dict[str, Tensor]


@dataclass
class TorchProjection:
    """Spike-carrying synapses: ``weight[post, pre] = count * efficacy * mismatch factor`` (A)."""

    name: str
    pre: str
    post: str
    variable: str
    weight: Tensor
    delay_steps: int


@dataclass
class TorchNetwork:
    """A :class:`SpikingNetwork` as tensors for :func:`run_network`.

    ``currents`` holds, per population, the current-coded input projections as pairs
    ``(sign * efficacy, counts [n, F])``: amperes per unit of ``x`` and synapse.
    """

    populations: tuple[TorchPopulation, ...]
    projections: tuple[TorchProjection, ...]
    currents: dict[str, list[tuple[Tensor, Tensor]]]
    encoder: InputEncoder
    dt: float
    window_steps: int
    dtype: torch.dtype
    device: torch.device


@dataclass
class RunOutput:
    """Spike counts ``{population: [B, T, n]}`` and, if recorded, rasters ``{population: [B, K, n]}``."""

    counts: dict[str, Tensor]
    raster: dict[str, Tensor] = field(default_factory=dict)


def _dense_factors(chip: ChipDraw | None, name: str, weights: np.ndarray) -> np.ndarray | None:
    """Per-synapse factors of ``chip`` at ``np.nonzero(weights)`` as a dense matrix (ones elsewhere)."""
    if chip is None or chip.synapse.get(name) is None:
        return None
    dense = np.ones(weights.shape)
    dense[np.nonzero(weights)] = chip.synapse[name]
    return dense


def _tensor(value: Any, n: int, factor: np.ndarray | None, device: torch.device) -> Tensor:
    """``value * factor`` as a float64 tensor ``[n]`` (``value`` a float or a tensor)."""
    v = torch.as_tensor(value, dtype=torch.float64, device=device)
    if factor is not None:
        v = v * torch.as_tensor(factor, dtype=torch.float64, device=device)
    return v.expand(n) if v.dim() == 0 else v


#: The membrane variable's initial value without a random phase (the Brian2 models' ``state``).
_REST = {"dpi": "I_0", "lif": "v_rest", "adex": "E_L"}


def build_network(net: SpikingNetwork, dt: float | None = None, *, chip: ChipDraw | None = None,
                  random_phase: bool = True, seed: int = 0, dtype: torch.dtype = torch.float64,
                  device: torch.device | str | None = None,
                  counts: Mapping[str, Tensor] | None = None,
                  efficacy: Mapping[str, Tensor] | None = None,
                  params: Mapping[str, Mapping[str, Tensor]] | None = None,
                  bias: Mapping[str, Tensor] | None = None) -> TorchNetwork:
    """The tensors of ``net`` on one chip, optionally with (differentiable) values substituted.

    Parameters
    ----------
    net : SpikingNetwork
    dt : float, optional
        Integration step (default: the smallest ``recommended_dt`` of the models).
    chip : ChipDraw, optional
        Mismatch factors (:func:`brian_models.mismatch.draw_chip` of ``net``); per-synapse
        factors sit at ``np.nonzero(weights)`` of ``net``'s projections.
    random_phase, seed : bool, int
        Initial phases as :func:`brian_models.initial_state.initial_phase` draws them.
    dtype : torch.dtype
        Type of the neuron state (the input generator always runs in float64).
    device : torch.device or str, optional
        Default :func:`default_device`.
    counts, efficacy : mapping of projection name to Tensor, optional
        Synapse counts ``[n_post, n_pre]`` and efficacies (scalars) replacing the
        description's (their non-zero pattern must be ``net``'s when ``chip`` has factors).
    params : mapping of population name to mapping of parameter to Tensor, optional
        Parameter values (scalars or ``[n]``) replacing the description's, before mismatch.
    bias : mapping of population name to Tensor, optional
        DC currents ``[n]`` replacing ``bias_current``.
    """
    dt, window_steps = network_dt(net, dt)
    device = torch.device(device) if device is not None else default_device()
    counts, efficacy, params, bias = counts or {}, efficacy or {}, params or {}, bias or {}
    names = {p.name for p in net.projections}, {p.name for p in net.populations}
    for what, given, known in (("counts", counts, names[0]), ("efficacy", efficacy, names[0]),
                               ("params", params, names[1]), ("bias", bias, names[1])):
        if set(given) - known:
            raise ValueError(f"{what} names {sorted(set(given) - known)}, which the network does not have")
    current = net.encoder.kind == "current"
    fed: dict[str, set[str]] = {p.name: set() for p in net.populations}
    for proj in net.projections:
        if not (current and proj.pre == INPUT):
            fed[proj.post].add(proj.synapse)
    pops = []
    for pop in net.populations:
        factors = {} if chip is None else chip.neuron.get(pop.name, {})
        values = {k: _tensor(params.get(pop.name, {}).get(k, v), pop.size, factors.get(k), device)
                  for k, v in pop.params.to_dict().items()}
        t_ref = pop.params.t_ref * np.asarray(factors.get("t_ref", 1.0)) * np.ones(pop.size)
        n_ref = np.array((t_ref + 1e-3 * dt) / dt, dtype=np.int64)  # Brian2's timestep()
        dyn = DYNAMICS[pop.neuron]
        consts = {k: v.to(dtype) for k, v in dyn.derive(values, dt).items()}
        decay = {SYNAPSES[s].variable: (dt / values[SYNAPSES[s].tau]).to(dtype)
                 for s in SYNAPSES if s in fed[pop.name]}
        init = {var: torch.zeros(pop.size, dtype=torch.float64, device=device) for var in dyn.own_state}
        rest = pop.params.value(_REST[pop.neuron])
        init[dyn.variable] = torch.full((pop.size,), rest, dtype=torch.float64, device=device)
        if random_phase:
            var, value = initial_phase(pop, seed, factors)
            init[var] = torch.as_tensor(value, dtype=torch.float64, device=device)
        b = bias.get(pop.name, pop.bias_current)
        pops.append(TorchPopulation(
            pop.name, pop.neuron, pop.size, consts, decay, torch.as_tensor(n_ref, dtype=torch.int32, device=device),
            None if b is None else torch.as_tensor(b, dtype=torch.float64, device=device).to(dtype),
            {k: v.to(dtype) for k, v in init.items()}))
    projs, currents = [], {}
    for proj in sorted(net.projections, key=lambda p: f"syn_{p.name}_pre"):  # Brian2's order
        w = counts.get(proj.name, torch.as_tensor(proj.weights, dtype=torch.float64, device=device))
        e = torch.as_tensor(efficacy.get(proj.name, proj.efficacy), dtype=torch.float64, device=device)
        if current and proj.pre == INPUT:
            currents.setdefault(proj.post, []).append(((proj.sign * e).to(dtype), w.to(dtype)))
            continue
        if not torch.is_tensor(counts.get(proj.name)) and not np.any(proj.weights):
            continue  # Brian2 makes no synapses for an all-zero matrix
        f = _dense_factors(chip, proj.name, proj.weights)
        if f is not None:
            e = e * torch.as_tensor(f, dtype=torch.float64, device=device)
        projs.append(TorchProjection(proj.name, proj.pre, proj.post, SYNAPSES[proj.synapse].variable,
                                     (w.to(torch.float64) * e).to(dtype), int(round(proj.delay / dt))))
    return TorchNetwork(tuple(pops), tuple(projs), currents, net.encoder, dt, window_steps, dtype, device)


def _population_step(model: str, s: dict[str, Tensor], consts: dict[str, Tensor], decay: dict[str, Tensor],
                     bias: Tensor | None, I_inp: Tensor | None, free: Tensor, k: Tensor, n_ref: Tensor,
                     draw: Tensor | None, ou: tuple[float, float] | None, dt: float, smooth: bool, grad: bool,
                     detach: bool, beta: float, gamma: float) -> tuple[dict[str, Tensor], Tensor, Tensor, Tensor]:
    """One step of one population: Brian2's ``groups``, ``thresholds`` and ``resets`` slots.

    The reset acts on the membrane and the adaptation only, which no synaptic event of the
    ``synapses`` slot touches, so taking it before the events changes no value. Returns the
    new state, the spikes (with their surrogate gradient when ``grad``), the threshold
    condition and the first step at which each neuron integrates again.
    """
    dyn = DYNAMICS[model]
    not_ref = free <= k if not smooth else torch.ones_like(free, dtype=torch.bool)
    I_ext = bias
    if ou is not None:
        I_ext = s["I_noise"] if I_ext is None else I_ext + s["I_noise"]
    new = dyn.update(s, consts, I_ext, I_inp, not_ref, dt, detach)
    for var, d in decay.items():
        new[var] = s[var] - d * s[var]
    if ou is not None and draw is not None:
        new["I_noise"] = s["I_noise"] - ou[0] * s["I_noise"] + ou[1] * draw
    cond = (new[dyn.variable] > consts[dyn.threshold]) & not_ref  # thresholds slot
    x = dyn.distance(new, consts) if grad else None
    z = spike(cond, x, beta, smooth, new[dyn.variable].dtype, gamma)
    free = torch.where(cond, k + n_ref, free)
    return dyn.reset(new, consts, z, detach), z, cond, free


def _fused_step(model: str, s: dict[str, Tensor], incs: tuple[tuple[str, Tensor], ...], acc: Tensor,
                *args: Any) -> tuple[dict[str, Tensor], Tensor, Tensor, Tensor]:
    """The compiled form of :func:`_population_step`: first adds the last step's synaptic
    increments ``incs`` (``(variable, [B, n])``, in projection order) to the state, then steps,
    and adds the spikes to the window's counts ``acc``; returns state, spikes, ``free`` and
    ``acc``. In the graph these additions made the step a sixth faster than as separate
    operations (405 -> 338 us per step at batch 512, one thread, measured). The threshold
    condition is not returned (it is ``z > 0``): Inductor stores a bool tensor element by
    element, which made the step 1.75x slower (709 against 405 us, measured the same way)."""
    s = dict(s)
    for var, inc in incs:
        s[var] = s[var] + inc
    state, z, _, free = _population_step(model, s, *args)
    return state, z, free, acc + z


@functools.cache
def _compiled_step() -> Any:
    """:func:`_fused_step` compiled by ``torch.compile`` (its elementwise operations
    fused into one loop per population; compiled once per process and network shape)."""
    # one trace per population, dtype and batch shape: more than dynamo's default of 8 in a
    # process that runs several networks or settings (past the limit it silently runs eager)
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 256)
    return torch.compile(_fused_step, dynamic=False)


def run_network(tn: TorchNetwork, X: Tensor, *, smooth: bool = False, beta: float = 10.0,
                gamma: float = 1.0, detach: bool = True, noise: tuple[float, float] | None = None,
                generator: torch.Generator | None = None, record: bool = False,
                compiled: bool = False) -> RunOutput:
    """Simulate one batch ``X [B, T, F]`` (float64, in [0, 1]); spike counts per element.

    The surrogate gradient is built only when autograd is on (wrap pure simulation in
    ``torch.no_grad()``).

    Parameters
    ----------
    tn : TorchNetwork
    X : Tensor
    smooth : bool
        The smoothed model (:func:`transfer.chip_dynamics.spike`): spikes are
        ``smooth_step(x)``, reset and synapses act in proportion, refractoriness is off.
    beta, gamma : float
        Steepness and dampening of the surrogate.
    detach : bool
        The spike mechanism (reset, upswing) carries no gradient (:mod:`transfer.chip_dynamics`).
    noise : (sigma, tau), optional
        Ornstein-Uhlenbeck current of standard deviation ``sigma`` (A) and time ``tau`` (s).
    generator : torch.Generator, optional
        Source of noise and Poisson input.
    record : bool
        Also return the spike rasters (bool ``[B, K, n]``).
    compiled : bool
        Run each population's step compiled by ``torch.compile`` (simulation only: autograd off).
    """
    if X.dim() != 3 or X.shape[2] != tn.encoder.n_channels:
        raise ValueError(f"input must have shape (B, T, {tn.encoder.n_channels}), got {tuple(X.shape)}")
    B, T, F = X.shape
    dt, S, dtype, dev = tn.dt, tn.window_steps, tn.dtype, tn.device
    grad = torch.is_grad_enabled() or smooth
    detach = detach and grad
    if compiled and grad:
        raise ValueError("compiled runs simulate only: wrap them in torch.no_grad(), without smooth")
    rate_input = tn.encoder.kind == "rate"
    rates = X.to(device=dev, dtype=torch.float64) * tn.encoder.max_rate
    Xd = X.to(device=dev, dtype=dtype)
    cur = {post: sum(coef * torch.einsum("btf,kf->btk", Xd, w) for coef, w in ms)  # as input_currents()
           for post, ms in tn.currents.items()}
    phase = torch.full((B, F), 0.5, dtype=torch.float64, device=dev)
    state, free = {}, {}  # free: the first step at which a neuron integrates again
    for p in tn.populations:
        state[p.name] = {**{k: v.expand(B, p.size) for k, v in p.init.items()},
                         **{var: torch.zeros(B, p.size, dtype=dtype, device=dev) for var in p.decay}}
        if noise is not None:
            state[p.name]["I_noise"] = torch.zeros(B, p.size, dtype=dtype, device=dev)
        free[p.name] = torch.full((B, p.size), _NEVER, dtype=torch.int32, device=dev)
    # event by event on the CPU without autograd (Brian2's summation order; nonzero() would
    # synchronise a GPU at every step, where the dense product is the faster choice)
    # compiled (float32, faithful rather than bit-equal): each sample's events summed first, one
    # bag of presynaptic rows per sample (embedding_bag), then added
    by_event = not grad and dev.type == "cpu"
    weights_t = {proj.name: proj.weight.T.contiguous() for proj in tn.projections} if by_event else {}
    depth = {}
    for proj in tn.projections:
        depth[proj.pre] = max(depth.get(proj.pre, 0), proj.delay_steps)
    history = {src: deque(maxlen=d + 1) for src, d in depth.items() if d > 0}
    acc = {p.name: torch.zeros(B, p.size, dtype=dtype, device=dev) for p in tn.populations}
    counts: dict[str, list[Tensor]] = {p.name: [] for p in tn.populations}
    raster: dict[str, list[Tensor]] = {p.name: [] for p in tn.populations}
    I_inp: dict[str, Tensor | None] = {p.name: None for p in tn.populations}
    ou = None if noise is None else (dt / noise[1], noise[0] * math.sqrt(2 * dt / noise[1]))
    # compiled: each projection's increment, added at the next step inside the compiled graph
    zero = {p.name: torch.zeros(B, p.size, dtype=dtype, device=dev) for p in tn.populations} if compiled else {}
    incs = {proj.name: zero[proj.post] for proj in tn.projections} if compiled else {}
    feeds = {p.name: [proj for proj in tn.projections if proj.post == p.name] for p in tn.populations}
    for k in range(T * S):
        m, r = divmod(k, S)
        if r == 0:  # start slot
            for post, values in cur.items():
                I_inp[post] = values[:, m]
            rate_m = rates[:, m]
        if rate_input and tn.encoder.regular:  # groups slot
            phase = dt * rate_m + phase
        spikes: dict[str, Tensor] = {}
        k_t = torch.tensor(k, dtype=torch.int32, device=dev)
        for p in tn.populations:
            draw = None if ou is None else torch.randn(B, p.size, generator=generator, device=dev, dtype=dtype)
            args = (state[p.name], p.consts, p.decay, p.bias, I_inp[p.name], free[p.name], k_t,
                    p.n_ref, draw, ou, dt, smooth, grad, detach, beta, gamma)
            if compiled:
                fed = tuple((proj.variable, incs[proj.name]) for proj in feeds[p.name])
                state[p.name], spikes[p.name], free[p.name], acc[p.name] = _compiled_step()(
                    p.model, state[p.name], fed, acc[p.name], *args[1:])
                cond = spikes[p.name] > 0 if record else None
            else:
                state[p.name], spikes[p.name], cond, free[p.name] = _population_step(p.model, *args)
                acc[p.name] = acc[p.name] + spikes[p.name]
            if record:
                raster[p.name].append(cond)
        if rate_input:
            if tn.encoder.regular:
                fired = phase >= 1
            else:
                fired = torch.rand(B, F, generator=generator, device=dev, dtype=torch.float64) < rate_m * dt
            spikes[INPUT] = fired.to(dtype)
        for src in history:
            history[src].append(spikes[src])
        events: dict[tuple[str, int], tuple[Tensor, Tensor]] = {}
        bags: dict[tuple[str, int], tuple[Tensor, Tensor]] = {}
        for proj in tn.projections:  # synapses slot
            if proj.delay_steps == 0:
                src = spikes[proj.pre]
            elif len(history[proj.pre]) > proj.delay_steps:
                src = history[proj.pre][-1 - proj.delay_steps]
            else:
                if compiled:
                    incs[proj.name] = zero[proj.post]
                continue
            s = state[proj.post]
            key = (proj.pre, proj.delay_steps)
            if not by_event:
                s[proj.variable] = s[proj.variable] + src @ proj.weight.T
            elif compiled:
                if key not in bags:
                    b, j = src.nonzero(as_tuple=True)  # row-major: grouped by sample
                    per_sample = torch.bincount(b, minlength=B)
                    bags[key] = j, per_sample.cumsum(0) - per_sample
                j, starts = bags[key]
                incs[proj.name] = F_nn.embedding_bag(j, weights_t[proj.name], starts, mode="sum")
            else:  # in ascending presynaptic index, as numpy.add.at adds them in Brian2
                if key not in events:
                    events[key] = src.nonzero(as_tuple=True)
                b, j = events[key]
                s[proj.variable] = s[proj.variable].index_add(0, b, weights_t[proj.name][j])
        if rate_input and tn.encoder.regular:  # resets slot
            phase = phase - spikes[INPUT].to(torch.float64)
        for p in tn.populations:
            if r == S - 1:
                counts[p.name].append(acc[p.name])
                acc[p.name] = torch.zeros_like(acc[p.name])
    out = RunOutput({k: torch.stack(v, 1) for k, v in counts.items()})
    if record:
        out.raster = {k: torch.stack(v, 1) for k, v in raster.items()}
    return out


def _check_input(net: SpikingNetwork, X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 3 or X.shape[2] != net.encoder.n_channels or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"spiking input must have shape (N>0, T>0, {net.encoder.n_channels}), got {X.shape}")
    if not np.all(np.isfinite(X)) or X.min() < 0 or X.max() > 1 + 1e-6:
        raise ValueError(f"spiking input must be finite and scaled to [0, 1], got [{X.min():.3g}, {X.max():.3g}]")
    return X


@dataclass(frozen=True)
class _Simulator:
    """What a worker needs to simulate batches of one network (:func:`simulate_torch`)."""

    tn: TorchNetwork
    noise: tuple[float, float] | None
    seed: int
    compiled: bool


def _simulator(net: SpikingNetwork, settings: SimulationSettings, dtype: torch.dtype,
               device: torch.device | str | None, compiled: bool) -> _Simulator:
    chip = draw_chip(net, settings.mismatch, settings.mismatch_seed)
    tn = build_network(net, settings.dt, chip=chip, random_phase=settings.random_phase, seed=settings.seed,
                       dtype=dtype, device=device)
    noise = (settings.noise, settings.noise_tau) if settings.noise > 0 else None
    return _Simulator(tn, noise, settings.seed, compiled)


def _batch_counts(sim: _Simulator, batch: tuple[int, np.ndarray]) -> dict[str, np.ndarray]:
    """Spike counts of batch ``(index, X)``; torch's generator is seeded from ``(seed, index)``."""
    index, X = batch
    tn = sim.tn
    gen = torch.Generator(device=tn.device)
    gen.manual_seed(int(np.random.SeedSequence([sim.seed, index]).generate_state(1)[0]))
    with torch.no_grad():
        xb = torch.as_tensor(X, dtype=torch.float64, device=tn.device)
        out = run_network(tn, xb, noise=sim.noise, generator=gen, compiled=sim.compiled)
    return {name: c.round().to(torch.int32).cpu().numpy() for name, c in out.counts.items()}


def simulate_torch(net: SpikingNetwork, X: np.ndarray, settings: SimulationSettings = SimulationSettings(), *,
                   device: torch.device | str | None = None, dtype: torch.dtype = torch.float64,
                   progress: bool = False, lengths: np.ndarray | None = None,
                   compiled: bool = False, jobs: int = 1) -> SimulationResult:
    """Simulate ``net`` on ``X [N, T, F]`` in torch, as :func:`brian_models.simulate.simulate` does in Brian2.

    ``lengths [N]`` reads each sample at its own end (:func:`brian_models.simulate.cut_at_lengths`).

    Reads from ``settings`` the ``dt``, ``batch_size``, ``mismatch`` and ``mismatch_seed``
    (:func:`~brian_models.mismatch.draw_chip`), ``random_phase`` and ``seed`` (the initial
    phases; with ``noise > 0`` or Poisson input also the seed of torch's generator, per batch
    from ``(seed, batch index)``), ``noise`` and ``noise_tau``; Brian2's ``device``,
    ``target`` and ``build_dir`` do not apply. ``wall_seconds`` is the simulation time.
    ``compiled`` fuses each population's step with ``torch.compile`` (:func:`run_network`).
    ``jobs > 1`` simulates the batches in that many processes on the CPU, one thread each
    (:func:`transfer.processes.map_in_processes`); the counts are the same as with one.
    """
    if not isinstance(net, SpikingNetwork):
        raise TypeError(f"simulate_torch runs a SpikingNetwork, not a {type(net).__name__}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    X = _check_input(net, X)
    N, T = X.shape[:2]
    B = settings.batch_size
    batches = [(index, X[start:start + B]) for index, start in enumerate(range(0, N, B))]
    t0 = time.perf_counter()
    if jobs > 1 and len(batches) > 1:
        if torch.device(device or default_device()).type != "cpu":
            raise ValueError("jobs > 1 runs batches in CPU processes; on a GPU use jobs=1")
        results = map_in_processes(_simulator, (net, settings, dtype, "cpu", compiled), _batch_counts, batches, jobs)
    else:
        sim = _simulator(net, settings, dtype, device, compiled)
        results = ((batch[0], _batch_counts(sim, batch)) for batch in batches)
    done: dict[int, dict[str, np.ndarray]] = {}
    for index, counts in tqdm(results, total=len(batches), desc="simulate torch", unit="batch",
                              disable=not progress, leave=False):
        done[index] = counts
    wall = time.perf_counter() - t0
    merged = {p.name: np.concatenate([done[i][p.name] for i in range(len(batches))]) for p in net.populations}
    scores = readout_scores(net, merged)
    result = SimulationResult(counts=merged, scores=scores, predictions=scores.argmax(1),
                              latency_steps=decision_latency(net, merged), step_duration=net.step_duration,
                              wall_seconds=wall, compile_seconds=0.0, bio_seconds_per_sample=T * net.step_duration)
    return cut_at_lengths(net, result, lengths)
