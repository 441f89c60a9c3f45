"""The Brian2 model of a neuron's typed parameters: LIF, AdEx or DPI."""

from __future__ import annotations

from typing import Callable

from brian_models.adex import adex_model
from brian_models.dpi import dpi_model
from brian_models.lif import lif_model
from brian_models.neuron import NeuronModel
from brian_models.parameters import NeuronParams, NoiseParams

__all__ = ["make_model"]

_BUILDERS: dict[str, Callable[..., NeuronModel]] = {"lif": lif_model, "adex": adex_model, "dpi": dpi_model}


def make_model(params: NeuronParams, noise: NoiseParams | None = None) -> NeuronModel:
    """The :class:`~brian_models.neuron.NeuronModel` of ``params`` (the model is its class).

    Parameters
    ----------
    params : LIFParams, AdExParams or DPIParams
    noise : NoiseParams, optional
        Membrane noise (:mod:`brian_models.noise`).
    """
    return _BUILDERS[params.model](params, noise=noise)
