"""Brian2 network of a spiking LSTM (:class:`~brian_models.lstm_description.SpikingLSTM`), batched.

Self-contained rather than built from a :class:`~brian_models.description.SpikingNetwork`: that has
no element for the cell-state integrator and its multiplicative couplings. ``B`` samples
run as ``B`` copies (block-diagonal synapses, as in :mod:`brian_models.network`). Groups:

- ``gates``: ``B * 5H`` LIF neurons (populations in the order of
  ``brian_models.lstm_description.POPULATIONS[gating]``), DC bias ``I_ext``, input current
  ``I_inp`` from a :class:`brian2.TimedArray` set at each window start, AMPA/GABA_B from the
  ``h`` pair (and GABA_A shunting from ``not_i`` onto the candidate pair when shunting);
- ``hout``: ``B * 2H`` LIF neurons, the ON/OFF pair of ``h``, driven by the cell through a
  summed variable ``I_inp = I_fI(rate_scale_h * relu(+-h_cell))`` (the measured inverse f-I
  curve, a lookup table) and shunted by ``not_o`` when shunting;
- ``cell``: ``B * H`` non-spiking units holding ``c`` (no leak: it changes only through
  the gate couplings).

Equations of the couplings: see :mod:`transfer.spiking_lstm`. Runs on the runtime device
(numpy target by default) for ``T + 1`` windows; the last one has no input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from brian2 import Network, NeuronGroup, SpikeMonitor, StateMonitor, Synapses, TimedArray, amp, second

from brian_models.batching import block_indices
from brian_models.brian_device import brian_device
from brian_models.lstm_description import SpikingLSTM
from brian_models.models import make_model
from brian_models.network import specialise
from brian_models.neuron import build_group
from brian_models.parameters import LIFParams

__all__ = ["SpikingLSTMRun", "run_spiking_lstm", "CELL_EQUATIONS"]

#: Cell-state units per gating: counters and held values (exact), a bare integrator (shunting).
CELL_EQUATIONS = {
    "exact": "c : 1\nh : 1\nn_i : 1\nn_f : 1\nn_o : 1\nn_gp : 1\nn_gm : 1\n",
    "shunting": "c : 1\nh = clip(c, -1, 1) : 1\n",
}

#: Exact gating: each gate spike counts in its cell's window counter.
#: Spikes in the first ``count_delay`` of a window are not counted (they still answer the
#: previous element's ``h``).
_COUNTED = "int((t + 0.5*dt) - window*floor((t + 0.5*dt)/window) > count_delay)"
_EXACT_ON_PRE = {name: f"{var}_post += {_COUNTED}" for name, var in
                 (("i", "n_i"), ("f", "n_f"), ("o", "n_o"), ("g_on", "n_gp"), ("g_off", "n_gm"))}
#: Exact gating: at each window start the multiplicative coupling of the window's counts,
#: clipped at ``n_full`` (the hard sigmoid/tanh's upper clip), and the hold (not at t = 0,
#: so that an initial c stays).
_EXACT_BOUNDARY = (
    "ig = clip(n_i, 0, n_full)*(clip(n_gp, 0, n_full) - clip(n_gm, 0, n_full))/n_full**2\n"
    "c = c + int(t > half_window)*(clip(n_f, 0, n_full)/n_full*c + ig - c)\n"
    "h = h + int(t > half_window)*(clip(n_o, 0, n_full)/n_full*clip(c, -1, 1) - h)\n"
    "n_i = 0\nn_f = 0\nn_o = 0\nn_gp = 0\nn_gm = 0\n"
)
_SHUNT_ON_PRE = {"not_f": "c_post *= q_forget", "g_on": "c_post += 1.0/n_full",
                 "g_off": "c_post -= 1.0/n_full"}


@dataclass(frozen=True)
class SpikingLSTMRun:
    """Spike counts per window of one batch: ``counts_gates [B, W, 5H]``, ``counts_h [B, W, 2H]``
    (``W = T + 1``), and the cell state after each input window closed, ``cell [B, T, H]``
    (when recorded; with exact gating the state that window ``t``'s counts produced)."""

    counts_gates: np.ndarray
    counts_h: np.ndarray
    cell: np.ndarray | None


def _counts(mon: SpikeMonitor, B: int, W: int, n: int, window_steps: int, dt: float) -> np.ndarray:
    idx = np.asarray(mon.i_[:], dtype=np.int64)
    steps = np.round(np.asarray(mon.t_[:], dtype=float) / dt).astype(np.int64)
    window = np.minimum(steps // window_steps, W - 1)
    flat = ((idx // n) * W + window) * n + idx % n
    return np.bincount(flat, minlength=B * W * n).astype(np.int32).reshape(B, W, n)


def _random_phase(group: Any, params: LIFParams, n: int, B: int, rng: np.random.Generator) -> None:
    """Membranes start uniformly between reset and threshold (the same draw for every copy)."""
    u = np.tile(rng.uniform(0, 1, n), B)
    group.v_ = params.v_reset + u * (params.v_thresh - params.v_reset)


def run_spiking_lstm(net: SpikingLSTM, X: np.ndarray, *, seed: int = 0, dt: float | None = None,
                     cell_init: np.ndarray | None = None, record_cell: bool = False,
                     target: str = "numpy") -> SpikingLSTMRun:
    """Simulate ``X [B, T, F]`` (scaled to [0, 1]) for ``T + 1`` windows of ``step_duration``.

    Parameters
    ----------
    net : SpikingLSTM
    X : ndarray [B, T, F]
    seed : int
        Seed of the initial membrane phases.
    dt : float, optional
        Time step (s); default the LIF's recommended 0.1 ms.
    cell_init : ndarray [H] or [B, H], optional
        Initial cell state (default 0); with gating ``"exact"`` the held output ``h`` starts
        at ``clip(cell_init)`` times an open output gate, i.e. ``clip(cell_init, -1, 1)``.
    record_cell : bool
        Record ``c`` after every input window.
    target : {"numpy", "cython"}
        Code generation target of the runtime device.
    """
    X = np.asarray(X, dtype=float)
    B, T, F = X.shape
    H, gating, s = net.n_hidden, net.gating, net
    W = T + 1
    step = s.step_duration
    model = make_model(net.params)
    dt = dt or model.recommended_dt
    window_steps = int(round(step / dt))
    if abs(step / dt - window_steps) > 1e-6:
        raise ValueError(f"step_duration {step} s is not a multiple of dt {dt} s")
    with brian_device("runtime", target):
        return _run(net, X, model, dt, window_steps, seed, cell_init, record_cell)


def _run(net: SpikingLSTM, X: np.ndarray, model: Any, dt: float, window_steps: int, seed: int,
         cell_init: np.ndarray | None, record_cell: bool) -> SpikingLSTMRun:
    B, T, F = X.shape
    H, gating, s = net.n_hidden, net.gating, net
    W = T + 1
    step = s.step_duration
    rng = np.random.default_rng(seed)
    pops = net.populations
    n_full = net.spikes_per_unit

    # -- gate neurons -----------------------------------------------------------------------
    used_gates = {"AMPA", "GABA_B"} | ({"GABA_A"} if gating == "shunting" else set())
    m_gates, ns_gates = specialise(model, (), used_gates)
    X_pad = np.concatenate([X, np.zeros((B, 1, F))], axis=1)
    stim = net.gate_input_current(X_pad).transpose(1, 0, 2).reshape(W, B * 5 * H)
    stim_gates = TimedArray(stim * amp, dt=step * second)
    gates = build_group(m_gates, B * 5 * H, dt=dt * second,
                        namespace={**ns_gates, "stim_gates": stim_gates})
    gates.I_ext = np.tile(net.gate_bias_current(), B) * amp
    _random_phase(gates, net.params, 5 * H, B, rng)
    drive = gates.run_regularly("I_inp = stim_gates(t, i)", dt=step * second, when="start")

    # -- output pair h_on / h_off -----------------------------------------------------------
    m_h, ns_h = specialise(model, (), {"GABA_A"} if gating == "shunting" else set())
    hout = build_group(m_h, B * 2 * H, dt=dt * second, namespace=ns_h)
    _random_phase(hout, net.params, 2 * H, B, rng)

    # -- cell state ---------------------------------------------------------------------------
    n_count = net.counted_spikes_per_unit if gating == "exact" else n_full
    consts = {"n_full": float(n_count), "half_window": 0.5 * step * second, "window": step * second,
              "count_delay": s.count_delay * second,
              "q_forget": float(np.exp(-net.kappa_forget / n_full))}
    cell = NeuronGroup(B * H, CELL_EQUATIONS[gating], dt=dt * second, namespace=consts)
    objects: list[Any] = [gates, drive, hout, cell]
    if cell_init is not None:
        c0 = np.broadcast_to(np.asarray(cell_init, float), (B, H)).ravel()
        cell.c = c0
        if gating == "exact":
            cell.h = np.clip(c0, -1, 1)
    if gating == "exact":
        objects.append(cell.run_regularly(_EXACT_BOUNDARY, dt=step * second, when="start"))
        on_pre = _EXACT_ON_PRE
    else:
        on_pre = _SHUNT_ON_PRE
    k = np.arange(H)
    for p, name in enumerate(pops):
        if name not in on_pre:
            continue
        syn = Synapses(gates, cell, on_pre=on_pre[name], dt=dt * second, namespace=consts)
        i, j = block_indices(p * H + k, k, B, 5 * H, H)
        syn.connect(i=i, j=j)
        objects.append(syn)
    # cell -> h pair, every time step: the current at which the LIF fires at
    # rate_scale_h * relu(+-h), from the inverse f-I table (a lookup indexed by a pseudo-time)
    if net.h_lut is None:
        raise ValueError("the SpikingLSTM has no inverse f-I table (h_lut); build it with convert_lstm")
    n_lut = len(net.h_lut)
    lut = TimedArray(np.append(net.h_lut, net.h_lut[-1]) * amp, dt=second / (n_lut - 1))
    couple = Synapses(cell, hout, model="sg : 1 (constant)\n"
                      "I_inp_post = h_lut(clip(sg*h_pre/h_scale, 0, 1)*second) : amp (summed)",
                      dt=dt * second, namespace={"h_lut": lut, "h_scale": net.h_scale})
    i, j = block_indices(np.concatenate([k, k]), np.arange(2 * H), B, H, 2 * H)
    couple.connect(i=i, j=j)
    couple.sg = np.tile(np.repeat([1.0, -1.0], H), B)
    objects.append(couple)

    # -- recurrence h -> gates (AMPA positive, GABA_B negative; no delay) ---------------------
    alpha, _ = net.affine()
    rows = net.rows()
    pre_l, post_l, sign_l, eff_l = [], [], [], []
    for p in range(len(pops)):
        S = net.rec_sign[rows[p]].astype(int)  # [H post, H pre]
        post, pre = np.nonzero(S)
        sgn = np.sign(alpha[p]) * S[post, pre]
        e = net.tf_gate.gain * abs(alpha[p]) * net.a_rec / (net.rate_scale_h * s.tau_syn)
        for side, flip in ((0, 1), (1, -1)):  # h_on, h_off
            pre_l.append(pre + side * H)
            post_l.append(post + p * H)
            sign_l.append(flip * sgn)
            eff_l.append(np.full(len(pre), e))
    pre_a, post_a = np.concatenate(pre_l), np.concatenate(post_l)
    sign_a, eff_a = np.concatenate(sign_l), np.concatenate(eff_l)
    for current, mask in (("I_ampa", sign_a > 0), ("I_gaba_b", sign_a < 0)):
        if not mask.any():
            continue
        syn = Synapses(hout, gates, model="e_syn : amp (constant)", on_pre=f"{current}_post += e_syn",
                       dt=dt * second)
        i, j = block_indices(pre_a[mask], post_a[mask], B, 2 * H, 5 * H)
        syn.connect(i=i, j=j)
        syn.e_syn = np.tile(eff_a[mask], B) * amp
        objects.append(syn)

    # -- shunting (GABA_A) by the complement gates ------------------------------------------
    if gating == "shunting":
        p = net.params
        e_shunt = s.kappa_gate * (p.v_thresh - p.v_rest) / (p.R_mem * s.tau_shunt * s.max_rate)
        for src, dst_group, dst, n_dst in (("not_i", gates, [3 * H + k, 4 * H + k], 5 * H),
                                           ("not_o", hout, [k, H + k], 2 * H)):
            q = pops.index(src)
            syn = Synapses(gates, dst_group, on_pre="I_gaba_a_post += e_shunt", dt=dt * second,
                           namespace={"e_shunt": e_shunt * amp})
            i, j = block_indices(np.concatenate([q * H + k, q * H + k]), np.concatenate(dst), B, 5 * H, n_dst)
            syn.connect(i=i, j=j)
            objects.append(syn)

    mon_g, mon_h = SpikeMonitor(gates), SpikeMonitor(hout)
    objects += [mon_g, mon_h]
    mon_c = None
    if record_cell:
        mon_c = StateMonitor(cell, "c", record=True, dt=step * second, when="end")
        objects.append(mon_c)
    Network(*objects).run(W * step * second, namespace={})
    cell_trace = None
    if mon_c is not None:
        # sample k is taken at t = k*step (end slot): the state after window k-1 closed
        c = np.asarray(mon_c.c)[:, 1:T + 1]  # [B*H, T]
        cell_trace = c.reshape(B, H, T).transpose(0, 2, 1)
    return SpikingLSTMRun(_counts(mon_g, B, W, 5 * H, window_steps, dt),
                          _counts(mon_h, B, W, 2 * H, window_steps, dt), cell_trace)
