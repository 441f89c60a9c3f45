"""A trainable DYNAP-SE network: ternary CAM entries, per-core biases and a host readout in torch.

:class:`ChipNetwork` wraps a :class:`~brian_models.description.SpikingNetwork` (e.g. the
output of :func:`transfer.convert.convert`) and trains, through the simulator of
:mod:`transfer.chip_model` with SuperSpike's surrogate gradient
(:mod:`transfer.chip_dynamics`), exactly what the chip lets one set:

- **CAM entries.** Per group of projections with the same ``(pre, post, delay)``, one latent
  float matrix, ternarized into ``{-1, 0, +1}`` with a straight-through estimator (forward:
  ``sign(l) [|l| > threshold]``, backward: identity, as :class:`transfer.quantize.Ternarizer`
  trains); the positive entries are the counts of the group's excitatory projection and the
  negative ones those of its inhibitory projection (as :func:`transfer.convert.split_ternary`
  splits a ternary matrix), each entry one CAM entry. A projection without a partner of the
  other sign keeps its sign (entries in ``{0, 1}``). At most ``max_fan_in`` entries per
  neuron stay non-zero over all projections into it, the largest ``|l|`` first
  (:func:`transfer.quantize.fan_in_mask`'s rule); the latent weights start at the template's
  ``count`` (excitatory) or ``-count`` (inhibitory).
- **Per-core biases** (a population is a core): one efficacy per synapse type (the base
  weight ``PS_WEIGHT_*``), trained as its logarithm; a projection whose template efficacy
  differs from the others of its type and core keeps that ratio fixed (such a template is not
  chip-ready as it is). One DC current (``IF_DC_P``); a template's per-neuron
  ``bias_current`` keeps its offsets from their mean fixed. Optionally the time constants:
  the synaptic ones and the membrane's (DPI: the leak current ``I_tau``; LIF: ``tau_mem``).
  Every current stays within ``current_bounds`` (DYNAP-SE1's bias range, 15 pA / 255 to
  24 uA, by default), the DC within ``[0, current_bounds[1]]`` and every time constant within
  ``tau_bounds``; current-coded input projections train their amperes per unit of ``x``.
- **Host readout**: the weights and bias of the description's
  :class:`~brian_models.description.Readout`, on the spike counts as it reads them.

Mismatch: with ``mismatch > 0`` the forward pass runs on a chip drawn by
:func:`brian_models.mismatch.draw_chip` for the current ternary pattern: the frozen chip
``mismatch_seed`` in evaluation (so that Brian2 simulating :meth:`ChipNetwork.to_description`
with the same ``mismatch`` and ``mismatch_seed`` repeats it), and with ``mismatch_aware`` a
fresh chip (a new seed) for every training forward.

:meth:`ChipNetwork.to_description` writes the learned state back into a
:class:`SpikingNetwork` (counts, efficacies, DC, time constants, readout) for Brian2, the
mapper and the emulator.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from brian_models.description import INPUT, Projection, Readout, SpikingNetwork
from brian_models.mismatch import draw_chip
from brian_models.parameters import DYNAPSE1_SMALLEST_BIAS
from brian_models.synapse_types import SYNAPSES
from transfer.chip_model import build_network, default_device, network_dt, run_network

__all__ = ["ChipNetwork", "DYNAPSE1_LARGEST_BIAS", "readout_scores_torch", "ternary_ste"]

#: The largest DYNAP-SE1 bias current (coarse 7, fine 255: 24 uA).
DYNAPSE1_LARGEST_BIAS = 24e-6
#: Trainable membrane parameter of each model (with time constants on).
_MEMBRANE = {"dpi": "I_tau", "lif": "tau_mem"}


def ternary_ste(latent: Tensor, threshold: float, keep: Tensor, sign: int = 0) -> Tensor:
    """``sign(l) [|l| > threshold] keep`` forward, identity backward (straight-through).

    ``sign`` +1 or -1 keeps only entries of that sign (0: both). The forward value is exact
    (``q + (l - l)``), so counts are whole numbers.
    """
    q = torch.sign(latent.detach()) * (latent.detach().abs() > threshold) * keep
    if sign:
        q = q.clamp(min=0) if sign > 0 else q.clamp(max=0)
    return q + (latent - latent.detach())


def readout_scores_torch(readout: Readout, counts: Tensor, step_duration: float,
                         weights: Tensor | None = None, bias: Tensor | None = None,
                         ends: Tensor | None = None) -> Tensor:
    """:meth:`Readout.scores` in torch: scores ``[B, C]`` from counts ``[B, T, n]`` (``ends [B]``:
    each sample read after its own number of steps, as :meth:`Readout.features` with ``end_step``)."""
    w = torch.as_tensor(readout.weights, dtype=counts.dtype, device=counts.device) if weights is None else weights
    b = torch.as_tensor(readout.bias, dtype=counts.dtype, device=counts.device) if bias is None else bias
    rates = counts / (step_duration * readout.rate_scale)
    if readout.leak < 1:
        state, filtered = torch.zeros_like(rates[:, 0]), []
        for t in range(rates.shape[1]):
            state = (1 - readout.leak) * state + readout.leak * rates[:, t]
            filtered.append(state)
        rates = torch.stack(filtered, 1)
    n_win = readout.window_steps(step_duration)
    csum = torch.cat([torch.zeros_like(rates[:, :1]), rates.cumsum(1)], 1)
    rows = torch.arange(len(rates), device=rates.device)
    # the filter is causal: the window [end - n_win, end) of the whole run is the sample's own
    end = (torch.full((len(rates),), rates.shape[1], device=rates.device, dtype=torch.long) if ends is None
           else ends.to(device=rates.device, dtype=torch.long))
    feats = []
    for part in np.array_split(np.arange(-n_win, 0), readout.slices):  # as Readout.features
        lo, hi = (end + int(part[0])).clamp(min=0), (end + int(part[-1]) + 1).clamp(min=0)
        total = csum[rows, hi] - csum[rows, lo]
        # one slice: the mean over the steps that exist; several: steps before the start are silent
        steps = (hi - lo).clamp(min=1).to(rates.dtype)[:, None] if readout.slices == 1 else float(len(part))
        feats.append(total / steps)
    f = torch.cat(feats, 1)
    if readout.transform == "sqrt":  # silent features stay 0 with a zero (not infinite) gradient
        f = torch.where(f > 0, f.clamp(min=1e-12).sqrt(), torch.zeros_like(f))
    return f @ w.to(counts.dtype).T + b.to(counts.dtype)


class ChipNetwork(nn.Module):
    """A trainable chip network built from a template :class:`SpikingNetwork` (module docstring).

    Parameters
    ----------
    net : SpikingNetwork
        The template: populations, projections (synapse counts 0 or 1), encoder, readout.
    dt : float, optional
        Integration step (default: the smallest ``recommended_dt`` of the neuron models).
    max_fan_in : int or None
        Most non-zero entries per neuron over all projections into it (64: DYNAP-SE's CAM).
    threshold : float
        Ternarization threshold on ``|latent|``.
    train_taus : bool
        Also train the synaptic and membrane time constants.
    current_bounds, tau_bounds : (float, float)
        Ranges of the currents (A) and time constants (s).
    mismatch : float
        Coefficient of variation of the chip's mismatch (0: nominal chip).
    mismatch_seed : int
        The frozen chip of evaluation (and of training without ``mismatch_aware``).
    mismatch_aware : bool
        Draw a fresh chip for every training forward.
    chip_seed : int, optional
        Seed of the stream of fresh chips (default: ``mismatch_seed``).
    beta : float
        Steepness of the surrogate derivative.
    gamma : float, optional
        Dampening of the surrogate derivative; default ``0.3 dt / 0.5 ms`` (Bellec et al.'s
        0.3 at 0.5 ms, scaled with ``dt``: :mod:`transfer.chip_dynamics`).
    random_phase, phase_seed : bool, int
        Initial phases as :func:`brian_models.initial_state.initial_phase` draws them.
    dtype : torch.dtype
        Type of the neuron state.
    device : torch.device or str, optional
        Default: CUDA when present, else the CPU.
    """

    def __init__(self, net: SpikingNetwork, *, dt: float | None = None, max_fan_in: int | None = 64,
                 threshold: float = 0.5, train_taus: bool = False,
                 current_bounds: tuple[float, float] = (DYNAPSE1_SMALLEST_BIAS, DYNAPSE1_LARGEST_BIAS),
                 tau_bounds: tuple[float, float] = (1e-3, 1.0), mismatch: float = 0.0, mismatch_seed: int = 0,
                 mismatch_aware: bool = False, chip_seed: int | None = None, beta: float = 10.0,
                 gamma: float | None = None,
                 random_phase: bool = True, phase_seed: int = 0, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None):
        super().__init__()
        if not isinstance(net, SpikingNetwork):
            raise TypeError(f"ChipNetwork wraps a SpikingNetwork, not a {type(net).__name__}")
        if max_fan_in is not None and max_fan_in < 1:
            raise ValueError(f"max_fan_in must be at least 1, got {max_fan_in}")
        if not (0 < current_bounds[0] < current_bounds[1] and 0 < tau_bounds[0] < tau_bounds[1]):
            raise ValueError(f"bounds must be 0 < low < high, got {current_bounds} and {tau_bounds}")
        if not 0 <= mismatch < 1:
            raise ValueError(f"mismatch CV must lie in [0, 1), got {mismatch}")
        self.template = net
        self.dt, _ = network_dt(net, dt)
        self.max_fan_in, self.threshold, self.beta = max_fan_in, float(threshold), float(beta)
        self.gamma = float(gamma) if gamma is not None else 0.3 * self.dt / 5e-4
        self.current_bounds, self.tau_bounds = tuple(map(float, current_bounds)), tuple(map(float, tau_bounds))
        self.mismatch, self.mismatch_seed, self.mismatch_aware = float(mismatch), int(mismatch_seed), mismatch_aware
        self.random_phase, self.phase_seed, self.dtype = random_phase, int(phase_seed), dtype
        self._rng = np.random.default_rng([self.mismatch_seed if chip_seed is None else int(chip_seed), 1])
        device = torch.device(device) if device is not None else default_device()
        f64 = {"dtype": torch.float64, "device": device}
        self._init_weights(net, f64)
        self._init_biases(net, train_taus, f64)
        self.readout_weight = nn.Parameter(torch.as_tensor(net.readout.weights, **f64).to(dtype))
        self.readout_bias = nn.Parameter(torch.as_tensor(net.readout.bias, **f64).to(dtype))

    # -- construction ----------------------------------------------------------------------
    def _init_weights(self, net: SpikingNetwork, f64: dict[str, Any]) -> None:
        for proj in net.projections:
            if proj.weights.max(initial=0) > 1:
                raise ValueError(f"projection {proj.name!r} has synapse counts above 1; "
                                 "ChipNetwork trains 0/1 CAM entries")
        groups: dict[tuple[str, str, float], list[Projection]] = {}
        for proj in net.projections:
            groups.setdefault((proj.pre, proj.post, proj.delay), []).append(proj)
        self.latent = nn.ParameterDict()
        self._groups: list[tuple[str, str, dict[int, str]]] = []  # (key, post, {sign: projection})
        for (pre, post, _), projs in groups.items():
            exc = [p for p in projs if p.sign > 0]
            inh = [p for p in projs if p.sign < 0]
            pairs = [(exc[0], inh[0])] if len(exc) == 1 and len(inh) == 1 else [(p,) for p in projs]
            for pair in pairs:
                latent = sum(p.sign * p.weights for p in pair)
                if len(pair) == 2 and np.any(pair[0].weights * pair[1].weights):
                    raise ValueError(f"projections {pair[0].name!r} and {pair[1].name!r} share an entry; "
                                     "a CAM entry is excitatory or inhibitory")
                key = f"w{len(self._groups)}"
                self.latent[key] = nn.Parameter(torch.as_tensor(latent, **f64).to(self.dtype))
                self._groups.append((key, post, {p.sign: p.name for p in pair}))

    def _init_biases(self, net: SpikingNetwork, train_taus: bool, f64: dict[str, Any]) -> None:
        lo = self.current_bounds[0]
        self.log_efficacy = nn.ParameterDict()
        self._efficacy_key: dict[str, str] = {}
        ratio: dict[str, float] = {}
        shared: dict[str, float] = {}
        current = net.encoder.kind == "current"
        for proj in net.projections:
            key = f"input:{proj.name}" if current and proj.pre == INPUT else f"{proj.post}:{proj.synapse}"
            self._efficacy_key[proj.name] = key
            shared[key] = max(shared.get(key, 0.0), proj.efficacy, lo)
        for proj in net.projections:
            key = self._efficacy_key[proj.name]
            ratio[proj.name] = max(proj.efficacy, lo) / shared[key]
        for key, value in shared.items():
            self.log_efficacy[key] = nn.Parameter(torch.tensor(np.log(value), **f64))
        self.register_buffer("_ratio", torch.as_tensor([ratio[p.name] for p in net.projections], **f64))
        self.dc_pA = nn.ParameterDict()
        for pop in net.populations:
            bias = np.zeros(pop.size) if pop.bias_current is None else pop.bias_current
            self.dc_pA[pop.name] = nn.Parameter(torch.tensor(bias.mean() * 1e12, **f64))
            self.register_buffer(f"_offset_{pop.name}", torch.as_tensor(bias - bias.mean(), **f64))
        self.log_tau = nn.ParameterDict()
        if train_taus:
            for pop in net.populations:
                keys = [SYNAPSES[p.synapse].tau for p in net.projections
                        if p.post == pop.name and not (current and p.pre == INPUT)]
                keys += [_MEMBRANE[pop.neuron]] if pop.neuron in _MEMBRANE else []
                for k in dict.fromkeys(keys):
                    self.log_tau[f"{pop.name}:{k}"] = nn.Parameter(torch.tensor(np.log(pop.params.value(k)), **f64))

    # -- the chip's values -----------------------------------------------------------------
    def ternary(self) -> dict[str, Tensor]:
        """Synapse counts per projection (0/1, straight-through gradients to the latent weights)."""
        keep = self._fan_in_keep()
        counts = {}
        for key, _, by_sign in self._groups:
            one_sign = next(iter(by_sign)) if len(by_sign) == 1 else 0
            t = ternary_ste(self.latent[key], self.threshold, keep[key], one_sign)
            for sign, name in by_sign.items():
                counts[name] = (sign * t).clamp(min=0)
        return counts

    @torch.no_grad()
    def _fan_in_keep(self) -> dict[str, Tensor]:
        """Per latent matrix, the entries within each neuron's ``max_fan_in`` strongest."""
        out = {}
        for post in {g[1] for g in self._groups}:
            keys = [(key, by_sign) for key, p, by_sign in self._groups if p == post]
            strength = []
            for key, by_sign in keys:
                w = self.latent[key]
                ok = w.abs() > self.threshold
                if len(by_sign) == 1:
                    ok &= (w > 0) if next(iter(by_sign)) > 0 else (w < 0)
                strength.append(torch.where(ok, w.abs(), torch.zeros_like(w)))
            joint = torch.cat(strength, 1)
            keep = joint > 0
            if self.max_fan_in is not None and joint.shape[1] > self.max_fan_in:
                kth = torch.topk(joint, self.max_fan_in, dim=1).values[:, -1:]
                keep &= joint >= kth
                keep &= torch.cumsum(keep.int(), dim=1) <= self.max_fan_in  # ties
            start = 0
            for key, _ in keys:
                width = self.latent[key].shape[1]
                out[key] = keep[:, start:start + width].to(self.latent[key].dtype)
                start += width
        return out

    def efficacies(self) -> dict[str, Tensor]:
        """Efficacy (A) per projection: its core's shared value times the fixed ratio, within bounds."""
        lo, hi = self.current_bounds
        shared = {k: torch.exp(v) for k, v in self.log_efficacy.items()}
        return {p.name: (shared[self._efficacy_key[p.name]] * self._ratio[i]).clamp(lo, hi)
                for i, p in enumerate(self.template.projections)}

    def dc_currents(self) -> dict[str, Tensor]:
        """DC current (A) per neuron: the core's DC within ``[0, high]`` plus the template's offsets."""
        return {pop.name: self.dc_pA[pop.name].clamp(0.0, self.current_bounds[1] * 1e12) * 1e-12
                + getattr(self, f"_offset_{pop.name}") for pop in self.template.populations}

    def time_constants(self) -> dict[str, dict[str, Tensor]]:
        """Trained time constants (and DPI leak currents) per population, within bounds."""
        out: dict[str, dict[str, Tensor]] = {}
        for key, value in self.log_tau.items():
            pop, name = key.split(":")
            bounds = self.current_bounds if name == "I_tau" else self.tau_bounds
            out.setdefault(pop, {})[name] = torch.exp(value.clamp(np.log(bounds[0]), np.log(bounds[1])))
        return out

    @torch.no_grad()
    def clamp_(self) -> None:
        """Project the parameters into their bounds (call after each optimizer step)."""
        lo, hi = np.log(self.current_bounds[0]), np.log(self.current_bounds[1])
        for v in self.log_efficacy.values():
            v.clamp_(lo, hi)
        for v in self.dc_pA.values():
            v.clamp_(0.0, self.current_bounds[1] * 1e12)
        for key, v in self.log_tau.items():
            bounds = self.current_bounds if key.endswith(":I_tau") else self.tau_bounds
            v.clamp_(np.log(bounds[0]), np.log(bounds[1]))

    # -- write back and run ----------------------------------------------------------------
    @torch.no_grad()
    def to_description(self) -> SpikingNetwork:
        """The learned network as a :class:`SpikingNetwork` (counts, efficacies, DC, taus, readout)."""
        net = self.template
        counts = {k: v.detach().round().to(torch.int64).cpu().numpy() for k, v in self.ternary().items()}
        eff = {k: float(v) for k, v in self.efficacies().items()}
        dc = {k: v.detach().cpu().numpy() for k, v in self.dc_currents().items()}
        taus = {pop: {k: float(v) for k, v in d.items()} for pop, d in self.time_constants().items()}
        pops = []
        for pop in net.populations:
            params = pop.params
            if pop.name in taus:
                params = params.updated(taus[pop.name])
            bias = dc[pop.name] if (pop.bias_current is not None or np.any(dc[pop.name])) else None
            pops.append(replace(pop, params=params, bias_current=bias))
        projs = tuple(replace(p, weights=counts[p.name], efficacy=eff[p.name]) for p in net.projections)
        readout = replace(net.readout, weights=self.readout_weight.detach().cpu().double().numpy(),
                          bias=self.readout_bias.detach().cpu().double().numpy())
        return replace(net, populations=tuple(pops), projections=projs, readout=readout,
                       metadata=dict(net.metadata, trained="transfer.chip_network.ChipNetwork"))

    def forward(self, X: Tensor, *, smooth: bool = False, detach: bool = True, return_counts: bool = False,
                lengths: Tensor | None = None) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """Class scores ``[B, C]`` for ``X [B, T, F]`` in [0, 1] (and the counts ``{population: [B, T, n]}``).

        ``lengths [B]`` reads each sample at its own end; its counts after the end are zeroed.

        ``smooth`` runs the smoothed model (spikes ``smooth_step(x)``, no refractoriness): the
        model whose exact gradient the surrogate computes (with ``detach=False`` and
        ``gamma=1``), for gradient checks; by default the spike mechanism passes no gradient
        (:mod:`transfer.chip_dynamics`).
        """
        if X.dim() != 3 or X.shape[2] != self.template.encoder.n_channels:
            raise ValueError(f"input must have shape (B, T, {self.template.encoder.n_channels}), got {tuple(X.shape)}")
        counts = self.ternary()
        desc = self.to_description()
        chip = None
        if self.mismatch > 0:
            seed = int(self._rng.integers(2 ** 31)) if (self.training and self.mismatch_aware) else self.mismatch_seed
            chip = draw_chip(desc, self.mismatch, seed)
        device = self.readout_weight.device
        tn = build_network(desc, self.dt, chip=chip, random_phase=self.random_phase, seed=self.phase_seed,
                           dtype=self.dtype, device=device, counts=counts, efficacy=self.efficacies(),
                           params=self.time_constants(), bias=self.dc_currents())
        out = run_network(tn, X.to(device=device, dtype=torch.float64), smooth=smooth, beta=self.beta,
                          gamma=self.gamma, detach=detach)
        readout = self.template.readout
        counts_out = out.counts
        if lengths is not None:
            held = (torch.arange(X.shape[1], device=device)[None, :] < lengths.to(device)[:, None])[:, :, None]
            counts_out = {k: v * held.to(v.dtype) for k, v in out.counts.items()}
        spikes = torch.cat([counts_out[p] for p in readout.populations], 2)
        scores = readout_scores_torch(readout, spikes, self.template.step_duration,
                                      self.readout_weight.to(spikes.dtype), self.readout_bias.to(spikes.dtype),
                                      ends=lengths)
        return (scores, counts_out) if return_counts else scores
