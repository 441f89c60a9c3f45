"""Simulate a :class:`~transfer.spec.SpikingNetwork` on a dataset split, batch by batch.

:func:`simulate` returns spike counts per time window, class scores from the spec's
readout, predictions, spikes per inference, the latency to a stable decision and timing
(simulation wall time apart from compilation).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
from tqdm.auto import tqdm

from brian_models.network import BatchNetwork, SimulationSettings
from transfer.spec import SpikingNetwork

__all__ = ["SimulationResult", "simulate", "readout_scores", "decision_latency"]


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """What one simulation of ``N`` samples produced.

    Attributes
    ----------
    counts : dict of str to ndarray [N, T, n]
        Spikes per population, sequence step and neuron.
    scores : ndarray [N, C]
        Readout class scores.
    predictions : ndarray [N]
    latency_steps : ndarray [N]
        Steps until the running decision stops changing (see :func:`decision_latency`).
    wall_seconds, compile_seconds : float
        Simulation time without and with compilation.
    bio_seconds_per_sample : float
        Simulated (biological) time per sample.
    """

    counts: dict[str, np.ndarray]
    scores: np.ndarray
    predictions: np.ndarray
    latency_steps: np.ndarray
    wall_seconds: float
    compile_seconds: float
    bio_seconds_per_sample: float

    @property
    def spikes_per_inference(self) -> float:
        """Mean number of spikes of all populations per sample."""
        return float(sum(c.sum(axis=(1, 2)) for c in self.counts.values()).mean())

    @property
    def samples_per_second(self) -> float:
        n = len(self.predictions)
        return n / self.wall_seconds if self.wall_seconds > 0 else float("inf")


def readout_scores(net: SpikingNetwork, counts: dict[str, np.ndarray], end_step: int | None = None) -> np.ndarray:
    """Class scores from the readout population's counts over the readout window ending at ``end_step``."""
    return net.readout.scores(counts[net.readout.population], net.step_duration, end_step)


def decision_latency(net: SpikingNetwork, counts: dict[str, np.ndarray]) -> np.ndarray:
    """Per sample, the number of steps after which the running decision equals the final one.

    The running decision after step ``t`` reads the readout window ending at ``t``.
    """
    T = counts[net.readout.population].shape[1]
    running = np.stack([readout_scores(net, counts, t).argmax(1) for t in range(1, T + 1)], 1)
    final = running[:, -1:]
    differs = running != final
    last_diff = np.where(differs.any(1), T - np.argmax(differs[:, ::-1], axis=1), 0)
    return last_diff + 1 if T else last_diff


def simulate(net: SpikingNetwork, X: np.ndarray, settings: SimulationSettings = SimulationSettings(),
             progress: bool = True) -> SimulationResult:
    """Simulate ``net`` on ``X [N, T, F]`` (features in [0, 1]) in batches.

    On ``cpp_standalone`` the network is compiled once (``compile_seconds``) and re-run for
    each batch with new inputs.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 3:
        raise ValueError(f"input must have shape (N, T, F), got {X.shape}")
    N, T = X.shape[:2]
    B = min(settings.batch_size, max(1, N))
    settings = replace(settings, batch_size=B)
    counts: dict[str, list[np.ndarray]] = {p.name: [] for p in net.populations}
    wall = 0.0
    with BatchNetwork(net, T, settings) as batch_net:
        bar = tqdm(range(0, N, B), desc=f"simulate {settings.device}", unit="batch",
                   disable=not progress, leave=False)
        for start in bar:
            t0 = time.perf_counter()
            out = batch_net.run(X[start:start + B])
            wall += time.perf_counter() - t0
            for k, v in out.items():
                counts[k].append(v)
        compile_seconds = batch_net.compile_seconds
    wall -= compile_seconds
    merged = {k: np.concatenate(v) if v else np.zeros((0, T, net.population(k).size), np.int32)
              for k, v in counts.items()}
    scores = readout_scores(net, merged)
    return SimulationResult(
        counts=merged,
        scores=scores,
        predictions=scores.argmax(1),
        latency_steps=decision_latency(net, merged),
        wall_seconds=wall,
        compile_seconds=compile_seconds,
        bio_seconds_per_sample=T * net.step_duration,
    )
