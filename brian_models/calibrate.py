"""Measure a neuron model's rate transfer function (f-I curve) in Brian2.

Conversion calibrates against the model that will actually run: :func:`measure_fi_curve`
drives ``n`` neurons of one model with constant currents and counts their spikes.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from brian2 import Network, SpikeMonitor, amp, prefs, second, set_device

from brian_models.neuron import build_group, make_model

__all__ = ["measure_fi_curve"]


def measure_fi_curve(neuron: str, params: Mapping[str, float] | None, currents: np.ndarray,
                     duration: float = 1.0, settle: float = 0.1, dt: float | None = None) -> np.ndarray:
    """Firing rate in Hz of model ``neuron`` for each constant current in ``currents`` (A).

    Spikes are counted after ``settle`` seconds, over ``duration`` seconds, on the runtime
    device with the numpy target (no compilation).
    """
    currents = np.asarray(currents, dtype=float)
    if currents.ndim != 1 or not np.all(np.isfinite(currents)):
        raise ValueError("currents must be a 1-D array of finite values")
    set_device("runtime")
    prefs.codegen.target = "numpy"
    model = make_model(neuron, params)
    step = dt or model.recommended_dt
    group = build_group(model, len(currents), dt=step * second)
    group.I_ext = currents * amp
    net = Network(group)
    net.run(settle * second)
    mon = SpikeMonitor(group)
    net.add(mon)
    net.run(duration * second)
    return np.bincount(np.asarray(mon.i[:]), minlength=len(currents)) / duration
