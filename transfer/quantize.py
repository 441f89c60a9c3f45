"""Ternary quantization {-a, 0, +a} with a DYNAP-SE fan-in cap, and quantization-aware fine-tuning.

Each weight matrix ``W`` becomes ``a * sign(W) * m`` with one scale ``a`` per matrix
(ternary weight networks, Li, Zhang & Liu 2016, arXiv:1605.04711): the threshold is
``delta = delta_factor * mean|W|`` (0.7 in that paper), the mask ``m = |W| > delta`` and
``a = mean(|W| over m)``, the L2-optimal scale for that mask.

Fan-in cap: a DYNAP-SE neuron listens to at most 64 CAM entries. For every neuron (a row
of the input matrix and of the recurrent matrix together), at most ``max_fan_in`` entries
stay non-zero: those with the largest ``|w| / delta`` of their own matrix. The readout
(computed by the host from spike counts) is ternary but not capped. A model may name the
matrices to quantize in a ``quantized`` attribute (the ESN keeps its closed-form readout
float); all of ``weight_matrices()`` otherwise.

Quantization-aware fine-tuning trains the latent float weights through the ternarizer with
a straight-through estimator (the forward pass sees ternary weights; gradients pass to
the latent weights unchanged), see :func:`transfer.train.fit`.

The float model can be trained under the same cap (:class:`FanInPruning`), so that the
ternary fine-tuning starts from a network that already fits the CAM.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["split_ternary", "TernaryConfig", "Ternarizer", "FanInPruning", "ternarize", "fan_in_mask", "bake",
           "matrix_report", "quantized_names"]

#: Matrices whose rows are neurons on the chip (their non-zeros count against the CAM).
NEURON_INPUTS = ("w_in", "w_rec")


@dataclass(frozen=True)
class TernaryConfig:
    """Settings of the ternarizer.

    Parameters
    ----------
    delta_factor : float
        Threshold as a multiple of ``mean|W|`` (0.7 in ternary weight networks).
    max_fan_in : int or None
        Most non-zero inputs per neuron, input and recurrent together (64 on DYNAP-SE);
        ``None`` for no cap.
    """

    delta_factor: float = 0.7
    max_fan_in: int | None = 64

    def __post_init__(self) -> None:
        if not self.delta_factor >= 0:
            raise ValueError(f"delta_factor must be >= 0, got {self.delta_factor}")
        if self.max_fan_in is not None and self.max_fan_in < 1:
            raise ValueError(f"--max-fan-in must be at least 1, got {self.max_fan_in}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ternarize(w: torch.Tensor, delta_factor: float = 0.7,
              keep: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Ternary version of ``w`` and its scale ``a`` (no gradient path; see :class:`Ternarizer`).

    Parameters
    ----------
    w : Tensor
    delta_factor : float
    keep : Tensor of bool, optional
        Extra mask (the fan-in cap); entries outside it become 0.
    """
    w = w.detach()
    mask = w.abs() > delta_factor * w.abs().mean()
    if keep is not None:
        mask = mask & keep
    a = w.abs()[mask].mean() if mask.any() else w.new_tensor(0.0)
    return a * torch.sign(w) * mask, a


def fan_in_mask(mats: dict[str, torch.Tensor], max_fan_in: int | None,
                delta_factor: float) -> dict[str, torch.Tensor]:
    """Per-matrix masks keeping, for each row (neuron), the ``max_fan_in`` strongest inputs.

    Strength is ``|w| / delta`` with ``delta`` the matrix's own ternary threshold, so input
    and recurrent weights compete on equal terms; entries below their threshold never count.
    """
    names = [n for n in NEURON_INPUTS if n in mats]
    norm = []
    for n in names:
        w = mats[n].detach().abs()
        delta = delta_factor * w.mean()
        rel = w / delta.clamp(min=1e-12)
        norm.append(torch.where(rel > 1, rel, torch.zeros_like(rel)))
    joint = torch.cat(norm, dim=1)
    if max_fan_in is None or joint.shape[1] <= max_fan_in:
        keep = joint > 0
    else:
        kth = torch.topk(joint, max_fan_in, dim=1).values[:, -1:]
        keep = (joint >= kth) & (joint > 0)
        # Ties at the k-th value could exceed the cap: keep the first max_fan_in of them.
        keep &= torch.cumsum(keep.int(), dim=1) <= max_fan_in
    out, start = {}, 0
    for n in names:
        width = mats[n].shape[1]
        out[n] = keep[:, start:start + width]
        start += width
    return out


def quantized_names(model: nn.Module) -> tuple[str, ...]:
    """Names of the matrices of ``model`` that quantization turns ternary."""
    return tuple(getattr(model, "quantized", model.weight_matrices().keys()))


class Ternarizer:
    """Maps a model's latent weights to ternary weights with a straight-through estimator.

    Call it as ``weights_fn`` of :func:`transfer.train.fit` or :func:`transfer.train.evaluate`.
    """

    def __init__(self, config: TernaryConfig = TernaryConfig()):
        self.config = config

    def __call__(self, model: nn.Module) -> dict[str, torch.Tensor]:
        mats = model.weight_matrices()
        masks = fan_in_mask(mats, self.config.max_fan_in, self.config.delta_factor)
        out = {}
        for name, w in mats.items():
            if name not in quantized_names(model):
                out[name] = w
                continue
            q, _ = ternarize(w, self.config.delta_factor, masks.get(name))
            out[name] = w + (q - w).detach()  # straight-through estimator
        return out


class FanInPruning:
    """Gradual magnitude pruning of a float model down to the fan-in cap (a ``weights_fn``).

    The cap falls from every candidate input to ``max_fan_in`` on the cubic schedule of
    Zhu & Gupta 2017 (arXiv:1710.01878), ``cap(e) = k + (n - k) * (1 - f)**3`` with
    ``f = clip((e - start_epoch) / (end_epoch - start_epoch), 0, 1)`` at 0-based epoch ``e``
    (:func:`transfer.train.fit` calls :meth:`set_epoch`). Each neuron keeps its strongest
    inputs as :func:`fan_in_mask` ranks them (with the ternary threshold ``delta_factor``), so
    the later ternary fine-tuning keeps the same ones. Evaluation (``model.training`` false)
    always applies the final cap, so validation scores the network that will be kept.
    """

    def __init__(self, max_fan_in: int, n_candidates: int, start_epoch: int, end_epoch: int,
                 delta_factor: float):
        if max_fan_in < 1:
            raise ValueError(f"max_fan_in must be at least 1, got {max_fan_in}")
        if not 0 <= start_epoch < end_epoch:
            raise ValueError(f"need 0 <= start_epoch < end_epoch, got {start_epoch}, {end_epoch}")
        self.max_fan_in, self.n_candidates = max_fan_in, n_candidates
        self.start_epoch, self.end_epoch, self.delta_factor = start_epoch, end_epoch, delta_factor
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Move the schedule to 0-based ``epoch``."""
        self.epoch = epoch

    def cap(self, training: bool = True) -> int:
        """The fan-in cap now (the final one when not training)."""
        if not training or self.n_candidates <= self.max_fan_in:
            return self.max_fan_in
        f = min(1.0, max(0.0, (self.epoch - self.start_epoch) / (self.end_epoch - self.start_epoch)))
        return int(round(self.max_fan_in + (self.n_candidates - self.max_fan_in) * (1 - f) ** 3))

    def __call__(self, model: nn.Module) -> dict[str, torch.Tensor]:
        mats = model.weight_matrices()
        masks = fan_in_mask(mats, self.cap(model.training), self.delta_factor)
        return {n: w * masks[n] if n in masks else w for n, w in mats.items()}

    @torch.no_grad()
    def bake(self, model: nn.Module) -> None:
        """Zero the pruned weights in place (the final cap)."""
        masks = fan_in_mask(model.weight_matrices(), self.max_fan_in, self.delta_factor)
        for name, w in model.weight_matrices().items():
            if name in masks:
                w.mul_(masks[name])


@torch.no_grad()
def bake(model: nn.Module, ternarizer: Ternarizer) -> dict[str, float]:
    """Replace the model's weights by their ternary values in place; return the scales."""
    mats = model.weight_matrices()
    masks = fan_in_mask(mats, ternarizer.config.max_fan_in, ternarizer.config.delta_factor)
    scales = {}
    for name, w in mats.items():
        if name not in quantized_names(model):
            continue
        q, a = ternarize(w, ternarizer.config.delta_factor, masks.get(name))
        w.copy_(q)
        scales[name] = float(a)
    return scales


def matrix_report(model: nn.Module) -> dict[str, dict[str, Any]]:
    """Per matrix: scale ``a``, fraction of zeros, distinct values; and the neurons' fan-in."""
    mats = {n: w.detach().cpu().numpy() for n, w in model.weight_matrices().items()}
    report: dict[str, dict[str, Any]] = {}
    for name, w in mats.items():
        values = np.unique(w)
        nz = np.abs(w[w != 0])
        report[name] = {
            "shape": list(w.shape),
            "a": float(nz.max()) if nz.size else 0.0,
            "zero_fraction": float(np.mean(w == 0)),
            "distinct_values": [float(v) for v in values],
            "n_distinct": int(values.size),
            "quantized": name in quantized_names(model),
            "is_ternary": bool(values.size <= 3 and (nz.size == 0 or np.allclose(nz, nz.max()))),
        }
    rows = [np.count_nonzero(mats[n], axis=1) for n in NEURON_INPUTS if n in mats]
    fan_in = np.sum(rows, axis=0) if rows else np.zeros(0)
    report["fan_in"] = {"max": int(fan_in.max()) if fan_in.size else 0,
                        "mean": float(fan_in.mean()) if fan_in.size else 0.0}
    return report


def split_ternary(w: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Split a ternary matrix ``{-a, 0, +a}`` into excitatory and inhibitory 0/1 counts and ``a``."""
    w = np.asarray(w, dtype=float)
    nz = np.abs(w[w != 0])
    if nz.size and not np.allclose(nz, nz[0], rtol=1e-5):
        raise ValueError(
            f"matrix {name} is not ternary ({np.unique(w).size} distinct values); "
            "run `rnn2dynapse quantize` first")
    a = float(nz[0]) if nz.size else 0.0
    return (w > 0).astype(np.int64), (w < 0).astype(np.int64), a
