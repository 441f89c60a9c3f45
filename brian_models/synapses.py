"""Brian2 form of the four DYNAP-SE synapse types (:mod:`brian_models.synapse_types`), shared by all models.

Each synapse type ``x`` is one first-order low-pass current per postsynaptic neuron (the DPI
synapse of Bartolozzi & Indiveri 2007 and Chicca et al. 2014, Proc. IEEE 102(9), in its
linear regime ``I_syn >> I_g``), and a presynaptic spike of a synapse with integer count
``w`` (repeated CAM entries) and efficacy ``e`` (amp, the per-core base weight) adds ``w*e``::

    dI_x/dt = -I_x / tau_x,        on a presynaptic spike:  I_x += w * e

so one spike at ``t0`` gives ``I_x(t) = w * e * exp(-(t - t0) / tau_x)`` and carries the
charge ``w * e * tau_x`` (forward Euler keeps this charge exactly, at any ``dt < tau_x``). In
Brian2 the jump is applied after the state update of the step that starts at ``t0``, so it
first shows in the state recorded at ``t0 + dt``.

How the currents enter the membrane (each neuron model documents its exact form):

- AMPA adds to the input current;
- NMDA adds through a gate ``g_nmda`` of the membrane state: for the DPI neuron
  ``g_nmda = I_mem / (I_mem + I_nmda_thr)`` (i.e. ``I_nmda / (1 + I_f_nmda / I_mem)``, the
  ``IF_NMDA_N`` threshold); for LIF and AdEx the Mg-block sigmoid of Jahr & Stevens (1990),
  ``g_nmda = 1 / (1 + exp(-(v - v_nmda_half) / v_nmda_slope))``, which with 1 mM Mg gives
  ``v_nmda_half = -20.5 mV`` and ``v_nmda_slope = 16.1 mV`` (``0.062 / mV`` and ``3.57 mM``);
- GABA_B subtracts from the input current;
- GABA_A shunts: it increases the leak (see the neuron models).

The synaptic model for :class:`brian2.Synapses` is :data:`SYNAPSE_MODEL` with
``on_pre=on_pre(synapse_type)``; :func:`make_synapses` builds one from a ``[n_post, n_pre]``
count matrix; in Brian2 the count and the efficacy are called ``w_syn`` and ``e_syn``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from brian2 import NeuronGroup, Quantity, Synapses, amp, second, volt

from brian_models.checks import ParameterError
from brian_models.synapse_types import SYNAPSE_TYPES, SYNAPSES, TAU_KEYS, SynapseParams

__all__ = [
    "SYNAPSE_VARIABLE",
    "SYNAPSE_TAU",
    "SYNAPSE_EQUATIONS",
    "SYNAPSE_MODEL",
    "INPUT_EQUATIONS",
    "VOLTAGE_NMDA_GATE",
    "CURRENT_NMDA_GATE",
    "input_current",
    "on_pre",
    "make_synapses",
    "synapse_quantities",
]

#: Postsynaptic state variable of each synapse type.
SYNAPSE_VARIABLE = {name: s.variable for name, s in SYNAPSES.items()}
#: Per-neuron time-constant parameter of each synapse type.
SYNAPSE_TAU = {name: s.tau for name, s in SYNAPSES.items()}

#: The four synaptic currents and their per-neuron time constants.
SYNAPSE_EQUATIONS = """
dI_ampa/dt = -I_ampa/tau_ampa : amp
dI_nmda/dt = -I_nmda/tau_nmda : amp
dI_gaba_a/dt = -I_gaba_a/tau_gaba_a : amp
dI_gaba_b/dt = -I_gaba_b/tau_gaba_b : amp
tau_ampa : second (constant)
tau_nmda : second (constant)
tau_gaba_a : second (constant)
tau_gaba_b : second (constant)
"""

#: Builder-driven inputs: a DC bias (set once) and an input current (set per time window).
INPUT_EQUATIONS = """
I_ext : amp (constant)
I_inp : amp
"""

#: NMDA Mg-block gate of a membrane voltage ``v`` (LIF, AdEx); the logistic written with tanh
#: so that it never overflows.
VOLTAGE_NMDA_GATE = """
g_nmda = 0.5*(1 + tanh((v - v_nmda_half)/(2*v_nmda_slope))) : 1
v_nmda_half : volt (constant)
v_nmda_slope : volt (constant)
"""

#: NMDA gate of the DPI membrane current ``I_mem``: I_nmda/(1 + I_nmda_thr/I_mem).
CURRENT_NMDA_GATE = """
g_nmda = I_mem/(I_mem + I_nmda_thr) : 1
I_nmda_thr : amp (constant)
"""

#: Model of a :class:`brian2.Synapses` object: integer count ``w_syn`` and efficacy ``e_syn``
#: (amp). The suffix avoids clashes: ``e`` is Brian2's constant 2.718... and ``w`` is the
#: AdEx adaptation current.
SYNAPSE_MODEL = """
w_syn : 1 (constant)
e_syn : amp (constant)
"""


def input_current(noise: bool = False) -> str:
    """The subexpression ``I_in`` (amp): AMPA + gated NMDA - GABA_B + I_ext + I_inp [+ I_noise]."""
    extra = " + I_noise" if noise else ""
    return f"I_in = I_ampa + g_nmda*I_nmda - I_gaba_b + I_ext + I_inp{extra} : amp\n"


def on_pre(synapse_type: str) -> str:
    """``on_pre`` code of a synapse of ``synapse_type``: ``I_x_post += w_syn*e_syn``."""
    if synapse_type not in SYNAPSE_VARIABLE:
        raise ParameterError(
            f"unknown synapse type {synapse_type!r}; choose one of {', '.join(SYNAPSE_TYPES)}"
        )
    return f"{SYNAPSE_VARIABLE[synapse_type]}_post += w_syn*e_syn"


def synapse_quantities(params: SynapseParams, keys: tuple[str, ...]) -> dict[str, Quantity]:
    """Brian2 quantities of the :class:`SynapseParams` fields named in ``keys``."""
    units = {**{k: second for k in TAU_KEYS}, "I_nmda_thr": amp, "v_nmda_half": volt, "v_nmda_slope": volt}
    return {k: getattr(params, k) * units[k] for k in keys}


def make_synapses(pre: Any, post: NeuronGroup, synapse_type: str, weights: np.ndarray,
                  efficacy: float | Quantity, *, efficacy_factors: np.ndarray | None = None,
                  delay: float = 0.0, name: str | None = None) -> Synapses:
    """Synapses of one type from ``pre`` to ``post`` given a ``[n_post, n_pre]`` count matrix.

    Parameters
    ----------
    pre : brian2 group
        Source (NeuronGroup, SpikeGeneratorGroup, PoissonGroup...).
    post : NeuronGroup
        Target built from a :class:`~brian_models.neuron.NeuronModel`.
    synapse_type : {"AMPA", "NMDA", "GABA_A", "GABA_B"}
    weights : ndarray of int, shape (n_post, n_pre)
        Non-negative synapse counts (``Projection.weights``); zero entries make no synapse.
    efficacy : float or Quantity
        Efficacy ``e`` of one synapse in amperes.
    efficacy_factors : ndarray, shape (n_synapses,), optional
        Per-synapse mismatch factors (:func:`brian_models.mismatch.draw_synapse_mismatch`),
        in the order of ``np.nonzero(weights)`` (row-major: by post, then pre).
    delay : float
        Axonal delay in seconds.
    name : str, optional
        Brian2 object name.
    """
    w = np.asarray(weights)
    if w.shape != (len(post), len(pre)):
        raise ParameterError(
            f"synapse weights have shape {w.shape} but {len(post)} post x {len(pre)} pre "
            "neurons need that shape"
        )
    if np.any(w < 0) or not np.all(w == np.round(w)):
        raise ParameterError("synapse weights must be non-negative integer counts")
    e = float(efficacy / amp) if isinstance(efficacy, Quantity) else float(efficacy)
    if not (np.isfinite(e) and e >= 0):
        raise ParameterError(f"synapse efficacy must be finite and >= 0 A, got {e}")
    post_idx, pre_idx = np.nonzero(w)
    kwargs: dict[str, Any] = {} if name is None else {"name": name}
    syn = Synapses(pre, post, model=SYNAPSE_MODEL, on_pre=on_pre(synapse_type),
                   dt=post.clock.dt, **kwargs)
    syn.connect(i=pre_idx, j=post_idx)
    syn.w_syn = w[post_idx, pre_idx].astype(float)
    factors = np.ones(len(pre_idx)) if efficacy_factors is None else np.asarray(efficacy_factors, float)
    if factors.shape != (len(pre_idx),):
        raise ParameterError(
            f"efficacy_factors have shape {factors.shape}, need ({len(pre_idx)},) "
            "(one per non-zero weight)"
        )
    syn.e_syn = e * factors * amp
    if delay:
        syn.delay = delay * second
    return syn
