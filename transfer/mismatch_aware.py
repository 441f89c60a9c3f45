"""Mismatch-aware fine-tuning: train the ternary model under the chip's device mismatch.

Analog neurons and synapses differ from their nominal values by 10-30 % (``CV``). During
fine-tuning, every forward pass draws a fresh "chip":

- a multiplicative factor per synapse on the ternary input and recurrent weights (the
  synaptic efficacy mismatch), and
- a multiplicative gain per neuron on its whole pre-activation (input and recurrent rows
  and the bias: the mismatch of thresholds, leaks and membrane gains), and
- one factor per neuron on all its excitatory recurrent synapses and another on all its
  inhibitory ones: the mismatch of the neuron's synaptic time constants (``tau_ampa``,
  ``tau_gaba_b``; a spike's charge is ``e * tau``). Unlike per-synapse factors these do not
  average out over a neuron's ~40 synapses, and since a neuron's excitation and inhibition
  largely cancel, they shift its operating point by much more than their CV. On the
  Fashion-MNIST RNN at CV 0.2 (Brian2, 500 test sequences, teacher-forced fit of each
  neuron's rate against its pre-activation), the neurons' effective offsets spread with a
  standard deviation of 0.29 (DPI) and 0.44 (LIF) activation units, while a lone neuron's
  f-I curve under the same mismatch shifts by only 0.10 (DPI) and 0.05 (LIF).

each lognormal with mean 1 and the target CV (the distribution of
:mod:`brian_models.mismatch`). Inputs are injected as currents (the conversion's default),
so the input rows get no synaptic time-constant factor (spike input, as a delay-free RNN
has, would). The latent weights learn a solution that works on most
chips; evaluation and the baked model use the nominal ternary weights.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from brian_models.mismatch import lognormal_factors
from transfer.quantize import NEURON_INPUTS, Ternarizer

__all__ = ["MismatchAware", "factors"]


def factors(shape: tuple[int, ...], cv: float, rng: np.random.Generator,
            device: torch.device | str = "cpu") -> torch.Tensor:
    """Lognormal factors of ``shape`` (mean 1, coefficient of variation ``cv``) as a float32
    tensor, drawn by :func:`brian_models.mismatch.lognormal_factors` (the one definition)."""
    values = lognormal_factors(math.prod(shape), cv, rng).reshape(shape)
    return torch.as_tensor(values, dtype=torch.float32, device=device)


class MismatchAware:
    """``weights_fn`` for :func:`transfer.train.fit`: ternary weights times a fresh mismatch draw.

    Parameters
    ----------
    ternarizer : Ternarizer
        The quantizer (straight-through estimator) whose output is perturbed.
    cv : float
        Coefficient of variation of the mismatch (e.g. 0.2).
    seed : int
        Seed of the draws (reproducible fine-tuning).
    always : bool
        Perturb in evaluation mode too (to measure a model on random chips); by default
        only training passes are perturbed.
    """

    def __init__(self, ternarizer: Ternarizer, cv: float, seed: int = 0, always: bool = False):
        if not 0 <= cv < 1:
            raise ValueError(f"mismatch CV must lie in [0, 1), got {cv}")
        self.ternarizer = ternarizer
        self.cv = cv
        self.always = always
        self.rng = np.random.default_rng(seed)

    def __call__(self, model: nn.Module) -> dict[str, torch.Tensor]:
        weights = self.ternarizer(model)
        if not (model.training or self.always) or self.cv == 0:
            return weights
        device = weights["w_in"].device
        rows = weights["w_in"].shape[0]
        gain = factors((rows,), self.cv, self.rng, device)
        for name in NEURON_INPUTS:
            w = weights[name]
            weights[name] = w * factors(tuple(w.shape), self.cv, self.rng, device) * gain[:, None]
        exc, inh = (factors((rows, 1), self.cv, self.rng, device) for _ in range(2))
        w_rec = weights["w_rec"]
        weights["w_rec"] = w_rec * torch.where(w_rec.detach() > 0, exc, inh)
        if hasattr(model, "effective_bias"):
            weights["b"] = model.effective_bias() * gain
        elif hasattr(model, "b"):
            weights["b"] = model.b * gain
        # (an LSNN has no bias: its neurons are driven by current injection only)
        return weights
