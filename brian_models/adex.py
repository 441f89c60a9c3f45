"""Adaptive exponential integrate-and-fire neuron (Brette & Gerstner 2005, J. Neurophysiol. 94).

With the DYNAP-SE synapse types of :mod:`brian_models.synapses`::

    C_mem dv/dt = -g_L (v - E_L) + g_L Delta_T exp((v - V_T) / Delta_T)
                  - g_shunt (v - E_L) - w + I_in                            (not refractory)
    tau_w dw/dt = a (v - E_L) - w
    I_in    = I_ampa + g_nmda(v) * I_nmda - I_gaba_b + I_ext + I_inp [+ I_noise]
    g_shunt = I_gaba_a / (V_T - E_L)
    g_nmda  = 1 / (1 + exp(-(v - v_nmda_half) / v_nmda_slope))
    v > V_spike  ->  spike, v = V_r, w += b, v clamped for t_ref

GABA_A is a shunting conductance with reversal potential ``E_L``, scaled so that it removes
exactly ``I_gaba_a`` at ``v = V_T``; the NMDA gate is the Mg block of Jahr & Stevens (1990).

Preset (:meth:`AdExParams.brette_gerstner_2005`, their Table 1): C = 281 pF, g_L = 30 nS,
E_L = -70.6 mV, V_T = -50.4 mV, Delta_T = 2 mV, tau_w = 144 ms, a = 4 nS, b = 80.5 pA,
V_r = E_L, spike detection at V_T + 5 Delta_T = -40.4 mV, no refractory period;
:meth:`AdExParams.default` adds t_ref = 2 ms.

Integration: forward Euler (``"euler"``); ``recommended_dt`` = 0.1 ms. Against a converged
integration (``dt / 50``) the first spike comes within 2 steps and inter-spike intervals
within 0.5 % (10-140 Hz); the exponential upswing is cut at ``V_spike`` before Euler loses it.
"""

from __future__ import annotations

from brian2 import amp, volt

from brian_models.assemble import assemble
from brian_models.neuron import NeuronModel
from brian_models.parameters import AdExParams, NoiseParams
from brian_models.noise import white_noise_term
from brian_models.synapses import VOLTAGE_NMDA_GATE

__all__ = ["adex_model"]

_UNITS = {"C_mem": "farad", "g_L": "siemens", "E_L": "volt", "V_T": "volt", "Delta_T": "volt",
          "tau_w": "second", "a": "siemens", "b": "amp", "V_r": "volt", "V_spike": "volt",
          "t_ref": "second"}


def adex_model(params: AdExParams | None = None, noise: NoiseParams | None = None) -> NeuronModel:
    """The AdEx :class:`~brian_models.neuron.NeuronModel` (see the module docstring).

    Parameters
    ----------
    params : AdExParams, optional
        Default :meth:`AdExParams.default`.
    noise : NoiseParams, optional
        OU or white membrane noise current.
    """
    p = params or AdExParams.default()
    return assemble(
        "adex", p, _UNITS,
        membrane=("dv/dt = (-g_L*(v - E_L) + g_L*Delta_T*exp((v - V_T)/Delta_T) - g_shunt*(v - E_L)"
                  f" - w + I_in)/C_mem{white_noise_term(noise, '1/C_mem')} : volt (unless refractory)\n"
                  "dw/dt = (a*(v - E_L) - w)/tau_w : amp\n"
                  "g_shunt = I_gaba_a/(V_T - E_L) : siemens\n"),
        nmda_gate=VOLTAGE_NMDA_GATE, noise=noise, state={"v": p.E_L * volt, "w": 0 * amp},
        threshold="v > V_spike", reset="v = V_r; w += b",
    )
