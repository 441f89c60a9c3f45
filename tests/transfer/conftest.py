"""Shared set-up of the torch chip model tests: a small network with every synapse type in use."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

from brian_models.description import InputEncoder, Population, Projection, Readout, SpikingNetwork
from brian_models.parameters import neuron_params

#: Input efficacy scale per model: what makes each fire at tens to hundreds of Hz.
_SCALE = {"dpi": 1.0, "lif": 10.0, "adex": 30.0}


def _network(model: str, coding: str = "rate", delay: float = 0.0, n: int = 6, F: int = 3,
             seed: int = 0, step: float = 0.02) -> SpikingNetwork:
    """A small recurrent network with every synapse type in use.

    Input: AMPA, NMDA and GABA_B; recurrence: AMPA, GABA_A (shunting) and GABA_B, with
    ``delay``. The DPI has its AHP on (``I_ahp_w`` 2 pA), a refractory period of 2.5 steps
    and its NMDA gate at the preset 10 pA.
    """
    rng = np.random.default_rng(seed)
    params = neuron_params(model, {"I_ahp_w": 2e-12, "t_ref": 2.5e-4} if model == "dpi" else {})
    bias = {"dpi": (100e-12, 140e-12), "lif": (100e-12, 200e-12), "adex": (0.3e-9, 0.6e-9)}[model]
    pop = Population("hidden", n, params, bias_current=rng.uniform(*bias, n))
    s = _SCALE[model]

    def w(rows: int, cols: int) -> np.ndarray:
        return (rng.random((rows, cols)) < 0.5).astype(np.int64)

    projs = (Projection("in_exc", "input", "hidden", "AMPA", w(n, F), 40e-12 * s),
             Projection("in_nmda", "input", "hidden", "NMDA", w(n, F), 20e-12 * s),
             Projection("in_inh", "input", "hidden", "GABA_B", w(n, F), 5e-12 * s),
             Projection("rec_exc", "hidden", "hidden", "AMPA", w(n, n), 20e-12 * s, delay),
             Projection("rec_a", "hidden", "hidden", "GABA_A", w(n, n), 10e-12 * s, delay),
             Projection("rec_b", "hidden", "hidden", "GABA_B", w(n, n), 10e-12 * s, delay))
    readout = Readout("hidden", rng.normal(size=(3, n)), np.zeros(3), 100.0, step)
    return SpikingNetwork((pop,), projs, InputEncoder(coding, F, 300.0), readout, step)



@pytest.fixture
def chip_net() -> Callable[..., SpikingNetwork]:
    """The factory of small recurrent test networks (see ``_network``)."""
    return _network


@pytest.fixture
def one_thread():
    """One torch thread for the test: the chip model's tensors are small, and on a loaded
    2-core machine two OpenMP threads spinning against each other made a 128 x 128 matrix
    product 400 times slower (measured)."""
    import torch  # noqa: PLC0415

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
