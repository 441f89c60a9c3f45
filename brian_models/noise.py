"""Membrane noise (Ornstein-Uhlenbeck or white current) and Poisson background input.

Ornstein-Uhlenbeck current (Uhlenbeck & Ornstein 1930; the usual model of diffuse synaptic
background, e.g. Destexhe et al. 2001), added to the neuron's input current ``I_in``::

    dI_noise/dt = -I_noise / tau_noise + sigma * sqrt(2 / tau_noise) * xi(t)

``xi`` is Brian2's Gaussian white noise (unit ``second**-0.5``). ``sigma`` (amperes) is the
stationary standard deviation of ``I_noise`` and ``tau_noise`` (seconds) its correlation
time. Integrated with Euler-Maruyama at step ``dt`` the stationary variance is
``sigma**2 / (1 - dt / (2 * tau_noise))``: 1 % high at ``dt = tau_noise / 50``.

White noise is the limit ``tau_noise -> 0`` at fixed low-frequency power ``2 sigma**2
tau_noise``: ``I_noise = sigma_w * xi`` with the intensity ``sigma_w = sigma * sqrt(2 *
tau_noise)`` in ``A * s**0.5`` (the mean of ``I_noise`` over a window ``T`` has standard
deviation ``sigma_w / sqrt(T)``). Brian2 accepts ``xi`` only in differential equations, so a
model adds the white term straight into its membrane equation (:func:`white_noise_term`);
for LIF ``tau_mem dv/dt = ... + R_mem * sigma_w * xi``, which makes ``v`` an OU process of
variance ``(R_mem * sigma_w)**2 / (2 * tau_mem)``. White noise would enter the DPI equation
multiplicatively (through ``I_mem``), which the Euler-Maruyama scheme cannot integrate: use
an OU current with a short ``tau_noise`` there.

Poisson background (:class:`PoissonBackground`): ``n_sources`` independent Poisson trains of
``rate`` Hz, each spike adding ``efficacy`` to one synaptic current; by Campbell's theorem the
current has mean ``n * rate * e * tau`` and variance ``n * rate * e**2 * tau / 2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from brian2 import Hz, NeuronGroup, PoissonInput, Quantity, amp, second

from brian_models.checks import ParameterError, check_params
from brian_models.parameters import NoiseParams
from brian_models.synapse_types import SYNAPSE_TYPES
from brian_models.synapses import SYNAPSE_VARIABLE

__all__ = [
    "noise_equations",
    "white_noise_term",
    "PoissonBackground",
]


def noise_equations(noise: NoiseParams | None) -> tuple[str, dict[str, Quantity], dict[str, Quantity]]:
    """Equation fragment, per-neuron parameters and initial values of a noise current.

    Returns
    -------
    equations : str
        OU: the state ``I_noise`` (amp) with ``sigma_noise`` and ``tau_noise``; white: only
        the parameter ``sigma_noise : amp*second**0.5`` (use :func:`white_noise_term`);
        no noise: ``""``.
    per_neuron, initial : dict of str to Quantity
    """
    if noise is None:
        return "", {}, {}
    if noise.is_white:
        eqs = "sigma_noise : amp*second**0.5 (constant)\n"
        return eqs, {"sigma_noise": noise.sigma * amp * second ** 0.5}, {}
    eqs = (
        "dI_noise/dt = -I_noise/tau_noise + sigma_noise*sqrt(2/tau_noise)*xi : amp\n"
        "sigma_noise : amp (constant)\n"
        "tau_noise : second (constant)\n"
    )
    per_neuron = {"sigma_noise": noise.sigma * amp, "tau_noise": noise.tau_noise * second}
    return eqs, per_neuron, {"I_noise": 0 * amp}


def white_noise_term(noise: NoiseParams | None, scale: str) -> str:
    """Term ``" + scale*sigma_noise*xi"`` for a membrane equation, or ``""``.

    ``scale`` converts a current into the membrane variable's rate of change, e.g.
    ``"R_mem/tau_mem"`` (LIF) or ``"1/C_mem"`` (AdEx).
    """
    if noise is None or not noise.is_white:
        return ""
    return f" + ({scale})*sigma_noise*xi"


@dataclass(frozen=True)
class PoissonBackground:
    """Poisson background spikes onto one synaptic current of every neuron of a group.

    Parameters
    ----------
    rate : float
        Rate of each source in Hz.
    n_sources : int
        Independent sources per neuron.
    efficacy : float
        Current added per spike in amperes (``w * e`` of one synapse).
    synapse : str
        Synapse type, default ``"AMPA"``.
    """

    rate: float
    n_sources: int
    efficacy: float
    synapse: str = "AMPA"

    def __post_init__(self) -> None:
        check_params(self, non_negative=("rate", "efficacy"))
        if int(self.n_sources) < 1:
            raise ParameterError(f"PoissonBackground: n_sources must be >= 1, got {self.n_sources}")
        if self.synapse not in SYNAPSE_TYPES:
            raise ParameterError(
                f"PoissonBackground: unknown synapse type {self.synapse!r}; "
                f"choose one of {', '.join(SYNAPSE_TYPES)}"
            )

    def to_brian(self, group: NeuronGroup, **kwargs: Any) -> PoissonInput:
        """A :class:`brian2.PoissonInput` on ``group`` (add it to the same Network)."""
        return PoissonInput(group, SYNAPSE_VARIABLE[self.synapse], int(self.n_sources),
                            self.rate * Hz, weight=self.efficacy * amp, **kwargs)

    def mean_current(self, tau: float) -> float:
        """Stationary mean of the synaptic current (A) for time constant ``tau`` (s)."""
        return self.n_sources * self.rate * self.efficacy * tau

    def current_std(self, tau: float) -> float:
        """Stationary standard deviation of the synaptic current (A)."""
        return math.sqrt(self.n_sources * self.rate * self.efficacy ** 2 * tau / 2.0)
