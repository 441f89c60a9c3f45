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

from dataclasses import dataclass, field, replace
from typing import ClassVar, Mapping

from brian2 import amp, volt

from brian_models.assemble import assemble
from brian_models.neuron import (
    NeuronModel,
    ParameterError,
    check_params,
    flatten_params,
    unflatten_params,
)
from brian_models.noise import NoiseParams, white_noise_term
from brian_models.synapses import (
    TAU_KEYS,
    VOLTAGE_GATE_KEYS,
    VOLTAGE_NMDA_GATE,
    SynapseParams,
)

__all__ = ["AdExParams", "adex_model"]

_SYN_KEYS = TAU_KEYS + VOLTAGE_GATE_KEYS
_UNITS = {"C_mem": "farad", "g_L": "siemens", "E_L": "volt", "V_T": "volt", "Delta_T": "volt",
          "tau_w": "second", "a": "siemens", "b": "amp", "V_r": "volt", "V_spike": "volt",
          "t_ref": "second"}


@dataclass(frozen=True)
class AdExParams:
    """AdEx parameters in SI units (names as in Brette & Gerstner 2005).

    Parameters
    ----------
    C_mem : float
        Membrane capacitance (F).
    g_L : float
        Leak conductance (S).
    E_L, V_T, Delta_T : float
        Leak reversal, exponential threshold and slope factor (V).
    tau_w : float
        Adaptation time constant (s).
    a : float
        Subthreshold adaptation conductance (S).
    b : float
        Spike-triggered adaptation current increment (A).
    V_r, V_spike : float
        Reset potential and spike detection potential (V).
    t_ref : float
        Refractory period (s).
    synapse : SynapseParams
    """

    C_mem: float = 281e-12
    g_L: float = 30e-9
    E_L: float = -70.6e-3
    V_T: float = -50.4e-3
    Delta_T: float = 2e-3
    tau_w: float = 144e-3
    a: float = 4e-9
    b: float = 80.5e-12
    V_r: float = -70.6e-3
    V_spike: float = -40.4e-3
    t_ref: float = 2e-3
    synapse: SynapseParams = field(default_factory=SynapseParams.dynapse1)

    #: Largest verified time step (s) for forward Euler.
    recommended_dt: ClassVar[float] = 0.1e-3

    def __post_init__(self) -> None:
        check_params(self, positive=("C_mem", "g_L", "Delta_T", "tau_w"),
                     non_negative=("a", "b", "t_ref"))
        if not self.V_T > self.E_L:
            raise ParameterError(f"AdExParams: V_T ({self.V_T} V) must lie above E_L ({self.E_L} V)")
        if not self.V_spike > max(self.V_T, self.V_r):
            raise ParameterError(
                f"AdExParams: V_spike ({self.V_spike} V) must lie above V_T ({self.V_T} V) "
                f"and V_r ({self.V_r} V)"
            )

    @classmethod
    def brette_gerstner_2005(cls) -> "AdExParams":
        """Table 1 of Brette & Gerstner (2005), detection at V_T + 5 Delta_T, no refractory."""
        return cls(t_ref=0.0)

    @classmethod
    def default(cls) -> "AdExParams":
        """:meth:`brette_gerstner_2005` with a 2 ms refractory period."""
        return replace(cls.brette_gerstner_2005(), t_ref=2e-3)

    @property
    def tau_mem(self) -> float:
        """Membrane time constant ``C_mem / g_L`` (s)."""
        return self.C_mem / self.g_L

    def to_dict(self) -> dict[str, float]:
        """Flat dict of SI floats (synapse fields included)."""
        return flatten_params(self, _SYN_KEYS)

    @classmethod
    def from_dict(cls, d: Mapping[str, float]) -> "AdExParams":
        """Parameters from a flat dict; missing keys take :meth:`default` values."""
        return unflatten_params(cls, cls.default(), d, _SYN_KEYS)


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
        "adex", p, _UNITS, _SYN_KEYS,
        membrane=("dv/dt = (-g_L*(v - E_L) + g_L*Delta_T*exp((v - V_T)/Delta_T) - g_shunt*(v - E_L)"
                  f" - w + I_in)/C_mem{white_noise_term(noise, '1/C_mem')} : volt (unless refractory)\n"
                  "dw/dt = (a*(v - E_L) - w)/tau_w : amp\n"
                  "g_shunt = I_gaba_a/(V_T - E_L) : siemens\n"),
        nmda_gate=VOLTAGE_NMDA_GATE, noise=noise, state={"v": p.E_L * volt, "w": 0 * amp},
        threshold="v > V_spike", reset="v = V_r; w += b",
        mismatch_keys=("C_mem", "g_L", "tau_w", "a", "b", "t_ref") + TAU_KEYS,
    )
