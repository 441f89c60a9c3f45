"""Run an LSNN (:class:`~brian_models.lsnn_description.LSNNNetwork`) in Brian2, batched over samples.

Two neuron models:

``"alif"``
    The LSNN's own discrete equations (see :mod:`transfer.lsnn`), at the model's time step
    ``dt = element_ms / substeps``, as a Brian2 group without differential equations: one
    ``run_regularly`` operation in the ``start`` slot of every step does the update, the
    threshold is ``v > theta0 + beta*a``, the reset only marks the spike (``zlast = 1``), and
    the recurrent synapses add ``w`` to ``I_rec``, which the next step consumes::

        v = alpha*v + (1 - alpha)*(I_rec + stim(t, i)) - zlast*(theta0 + beta*a)
        a = rho*a + (1 - rho)*zlast
        I_rec = 0;  zlast = 0

    This is the torch update step for step (``stim`` holds ``W_in x``, repeated over the
    element's substeps), so the spike rasters agree up to float rounding in the order the
    recurrent input is summed (``tests/brian_models/test_lsnn.py``: identical rasters).
``"dpi"``
    The DYNAP-SE DPI neuron of :mod:`brian_models.dpi` (forward Euler, ``dpi_dt_ms``), with
    adaptation on its AHP current. Mapping (approximate, see :class:`DPIMapping`): one unit
    of LSNN current is ``I_unit = rheobase - I_tau`` on top of a DC bias ``I_ext = I_tau``, so
    a unit input sits at the DPI's firing threshold as it sits at ``theta0 = 1``; a
    recurrent weight ``w`` becomes an AMPA (``w > 0``) or GABA_B (``w < 0``) synapse of
    efficacy ``|w| dt / tau_syn * I_unit`` (the same charge per spike); an adaptive neuron's
    AHP jumps by ``beta (1 - rho) I_unit`` per spike and decays with ``tau_adapt`` (the AHP
    current subtracts from the input, as a threshold rise does); ``tau_mem`` is matched.

The readout (host side, as on the chip) reads the spike counts of the last element (or the
mean count per element), ``scores = W_out r + b_out``, as the torch model does.
Device mismatch (lognormal, coefficient of variation ``mismatch``) scales the time
constants and ``theta0`` (ALIF) or the DPI's :attr:`~brian_models.neuron.NeuronModel.mismatch_keys`;
every batch copy gets the same factors (one chip).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
from brian2 import Network, NeuronGroup, SpikeMonitor, Synapses, TimedArray, amp, ms, second

from brian_models.batching import block_indices
from brian_models.brian_device import brian_device
from brian_models.dpi import dpi_model
from brian_models.lsnn_description import DPIMapping, LSNNNetwork
from brian_models.mismatch import draw_mismatch, lognormal_factors
from brian_models.neuron import build_group
from brian_models.parameters import DPIParams
from brian_models.synapses import SYNAPSE_MODEL, on_pre

__all__ = ["LSNNResult", "simulate_lsnn"]

_ALIF_EQUATIONS = """
v : 1
a : 1
zlast : 1
I_rec : 1
alpha : 1 (constant)
rho : 1 (constant)
beta : 1 (constant)
theta0 : 1 (constant)
"""
_ALIF_UPDATE = """
v = alpha*v + (1 - alpha)*(I_rec + stim(t, i)) - zlast*(theta0 + beta*a)
a = rho*a + (1 - rho)*zlast
I_rec = 0
zlast = 0
"""


@dataclass(frozen=True)
class LSNNResult:
    """Outcome of :func:`simulate_lsnn`.

    Attributes
    ----------
    predictions : ndarray [N]
    scores : ndarray [N, C]
    counts : ndarray [N, T, H]
        Spikes per sample, sequence element and neuron.
    raster : ndarray [N, T*substeps, H] of bool, or None
        Spikes per LSNN step (``record=True``; for ``"dpi"`` binned into LSNN steps).
    wall_seconds : float
        Time spent in Brian2 (building and running).
    """

    predictions: np.ndarray
    scores: np.ndarray
    counts: np.ndarray
    raster: np.ndarray | None
    wall_seconds: float

    @property
    def spikes_per_inference(self) -> float:
        return float(self.counts.sum((1, 2)).mean()) if self.counts.size else 0.0


def _block_diagonal(w: np.ndarray, copies: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pre indices, post indices and weights of ``copies`` copies of ``w [post, pre]``."""
    post, pre = np.nonzero(w)
    pre_b, post_b = block_indices(pre, post, copies, w.shape[1], w.shape[0])
    return pre_b, post_b, np.tile(w[post, pre], copies)


def _alif_group(p: LSNNNetwork, n_copies: int, drive: np.ndarray, factors: dict[str, np.ndarray]
                ) -> tuple[NeuronGroup, list[Synapses]]:
    dt = p.dt_ms * ms
    stim = TimedArray(drive, dt=dt)
    g = NeuronGroup(n_copies * p.n_hidden, _ALIF_EQUATIONS, threshold="v > theta0 + beta*a",
                    reset="zlast = 1", dt=dt, namespace={"stim": stim}, name="lsnn_alif*")
    tau_m = p.tau_mem_ms * factors["tau_mem"]
    tau_a = p.tau_adapt_ms * factors["tau_adapt"]
    # Without mismatch use the model's own floats (bit-identical to the torch constants).
    g.alpha = np.tile(np.where(factors["tau_mem"] == 1, p.alpha, np.exp(-p.dt_ms / tau_m)), n_copies)
    g.rho = np.tile(np.where(factors["tau_adapt"] == 1, p.rho, np.exp(-p.dt_ms / tau_a)), n_copies)
    g.theta0 = np.tile(p.theta0 * factors["theta0"], n_copies)
    g.beta = np.tile(p.beta, n_copies)
    g.run_regularly(_ALIF_UPDATE, when="start", name="lsnn_update*")
    pre, post, vals = _block_diagonal(p.w_rec, n_copies)
    if not vals.size:
        return g, []
    syn = Synapses(g, g, "w : 1", on_pre="I_rec_post += w", dt=dt, name="lsnn_rec*")
    syn.connect(i=pre, j=post)
    syn.w = vals
    return g, [syn]


def _dpi_group(p: LSNNNetwork, n_copies: int, drive: np.ndarray, mapping: DPIMapping,
               factors: dict[str, np.ndarray]) -> tuple[NeuronGroup, list[Synapses]]:
    tau_syn = mapping.tau_syn_ms * 1e-3
    base = mapping.params.with_tau_mem(p.tau_mem_ms * 1e-3)
    base = replace(base, tau_ahp=p.tau_adapt_ms * 1e-3,
                   synapse=base.synapse.updated({"tau_ampa": tau_syn, "tau_gaba_b": tau_syn}))
    i_unit = (base.rheobase - base.I_tau) * mapping.input_scale
    model = dpi_model(base)
    dt = mapping.dt_ms * ms
    stim = TimedArray(drive * i_unit * amp, dt=p.substeps * p.dt_ms * ms)
    n = n_copies * p.n_hidden
    tiled = {k: np.tile(f, n_copies) for k, f in factors.items()}
    g = build_group(model, n, factors=tiled or None, dt=dt, namespace={"stim": stim}, name="lsnn_dpi*")
    g.I_ext = base.I_tau * amp
    ahp = p.beta * (1 - p.rho) * i_unit * mapping.ahp_scale
    g.I_ahp_w = np.tile(ahp * factors.get("I_ahp_w", 1.0), n_copies) * amp
    g.run_regularly("I_inp = stim(t, i)", when="start", name="lsnn_input*")
    pre, post, vals = _block_diagonal(p.w_rec, n_copies)
    efficacy = np.abs(vals) * p.dt_ms * 1e-3 / tau_syn * i_unit
    syns = []
    for kind, sel in (("AMPA", vals > 0), ("GABA_B", vals < 0)):
        if not sel.any():
            continue
        syn = Synapses(g, g, SYNAPSE_MODEL, on_pre=on_pre(kind), dt=dt, name=f"lsnn_{kind.lower()}*")
        syn.connect(i=pre[sel], j=post[sel])
        syn.w_syn = 1
        syn.e_syn = efficacy[sel] * amp
        syns.append(syn)
    return g, syns


def simulate_lsnn(net: LSNNNetwork, X: np.ndarray, *, mismatch: float = 0.0, seed: int = 0,
                  batch_size: int = 64, record: bool = False) -> LSNNResult:
    """Run ``X [N, T, F]`` through the LSNN ``net`` in Brian2 (runtime device, numpy target).

    Each batch is its own explicit :class:`brian2.Network`. DPI spikes are binned into LSNN
    steps in ``raster`` (several spikes in one step show as one; ``counts`` has them all).

    Parameters
    ----------
    net : LSNNNetwork
        Its ``neuron`` (``"alif"`` or ``"dpi"``) and DPI mapping say how it runs.
    X : ndarray [N, T, F]
    mismatch : float
        Coefficient of variation of the device mismatch (0: none).
    seed : int
        Seed of the mismatch draw.
    batch_size : int
        Samples simulated together as copies of the network.
    record : bool
        Keep the spike raster (memory ``N * T * substeps * H`` bytes).
    """
    if not mismatch >= 0:
        raise ValueError(f"mismatch must be >= 0, got {mismatch}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    p = net
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3 or X.shape[2] != p.n_inputs:
        raise ValueError(f"simulate_lsnn: X must have shape (N, T, {p.n_inputs}), got {X.shape}")
    H, K = p.n_hidden, p.substeps
    N, T, _ = X.shape
    rng = np.random.default_rng(seed)
    if net.neuron == "alif":
        factors = {k: lognormal_factors(H, mismatch, rng) for k in ("tau_mem", "tau_adapt", "theta0")}
    else:
        factors = draw_mismatch(H, DPIParams.mismatch_keys, mismatch, rng) if mismatch > 0 else {}
    counts = np.zeros((N, T, H))
    raster = np.zeros((N, T * K, H), dtype=bool) if record else None
    t0 = time.perf_counter()
    with brian_device("runtime", "numpy"):
        for start in range(0, N, int(batch_size)):
            xb = X[start:start + int(batch_size)]
            B = len(xb)
            cur = np.einsum("btf,hf->tbh", xb, p.w_in).reshape(T, B * H)
            if net.neuron == "alif":
                g, syns = _alif_group(p, B, np.repeat(cur, K, axis=0), factors)
            else:
                g, syns = _dpi_group(p, B, cur, p.dpi, factors)
            mon = SpikeMonitor(g)
            Network(g, *syns, mon).run(T * K * p.dt_ms * ms)
            idx = np.asarray(mon.i[:])
            # DPI spikes are binned into LSNN steps; ALIF spikes sit on step starts
            step = np.minimum((np.asarray(mon.t / second) * 1e3 / p.dt_ms
                               + (0.5 if net.neuron == "alif" else 0.0)).astype(int), T * K - 1)
            sample, unit = idx // H, idx % H
            flat = (sample * T + step // K) * H + unit
            counts[start:start + B] = np.bincount(flat, minlength=B * T * H).reshape(B, T, H)
            if raster is not None:
                raster[start + sample, step, unit] = True
    scores = net.scores(counts)
    return LSNNResult(predictions=scores.argmax(1), scores=scores, counts=counts, raster=raster,
                      wall_seconds=time.perf_counter() - t0)
