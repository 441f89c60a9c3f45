"""Independent numpy integration of the LIF, AdEx and DPI equations (no Brian2), for tests.

The right-hand sides are written out again here from the papers (see each model module's
docstring), in plain numpy, and stepped with forward Euler in the order of Brian2's schedule,
so that at the same ``dt`` the Brian2 models and this reference agree to rounding error:

1. record the state (Brian2's ``StateMonitor`` records at the start of a step);
2. ``not_refractory = steps_since_last_spike >= int(t_ref / dt + 1e-3)``;
3. Euler step of every variable; the membrane variable only where not refractory
   (the DPI membrane is then clipped at ``I_0``);
4. threshold (only where not refractory): the spike is time-stamped with the *start* of the
   step, as Brian2 does;
5. input events (presynaptic spikes) add to the synaptic currents;
6. reset.

An input event ``(t, synapse_type, amount)`` acts like a Brian2 spike at ``t``: it is added
after the update of the step that starts at ``t``, so it first shows in the state recorded at
``t + dt``. With ``substeps = m > 1`` the equations are integrated at ``dt / m`` (a converged
solution for the error study of the ``recommended_dt``), states are returned on the coarse grid,
events are applied at the same physical time ``t + dt`` and spike times keep the convention
"end of the step in which the threshold was crossed, minus ``dt``".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence, Union

import numpy as np

from brian_models.checks import ParameterError
from brian_models.parameters import AdExParams, DPIParams, LIFParams
from brian_models.synapse_types import SYNAPSES, SynapseParams

SYNAPSE_VARIABLE = {name: s.variable for name, s in SYNAPSES.items()}

__all__ = ["Trace", "simulate_lif", "simulate_adex", "simulate_dpi"]

Current = Union[float, np.ndarray, Callable[[float], Union[float, np.ndarray]]]
Event = tuple[float, str, Union[float, np.ndarray]]
_SYN_VARS = ("I_ampa", "I_nmda", "I_gaba_a", "I_gaba_b")


@dataclass(frozen=True)
class Trace:
    """Result of a reference simulation.

    Attributes
    ----------
    t : ndarray, shape (n_steps,)
        Times (s) of the recorded states: the start of each coarse step.
    state : dict of str to ndarray, shape (n_steps, n)
        State variables in SI units.
    spike_t, spike_i : ndarray
        Spike times (s, Brian2 convention) and neuron indices, in time order.
    """

    t: np.ndarray
    state: dict[str, np.ndarray]
    spike_t: np.ndarray
    spike_i: np.ndarray

    def spikes(self, i: int = 0) -> np.ndarray:
        """Spike times (s) of neuron ``i``."""
        return self.spike_t[self.spike_i == i]


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))  # overflow to inf gives the right limit 0


def _synaptic_rhs(s: Mapping[str, np.ndarray], syn: SynapseParams) -> dict[str, np.ndarray]:
    return {
        "I_ampa": -s["I_ampa"] / syn.tau_ampa,
        "I_nmda": -s["I_nmda"] / syn.tau_nmda,
        "I_gaba_a": -s["I_gaba_a"] / syn.tau_gaba_a,
        "I_gaba_b": -s["I_gaba_b"] / syn.tau_gaba_b,
    }


def _current_fn(I_of_t: Current, n: int) -> Callable[[float], np.ndarray]:
    if callable(I_of_t):
        return lambda t: np.broadcast_to(np.asarray(I_of_t(t), dtype=float), (n,))
    value = np.broadcast_to(np.asarray(I_of_t, dtype=float), (n,)).copy()
    return lambda t: value


def _integrate(
    init: dict[str, np.ndarray],
    rhs: Callable[[dict[str, np.ndarray], np.ndarray], dict[str, np.ndarray]],
    membrane: str,
    threshold: Callable[[dict[str, np.ndarray]], np.ndarray],
    reset: Callable[[dict[str, np.ndarray], np.ndarray], None],
    t_ref: float,
    I_of_t: Current,
    dt: float,
    duration: float,
    substeps: int,
    events: Iterable[Event],
    clip: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Trace:
    if not (dt > 0 and duration > 0) or int(substeps) < 1:
        raise ParameterError(
            f"reference: need dt > 0, duration > 0, substeps >= 1; got {dt}, {duration}, {substeps}"
        )
    m = int(substeps)
    h = dt / m
    n_steps = int(round(duration / dt))
    n_ref = int(t_ref / h + 1e-3)
    state = {k: np.array(v, dtype=float) for k, v in init.items()}
    n = state[membrane].size
    current = _current_fn(I_of_t, n)
    # fine step after whose update each event is applied (physical time t_e + dt)
    by_step: dict[int, list[tuple[str, np.ndarray]]] = {}
    for t_e, syn_type, amount in events:
        k = (int(round(t_e / dt)) + 1) * m - 1
        by_step.setdefault(k, []).append((SYNAPSE_VARIABLE[syn_type], np.asarray(amount, float)))
    record = {k: np.empty((n_steps, n)) for k in state}
    last = np.full(n, -10 ** 9, dtype=np.int64)
    spike_t: list[float] = []
    spike_i: list[int] = []
    with np.errstate(over="ignore"):  # exp overflow -> inf is handled by the formulas
        for k in range(n_steps * m):
            if k % m == 0:
                for key, value in state.items():
                    record[key][k // m] = value
            t = k * h
            I = current(t)
            not_ref = (k - last) >= n_ref
            deriv = rhs(state, I)
            new = {key: state[key] + h * deriv[key] for key in state}
            mem = new[membrane] if clip is None else clip(new[membrane])
            new[membrane] = np.where(not_ref, mem, state[membrane])
            state = new
            spiking = threshold(state) & not_ref
            for var, amount in by_step.get(k, ()):
                state[var] = state[var] + amount
            if spiking.any():
                idx = np.flatnonzero(spiking)
                spike_t.extend([t - (m - 1) * h] * len(idx))  # = end of step - dt
                spike_i.extend(idx.tolist())
                last[idx] = k
                reset(state, spiking)
    return Trace(t=np.arange(n_steps) * dt, state=record,
                 spike_t=np.asarray(spike_t), spike_i=np.asarray(spike_i, dtype=np.int64))


def _zeros_like_syn(n: int) -> dict[str, np.ndarray]:
    return {k: np.zeros(n) for k in _SYN_VARS}


def _n_neurons(I_of_t: Current, I_ext: float | np.ndarray) -> int:
    first = np.asarray(I_of_t(0.0) if callable(I_of_t) else I_of_t)
    return int(max(first.size, np.asarray(I_ext).size))


def simulate_lif(params: LIFParams, I_of_t: Current, dt: float, duration: float, *,
                 I_ext: float | np.ndarray = 0.0, events: Sequence[Event] = (),
                 substeps: int = 1) -> Trace:
    """Integrate the LIF equations of :mod:`brian_models.lif`.

    Parameters
    ----------
    params : LIFParams
    I_of_t : float, ndarray or callable ``t -> current``
        The input current ``I_inp`` (A), evaluated at the start of each step; an array (or a
        callable returning one) simulates one neuron per entry.
    dt, duration : float
        Time step and duration (s).
    I_ext : float or ndarray
        Constant bias current (A).
    events : sequence of (time, synapse type, amount)
        Presynaptic spikes: at ``time`` (s) the current of ``synapse type`` jumps by ``amount`` (A).
    substeps : int
        Integrate at ``dt / substeps`` (see the module docstring).
    """
    p, syn = params, params.synapse
    n = _n_neurons(I_of_t, I_ext)
    ext = np.broadcast_to(np.asarray(I_ext, float), (n,))

    def rhs(s: dict[str, np.ndarray], I: np.ndarray) -> dict[str, np.ndarray]:
        v = s["v"]
        gate = _logistic((v - syn.v_nmda_half) / syn.v_nmda_slope)
        shunt = p.R_mem * s["I_gaba_a"] / (p.v_thresh - p.v_rest)
        I_in = s["I_ampa"] + gate * s["I_nmda"] - s["I_gaba_b"] + ext + I
        d = _synaptic_rhs(s, syn)
        d["v"] = (-(v - p.v_rest) * (1.0 + shunt) + p.R_mem * I_in) / p.tau_mem
        return d

    def reset(s: dict[str, np.ndarray], mask: np.ndarray) -> None:
        s["v"][mask] = p.v_reset

    init = {"v": np.full(n, p.v_rest), **_zeros_like_syn(n)}
    return _integrate(init, rhs, "v", lambda s: s["v"] > p.v_thresh, reset, p.t_ref,
                      I_of_t, dt, duration, substeps, events)


def simulate_adex(params: AdExParams, I_of_t: Current, dt: float, duration: float, *,
                  I_ext: float | np.ndarray = 0.0, events: Sequence[Event] = (),
                  substeps: int = 1) -> Trace:
    """Integrate the AdEx equations of :mod:`brian_models.adex` (arguments as :func:`simulate_lif`)."""
    p, syn = params, params.synapse
    n = _n_neurons(I_of_t, I_ext)
    ext = np.broadcast_to(np.asarray(I_ext, float), (n,))

    def rhs(s: dict[str, np.ndarray], I: np.ndarray) -> dict[str, np.ndarray]:
        v, w = s["v"], s["w"]
        gate = _logistic((v - syn.v_nmda_half) / syn.v_nmda_slope)
        g_shunt = s["I_gaba_a"] / (p.V_T - p.E_L)
        I_in = s["I_ampa"] + gate * s["I_nmda"] - s["I_gaba_b"] + ext + I
        spike_current = p.g_L * p.Delta_T * np.exp((v - p.V_T) / p.Delta_T)
        d = _synaptic_rhs(s, syn)
        d["v"] = (-p.g_L * (v - p.E_L) + spike_current - g_shunt * (v - p.E_L) - w + I_in) / p.C_mem
        d["w"] = (p.a * (v - p.E_L) - w) / p.tau_w
        return d

    def reset(s: dict[str, np.ndarray], mask: np.ndarray) -> None:
        s["v"][mask] = p.V_r
        s["w"][mask] += p.b

    init = {"v": np.full(n, p.E_L), "w": np.zeros(n), **_zeros_like_syn(n)}
    return _integrate(init, rhs, "v", lambda s: s["v"] > p.V_spike, reset, p.t_ref,
                      I_of_t, dt, duration, substeps, events)


def simulate_dpi(params: DPIParams, I_of_t: Current, dt: float, duration: float, *,
                 I_ext: float | np.ndarray = 0.0, events: Sequence[Event] = (),
                 substeps: int = 1, I_mem0: float | None = None) -> Trace:
    """Integrate the DPI equations of :mod:`brian_models.dpi` (arguments as :func:`simulate_lif`).

    ``I_mem0`` sets the initial membrane current (default ``I_0``).
    """
    p, syn = params, params.synapse
    n = _n_neurons(I_of_t, I_ext)
    ext = np.broadcast_to(np.asarray(I_ext, float), (n,))
    tau = p.C_mem * p.U_T / (p.kappa * p.I_tau)

    def rhs(s: dict[str, np.ndarray], I: np.ndarray) -> dict[str, np.ndarray]:
        I_mem = s["I_mem"]
        I_in = (s["I_nmda"] / (1.0 + syn.I_nmda_thr / I_mem) + s["I_ampa"] - s["I_gaba_b"]
                + ext + I)
        I_leak = p.I_tau + s["I_ahp"] + s["I_gaba_a"]
        I_a = p.I_a_gain * _logistic((I_mem - p.I_a_th) / p.I_a_norm)
        feedback = I_a / p.I_tau * (I_mem + p.I_th)
        d = _synaptic_rhs(s, syn)
        d["I_mem"] = ((p.I_th / p.I_tau) * (I_in - I_leak) + feedback
                      - I_mem * I_leak / p.I_tau) / (tau * (1.0 + p.I_th / I_mem))
        d["I_ahp"] = -s["I_ahp"] / p.tau_ahp
        return d

    def reset(s: dict[str, np.ndarray], mask: np.ndarray) -> None:
        s["I_mem"][mask] = p.I_reset
        s["I_ahp"][mask] += p.I_ahp_w

    start = p.I_0 if I_mem0 is None else I_mem0
    init = {"I_mem": np.full(n, start), "I_ahp": np.zeros(n), **_zeros_like_syn(n)}
    return _integrate(init, rhs, "I_mem", lambda s: s["I_mem"] > p.I_spkthr, reset, p.t_ref,
                      I_of_t, dt, duration, substeps, events,
                      clip=lambda x: np.maximum(x, p.I_0))
