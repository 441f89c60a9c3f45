"""Long short-term memory spiking network (LSNN): recurrent LIF and adaptive-threshold neurons.

Bellec et al. 2018, "Long short-term memory and learning-to-learn in networks of spiking
neurons" (NeurIPS), and Plank et al. 2021 (arXiv:2103.12593, the LSNN on neuromorphic
hardware). A fraction of the neurons (ALIF) raise their threshold after every spike and let
it relax with a long time constant ``tau_adapt``; this slow variable is the memory that
holds information for hundreds of ms. Trained with BPTT and a pseudo-derivative.

Discrete time, step ``dt = element_ms / substeps``; every sequence element ``x_t`` is held
for ``substeps`` steps. With ``alpha = exp(-dt/tau_mem)``, ``rho = exp(-dt/tau_adapt)``, per
step ``n``::

    I[n] = W_in x[n] + W_rec z[n-1]                       (current injection, no bias)
    v[n] = alpha v[n-1] + (1 - alpha) I[n] - z[n-1] A[n-1]  (reset by subtracting the
                                                            threshold that was crossed)
    a[n] = rho a[n-1] + (1 - rho) z[n-1]
    A[n] = theta0 + beta a[n]
    z[n] = H(v[n] - A[n])                                  (H(0) = 0)

``beta = 0`` for the plain LIF neurons (all of them when ``adaptive_fraction = 0``). The
pseudo-derivative of ``H`` is ``dz/dv_s = gamma max(0, 1 - |v_s|)`` with
``v_s = (v - A) / A``; the reset term does not carry a gradient (Bellec et al.).
``W_rec`` has a zero diagonal (no self-connections). The readout is linear on the spike
counts ``r`` of the last element (``readout="last"``) or on the mean count per element over
the whole sequence (``readout="mean"``): ``scores = W_out r + b_out``.

Settings live in :attr:`transfer.models.ModelConfig.extra` (:class:`LSNNSettings`);
``ModelConfig.substeps`` is the number of steps per element. :mod:`brian_models.lsnn` runs
the same equations in Brian2, spike for spike.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from dataclasses import replace as dc_replace
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from brian_models.description import INPUT, InputEncoder, Population, Projection, Readout, SpikingNetwork
from brian_models.lsnn_description import DPIMapping, LSNNNetwork
from transfer.quantize import split_ternary
from transfer.sequence_ends import as_lengths, at_ends, mean_until

__all__ = ["LSNNSettings", "LSNNClassifier", "spike_fn", "READOUTS", "describe_lsnn", "lsnn_to_network"]

READOUTS = ("last", "mean")


@dataclass(frozen=True)
class LSNNSettings:
    """LSNN settings, read from ``ModelConfig.extra``.

    Parameters
    ----------
    element_ms : float
        Duration of one sequence element (20 ms: the chip's real-time step).
    tau_mem_ms : float
        Membrane time constant.
    tau_adapt_ms : float
        Adaptation time constant (longer than the memory the task needs).
    beta : float
        Threshold increase per unit of ``a`` for adaptive neurons (``a`` is a running average
        of the spike train: a neuron firing ``r`` spikes per step reaches ``a = r``). One
        spike raises the threshold by ``beta (1 - rho)``: 0.5 ``theta0`` with the defaults
        (4 ms steps, 800 ms). On the recall task (64 neurons, 5 substeps, 12 epochs) beta 100
        reached 100 % test accuracy, beta 40 97 % (measured here; beta 5 reached 44 % after 20
        epochs with an earlier, rate-normalised readout).
    adaptive_fraction : float
        Fraction of the neurons that adapt (the first ones); 0 gives a plain LIF network.
    theta0 : float
        Baseline threshold.
    gamma : float
        Height of the pseudo-derivative.
    readout : {"last", "mean"}
        Which spikes the linear readout reads.
    rate_target_hz, rate_reg : float
        Firing-rate regulariser ``rate_reg * mean_j (r_j - r_target)**2`` over the neurons'
        mean rates (:meth:`LSNNClassifier.regularization`).
    input_gain : float
        Initial ``W_in`` is normal with standard deviation ``input_gain / sqrt(n_inputs)``.
    """

    element_ms: float = 20.0
    tau_mem_ms: float = 20.0
    tau_adapt_ms: float = 800.0
    beta: float = 100.0
    adaptive_fraction: float = 0.5
    theta0: float = 1.0
    gamma: float = 0.3
    readout: str = "last"
    rate_target_hz: float = 10.0
    rate_reg: float = 0.0
    input_gain: float = 2.0

    def __post_init__(self) -> None:
        for name in ("element_ms", "tau_mem_ms", "tau_adapt_ms", "theta0", "gamma"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"LSNN setting {name} must be a positive number, got {value!r}")
        for name in ("beta", "rate_target_hz", "rate_reg", "input_gain"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"LSNN setting {name} must be a number >= 0, got {value!r}")
        if not 0 <= self.adaptive_fraction <= 1:
            raise ValueError(f"LSNN setting adaptive_fraction must lie in [0, 1], "
                             f"got {self.adaptive_fraction}")
        if self.readout not in READOUTS:
            raise ValueError(f"LSNN setting readout must be one of {', '.join(READOUTS)}, "
                             f"got {self.readout!r}")

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any]) -> "LSNNSettings":
        """Settings from ``ModelConfig.extra``; unknown keys raise a ValueError naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(extra) - known)
        if unknown:
            raise ValueError(f"unknown LSNN settings {unknown} in ModelConfig.extra; known: {sorted(known)}")
        return cls(**dict(extra))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def dt_ms(self, substeps: int) -> float:
        return self.element_ms / substeps


class _Spike(torch.autograd.Function):
    """Heaviside step with Bellec's triangular pseudo-derivative ``gamma max(0, 1 - |x|)``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, gamma: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.gamma = gamma
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * ctx.gamma * torch.clamp(1 - x.abs(), min=0), None


def spike_fn(x: torch.Tensor, gamma: float = 0.3) -> torch.Tensor:
    """``H(x)`` forward, ``gamma max(0, 1 - |x|)`` backward."""
    return _Spike.apply(x, gamma)


class LSNNClassifier(nn.Module):
    """Recurrent network of LIF and ALIF neurons with a linear rate readout (see module docstring).

    Parameters
    ----------
    config : ModelConfig
        ``kind="lsnn"``; ``substeps`` steps per element; LSNN settings in ``extra``.
    """

    #: Matrices quantization turns ternary (the readout is computed by the host, stays float).
    quantized = ("w_in", "w_rec")

    def __init__(self, config: Any):
        super().__init__()
        self.config = config
        self.settings = LSNNSettings.from_extra(config.extra)
        s = self.settings
        H, F, C = config.n_hidden, config.n_inputs, config.n_classes
        self.substeps = int(config.substeps)
        dt = s.dt_ms(self.substeps)
        self.dt_ms = dt
        self.alpha = math.exp(-dt / s.tau_mem_ms)
        self.rho = math.exp(-dt / s.tau_adapt_ms)
        n_adapt = int(round(s.adaptive_fraction * H))
        beta = torch.zeros(H)
        beta[:n_adapt] = s.beta
        self.register_buffer("beta", beta)
        self.register_buffer("rec_mask", 1 - torch.eye(H))
        self.w_in = nn.Parameter(torch.randn(H, F) * (s.input_gain / math.sqrt(F)))
        self.w_rec = nn.Parameter(torch.randn(H, H) * (1.0 / math.sqrt(H)) * self.rec_mask)
        self.w_out = nn.Parameter(torch.empty(C, H))
        self.b_out = nn.Parameter(torch.zeros(C))
        nn.init.xavier_uniform_(self.w_out)

    def weight_matrices(self) -> dict[str, nn.Parameter]:
        return {"w_in": self.w_in, "w_rec": self.w_rec, "w_out": self.w_out}

    @property
    def n_adaptive(self) -> int:
        return int((self.beta > 0).sum())

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor] | None = None,
                return_states: bool = False, lengths: np.ndarray | torch.Tensor | None = None):
        """Class scores ``[B, C]``; with ``return_states`` also the spikes ``[B, T*substeps, H]``.

        With ``lengths [B]`` the readout reads each sequence's element ``lengths - 1``
        (``"last"``) or the mean count over its first ``lengths`` elements (``"mean"``)."""
        cfg, s = self.config, self.settings
        if x.ndim != 3 or x.shape[2] != cfg.n_inputs:
            raise ValueError(f"model input must have shape (B, T, {cfg.n_inputs}), got {tuple(x.shape)}")
        w = weights or self.weight_matrices()
        w_rec = w["w_rec"] * self.rec_mask.to(x.dtype)
        B, T, _ = x.shape
        H, K = cfg.n_hidden, self.substeps
        alpha, rho, theta0 = self.alpha, self.rho, s.theta0
        beta = self.beta.to(x.dtype)
        drive = x @ w["w_in"].T  # [B, T, H]
        v = x.new_zeros(B, H)
        a = x.new_zeros(B, H)
        z = x.new_zeros(B, H)
        spikes = []
        for t in range(T):
            for _ in range(K):
                thr_prev = theta0 + beta * a
                v = alpha * v + (1 - alpha) * (z @ w_rec.T + drive[:, t]) - z.detach() * thr_prev
                a = rho * a + (1 - rho) * z
                thr = theta0 + beta * a
                z = spike_fn((v - thr) / thr, s.gamma)
                spikes.append(z)
        raster = torch.stack(spikes, 1)  # [B, T*K, H]
        ends = as_lengths(lengths, x)
        if ends is None:
            counts = raster[:, -K:].sum(1) if s.readout == "last" else raster.sum(1) / T
        else:
            per_element = raster.reshape(B, T, K, H).sum(2)
            counts = at_ends(per_element, ends) if s.readout == "last" else mean_until(per_element, ends)
        out = counts @ w["w_out"].T + self.b_out
        return (out, raster) if return_states else out

    def regularization(self, raster: torch.Tensor) -> torch.Tensor:
        """Firing-rate regulariser ``rate_reg * mean_j (r_j - r_target)**2`` (rates in spikes/step)."""
        s = self.settings
        if s.rate_reg == 0:
            return raster.new_zeros(())
        target = s.rate_target_hz * self.dt_ms * 1e-3
        return s.rate_reg * (raster.mean((0, 1)) - target).pow(2).mean()


def describe_lsnn(model: LSNNClassifier, neuron: str = "alif", dpi: DPIMapping | None = None) -> LSNNNetwork:
    """The network description of a trained LSNN, run by ``neuron`` (``"alif"`` or ``"dpi"``).

    The recurrent matrix keeps no diagonal (``rec_mask``); everything is float64, as the
    Brian2 runner (:mod:`brian_models.lsnn`) uses it.
    """
    if not isinstance(model, LSNNClassifier):
        raise ValueError(f"an LSNN description needs a transfer.lsnn.LSNNClassifier, got {type(model).__name__}")
    s = model.settings

    def arr(t: torch.Tensor) -> Any:
        return t.detach().cpu().double().numpy().copy()

    return LSNNNetwork(w_in=arr(model.w_in), w_rec=arr(model.w_rec) * arr(model.rec_mask),
                       w_out=arr(model.w_out), b_out=arr(model.b_out), beta=arr(model.beta),
                       alpha=float(model.alpha), rho=float(model.rho), theta0=float(s.theta0),
                       substeps=int(model.substeps), dt_ms=float(model.dt_ms),
                       tau_mem_ms=float(s.tau_mem_ms), tau_adapt_ms=float(s.tau_adapt_ms),
                       readout=s.readout, neuron=neuron, dpi=dpi or DPIMapping())


def lsnn_to_network(model: LSNNClassifier, mapping: DPIMapping | None = None, *, input_coding: str = "rate"
                    ) -> SpikingNetwork:
    """A ternary LSNN as a :class:`SpikingNetwork` of DPI neurons the chip can carry.

    The mapping of :class:`~brian_models.lsnn_description.DPIMapping` (Plank et al. 2021 carried
    an LSNN's adaptive thresholds as after-hyperpolarising currents): one LSNN unit of current
    is ``I_unit = (rheobase - I_tau) * input_scale`` on top of a DC ``I_tau``; an adaptive
    neuron's AHP jumps by ``beta (1 - rho) I_unit * ahp_scale`` per spike and decays with
    ``tau_adapt``; ``tau_mem`` is matched. Adaptive and plain neurons differ in a core bias
    (``IF_AHW_P``), so they are two populations (``"adaptive"``, ``"plain"``) on their own
    cores, and the host readout reads both. A ternary recurrent entry ``+-a_rec`` is one AMPA
    or GABA_B synapse carrying the charge ``a_rec dt I_unit`` of one LSNN spike
    (efficacy ``a_rec dt I_unit / tau_syn``). Input as spikes (``"rate"``, what the chip takes)
    runs at the rate that gives input and recurrent synapses of one type the same efficacy
    (one base weight per synapse type and core), or as current (``"current"``).

    Raises
    ------
    ValueError
        If the model's input or recurrent matrix is not ternary (run ``quantize`` first).
    """
    if input_coding not in ("rate", "current"):
        raise ValueError(f"input coding must be 'rate' or 'current', got {input_coding!r}")
    mapping = mapping or DPIMapping()
    d = describe_lsnn(model, "dpi", mapping)
    in_e, in_i, a_in = split_ternary(d.w_in, "w_in")
    rec_e, rec_i, a_rec = split_ternary(d.w_rec, "w_rec")
    tau_syn = mapping.tau_syn_ms * 1e-3
    base = mapping.params.with_tau_mem(d.tau_mem_ms * 1e-3)
    base = dc_replace(base, tau_ahp=d.tau_adapt_ms * 1e-3,
                      synapse=base.synapse.updated({"tau_ampa": tau_syn, "tau_gaba_b": tau_syn}))
    i_unit = (base.rheobase - base.I_tau) * mapping.input_scale
    dt = d.dt_ms * 1e-3
    e_rec = a_rec * dt * i_unit / tau_syn
    groups = {"adaptive": np.flatnonzero(d.beta > 0), "plain": np.flatnonzero(d.beta <= 0)}
    groups = {k: v for k, v in groups.items() if v.size}
    pops = []
    for name, idx in groups.items():
        ahp = float(d.beta[idx].max()) * (1 - d.rho) * i_unit * mapping.ahp_scale if name == "adaptive" else 0.0
        pops.append(Population(name, idx.size, dc_replace(base, I_ahp_w=ahp), bias_current=np.full(idx.size, base.I_tau)))
    if input_coding == "rate":
        rate = a_in / (a_rec * dt) if a_rec > 0 else 200.0
        encoder = InputEncoder("rate", d.n_inputs, max_rate=rate, regular=True)
        e_in = a_in * i_unit / (rate * tau_syn)
    else:
        encoder = InputEncoder("current", d.n_inputs)
        e_in = a_in * i_unit
    projs = []
    for post, post_idx in groups.items():
        for syn, w_in in (("AMPA", in_e), ("GABA_B", in_i)):
            projs.append(Projection(f"in_{post}_{syn}", INPUT, post, syn, w_in[post_idx], e_in))
        for pre, pre_idx in groups.items():
            for syn, w_rec in (("AMPA", rec_e), ("GABA_B", rec_i)):
                projs.append(Projection(f"{pre}_{post}_{syn}", pre, post, syn, w_rec[np.ix_(post_idx, pre_idx)], e_rec))
    order = np.concatenate(list(groups.values()))
    # the LSNN reads counts of the last element, or the mean count per element: rate_scale
    # 1 / step makes the readout's rates counts per element; a window longer than any
    # sequence averages all of them
    readout = Readout(tuple(groups), d.w_out[:, order], d.b_out, rate_scale=1.0 / d.step_duration,
                      window=d.step_duration if d.readout == "last" else 3600.0)
    meta = {"model": "lsnn", "mapping": {"input_scale": mapping.input_scale, "ahp_scale": mapping.ahp_scale,
                                         "tau_syn_ms": mapping.tau_syn_ms}, "i_unit": i_unit,
            "scales": {"a_in": a_in, "a_rec": a_rec}}
    return SpikingNetwork(tuple(pops), tuple(projs), encoder, readout, d.step_duration, meta)
