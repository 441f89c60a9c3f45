"""Current-mode DPI neuron of DYNAP-SE (Chicca et al. 2014, Proc. IEEE 102(9), 1367-1388).

The adaptive exponential I&F silicon neuron built from a differential-pair integrator, in the
form used by teili and by Rockpool's DynapSim, with the DYNAP-SE1 synapse types of
:mod:`brian_models.synapse_types` (parameters: :class:`brian_models.parameters.DPIParams`)::

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

from brian2 import amp

from brian_models.assemble import assemble
from brian_models.checks import ParameterError
from brian_models.neuron import NeuronModel
from brian_models.parameters import DPIParams, NoiseParams
from brian_models.synapses import CURRENT_NMDA_GATE

__all__ = ["dpi_model"]

_UNITS = {"C_mem": "farad", "I_tau": "amp", "I_th": "amp", "I_0": "amp", "U_T": "volt",
          "kappa": "1", "I_spkthr": "amp", "I_reset": "amp", "t_ref": "second",
          "tau_ahp": "second", "I_ahp_w": "amp", "I_a_gain": "amp", "I_a_th": "amp",
          "I_a_norm": "amp"}


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
        "dpi", p, _UNITS,
        membrane=("dI_mem/dt = clip(F_mem, (I_0 - I_mem)/dt, inf*amp/second) : amp (unless refractory)\n"
                  "F_mem = (I_th/I_tau*(I_in - I_leak) + I_a/I_tau*(I_mem + I_th) - I_mem*I_leak/I_tau)"
                  "/(tau_mem*(1 + I_th/I_mem)) : amp/second\n"
                  "dI_ahp/dt = -I_ahp/tau_ahp : amp\n"
                  "I_leak = I_tau + I_ahp + I_gaba_a : amp\n"
                  "I_a = 0.5*I_a_gain*(1 + tanh((I_mem - I_a_th)/(2*I_a_norm))) : amp\n"
                  "tau_mem = C_mem*U_T/(kappa*I_tau) : second\n"),
        nmda_gate=CURRENT_NMDA_GATE, noise=noise, state={"I_mem": p.I_0 * amp, "I_ahp": 0 * amp},
        threshold="I_mem > I_spkthr", reset="I_mem = I_reset; I_ahp += I_ahp_w",
    )
