"""One forward-Euler step of the LIF, AdEx and DPI neurons in torch, and the surrogate spike.

The equations are those of :mod:`brian_models.lif`, :mod:`brian_models.adex` and
:mod:`brian_models.dpi` (written there once, with their papers), with the synaptic currents of
:mod:`brian_models.synapse_types`. Each model is three pure functions over ``[B, n]`` tensors:
``derive`` (per-neuron constants from the parameters, once per simulation), ``update`` (the
Euler step of Brian2's ``groups`` slot, the membrane only where not refractory) and ``reset``.
The update is written in the algebraic form of the numpy code that Brian2 2.9 generates for
these equations without mismatch (read from ``BatchNetwork``'s code objects), so that in
float64 the two agree to the last bit in most steps and to rounding otherwise (Brian2's
sympy rewriting changes the order of the sums when some parameters carry mismatch).

Spikes and their gradient (:func:`spike`): the forward value is Brian2's exact threshold
condition, the backward pass uses the SuperSpike surrogate derivative (Zenke & Ganguli 2018,
"SuperSpike: Supervised learning in multilayer spiking neural networks", Neural Computation
30(6), 1514-1541), the derivative of a fast sigmoid::

    dS/dx ~ g(x) = (beta / 2) / (1 + beta |x|)**2,
    g = S'  for  S(x) = (1 + beta x / (1 + beta |x|)) / 2   (a smooth step from 0 to 1),

where ``x`` is the distance of the membrane state from threshold in units of the
reset-to-threshold distance (:func:`threshold_distance`; the DPI's on a log scale, i.e. in
units of its membrane voltage). Zenke & Ganguli's ``(1 + |x|)**-2`` is ``g`` up to the factor
``beta / 2``, which makes ``S`` a step of height 1. With ``smooth=True`` the forward value is
``S(x)`` itself: the smoothed model whose exact gradient the surrogate path computes (the
gradient check of the tests).

What passes no gradient (``detach``, the default; the forward values are unchanged): the
spike mechanism, for which the surrogate stands. (1) The membrane's reset ``v <- v (1 - z) +
v_reset z`` does not pass gradient through ``z``, as in Bellec et al. 2018 and
:mod:`transfer.lsnn`; for the DPI it is necessary, since through ``z`` a perturbation of a nA-scale
current before the reset lands unscaled on the pA-scale current after it, which the
exponential rise from ``I_0`` then amplifies in every interspike interval. (2) The positive
feedback of the DPI (``I_a``) and the exponential term of the AdEx, the spike's upswing,
enter the backward pass as constants: Euler's step through the upswing expands a
perturbation ~5x per 0.5 ms step, which the surrogate then turns into a spike derivative.
Measured on the 128-neuron recurrent DPI network of ``experiments/bench_rockpool.py`` (28
elements of 20 ms, dt 0.5 ms): with both terms kept the gradient grew ~1.3x per step
backwards in time and overflowed float64; without the reset's, ~1.04x per step (1e20 at the
first step); without both it stays O(1). The spike-triggered adaptation (``I_ahp += I_ahp_w
z``, ``w += b z``) keeps its gradient.

Dampening (``gamma``, Bellec et al.'s factor 0.3): a step's surrogate derivative is
multiplied by ``gamma``. Each step of a window adds its surrogate to the count's derivative,
so the recurrent loop's gain grows as ``dt`` shrinks (on that network, with ``gamma = 1``,
the gradient was stable at 0.5 ms and grew ~1.02x per step at 0.1 ms); ``gamma`` proportional
to ``dt`` made the parameters' gradients the same within a factor 2 at dt 0.1, 0.2 and 0.5
ms. Our reading: Gygax & Zenke (2025, Neural Computation 37(5), 886-925; arXiv:2404.14964)
relate the surrogate derivative to the derivative of an escape-noise neuron's firing
probability, which for one step of a rate-based escape is proportional to ``dt``. The loop's gain also grows with the connectivity: a 48-neuron network
with half of all pairs connected through all four synapse types still grew ~1.02x per 0.5 ms
step at ``gamma = 1`` and decayed at 0.5 and 0.3, whence
:class:`transfer.chip_network.ChipNetwork`'s default ``gamma = 0.3 dt / 0.5 ms``.
"""

from __future__ import annotations

from typing import Callable, Mapping, NamedTuple

import torch
from torch import Tensor

__all__ = ["SPIKE_VARIABLE", "NeuronDynamics", "DYNAMICS", "spike", "smooth_step",
           "surrogate_derivative", "threshold_distance"]

State = dict[str, Tensor]
Consts = Mapping[str, Tensor]


def surrogate_derivative(x: Tensor, beta: float) -> Tensor:
    """SuperSpike's fast-sigmoid derivative ``(beta / 2) / (1 + beta |x|)**2``."""
    return (0.5 * beta) / (1.0 + beta * x.abs()) ** 2


def smooth_step(x: Tensor, beta: float) -> Tensor:
    """The fast sigmoid ``(1 + beta x / (1 + beta |x|)) / 2`` whose derivative is the surrogate."""
    return 0.5 * (1.0 + beta * x / (1.0 + beta * x.abs()))


class _Spike(torch.autograd.Function):
    """Forward: the given spike value; backward: ``gamma`` times SuperSpike's surrogate derivative at ``x``."""

    @staticmethod
    def forward(ctx, x: Tensor, value: Tensor, beta: float, gamma: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.beta, ctx.gamma = beta, gamma
        return value

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * (ctx.gamma * surrogate_derivative(x, ctx.beta)), None, None, None


def spike(cond: Tensor, x: Tensor | None, beta: float, smooth: bool = False,
          dtype: torch.dtype | None = None, gamma: float = 1.0) -> Tensor:
    """Spikes as a float tensor with a surrogate gradient.

    Parameters
    ----------
    cond : Tensor of bool
        Brian2's threshold condition (the forward value unless ``smooth``).
    x : Tensor or None
        Distance from threshold (:func:`threshold_distance`); ``None`` when no gradient is
        needed (the spikes then carry none).
    beta : float
        Steepness of the surrogate.
    smooth : bool
        Forward value ``smooth_step(x)`` instead of ``cond``: the smoothed model.
    dtype : torch.dtype, optional
        Floating type of the result when ``x`` is ``None`` (default torch's default type).
    gamma : float
        Dampening of the backward pass (1: the derivative of ``smooth_step``).
    """
    if x is None:
        return cond.to(dtype or torch.get_default_dtype())
    value = smooth_step(x.detach(), beta) if smooth else cond.to(x.dtype)
    return _Spike.apply(x, value, beta, gamma)


# -- DPI ---------------------------------------------------------------------------------

def _dpi_derive(p: Mapping[str, Tensor], dt: float) -> dict[str, Tensor]:
    return {
        "inv_tau": (p["I_tau"] * p["kappa"]) / (p["C_mem"] * p["U_T"]),
        "a_gain": (0.5 * p["I_a_gain"]) / p["I_tau"],
        "a_slope": 0.5 / p["I_a_norm"],
        "a_th": -p["I_a_th"],
        "gain": p["I_th"] / p["I_tau"],
        "inv_I_tau": 1.0 / p["I_tau"],
        "inv_dt": torch.full_like(p["I_tau"], 1.0 / dt),
        "I_tau": p["I_tau"], "I_th": p["I_th"], "I_0": p["I_0"], "I_nmda_thr": p["I_nmda_thr"],
        "I_spkthr": p["I_spkthr"], "I_reset": p["I_reset"], "I_ahp_w": p["I_ahp_w"],
        "dt_ahp": dt / p["tau_ahp"],
        "log_span": torch.log(p["I_spkthr"] / p["I_reset"]),
    }


def _add(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    """``a + b`` where ``None`` stands for an absent term (Brian2 sums only what is there)."""
    if a is None:
        return b
    return a if b is None else a + b


def _dpi_update(s: State, c: Consts, I_ext: Tensor | None, I_inp: Tensor | None, not_ref: Tensor,
                dt: float, detach: bool) -> State:
    """Brian2's Euler step of the DPI (:mod:`brian_models.dpi`)."""
    I_mem, I_ahp = s["I_mem"], s["I_ahp"]
    drive = _add(_add(-I_ahp, s.get("I_ampa")), I_ext)
    if "I_nmda" in s:
        drive = drive + (I_mem * s["I_nmda"]) / (c["I_nmda_thr"] + I_mem)
    drive = (-c["I_tau"] if I_inp is None else I_inp - c["I_tau"]) + drive
    inhibit = _add(s.get("I_gaba_a"), s.get("I_gaba_b"))
    if inhibit is not None:
        drive = drive - inhibit
    leak = c["I_tau"] + _add(I_ahp, s.get("I_gaba_a"))
    I_fb = I_mem.detach() if detach else I_mem  # the upswing: see the module docstring
    feedback = c["a_gain"] * ((c["I_th"] + I_fb) * (1.0 + torch.tanh(c["a_slope"] * (c["a_th"] + I_fb))))
    F = c["inv_tau"] * ((feedback + c["gain"] * drive) - c["inv_I_tau"] * (I_mem * leak)) / (1.0 + c["I_th"] / I_mem)
    stepped = I_mem + dt * torch.maximum(F, c["inv_dt"] * (c["I_0"] - I_mem))
    out = dict(s)
    out["I_mem"] = torch.where(not_ref, stepped, I_mem)
    out["I_ahp"] = I_ahp - c["dt_ahp"] * I_ahp
    return out


def _dpi_reset(s: State, c: Consts, spikes: Tensor, detach: bool) -> State:
    out = dict(s)
    z = spikes.detach() if detach else spikes
    out["I_mem"] = s["I_mem"] * (1.0 - z) + c["I_reset"] * z
    out["I_ahp"] = s["I_ahp"] + c["I_ahp_w"] * spikes
    return out


def _dpi_distance(s: State, c: Consts) -> Tensor:
    return torch.log(s["I_mem"] / c["I_spkthr"]) / c["log_span"]


# -- LIF ---------------------------------------------------------------------------------

def _nmda_gate(p: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {"g_slope": 0.5 / p["v_nmda_slope"], "g_half": 0.0 - p["v_nmda_half"]}


def _lif_derive(p: Mapping[str, Tensor], dt: float) -> dict[str, Tensor]:
    return {
        "dt_tau": dt / p["tau_mem"], "R_mem": p["R_mem"], "v_rest": p["v_rest"],
        "shunt": p["R_mem"] / (-p["v_rest"] + p["v_thresh"]), "v_thresh": p["v_thresh"],
        "v_reset": p["v_reset"], "span": p["v_thresh"] - p["v_reset"], **_nmda_gate(p),
    }


def _lif_update(s: State, c: Consts, I_ext: Tensor | None, I_inp: Tensor | None, not_ref: Tensor,
                dt: float, detach: bool) -> State:
    """Brian2's Euler step of the LIF (:mod:`brian_models.lif`)."""
    v = s["v"]
    current = _add(s.get("I_ampa"), I_ext)
    if "I_nmda" in s:
        current = _add(current, s["I_nmda"] * (0.5 + 0.5 * torch.tanh(c["g_slope"] * (c["g_half"] + v))))
    current = _add(I_inp, current)
    if "I_gaba_b" in s:
        current = -s["I_gaba_b"] if current is None else current - s["I_gaba_b"]
    leak = c["v_rest"] - v
    if "I_gaba_a" in s:
        leak = leak * (1.0 + c["shunt"] * s["I_gaba_a"])
    drive = leak if current is None else c["R_mem"] * current + leak
    out = dict(s)
    out["v"] = torch.where(not_ref, c["dt_tau"] * drive + v, v)
    return out


def _lif_reset(s: State, c: Consts, spikes: Tensor, detach: bool) -> State:
    out = dict(s)
    z = spikes.detach() if detach else spikes
    out["v"] = s["v"] * (1.0 - z) + c["v_reset"] * z
    return out


def _lif_distance(s: State, c: Consts) -> Tensor:
    return (s["v"] - c["v_thresh"]) / c["span"]


# -- AdEx --------------------------------------------------------------------------------

def _adex_derive(p: Mapping[str, Tensor], dt: float) -> dict[str, Tensor]:
    return {
        "dt_C": dt / p["C_mem"], "slope_g": p["Delta_T"] * p["g_L"], "inv_Delta": 1.0 / p["Delta_T"],
        "V_T": -p["V_T"], "shunt": 1.0 / (-p["E_L"] + p["V_T"]), "E_L": -p["E_L"], "g_L": p["g_L"],
        "dt_w": dt / p["tau_w"], "a": p["a"], "b": p["b"], "V_r": p["V_r"], "V_spike": p["V_spike"],
        "span": p["V_spike"] - p["V_r"], **_nmda_gate(p),
    }


def _adex_update(s: State, c: Consts, I_ext: Tensor | None, I_inp: Tensor | None, not_ref: Tensor,
                 dt: float, detach: bool) -> State:
    """Brian2's Euler step of the AdEx (:mod:`brian_models.adex`)."""
    v, w = s["v"], s["w"]
    rel = c["E_L"] + v
    v_up = v.detach() if detach else v  # the upswing: see the module docstring
    current = _add(_add(c["slope_g"] * torch.exp(c["inv_Delta"] * (c["V_T"] + v_up)), s.get("I_ampa")), I_ext)
    if "I_nmda" in s:
        current = current + s["I_nmda"] * (0.5 + 0.5 * torch.tanh(c["g_slope"] * (c["g_half"] + v)))
    current = _add(I_inp, current)
    loss = None if "I_gaba_a" not in s else c["shunt"] * (s["I_gaba_a"] * rel)
    loss = _add(_add(loss, s.get("I_gaba_b")), c["g_L"] * rel) + w
    out = dict(s)
    out["v"] = torch.where(not_ref, v + c["dt_C"] * (current - loss), v)
    out["w"] = c["dt_w"] * (c["a"] * rel - w) + w
    return out


def _adex_reset(s: State, c: Consts, spikes: Tensor, detach: bool) -> State:
    out = dict(s)
    z = spikes.detach() if detach else spikes
    out["v"] = s["v"] * (1.0 - z) + c["V_r"] * z
    out["w"] = s["w"] + c["b"] * spikes
    return out


def _adex_distance(s: State, c: Consts) -> Tensor:
    return (s["v"] - c["V_spike"]) / c["span"]


class NeuronDynamics(NamedTuple):
    """The pure functions of one neuron model.

    Attributes
    ----------
    variable : str
        The membrane state variable (threshold and reset act on it).
    own_state : tuple of str
        The model's state variables besides the synaptic currents.
    threshold : str
        The parameter the membrane variable must exceed (strictly) to spike.
    derive : callable ``(params, dt) -> consts``
    update : callable ``(state, consts, I_ext, I_inp, not_refractory, dt, detach) -> state``
        ``I_ext`` is the DC (plus noise) current and ``I_inp`` the current input, ``[B, n]``
        or ``None`` when absent; ``state`` holds only the synaptic currents that some
        projection feeds; ``detach``: the upswing carries no gradient.
    reset : callable ``(state, consts, spikes, detach) -> state``
        With ``detach`` the membrane's reset carries no gradient (the adaptation's does).
    distance : callable ``(state, consts) -> x``
        Distance from threshold for the surrogate (0 at threshold, -1 at reset).
    """

    variable: str
    own_state: tuple[str, ...]
    threshold: str
    derive: Callable[[Mapping[str, Tensor], float], dict[str, Tensor]]
    update: Callable[[State, Consts, Tensor | None, Tensor | None, Tensor, float, bool], State]
    reset: Callable[[State, Consts, Tensor, bool], State]
    distance: Callable[[State, Consts], Tensor]


#: The dynamics of each neuron model of :data:`brian_models.parameters.NEURON_MODELS`.
DYNAMICS: dict[str, NeuronDynamics] = {
    "dpi": NeuronDynamics("I_mem", ("I_mem", "I_ahp"), "I_spkthr", _dpi_derive, _dpi_update,
                          _dpi_reset, _dpi_distance),
    "lif": NeuronDynamics("v", ("v",), "v_thresh", _lif_derive, _lif_update, _lif_reset, _lif_distance),
    "adex": NeuronDynamics("v", ("v", "w"), "V_spike", _adex_derive, _adex_update, _adex_reset,
                           _adex_distance),
}
#: The membrane state variable of each model.
SPIKE_VARIABLE = {name: d.variable for name, d in DYNAMICS.items()}


def threshold_distance(model: str, state: State, consts: Consts) -> Tensor:
    """Distance of the membrane state from threshold in reset-to-threshold units (0 at threshold)."""
    return DYNAMICS[model].distance(state, consts)
