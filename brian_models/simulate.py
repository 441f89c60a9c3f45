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

__all__ = ["Description", "SimulationResult", "simulate", "readout_scores", "decision_latency", "cut_at_lengths"]

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


def readout_scores(net: SpikingNetwork, counts: dict[str, np.ndarray],
                   end_step: int | np.ndarray | None = None) -> np.ndarray:
    """Class scores from the readout population's counts over the readout window ending at
    ``end_step`` (one step for all samples or ``[N]``, see :meth:`Readout.features`)."""
    return net.readout.scores(net.readout.gather(counts), net.step_duration, end_step)


def decision_latency(net: SpikingNetwork, counts: dict[str, np.ndarray],
                     lengths: np.ndarray | None = None) -> np.ndarray:
    """Per sample, the number of steps after which the running decision equals the final one.

    The running decision after step ``t`` reads the readout window ending at ``t`` (with
    ``lengths``, at ``min(t, length)``: the final decision is read at each sample's end).
    """
    T = counts[net.readout.populations[0]].shape[1]
    running = np.stack([readout_scores(net, counts, t if lengths is None else np.minimum(t, lengths)).argmax(1)
                        for t in range(1, T + 1)], 1)
    final = running[:, -1:]
    differs = running != final
    last_diff = np.where(differs.any(1), T - np.argmax(differs[:, ::-1], axis=1), 0)
    return last_diff + 1 if T else last_diff


def cut_at_lengths(net: Description, result: SimulationResult, lengths: np.ndarray | None) -> SimulationResult:
    """The result of a padded run read at each sample's own end.

    Every network is causal: what a sample's neurons did before its end does not depend on
    the padding after it, so cutting a run over all ``T`` windows at window ``lengths[i]`` is
    the run of sample ``i`` alone for its own duration. The counts after each end are zeroed
    (spikes per inference and energy count only the sample's own windows), the scores,
    predictions and latencies are read at the end, and ``bio_seconds_per_sample`` is the
    mean length. ``lengths=None`` returns ``result`` itself. A spiking LSTM is not cut here
    (its readout holds ``h`` one window past the end): :func:`simulate` runs it by length.
    """
    if lengths is None:
        return result
    ends = np.asarray(lengths, dtype=np.int64)
    N = len(result.predictions)
    if ends.shape != (N,) or ends.min(initial=1) < 1:
        raise ValueError(f"lengths must be {N} integers >= 1, got shape {ends.shape}")
    if isinstance(net, SpikingLSTM):
        raise TypeError("a spiking LSTM is read at its end by simulate(..., lengths=...), not cut afterwards")
    T = next(iter(result.counts.values())).shape[1]
    if ends.max(initial=0) > T:
        raise ValueError(f"lengths must lie in 1..{T}, got {int(ends.max())}")
    held = (np.arange(T)[None, :] < ends[:, None])[:, :, None]
    counts = {k: np.where(held, v, 0).astype(v.dtype) for k, v in result.counts.items()}
    if isinstance(net, SpikingNetwork):
        scores = readout_scores(net, counts, ends)
        latency = decision_latency(net, counts, ends)
    else:  # an LSNN: its readout reads counts per element
        scores = net.scores(counts["hidden"], ends)
        latency = ends.copy()
    return replace(result, counts=counts, scores=scores, predictions=scores.argmax(1), latency_steps=latency,
                   bio_seconds_per_sample=float(ends.mean()) * result.step_duration)


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


def _simulate_lstm_by_length(net: SpikingLSTM, X: np.ndarray, settings: SimulationSettings, progress: bool,
                             lengths: np.ndarray) -> SimulationResult:
    """Each group of samples of one length ``L`` runs for its own ``L`` (+ 1 hold) windows;
    counts come back padded to ``T + 1`` windows."""
    N, T = X.shape[:2]
    ends = np.asarray(lengths, dtype=np.int64)
    parts = {L: _simulate_lstm(net, X[ends == L, :L], settings, progress) for L in np.unique(ends)}
    counts = {k: np.zeros((N, T + 1) + v.shape[2:], v.dtype)
              for k, v in next(iter(parts.values())).counts.items()}
    scores = np.zeros((N, net.w_out.shape[0]))
    for L, res in parts.items():
        rows = ends == L
        for k, v in res.counts.items():
            counts[k][rows, :v.shape[1]] = v
        scores[rows] = res.scores
    return SimulationResult(counts=counts, scores=scores, predictions=scores.argmax(1),
                            latency_steps=ends + 1, step_duration=net.step_duration,
                            wall_seconds=sum(r.wall_seconds for r in parts.values()), compile_seconds=0.0,
                            bio_seconds_per_sample=float((ends + 1).mean()) * net.step_duration)


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
             progress: bool = True, lengths: np.ndarray | None = None) -> SimulationResult:
    """Simulate the description ``net`` on ``X [N, T, F]`` (features in [0, 1]) in batches.

    A :class:`SpikingNetwork` runs on any device: on ``cpp_standalone`` it is compiled once
    (``compile_seconds``) and re-run for each batch with new inputs. A spiking LSTM and an
    LSNN run on the runtime device (mismatch: LSNN only). ``lengths [N]`` (variable-length
    sequences, zero-padded to ``T``) reads each sample at its own end: a spiking network and
    an LSNN run all ``T`` windows and are cut at each end (:func:`cut_at_lengths`), a
    spiking LSTM runs each group of equal length for its own duration.
    """
    if isinstance(net, SpikingNetwork):
        return cut_at_lengths(net, _simulate_network(net, X, settings, progress), lengths)
    if isinstance(net, SpikingLSTM):
        if lengths is not None:
            return _simulate_lstm_by_length(net, np.asarray(X, dtype=float), settings, progress, lengths)
        return _simulate_lstm(net, X, settings, progress)
    if isinstance(net, LSNNNetwork):
        return cut_at_lengths(net, _simulate_lsnn(net, X, settings, progress), lengths)
    raise TypeError(f"cannot simulate a {type(net).__name__}; expected one of SpikingNetwork, "
                    "SpikingLSTM, LSNNNetwork")
