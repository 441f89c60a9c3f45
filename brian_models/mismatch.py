"""Frozen, seeded device mismatch as multiplicative lognormal factors.

Analog transistors of one chip differ, and the differences are fixed for the life of the chip
("frozen"): a model parameter ``p`` of neuron ``i`` becomes ``p * f_i`` with a factor drawn
once. The factors are lognormal with mean 1 and coefficient of variation ``cv``::

    f = exp(mu + s * z),   z ~ N(0, 1),   s**2 = ln(1 + cv**2),   mu = -s**2 / 2

so ``E[f] = 1``, ``std(f) = cv`` and ``f > 0`` always (subthreshold currents are exponential in
the threshold-voltage mismatch, which is Gaussian, so their mismatch is lognormal; Pelgrom et
al. 1989). Measured on DYNAP-SE: cv ~ 0.2 for membrane time constants; teili's default is 0.2
and Rockpool's 0.1 (HARDWARE.md).

Which parameters a model perturbs is its parameter class's ``mismatch_keys``
(:mod:`brian_models.parameters`); per-synapse factors scale the efficacy of each (post, pre)
synapse. ``cv = 0`` returns exact ones and consumes no random numbers. Draws are
reproducible from the seed: the same generator state, the same ``n`` and the same key order
give the same factors.

One chip (:func:`draw_chip`) gives every population and every connection its own stream,
derived from ``(seed, name)`` (:class:`Mismatch`), so adding a population or a projection
leaves the others' factors unchanged. A connection's stream is named by what the chip has,
``(pre, post, synapse type)``, not by the projection's name: a network rebuilt from a
hardware configuration (whose projections are named differently) draws the same chip.
Every simulator of the project (Brian2, the torch chip model) reads its factors from here.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from brian_models.checks import ParameterError
from brian_models.description import SpikingNetwork

__all__ = [
    "lognormal_factors",
    "draw_mismatch",
    "draw_synapse_mismatch",
    "Mismatch",
    "ChipDraw",
    "draw_chip",
]

RngLike = np.random.Generator | int | None


def _rng(rng: RngLike) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        raise ParameterError("mismatch draws need an explicit seed or np.random.Generator")
    return np.random.default_rng(int(rng))


def _check_cv(cv: float) -> float:
    cv = float(cv)
    if not (math.isfinite(cv) and cv >= 0):
        raise ParameterError(f"mismatch cv must be finite and >= 0, got {cv}")
    return cv


def lognormal_factors(n: int, cv: float, rng: RngLike) -> np.ndarray:
    """``n`` lognormal factors with mean 1 and coefficient of variation ``cv``.

    Parameters
    ----------
    n : int
        Number of factors.
    cv : float
        Coefficient of variation (std / mean), ``>= 0``.
    rng : np.random.Generator or int
        Generator or seed.
    """
    cv = _check_cv(cv)
    if int(n) < 0:
        raise ParameterError(f"number of mismatch factors must be >= 0, got {n}")
    if cv == 0.0:
        return np.ones(int(n))
    s2 = math.log1p(cv * cv)
    return np.exp(-s2 / 2.0 + math.sqrt(s2) * _rng(rng).standard_normal(int(n)))


def draw_mismatch(n: int, keys: Iterable[str], cv: float = 0.2,
                  rng: RngLike = None) -> dict[str, np.ndarray]:
    """Per-neuron factors, one independent draw of shape ``(n,)`` per parameter in ``keys``.

    Parameters
    ----------
    n : int
        Number of neurons.
    keys : iterable of str
        Parameter names (usually ``model.mismatch_keys``), drawn in this order.
    cv : float
        Coefficient of variation.
    rng : np.random.Generator or int
        Generator or seed (required).
    """
    cv = _check_cv(cv)
    gen = None if cv == 0.0 else _rng(rng)
    return {key: lognormal_factors(n, cv, gen) for key in keys}


def draw_synapse_mismatch(n_synapses: int, cv: float = 0.2, rng: RngLike = None) -> np.ndarray:
    """Per-synapse efficacy factors of shape ``(n_synapses,)`` (see :func:`lognormal_factors`)."""
    cv = _check_cv(cv)
    return lognormal_factors(n_synapses, cv, None if cv == 0.0 else _rng(rng))


@dataclass(frozen=True)
class Mismatch:
    """One frozen chip: a coefficient of variation and a seed.

    Parameters
    ----------
    cv : float
        Coefficient of variation of every factor.
    seed : int
        Seed; each named population or projection gets its own stream derived from
        ``(seed, crc32(name))``, so adding a population does not change the others' factors.
    """

    cv: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        _check_cv(self.cv)
        if int(self.seed) != self.seed or self.seed < 0:
            raise ParameterError(f"Mismatch seed must be a non-negative integer, got {self.seed}")

    def generator(self, name: str) -> np.random.Generator:
        """Independent generator for the object called ``name``."""
        return np.random.default_rng([int(self.seed), zlib.crc32(name.encode())])

    def neuron_factors(self, name: str, n: int, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """Factors for population ``name`` of ``n`` neurons (see :func:`draw_mismatch`)."""
        return draw_mismatch(n, keys, self.cv, self.generator(name))

    def synapse_factors(self, name: str, n_synapses: int) -> np.ndarray:
        """Factors for the synapses of projection ``name``."""
        return draw_synapse_mismatch(n_synapses, self.cv, self.generator(name))

    def to_dict(self) -> dict[str, float]:
        return {"cv": float(self.cv), "seed": int(self.seed)}

    @classmethod
    def from_dict(cls, d: Mapping[str, float]) -> "Mismatch":
        unknown = sorted(set(d) - {"cv", "seed"})
        if unknown:
            raise ParameterError(f"Mismatch: unknown keys {unknown}; use cv, seed")
        return cls(cv=float(d.get("cv", 0.2)), seed=int(d.get("seed", 0)))


@dataclass(frozen=True, eq=False)
class ChipDraw:
    """The frozen mismatch factors of one chip for one network.

    Attributes
    ----------
    neuron : dict of str to dict of str to ndarray
        Per population, per parameter of its model's ``mismatch_keys``, factors ``(size,)``.
    synapse : dict of str to ndarray
        Per projection name, one factor per non-zero weight in the order of
        ``np.nonzero(weights)`` (row-major: by post, then pre).
    """

    neuron: dict[str, dict[str, np.ndarray]]
    synapse: dict[str, np.ndarray]


def draw_chip(net: SpikingNetwork, cv: float, seed: int) -> ChipDraw:
    """Mismatch factors of one chip (``cv``, ``seed``) for every population and projection of ``net``.

    ``cv = 0`` gives empty dicts (no factors: nominal parameters).
    """
    cv = _check_cv(cv)
    if cv == 0.0:
        return ChipDraw({}, {})
    chip = Mismatch(cv, int(seed))
    neuron = {p.name: chip.neuron_factors(f"population/{p.name}", p.size, type(p.params).mismatch_keys)
              for p in net.populations}
    synapse, seen = {}, {}
    for proj in net.projections:
        key = f"synapses/{proj.pre}/{proj.post}/{proj.synapse}"
        seen[key] = seen.get(key, 0) + 1
        name = key if seen[key] == 1 else f"{key}/{seen[key]}"
        synapse[proj.name] = chip.synapse_factors(name, int(np.count_nonzero(proj.weights)))
    return ChipDraw(neuron, synapse)
