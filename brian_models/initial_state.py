"""Initial state of a simulated population: a random point of each neuron's firing cycle.

Starting every neuron at rest makes a population fire in synchrony at first; spike counts in
a time window are unbiased estimates of rate x window only if each neuron starts at a
uniform point between reset and threshold. The draw is numpy only and shared by every
simulator (Brian2 and the torch chip model), so both start from the same state.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from brian_models.description import Population

__all__ = ["initial_phase"]


def initial_phase(pop: Population, seed: int, factors: Mapping[str, np.ndarray] | None = None
                  ) -> tuple[str, np.ndarray]:
    """The phase variable of ``pop`` and its initial value per neuron (SI floats).

    A uniform draw between the model's reset and threshold parameters (times the neurons'
    mismatch ``factors`` for them), on a log scale for the DPI's current. The stream is
    derived from ``(seed, population name)``.

    Returns
    -------
    name : str
        The state variable (``"v"`` or ``"I_mem"``).
    values : ndarray, shape (size,)
    """
    phase = type(pop.params).phase
    factors = factors or {}
    rng = np.random.default_rng([int(seed), sum(map(ord, pop.name))])
    u = rng.uniform(0.0, 1.0, pop.size)
    low = pop.params.value(phase.low) * np.asarray(factors.get(phase.low, 1.0))
    high = pop.params.value(phase.high) * np.asarray(factors.get(phase.high, 1.0))
    if phase.log:
        return phase.name, np.exp(np.log(low) + u * (np.log(high) - np.log(low)))
    return phase.name, low + u * (high - low)
