"""Train a spiking network as the chip runs it: BPTT through the torch chip model.

A network converted from a rate model (ANN) loses accuracy on the chip twice: the spiking
dynamics are not the ANN's, and every chip has its own frozen transistor mismatch. Training
through :class:`transfer.chip_network.ChipNetwork` optimises the spiking network itself: its
ternary CAM entries (straight-through estimator, the 64-input cap kept), the per-core shared
biases (one efficacy per synapse type, one DC) inside the bias range, and the host readout,
with the surrogate gradient of :mod:`transfer.chip_dynamics`. With ``mismatch > 0`` every
batch runs on a fresh random chip (a new :func:`brian_models.mismatch.draw_chip` seed), so the
network learns to work on most chips; a spike-count penalty asks for fewer spikes. The best
epoch is chosen on the validation split, on a validation chip that no evaluation uses.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from brian_models.description import SpikingNetwork
from transfer.chip_network import ChipNetwork
from transfer.datasets import Dataset, score

__all__ = ["ChipTrainingSettings", "ChipTrainingResult", "train_on_chip", "VALIDATION_CHIP"]

#: Mismatch seed of the chip the best epoch is chosen on (evaluation chips are 0, 1, 2, ...).
VALIDATION_CHIP = 9_999


@dataclass(frozen=True)
class ChipTrainingSettings:
    """How to train through the chip model.

    Parameters
    ----------
    epochs : int
        Passes over the training sequences.
    lr : float
        Adam's learning rate (cosine schedule to zero).
    batch_size : int
    mismatch : float
        CV of the fresh chip drawn for every batch (0: the nominal chip).
    spike_penalty : float
        Weight of the mean number of spikes per neuron and sequence element in the loss.
    dt : float or None
        Integration step (default: the neuron model's verified step, as Brian2 uses).
    train_samples : int or None
        Training sequences per epoch (a fresh random subset each epoch; default: all).
    val_samples : int
        Validation sequences scored after each epoch.
    seed : int
        Seed of the batches, the subsets and the chips drawn.
    precision : {"float32", "float64"}
        Arithmetic of the chip model while training. Gradients of currents in amperes through
        thousands of 0.1 ms steps can overflow float32 (an LSNN with AHP on recall did in its
        first batches; float64 did not): a step whose gradient is not finite is skipped and
        counted (``skipped_steps`` in the history).
    """

    epochs: int = 5
    lr: float = 2e-3
    batch_size: int = 32
    mismatch: float = 0.2
    spike_penalty: float = 0.0
    dt: float | None = None
    train_samples: int | None = None
    val_samples: int = 500
    seed: int = 0
    precision: str = "float32"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.val_samples < 1:
            raise ValueError("chip training: epochs, batch_size and val_samples must be positive")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"chip training: lr must be positive, got {self.lr}")
        if self.precision not in ("float32", "float64"):
            raise ValueError(f"chip training: precision must be float32 or float64, got {self.precision!r}")
        if not 0 <= self.mismatch < 1:
            raise ValueError(f"chip training: mismatch CV must lie in [0, 1), got {self.mismatch}")
        if not (math.isfinite(self.spike_penalty) and self.spike_penalty >= 0):
            raise ValueError(f"chip training: spike_penalty must be >= 0, got {self.spike_penalty}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class ChipTrainingResult:
    """The trained network and what training saw."""

    net: SpikingNetwork
    history: list[dict[str, float]]
    best_epoch: int
    train_seconds: float


def _lengths(lengths: np.ndarray | None, idx: Any) -> torch.Tensor | None:
    return None if lengths is None else torch.as_tensor(np.asarray(lengths)[idx], dtype=torch.long)


def _scores(model: ChipNetwork, X: np.ndarray, batch: int,
            lengths: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Predictions and mean spikes per sample of ``model`` (evaluation mode) on ``X`` (each
    sample read at its own end when ``lengths`` are given)."""
    model.eval()
    preds, spikes = [], []
    with torch.no_grad():
        for i in range(0, len(X), batch):
            scores, counts = model(torch.as_tensor(X[i:i + batch]), return_counts=True,
                                   lengths=_lengths(lengths, slice(i, i + batch)))
            preds.append(scores.argmax(1).cpu().numpy())
            spikes.append(sum(c.sum((1, 2)) for c in counts.values()).cpu().numpy())
    return np.concatenate(preds), float(np.concatenate(spikes).mean())


def train_on_chip(net: SpikingNetwork, data: Dataset, settings: ChipTrainingSettings = ChipTrainingSettings(),
                  *, progress: bool = True) -> ChipTrainingResult:
    """Fine-tune ``net`` (a chip-ready spiking network) through the chip model on ``data``.

    Returns the network of the best validation epoch (scored on :data:`VALIDATION_CHIP`, or on
    the nominal chip without mismatch), written back as a :class:`SpikingNetwork`.
    """
    s = settings
    torch.manual_seed(s.seed)
    model = ChipNetwork(net, dt=s.dt, mismatch=s.mismatch, mismatch_seed=VALIDATION_CHIP,
                        mismatch_aware=s.mismatch > 0, chip_seed=s.seed, dtype=getattr(torch, s.precision))
    opt = torch.optim.Adam(model.parameters(), lr=s.lr)
    rng = np.random.default_rng(s.seed)
    n_train = len(data.y_train) if s.train_samples is None else min(s.train_samples, len(data.y_train))
    steps = s.epochs * math.ceil(n_train / s.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    ce = nn.CrossEntropyLoss()
    n_neurons = sum(p.size for p in net.populations)
    X_val, y_val = data.X_val[:s.val_samples], data.y_val[:s.val_samples]
    len_val = None if data.len_val is None else data.len_val[:s.val_samples]
    preds, spikes = _scores(model, X_val, 4 * s.batch_size, len_val)
    history = [{"epoch": 0, "val_accuracy": score(y_val, preds, data.metric), "val_spikes": spikes}]
    best, best_state, best_epoch = history[0]["val_accuracy"], model.state_dict(), 0
    best_state = {k: v.clone() for k, v in best_state.items()}
    t0 = time.perf_counter()
    for epoch in range(1, s.epochs + 1):
        model.train()
        order = rng.permutation(len(data.y_train))[:n_train]
        losses, skipped = [], 0
        bar = tqdm(range(0, n_train, s.batch_size), desc=f"chip training {epoch}/{s.epochs}", unit="batch",
                   disable=not progress, leave=False)
        for i in bar:
            idx = order[i:i + s.batch_size]
            X = torch.as_tensor(data.X_train[idx])
            y = torch.as_tensor(data.y_train[idx])
            scores, counts = model(X, return_counts=True, lengths=_lengths(data.len_train, idx))
            loss = ce(scores, y)
            if s.spike_penalty > 0:
                rate = sum(c.sum((1, 2)) for c in counts.values()).mean() / (n_neurons * X.shape[1])
                loss = loss + s.spike_penalty * rate
            opt.zero_grad()
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            if torch.isfinite(norm):
                opt.step()
                sched.step()
                model.clamp_()
            else:  # an overflowed gradient: leave the parameters as they are
                skipped += 1
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        preds, spikes = _scores(model, X_val, 4 * s.batch_size, len_val)
        val = score(y_val, preds, data.metric)
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val_accuracy": val, "val_spikes": spikes,
                        "skipped_steps": skipped})
        if val >= best:
            best, best_epoch = val, epoch
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return ChipTrainingResult(model.to_description(), history, best_epoch, time.perf_counter() - t0)
