"""Leaky integrate-and-fire neuron with current-based exponential synapses.

The textbook LIF (Lapicque 1907; Gerstner, Kistler, Naud & Paninski 2014, *Neuronal
Dynamics*, ch. 1), with the DYNAP-SE synapse types of :mod:`brian_models.synapse_types`
(parameters: :class:`brian_models.parameters.LIFParams`)::

    tau_mem dv/dt = -(v - v_rest) * (1 + shunt) + R_mem * I_in              (not refractory)
    I_in    = I_ampa + g_nmda(v) * I_nmda - I_gaba_b + I_ext + I_inp [+ I_noise]
    shunt   = R_mem * I_gaba_a / (v_thresh - v_rest)
    g_nmda  = 1 / (1 + exp(-(v - v_nmda_half) / v_nmda_slope))
    v > v_thresh  ->  spike, v = v_reset, v clamped for t_ref

GABA_A is a shunt with reversal potential ``v_rest``: it adds the conductance
``I_gaba_a / (v_thresh - v_rest)`` to the leak conductance ``1 / R_mem`` (``shunt`` is the
relative increase), so it is silent at rest and removes exactly ``I_gaba_a`` at threshold
(where GABA_B of the same size would remove the same current).
The NMDA gate is the Mg block of Jahr & Stevens (1990).

f-I curve (constant ``I``, no synaptic input, ``v`` starting at ``v_reset``)::

    f(I) = 1 / (t_ref + tau_mem * ln((v_rest + R I - v_reset) / (v_rest + R I - v_thresh)))

for ``v_rest + R I > v_thresh`` (else 0); with the convention ``v_rest = v_reset`` this is
``1 / (t_ref + tau_mem * ln(R I / (R I - (v_thresh - v_reset))))`` (:func:`lif_rate`).

Integration: forward Euler (``"euler"``); ``recommended_dt`` = 0.1 ms. Brian2's refractory
bookkeeping makes the simulated inter-spike interval ``t_ref - dt`` plus the crossing time
rounded up to a step, so rates are within ``dt / ISI`` of :func:`lif_rate`.
"""

from __future__ import annotations

import numpy as np
from brian2 import volt

from brian_models.assemble import assemble
from brian_models.neuron import NeuronModel
from brian_models.parameters import LIFParams, NoiseParams
from brian_models.noise import white_noise_term
from brian_models.synapses import VOLTAGE_NMDA_GATE

__all__ = ["lif_model", "lif_rate"]

_UNITS = {"tau_mem": "second", "R_mem": "ohm", "v_rest": "volt", "v_reset": "volt",
          "v_thresh": "volt", "t_ref": "second"}


def lif_model(params: LIFParams | None = None, noise: NoiseParams | None = None) -> NeuronModel:
    """The LIF :class:`~brian_models.neuron.NeuronModel` (see the module docstring).

    Parameters
    ----------
    params : LIFParams, optional
        Default :meth:`LIFParams.default`.
    noise : NoiseParams, optional
        OU or white membrane noise current.
    """
    p = params or LIFParams.default()
    return assemble(
        "lif", p, _UNITS,
        membrane=("dv/dt = (-(v - v_rest)*(1 + shunt) + R_mem*I_in)/tau_mem"
                  f"{white_noise_term(noise, 'R_mem/tau_mem')} : volt (unless refractory)\n"
                  "shunt = R_mem*I_gaba_a/(v_thresh - v_rest) : 1\n"),
        nmda_gate=VOLTAGE_NMDA_GATE, noise=noise, state={"v": p.v_rest * volt},
        threshold="v > v_thresh", reset="v = v_reset",
    )


def lif_rate(I: float | np.ndarray, params: LIFParams | None = None) -> np.ndarray:
    """Analytic firing rate (Hz) of the LIF neuron under a constant current ``I`` (A).

    ``1 / (t_ref + tau_mem * ln((v_rest + R I - v_reset) / (v_rest + R I - v_thresh)))`` above
    rheobase, 0 below; equals ``1 / (t_ref + tau ln(RI / (RI - (v_th - v_reset))))`` when
    ``v_rest = v_reset``.
    """
    p = params or LIFParams.default()
    I = np.asarray(I, dtype=float)
    v_inf = p.v_rest + p.R_mem * I
    above = v_inf > p.v_thresh
    safe = np.where(above, v_inf, p.v_thresh + 1.0)
    isi = p.t_ref + p.tau_mem * np.log((safe - p.v_reset) / (safe - p.v_thresh))
    return np.where(above, 1.0 / isi, 0.0)
