"""One entry point from a trained (ternary) model to the network description its simulators run.

:func:`describe` dispatches on the model: an RNN or an echo-state network converts into a
:class:`~brian_models.description.SpikingNetwork` (:func:`transfer.convert.convert`), an LSTM
into a :class:`~brian_models.lstm_description.SpikingLSTM`
(:func:`transfer.spiking_lstm.convert_lstm`), and an LSNN is described as itself
(:func:`transfer.lsnn.describe_lsnn`, an
:class:`~brian_models.lsnn_description.LSNNNetwork`), or, on DPI neurons with an input coding
given, as a :class:`SpikingNetwork` of adaptive and plain DPI populations
(:func:`transfer.lsnn.lsnn_to_network`) that the chip can carry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from brian_models.simulate import Description
from transfer.convert import ConversionError, ConversionSettings, convert
from transfer.lsnn import LSNNClassifier, describe_lsnn, lsnn_to_network
from transfer.models import ESNClassifier, LSTMClassifier, RNNClassifier
from transfer.spiking_lstm import SpikingLSTMSettings, convert_lstm

__all__ = ["DescribeSettings", "describe", "default_input_coding"]

#: The neuron an LSNN runs on for each ``neuron`` option: its own adaptive LIF update, or DPI.
_LSNN_NEURONS = {"lif": "alif", "dpi": "dpi"}


@dataclass(frozen=True)
class DescribeSettings:
    """What the conversion of any model needs.

    Parameters
    ----------
    neuron : {"lif", "adex", "dpi"}
        Neuron model (an LSTM converts to LIF only; an LSNN runs ``lif`` as its own adaptive
        LIF update or on ``dpi`` neurons).
    max_rate : float
        Firing rate (Hz) of the top activation (RNN, ESN, LSTM).
    input_coding : {"current", "rate"} or None
        Input as current or spikes; ``None``: spikes for a delay-free RNN, else current (an
        LSNN on DPI neurons: its own runner, not a spiking network description).
    gating : {"exact", "shunting"}
        LSTM gating.
    """

    neuron: str = "lif"
    max_rate: float = 1000.0
    input_coding: str | None = None
    gating: str = "exact"


def default_input_coding(model: nn.Module) -> str:
    """Spikes for a delay-free RNN (``syn_leak < 1``: the chip's form), current otherwise."""
    return "rate" if isinstance(model, RNNClassifier) and model.config.syn_leak < 1 else "current"


def describe(model: nn.Module, X_train: np.ndarray, settings: DescribeSettings = DescribeSettings()
             ) -> Description:
    """The network description of ``model`` (see the module docstring).

    ``X_train`` (a few hundred training sequences) normalises the rates of converted models.

    Raises
    ------
    ConversionError
        The model or the settings cannot be converted.
    """
    if isinstance(model, (RNNClassifier, ESNClassifier)):
        coding = settings.input_coding or default_input_coding(model)
        return convert(model, X_train, ConversionSettings(neuron=settings.neuron, max_rate=settings.max_rate,
                                                          input_coding=coding))
    if isinstance(model, LSTMClassifier):
        if settings.neuron != "lif":
            raise ConversionError(f"a spiking LSTM runs on LIF neurons (--neuron lif), not {settings.neuron!r}")
        return convert_lstm(model, X_train, SpikingLSTMSettings(gating=settings.gating))
    if isinstance(model, LSNNClassifier):
        if settings.neuron not in _LSNN_NEURONS:
            raise ConversionError(f"an LSNN runs with --neuron lif (its own adaptive LIF) or dpi, "
                                  f"not {settings.neuron!r}")
        if settings.neuron == "dpi" and settings.input_coding is not None:
            try:  # a spiking network of DPI populations, which the mapper takes
                return lsnn_to_network(model, input_coding=settings.input_coding)
            except ValueError as err:
                raise ConversionError(str(err)) from None
        return describe_lsnn(model, _LSNN_NEURONS[settings.neuron])
    raise ConversionError(f"cannot describe a {type(model).__name__} as a spiking network")
