"""Measure a neuron model's rate transfer function (f-I curve) in Brian2.

Conversion calibrates against the model that will actually run: :func:`measure_fi_curve`
drives ``n`` neurons of one model with constant currents and counts their spikes.
"""

from __future__ import annotations

import numpy as np
from brian2 import Network, SpikeMonitor, amp, second

from brian_models.brian_device import brian_device
from brian_models.models import make_model
from brian_models.neuron import build_group
from brian_models.parameters import NeuronParams

__all__ = ["measure_fi_curve"]


def measure_fi_curve(params: NeuronParams, currents: np.ndarray, duration: float = 1.0,
                     settle: float = 0.1, dt: float | None = None) -> np.ndarray:
    """Firing rate in Hz of the neuron ``params`` describes, for each constant current (A).

    Spikes are counted after ``settle`` seconds, over ``duration`` seconds, on the runtime
    device with the numpy target (no compilation); the caller's Brian2 device and
    preferences are restored afterwards (:func:`brian_models.brian_device.brian_device`).
    """
    currents = np.asarray(currents, dtype=float)
    if currents.ndim != 1 or not np.all(np.isfinite(currents)):
        raise ValueError("currents must be a 1-D array of finite values")
    model = make_model(params)
    step = dt or model.recommended_dt
    with brian_device("runtime", "numpy"):
        group = build_group(model, len(currents), dt=step * second)
        group.I_ext = currents * amp
        net = Network(group)
        net.run(settle * second)
        mon = SpikeMonitor(group)
        net.add(mon)
        net.run(duration * second)
        spikes = np.asarray(mon.i[:])
    return np.bincount(spikes, minlength=len(currents)) / duration
