"""Shared set-up for the Brian2 substrate tests: numpy code generation and a small runner.

Every test runs on Brian2's runtime device with the numpy target (nothing is compiled) and
builds explicit :class:`brian2.Network` objects, never the magic global network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import brian2
import numpy as np
import pytest
from brian2 import (
    BrianLogger,
    Network,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    amp,
    prefs,
    second,
)

from brian_models.neuron import NeuronModel, build_group
from brian_models.synapses import make_synapses

prefs.codegen.target = "numpy"
# some tests build groups only to inspect them; Brian2 warns when they are never run
BrianLogger.suppress_name("unused_brian_object")


@pytest.fixture(autouse=True)
def numpy_runtime():
    """Runtime device, numpy target, a fresh scope and a fixed Brian2 seed for each test."""
    if brian2.get_device().__class__.__name__ != "RuntimeDevice":
        brian2.set_device("runtime")
    prefs.codegen.target = "numpy"
    brian2.start_scope()
    brian2.seed(12345)
    yield


@dataclass
class BrianRun:
    """Recorded states ``[n_steps, n]`` (SI floats) and spikes of one Brian2 run."""

    t: np.ndarray
    state: dict[str, np.ndarray]
    spike_t: np.ndarray
    spike_i: np.ndarray
    group: Any

    def spikes(self, i: int = 0) -> np.ndarray:
        return self.spike_t[self.spike_i == i]


def run_model(model: NeuronModel, *, dt: float, duration: float, n: int = 1,
              I_inp: float | np.ndarray = 0.0, t_on: float = 0.0,
              I_ext: float | np.ndarray | None = None,
              events: Sequence[tuple[float, str, float]] = (), record: Sequence[str] = (),
              factors: Mapping[str, np.ndarray] | None = None,
              init: Mapping[str, Any] | None = None,
              setup: Callable[[Any], list] | None = None) -> BrianRun:
    """Simulate ``n`` neurons of ``model``: ``I_inp`` switched on at ``t_on``, input events
    ``(time, synapse type, amount)`` delivered to every neuron, ``record`` variables monitored.
    ``setup(group)`` may return extra Brian2 objects to add to the network."""
    group = build_group(model, n, dt=dt * second, factors=factors)
    if I_ext is not None:
        group.I_ext = np.broadcast_to(np.asarray(I_ext, float), (n,)) * amp
    for key, value in (init or {}).items():
        setattr(group, key, value)
    objects: list[Any] = [group]
    state_mon = StateMonitor(group, list(record), record=True, dt=dt * second) if record else None
    spike_mon = SpikeMonitor(group)
    objects += [m for m in (state_mon, spike_mon) if m is not None]
    for t_e, syn_type, amount in events:
        gen = SpikeGeneratorGroup(1, [0], [t_e] * second, dt=dt * second)
        objects += [gen, make_synapses(gen, group, syn_type, np.ones((n, 1), int), amount)]
    if setup is not None:
        objects += setup(group)
    net = Network(*objects)
    if t_on > 0:
        net.run(t_on * second)
    group.I_inp = np.broadcast_to(np.asarray(I_inp, float), (n,)) * amp
    net.run((duration - t_on) * second)
    state = {}
    if state_mon is not None:
        for var in record:
            state[var] = np.asarray(getattr(state_mon, var + "_")).T
    return BrianRun(
        t=np.asarray(state_mon.t_) if state_mon is not None else np.array([]),
        state=state,
        spike_t=np.asarray(spike_mon.t_),
        spike_i=np.asarray(spike_mon.i[:]),
        group=group,
    )


@pytest.fixture(scope="session")
def brian_run() -> Callable[..., BrianRun]:
    """The :func:`run_model` helper."""
    return run_model


def step_current(amplitude: float, t_on: float) -> Callable[[float], float]:
    """``I(t)`` for the reference: 0 before ``t_on``, ``amplitude`` after (as in run_model)."""
    return lambda t: amplitude if t >= t_on - 1e-12 else 0.0


@pytest.fixture(scope="session")
def step() -> Callable[[float, float], Callable[[float], float]]:
    """The :func:`step_current` helper."""
    return step_current


#: Synaptic input events used by the trace comparisons: one spike of each type.
EVENTS = (
    (0.005, "AMPA", 60e-12),
    (0.008, "NMDA", 80e-12),
    (0.011, "GABA_A", 30e-12),
    (0.014, "GABA_B", 40e-12),
)


@pytest.fixture(scope="session")
def events() -> tuple[tuple[float, str, float], ...]:
    """One input spike of each synapse type in the first 15 ms."""
    return EVENTS
