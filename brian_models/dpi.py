"""Current-mode DPI neuron of DYNAP-SE (Chicca et al. 2014, Proc. IEEE 102(9), 1367-1388).

The adaptive exponential I&F silicon neuron built from a differential-pair integrator, in the
form used by teili and by Rockpool's DynapSim, with the DYNAP-SE1 synapse types of
:mod:`brian_models.synapses`::

    tau (1 + I_th / I_mem) dI_mem/dt = (I_th / I_tau) (I_in - I_leak) + f(I_mem)
                                       - I_mem I_leak / I_tau                (not refractory)
    I_leak = I_tau + I_ahp + I_gaba_a
    f(I_mem) = (I_a / I_tau) (I_mem + I_th),
    I_a = I_a_gain / (1 + exp(-(I_mem - I_a_th) / I_a_norm))
    I_in = I_nmda / (1 + I_nmda_thr / I_mem) + I_ampa - I_gaba_b + I_ext + I_inp [+ I_noise]
    tau_ahp dI_ahp/dt = -I_ahp
    tau = C_mem U_T / (kappa I_tau)
    I_mem > I_spkthr  ->  spike, I_mem = I_reset, I_ahp += I_ahp_w, I_mem held for t_ref
    I_mem >= I_0 at all times (clip)

With ``I_leak = I_tau + I_ahp`` this is Chicca et al.'s
``tau (1 + I_th/I_mem) dI_mem/dt = (I_th/I_tau)(I_in - I_ahp - I_tau) + f(I_mem)
- I_mem (1 + I_ahp/I_tau)``. The AHP current and the GABA_A (shunting) current both add to
the leak ``I_tau``, as teili's ``Ishunt`` does: GABA_A therefore both subtracts from the input
(with the gain ``I_th/I_tau``) and divides the steady state, which for ``I_a = 0`` is
``I_mem = I_th (I_in - I_leak) / I_leak``. Well below ``I_a_th`` the neuron is a leaky
integrator of time constant ``tau`` (for ``I_mem >> I_th``; for ``I_mem << I_th`` it grows
logistically); near ``I_a_th`` the positive feedback ``f`` (gain ``I_a_gain / I_tau > 1``)
takes over and produces the spike upswing (:attr:`DPIParams.rheobase`). Without input and
feedback the equation reduces exactly to ``tau dI_mem/dt = -I_mem`` (with a constant shunt,
to ``tau dI_mem/dt = -(I_leak / I_tau) I_mem``), the check of :attr:`DPIParams.tau_mem`.

Integration: forward Euler (``"euler"``); ``recommended_dt`` = 0.1 ms. Against a converged
integration the first spike comes within 4 steps (Euler lags in the fast logistic rise from
``I_0``, whose rate ``(I_in - I_tau) / (tau I_tau)`` grows with the input), inter-spike
intervals are within 1.5 % below 100 Hz and within 4.5 % up to 350 Hz, sub-threshold traces
within 1 % of their steady state; ``dt`` = 0.05 ms halves the interval error. The clip is
written into the Euler step, ``dI_mem/dt = clip(F, (I_0 - I_mem)/dt, inf)``, which makes one
step ``I_mem <- max(I_mem + dt F, I_0)`` (it also keeps a strong shunt from driving an
explicit step below zero); use these equations only with ``method="euler"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar, Mapping

import numpy as np
from brian2 import amp

from brian_models.assemble import assemble
from brian_models.neuron import (
    NeuronModel,
    ParameterError,
    check_params,
    flatten_params,
    unflatten_params,
)
from brian_models.noise import NoiseParams
from brian_models.synapses import (
    CURRENT_GATE_KEYS,
    CURRENT_NMDA_GATE,
    TAU_KEYS,
    SynapseParams,
)

__all__ = ["DPIParams", "dpi_model"]

_SYN_KEYS = TAU_KEYS + CURRENT_GATE_KEYS
_UNITS = {"C_mem": "farad", "I_tau": "amp", "I_th": "amp", "I_0": "amp", "U_T": "volt",
          "kappa": "1", "I_spkthr": "amp", "I_reset": "amp", "t_ref": "second",
          "tau_ahp": "second", "I_ahp_w": "amp", "I_a_gain": "amp", "I_a_th": "amp",
          "I_a_norm": "amp"}


@dataclass(frozen=True)
class DPIParams:
    """DPI neuron parameters in SI units.

    Parameters
    ----------
    C_mem : float
        Membrane capacitance (F).
    I_tau : float
        Leak current (A), bias ``IF_TAU1_N`` / ``IF_TAU2_N``; sets ``tau_mem``.
    I_th : float
        Threshold (gain) current of the DPI (A), bias ``IF_THR_N``.
    I_0 : float
        Transistor dark current (A): the floor of ``I_mem``.
    U_T : float
        Thermal voltage (V).
    kappa : float
        Subthreshold slope factor.
    I_spkthr : float
        Spike threshold on ``I_mem`` (A).
    I_reset : float
        ``I_mem`` after a spike (A), ``>= I_0``.
    t_ref : float
        Refractory period (s), bias ``IF_RFR_N``.
    tau_ahp : float
        Time constant of the after-hyperpolarisation current (s), bias ``IF_AHTAU_N``.
    I_ahp_w : float
        AHP increment per spike (A), bias ``IF_AHW_P``; 0 disables adaptation.
    I_a_gain, I_a_th, I_a_norm : float
        Positive feedback: gain, threshold and width of its sigmoid (A).
    synapse : SynapseParams
        Synaptic time constants and the NMDA gate current ``I_nmda_thr`` (``IF_NMDA_N``).
    """

    C_mem: float = 2e-12
    I_tau: float = 5e-12
    I_th: float = 20e-12
    I_0: float = 0.5e-12
    U_T: float = 25e-3
    kappa: float = 0.7
    I_spkthr: float = 1e-9
    I_reset: float = 0.5e-12
    t_ref: float = 2e-3
    tau_ahp: float = 50e-3
    I_ahp_w: float = 0.0
    I_a_gain: float = 50e-12
    I_a_th: float = 0.5e-9
    I_a_norm: float = 10e-12
    synapse: SynapseParams = field(default_factory=SynapseParams.dynapse1)

    #: Largest verified time step (s) for forward Euler.
    recommended_dt: ClassVar[float] = 0.1e-3

    def __post_init__(self) -> None:
        check_params(self, positive=("C_mem", "I_tau", "I_th", "I_0", "U_T", "kappa", "I_spkthr",
                                     "tau_ahp", "I_a_norm"),
                     non_negative=("t_ref", "I_ahp_w", "I_a_gain", "I_a_th"))
        if not self.I_0 <= self.I_reset < self.I_spkthr:
            raise ParameterError(
                f"DPIParams: need I_0 <= I_reset < I_spkthr, got I_0={self.I_0} A, "
                f"I_reset={self.I_reset} A, I_spkthr={self.I_spkthr} A"
            )

    @classmethod
    def dynapse1(cls) -> "DPIParams":
        """DYNAP-SE1-like preset.

        C_mem 2 pF, I_tau 5 pA (tau_mem = 14.3 ms with U_T 25 mV, kappa 0.7), I_th 20 pA
        (gain I_th/I_tau = 4, Rockpool's default ratio), I_0 = I_reset = 0.5 pA, positive
        feedback and spike threshold as teili's DPI defaults (I_a_gain 50 pA, I_a_th 0.5 nA,
        I_a_norm 10 pA, I_spkthr 1 nA), t_ref 2 ms, tau_ahp 50 ms, no adaptation
        (I_ahp_w = 0). Rheobase (:attr:`rheobase`) 112 pA.
        """
        return cls()

    default = dynapse1

    @property
    def tau_mem(self) -> float:
        """Membrane time constant ``C_mem U_T / (kappa I_tau)`` (s)."""
        return self.C_mem * self.U_T / (self.kappa * self.I_tau)

    @property
    def rheobase(self) -> float:
        """Smallest constant input current (A) that makes the neuron fire (no AHP, no synapses).

        A steady state ``dI_mem/dt = 0`` satisfies ``(I_th/I_tau)(I_in - I_tau) = G(I_mem)``
        with ``G(I) = I - (I_a(I)/I_tau)(I + I_th)``; rising from ``I_0`` the membrane stops at
        the first such point, so it fires iff the left side exceeds ``max G`` on
        ``[I_0, I_spkthr]`` (evaluated on a fine logarithmic grid).
        """
        I = np.geomspace(self.I_0, self.I_spkthr, 200_001)
        with np.errstate(over="ignore"):
            I_a = self.I_a_gain / (1.0 + np.exp(-(I - self.I_a_th) / self.I_a_norm))
        G = I - I_a / self.I_tau * (I + self.I_th)
        return float(self.I_tau + max(G.max(), 0.0) * self.I_tau / self.I_th)

    def with_tau_mem(self, tau_mem: float) -> "DPIParams":
        """A copy whose ``I_tau`` gives the membrane time constant ``tau_mem`` (s)."""
        if not tau_mem > 0:
            raise ParameterError(f"DPIParams: tau_mem must be > 0 s, got {tau_mem}")
        return replace(self, I_tau=self.C_mem * self.U_T / (self.kappa * tau_mem))

    def to_dict(self) -> dict[str, float]:
        """Flat dict of SI floats (synapse fields included)."""
        return flatten_params(self, _SYN_KEYS)

    @classmethod
    def from_dict(cls, d: Mapping[str, float]) -> "DPIParams":
        """Parameters from a flat dict; missing keys take :meth:`dynapse1` values."""
        return unflatten_params(cls, cls.dynapse1(), d, _SYN_KEYS)


def dpi_model(params: DPIParams | None = None, noise: NoiseParams | None = None) -> NeuronModel:
    """The DPI :class:`~brian_models.neuron.NeuronModel` (see the module docstring).

    Parameters
    ----------
    params : DPIParams, optional
        Default :meth:`DPIParams.dynapse1`.
    noise : NoiseParams, optional
        Ornstein-Uhlenbeck input current (white noise is refused: it would enter
        multiplicatively; use a short ``tau_noise`` instead).
    """
    p = params or DPIParams.dynapse1()
    if noise is not None and noise.is_white:
        raise ParameterError(
            "dpi_model: white noise would enter the DPI equation multiplicatively, which "
            "Euler-Maruyama cannot integrate; use NoiseParams.ou(sigma, tau_noise) with a "
            "short tau_noise (e.g. 1 ms) instead"
        )
    return assemble(
        "dpi", p, _UNITS, _SYN_KEYS,
        membrane=("dI_mem/dt = clip(F_mem, (I_0 - I_mem)/dt, inf*amp/second) : amp (unless refractory)\n"
                  "F_mem = (I_th/I_tau*(I_in - I_leak) + I_a/I_tau*(I_mem + I_th) - I_mem*I_leak/I_tau)"
                  "/(tau_mem*(1 + I_th/I_mem)) : amp/second\n"
                  "dI_ahp/dt = -I_ahp/tau_ahp : amp\n"
                  "I_leak = I_tau + I_ahp + I_gaba_a : amp\n"
                  "I_a = 0.5*I_a_gain*(1 + tanh((I_mem - I_a_th)/(2*I_a_norm))) : amp\n"
                  "tau_mem = C_mem*U_T/(kappa*I_tau) : second\n"),
        nmda_gate=CURRENT_NMDA_GATE, noise=noise, state={"I_mem": p.I_0 * amp, "I_ahp": 0 * amp},
        threshold="I_mem > I_spkthr", reset="I_mem = I_reset; I_ahp += I_ahp_w",
        mismatch_keys=("I_tau", "I_th", "I_a_gain", "I_a_th", "I_spkthr", "I_nmda_thr", "t_ref",
                       "tau_ahp", "I_ahp_w") + TAU_KEYS,
    )
