"""The interface every neuron model returns, a dispatcher by name and a group factory.

A model function (:func:`brian_models.lif.lif_model`, :func:`brian_models.adex.adex_model`,
:func:`brian_models.dpi.dpi_model`) turns a frozen parameter dataclass into a
:class:`NeuronModel`: Brian2 equation strings plus the nominal value of every per-neuron
parameter. All parameters are declared per neuron in the equations (``name : unit
(constant)``), so a :class:`brian2.NeuronGroup` built from a model needs no namespace and a
network builder can multiply any of them by device-mismatch factors.

Contract shared by all models (what a network builder may rely on)
------------------------------------------------------------------
- State variables ``I_ampa, I_nmda, I_gaba_a, I_gaba_b`` (amp), each ``dI_x/dt = -I_x/tau_x``
  with per-neuron ``tau_ampa, tau_nmda, tau_gaba_a, tau_gaba_b``; a presynaptic spike adds
  ``w_syn*e_syn`` (count times efficacy; :mod:`brian_models.synapses`).
- ``I_ext : amp (constant)``: DC bias current per neuron; ``I_inp : amp``: a per-neuron input
  current the builder may rewrite between runs or from ``run_regularly`` code. Both start at 0
  (they are in :attr:`NeuronModel.initial`, not in :attr:`NeuronModel.per_neuron`).
- A subexpression ``I_in`` (amp) holds the total input current; ``g_nmda`` (1) the NMDA gate.
- With noise (:mod:`brian_models.noise`) the per-neuron ``sigma_noise`` (and ``tau_noise`` and
  the state ``I_noise`` for an Ornstein-Uhlenbeck current) are added.
- The neuron spikes through :attr:`NeuronModel.threshold`; integrate with
  :attr:`NeuronModel.method` at (at most) the params' ``recommended_dt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from brian2 import NeuronGroup, Quantity, amp, farad, ohm, second, siemens, volt

from brian_models.checks import ParameterError
from brian_models.parameters import NEURON_MODELS

__all__ = [
    "MODEL_NAMES",
    "NeuronModel",
    "build_group",
    "parameter_lines",
    "quantities",
]

#: Names of the neuron models (``Population.neuron`` of the description).
MODEL_NAMES = NEURON_MODELS


_UNIT_BY_NAME = {"second": second, "amp": amp, "volt": volt, "ohm": ohm, "farad": farad,
                 "siemens": siemens, "1": 1}


def parameter_lines(units: Mapping[str, str]) -> str:
    """Brian2 declarations ``name : unit (constant)``, one per line, for ``{name: unit name}``."""
    return "".join(f"{name} : {unit} (constant)\n" for name, unit in units.items())


def quantities(values: Any, units: Mapping[str, str]) -> dict[str, Quantity]:
    """``{name: getattr(values, name) * unit}`` for ``{name: unit name}`` (SI floats to Brian2)."""
    return {name: getattr(values, name) * _UNIT_BY_NAME[unit] for name, unit in units.items()}


@dataclass(frozen=True)
class NeuronModel:
    """Brian2 description of one neuron model.

    Parameters
    ----------
    name : str
        ``"lif"``, ``"adex"`` or ``"dpi"``.
    equations : str
        Brian2 equation string with units (all parameters declared per neuron).
    threshold, reset : str
        Brian2 threshold condition and reset code.
    refractory : str
        Refractoriness: the per-neuron parameter ``"t_ref"``.
    method : str
        Brian2 integration method the equations are written for (``"euler"``).
    per_neuron : dict of str to Quantity
        Nominal value of every model parameter declared in ``equations``.
    initial : dict of str to Quantity
        Initial values of the state variables and of ``I_ext`` / ``I_inp``.
    mismatch_keys : tuple of str
        The entries of ``per_neuron`` that device mismatch scales (multiplicatively).
    recommended_dt : float
        The largest time step in seconds at which the model was verified against the
        numpy reference (:mod:`brian_models.reference`).
    """

    name: str
    equations: str
    threshold: str
    reset: str
    refractory: str
    method: str
    per_neuron: dict[str, Quantity]
    initial: dict[str, Quantity]
    mismatch_keys: tuple[str, ...]
    recommended_dt: float = 1e-4

    def __post_init__(self) -> None:
        if self.name not in MODEL_NAMES:
            raise ParameterError(
                f"unknown neuron model {self.name!r}; choose one of {', '.join(MODEL_NAMES)}"
            )
        missing = [k for k in self.mismatch_keys if k not in self.per_neuron]
        if missing:
            raise ParameterError(f"{self.name}: mismatch keys {missing} are not per-neuron parameters")
        object.__setattr__(self, "mismatch_keys", tuple(self.mismatch_keys))

    def parameter_values(self, n: int,
                         factors: Mapping[str, np.ndarray] | None = None) -> dict[str, Quantity]:
        """Per-neuron parameter arrays: nominal values times mismatch ``factors``.

        Parameters
        ----------
        n : int
            Number of neurons.
        factors : mapping of str to ndarray, optional
            Multiplicative factors of shape ``(n,)`` (see
            :func:`brian_models.mismatch.draw_mismatch`); keys must be in ``per_neuron``.
        """
        factors = dict(factors or {})
        unknown = sorted(set(factors) - set(self.per_neuron))
        if unknown:
            raise ParameterError(
                f"{self.name}: mismatch factors for unknown parameters {unknown}; "
                f"per-neuron parameters are {sorted(self.per_neuron)}"
            )
        values = {}
        for key, nominal in self.per_neuron.items():
            f = np.ones(n) if key not in factors else np.asarray(factors[key], dtype=float)
            if f.shape != (n,):
                raise ParameterError(f"{self.name}: factors for {key} have shape {f.shape}, need ({n},)")
            values[key] = nominal * f
        return values


def build_group(model: NeuronModel, n: int, *, factors: Mapping[str, np.ndarray] | None = None,
                dt: Quantity | None = None, name: str | None = None,
                namespace: Mapping[str, Any] | None = None) -> NeuronGroup:
    """A :class:`brian2.NeuronGroup` of ``n`` neurons with parameters and initial state set.

    Parameters
    ----------
    model : NeuronModel
    n : int
        Number of neurons.
    factors : mapping of str to ndarray, optional
        Mismatch factors per parameter (shape ``(n,)``), multiplied onto the nominal values.
    dt : Quantity, optional
        Time step of the group's clock; default: Brian2's default clock.
    name : str, optional
        Brian2 object name.
    namespace : mapping, optional
        Group-specific names for code run on the group (e.g. a ``TimedArray`` used in
        ``run_regularly``); the model itself needs none, all its parameters are internal.
    """
    if int(n) <= 0:
        raise ParameterError(f"a neuron group needs a positive size, got {n}")
    kwargs: dict[str, Any] = {}
    if namespace is not None:
        kwargs["namespace"] = dict(namespace)
    if dt is not None:
        kwargs["dt"] = dt
    if name is not None:
        kwargs["name"] = name
    group = NeuronGroup(int(n), model.equations, threshold=model.threshold, reset=model.reset,
                        refractory=model.refractory, method=model.method, **kwargs)
    for key, value in model.parameter_values(int(n), factors).items():
        setattr(group, key, value)
    for key, value in model.initial.items():
        setattr(group, key, value)
    return group
