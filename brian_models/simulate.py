"""Simulate any network description on a dataset split in Brian2, batch by batch: one entry point.

:func:`simulate` takes a :class:`~brian_models.description.SpikingNetwork`, a
:class:`~brian_models.lstm_description.SpikingLSTM` or an
:class:`~brian_models.lsnn_description.LSNNNetwork` and returns one
:class:`SimulationResult`: spike counts per population and sequence step, class scores,
predictions, spikes per inference, the latency to a stable decision and timing (simulation
wall time apart from compilation).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Union

import numpy as np
from tqdm.auto import tqdm

from brian_models.description import SpikingNetwork
from brian_models.lsnn_description import LSNNNetwork
from brian_models.lstm_description import SpikingLSTM
from brian_models.network import BatchNetwork, SimulationSettings

__all__ = ["Description", "SimulationResult", "simulate", "readout_scores", "decision_latency"]

#: Every network description :func:`simulate` runs.
Description = Union[SpikingNetwork, SpikingLSTM, LSNNNetwork]


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """What one simulation of ``N`` samples produced.

    Attributes
    ----------
    counts : dict of str to ndarray [N, W, n]
        Spikes per population, time window (one per sequence element; a spiking LSTM has
        one more) and neuron.
    scores : ndarray [N, C]
        Readout class scores.
    predictions : ndarray [N]
    latency_steps : ndarray [N]
        Windows until the running decision stops changing (see :func:`decision_latency`);
        every window for a network whose readout reads only the end of the sequence.
    step_duration : float
        Seconds per window.
    wall_seconds, compile_seconds : float
        Simulation time without and with compilation.
    bio_seconds_per_sample : float
        Simulated (biological) time per sample.
    """

    counts: dict[str, np.ndarray]
    scores: np.ndarray
    predictions: np.ndarray
    latency_steps: np.ndarray
    step_duration: float
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

    @property
    def latency_ms(self) -> float:
        """Mean decision latency in milliseconds."""
        return float(np.mean(self.latency_steps) * self.step_duration * 1e3)


def readout_scores(net: SpikingNetwork, counts: dict[str, np.ndarray], end_step: int | None = None) -> np.ndarray:
    """Class scores from the readout population's counts over the readout window ending at ``end_step``."""
    return net.readout.scores(net.readout.gather(counts), net.step_duration, end_step)


def decision_latency(net: SpikingNetwork, counts: dict[str, np.ndarray]) -> np.ndarray:
    """Per sample, the number of steps after which the running decision equals the final one.

    The running decision after step ``t`` reads the readout window ending at ``t``.
    """
    T = counts[net.readout.populations[0]].shape[1]
    running = np.stack([readout_scores(net, counts, t).argmax(1) for t in range(1, T + 1)], 1)
    final = running[:, -1:]
    differs = running != final
    last_diff = np.where(differs.any(1), T - np.argmax(differs[:, ::-1], axis=1), 0)
    return last_diff + 1 if T else last_diff


def _check_X(X: np.ndarray, n_channels: int, what: str) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 3 or X.shape[2] != n_channels or len(X) == 0:
        raise ValueError(f"{what} input must have shape (N>0, T, {n_channels}), got {X.shape}")
    if X.min() < 0 or X.max() > 1 + 1e-6:
        raise ValueError(f"{what} input must be scaled to [0, 1], got [{X.min():.3g}, {X.max():.3g}]")
    return X


def _simulate_network(net: SpikingNetwork, X: np.ndarray, settings: SimulationSettings,
                      progress: bool) -> SimulationResult:
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
    return SimulationResult(counts=merged, scores=scores, predictions=scores.argmax(1),
                            latency_steps=decision_latency(net, merged), step_duration=net.step_duration,
                            wall_seconds=wall, compile_seconds=compile_seconds,
                            bio_seconds_per_sample=T * net.step_duration)


def _runtime_only(settings: SimulationSettings, what: str, mismatch: bool) -> None:
    if settings.device != "runtime" or settings.noise > 0 or (settings.mismatch > 0 and not mismatch):
        extra = "" if mismatch else " or mismatch"
        raise ValueError(f"{what} simulates on the runtime device without noise{extra} (not modelled yet)")


def _simulate_lstm(net: SpikingLSTM, X: np.ndarray, settings: SimulationSettings,
                   progress: bool) -> SimulationResult:
    from brian_models.spiking_lstm import run_spiking_lstm  # noqa: PLC0415 (its own Brian2 objects)

    _runtime_only(settings, "a spiking LSTM", mismatch=False)
    X = _check_X(X, net.n_inputs, "spiking LSTM")
    B = min(settings.batch_size, 100)
    gates, hs = [], []
    t0 = time.perf_counter()
    for start in tqdm(range(0, len(X), B), desc=f"spiking LSTM ({net.gating})", unit="batch",
                      disable=not progress, leave=False):
        run = run_spiking_lstm(net, X[start:start + B], seed=settings.seed, target=settings.target)
        gates.append(run.counts_gates)
        hs.append(run.counts_h)
    wall = time.perf_counter() - t0
    counts = {"gates": np.concatenate(gates), "h": np.concatenate(hs)}
    T = X.shape[1]
    scores = net.scores(counts["h"], T)
    return SimulationResult(counts=counts, scores=scores, predictions=scores.argmax(1),
                            latency_steps=np.full(len(X), T + 1), step_duration=net.step_duration,
                            wall_seconds=wall, compile_seconds=0.0,
                            bio_seconds_per_sample=(T + 1) * net.step_duration)


def _simulate_lsnn(net: LSNNNetwork, X: np.ndarray, settings: SimulationSettings,
                   progress: bool) -> SimulationResult:
    from brian_models.lsnn import simulate_lsnn  # noqa: PLC0415 (its own Brian2 objects)

    _runtime_only(settings, "an LSNN", mismatch=True)
    res = simulate_lsnn(net, X, mismatch=settings.mismatch, seed=settings.mismatch_seed,
                        batch_size=settings.batch_size)
    T = res.counts.shape[1]
    return SimulationResult(counts={"hidden": res.counts}, scores=res.scores, predictions=res.predictions,
                            latency_steps=np.full(len(res.predictions), T), step_duration=net.step_duration,
                            wall_seconds=res.wall_seconds, compile_seconds=0.0,
                            bio_seconds_per_sample=T * net.step_duration)


def simulate(net: Description, X: np.ndarray, settings: SimulationSettings = SimulationSettings(),
             progress: bool = True) -> SimulationResult:
    """Simulate the description ``net`` on ``X [N, T, F]`` (features in [0, 1]) in batches.

    A :class:`SpikingNetwork` runs on any device: on ``cpp_standalone`` it is compiled once
    (``compile_seconds``) and re-run for each batch with new inputs. A spiking LSTM and an
    LSNN run on the runtime device (mismatch: LSNN only).
    """
    if isinstance(net, SpikingNetwork):
        return _simulate_network(net, X, settings, progress)
    if isinstance(net, SpikingLSTM):
        return _simulate_lstm(net, X, settings, progress)
    if isinstance(net, LSNNNetwork):
        return _simulate_lsnn(net, X, settings, progress)
    raise TypeError(f"cannot simulate a {type(net).__name__}; expected one of SpikingNetwork, "
                    "SpikingLSTM, LSNNNetwork")
