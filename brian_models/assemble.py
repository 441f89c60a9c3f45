"""Assemble a :class:`~brian_models.neuron.NeuronModel` from a model's own membrane equations.

Every model shares the same tail: the total input current ``I_in``, an NMDA gate, the four
DYNAP-SE synaptic currents, the builder-driven inputs ``I_ext``/``I_inp``, optional noise,
per-neuron parameter declarations, zero initial currents, refractoriness through ``t_ref``
and forward Euler. :func:`assemble` adds that tail once, so a model module writes only its
membrane dynamics, threshold, reset and state.
"""

from __future__ import annotations

from typing import Any, Mapping

from brian2 import Quantity, amp

from brian_models.neuron import NeuronModel, parameter_lines, quantities
from brian_models.noise import noise_equations
from brian_models.parameters import NoiseParams
from brian_models.synapses import INPUT_EQUATIONS, SYNAPSE_EQUATIONS, input_current, synapse_quantities

__all__ = ["assemble"]

_ZERO_CURRENTS = ("I_ampa", "I_nmda", "I_gaba_a", "I_gaba_b", "I_ext", "I_inp")


def assemble(name: str, params: Any, units: Mapping[str, str], *,
             membrane: str, nmda_gate: str, noise: NoiseParams | None, state: Mapping[str, Quantity],
             threshold: str, reset: str) -> NeuronModel:
    """A :class:`NeuronModel` from a model's membrane equations and the shared tail.

    Parameters
    ----------
    name : {"lif", "adex", "dpi"}
    params : LIFParams, AdExParams or DPIParams
        With a ``synapse`` (:class:`~brian_models.synapse_types.SynapseParams`), the synapse
        parameters the model uses, ``mismatch_keys`` and ``recommended_dt``
        (:mod:`brian_models.parameters`).
    units : mapping of str to str
        The model's own parameters and their Brian2 unit names.
    membrane : str
        Equation lines of the membrane (and any adaptation) dynamics.
    nmda_gate : str
        Equation lines defining ``g_nmda``.
    noise : NoiseParams or None
        An OU current enters ``I_in``; white noise must already be in ``membrane``.
    state : mapping of str to Quantity
        Initial values of the model's own state variables.
    threshold, reset : str
    """
    noise_eqs, noise_pn, noise_init = noise_equations(noise)
    equations = (membrane + input_current(noise is not None and not noise.is_white) + nmda_gate
                 + SYNAPSE_EQUATIONS + INPUT_EQUATIONS + noise_eqs + parameter_lines(units))
    per_neuron: dict[str, Quantity] = quantities(params, units)
    per_neuron.update(synapse_quantities(params.synapse, params._syn_keys))
    per_neuron.update(noise_pn)
    initial = {**state, **{k: 0 * amp for k in _ZERO_CURRENTS}, **noise_init}
    return NeuronModel(name=name, equations=equations, threshold=threshold, reset=reset,
                       refractory="t_ref", method="euler", per_neuron=per_neuron, initial=initial,
                       mismatch_keys=params.mismatch_keys, recommended_dt=params.recommended_dt)
