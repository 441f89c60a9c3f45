"""Typed neuron parameters of the network description: LIF, AdEx, DPI and noise (numpy only).

Each neuron model's parameters are a frozen dataclass in SI units with named presets
(:meth:`LIFParams.default`, :meth:`AdExParams.brette_gerstner_2005`,
:meth:`DPIParams.dynapse1`) and a nested :class:`~brian_models.synapse_types.SynapseParams`.
The class also says what every simulator needs to know about the model without its
equations: its name (:attr:`model`), the parameters device mismatch scales
(:attr:`mismatch_keys`), the state variable that sets where a neuron is in its firing cycle
(:attr:`phase`) and the largest verified integration step (:attr:`recommended_dt`).

The equations live with the simulators: Brian2 in :mod:`brian_models.lif`,
:mod:`brian_models.adex`, :mod:`brian_models.dpi`; torch in :mod:`transfer.chip_model`.

Flat dicts (``to_dict`` / ``from_dict``) name the synapse fields without prefix
(``tau_ampa``, ``I_nmda_thr``); they are the file format of a population's parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Mapping, Union

import numpy as np

from brian_models.checks import ParameterError, check_params
from brian_models.synapse_types import (
    CURRENT_GATE_KEYS,
    TAU_KEYS,
    VOLTAGE_GATE_KEYS,
    SynapseParams,
)

__all__ = [
    "LIFParams",
    "AdExParams",
    "DPIParams",
    "NoiseParams",
    "NeuronParams",
    "NEURON_PARAMS",
    "NEURON_MODELS",
    "PhaseVariable",
    "neuron_params",
    "DYNAPSE1_SMALLEST_BIAS",
]

#: The smallest non-zero DYNAP-SE1 bias current (coarse 0, fine 1: 15 pA / 255 = 59 fA),
#: which a converted network uses to open the DPI's NMDA gate so that the chip represents it
#: exactly. Checked against ``hardware.biases.code_to_current(0, 1)`` in the tests.
DYNAPSE1_SMALLEST_BIAS = 15e-12 / 255


@dataclass(frozen=True)
class PhaseVariable:
    """The state variable between reset and threshold (for random initial phases).

    ``name`` is the variable, ``low``/``high`` the parameters bounding it, ``log`` whether a
    uniform phase is drawn on a log scale (the DPI's current).
    """

    name: str
    low: str
    high: str
    log: bool = False


class _Flat:
    """Flat-dict conversion shared by the parameter classes (mixin)."""

    _syn_keys: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, float]:
        """Flat dict of SI floats (synapse fields included)."""
        d = {f.name: float(getattr(self, f.name)) for f in fields(self) if f.name != "synapse"}
        d.update(self.synapse.to_dict(self._syn_keys))  # type: ignore[attr-defined]
        return d

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """Names of the flat parameters."""
        return tuple(f.name for f in fields(cls) if f.name != "synapse") + cls._syn_keys

    @classmethod
    def from_dict(cls, d: Mapping[str, float], base: Any = None) -> Any:
        """Parameters from a flat dict; missing keys take ``base``'s values (default preset).

        Raises
        ------
        ParameterError
            For keys that are not parameters of this model.
        """
        base = cls.default() if base is None else base  # type: ignore[attr-defined]
        own = [f.name for f in fields(cls) if f.name != "synapse"]
        unknown = sorted(set(d) - set(own) - set(cls._syn_keys))
        if unknown:
            raise ParameterError(
                f"{cls.__name__}: unknown parameters {unknown}; known: {own + list(cls._syn_keys)}")
        synapse = base.synapse.updated({k: v for k, v in d.items() if k in cls._syn_keys})
        kw = {k: float(getattr(base, k)) for k in own}
        kw.update({k: float(v) for k, v in d.items() if k in own})
        return cls(**kw, synapse=synapse)

    def updated(self, values: Mapping[str, float]) -> Any:
        """A copy with the flat parameters in ``values`` replaced."""
        return type(self).from_dict(values, base=self)

    def value(self, key: str) -> float:
        """One flat parameter (an own field or a synapse field)."""
        if key in self._syn_keys:
            return float(getattr(self.synapse, key))  # type: ignore[attr-defined]
        if key == "synapse" or key not in {f.name for f in fields(self)}:  # type: ignore[arg-type]
            raise ParameterError(f"{type(self).__name__}: no parameter {key!r}")
        return float(getattr(self, key))


@dataclass(frozen=True)
class LIFParams(_Flat):
    """LIF parameters in SI units (equations: :mod:`brian_models.lif`).

    Parameters
    ----------
    tau_mem : float
        Membrane time constant (s).
    R_mem : float
        Membrane resistance (ohm).
    v_rest, v_reset, v_thresh : float
        Resting, reset and threshold potentials (V); ``v_thresh > max(v_rest, v_reset)``.
    t_ref : float
        Refractory period (s).
    synapse : SynapseParams
        Synaptic time constants and the NMDA voltage gate.
    """

    tau_mem: float = 20e-3
    R_mem: float = 100e6
    v_rest: float = -65e-3
    v_reset: float = -65e-3
    v_thresh: float = -50e-3
    t_ref: float = 2e-3
    synapse: SynapseParams = field(default_factory=SynapseParams.dynapse1)

    model: ClassVar[str] = "lif"
    recommended_dt: ClassVar[float] = 0.1e-3
    mismatch_keys: ClassVar[tuple[str, ...]] = ("tau_mem", "R_mem", "t_ref") + TAU_KEYS
    phase: ClassVar[PhaseVariable] = PhaseVariable("v", "v_reset", "v_thresh")
    _syn_keys: ClassVar[tuple[str, ...]] = TAU_KEYS + VOLTAGE_GATE_KEYS

    def __post_init__(self) -> None:
        check_params(self, positive=("tau_mem", "R_mem"), non_negative=("t_ref",))
        if not self.v_thresh > max(self.v_rest, self.v_reset):
            raise ParameterError(
                f"LIFParams: v_thresh ({self.v_thresh} V) must lie above v_rest "
                f"({self.v_rest} V) and v_reset ({self.v_reset} V)")

    @classmethod
    def default(cls) -> "LIFParams":
        """tau 20 ms, R 100 MOhm, rest = reset = -65 mV, threshold -50 mV, t_ref 2 ms.

        Rheobase ``(v_thresh - v_rest) / R_mem`` = 150 pA; DYNAP-SE1 synapse preset.
        """
        return cls()

    @property
    def rheobase(self) -> float:
        """Smallest constant current (A) that makes the neuron fire."""
        return (self.v_thresh - self.v_rest) / self.R_mem


@dataclass(frozen=True)
class AdExParams(_Flat):
    """AdEx parameters in SI units, names as in Brette & Gerstner 2005 (:mod:`brian_models.adex`).

    Parameters
    ----------
    C_mem : float
        Membrane capacitance (F).
    g_L : float
        Leak conductance (S).
    E_L, V_T, Delta_T : float
        Leak reversal, exponential threshold and slope factor (V).
    tau_w : float
        Adaptation time constant (s).
    a : float
        Subthreshold adaptation conductance (S).
    b : float
        Spike-triggered adaptation current increment (A).
    V_r, V_spike : float
        Reset potential and spike detection potential (V).
    t_ref : float
        Refractory period (s).
    synapse : SynapseParams
    """

    C_mem: float = 281e-12
    g_L: float = 30e-9
    E_L: float = -70.6e-3
    V_T: float = -50.4e-3
    Delta_T: float = 2e-3
    tau_w: float = 144e-3
    a: float = 4e-9
    b: float = 80.5e-12
    V_r: float = -70.6e-3
    V_spike: float = -40.4e-3
    t_ref: float = 2e-3
    synapse: SynapseParams = field(default_factory=SynapseParams.dynapse1)

    model: ClassVar[str] = "adex"
    recommended_dt: ClassVar[float] = 0.1e-3
    mismatch_keys: ClassVar[tuple[str, ...]] = ("C_mem", "g_L", "tau_w", "a", "b", "t_ref") + TAU_KEYS
    phase: ClassVar[PhaseVariable] = PhaseVariable("v", "V_r", "V_T")
    _syn_keys: ClassVar[tuple[str, ...]] = TAU_KEYS + VOLTAGE_GATE_KEYS

    def __post_init__(self) -> None:
        check_params(self, positive=("C_mem", "g_L", "Delta_T", "tau_w"),
                     non_negative=("a", "b", "t_ref"))
        if not self.V_T > self.E_L:
            raise ParameterError(f"AdExParams: V_T ({self.V_T} V) must lie above E_L ({self.E_L} V)")
        if not self.V_spike > max(self.V_T, self.V_r):
            raise ParameterError(
                f"AdExParams: V_spike ({self.V_spike} V) must lie above V_T ({self.V_T} V) "
                f"and V_r ({self.V_r} V)")

    @classmethod
    def brette_gerstner_2005(cls) -> "AdExParams":
        """Table 1 of Brette & Gerstner (2005), detection at V_T + 5 Delta_T, no refractory."""
        return cls(t_ref=0.0)

    @classmethod
    def default(cls) -> "AdExParams":
        """:meth:`brette_gerstner_2005` with a 2 ms refractory period."""
        return replace(cls.brette_gerstner_2005(), t_ref=2e-3)

    @property
    def tau_mem(self) -> float:
        """Membrane time constant ``C_mem / g_L`` (s)."""
        return self.C_mem / self.g_L


@dataclass(frozen=True)
class DPIParams(_Flat):
    """DPI neuron parameters in SI units (equations: :mod:`brian_models.dpi`).

    Parameters
    ----------
    C_mem : float
        Membrane capacitance (F).
    I_tau : float
        Leak current (A), bias ``IF_TAU1_N`` / ``IF_TAU2_N``; sets ``tau_mem``.
    I_th : float
        Threshold (gain) current of the DPI (A), bias ``IF_THR_N``.
    I_0 : float
        Transistor dark current (A): the floor of ``I_mem``.
    U_T : float
        Thermal voltage (V).
    kappa : float
        Subthreshold slope factor.
    I_spkthr : float
        Spike threshold on ``I_mem`` (A).
    I_reset : float
        ``I_mem`` after a spike (A), ``>= I_0``.
    t_ref : float
        Refractory period (s), bias ``IF_RFR_N``.
    tau_ahp : float
        Time constant of the after-hyperpolarisation current (s), bias ``IF_AHTAU_N``.
    I_ahp_w : float
        AHP increment per spike (A), bias ``IF_AHW_P``; 0 disables adaptation.
    I_a_gain, I_a_th, I_a_norm : float
        Positive feedback: gain, threshold and width of its sigmoid (A).
    synapse : SynapseParams
        Synaptic time constants and the NMDA gate current ``I_nmda_thr`` (``IF_NMDA_N``).
    """

    C_mem: float = 2e-12
    I_tau: float = 5e-12
    I_th: float = 20e-12
    I_0: float = 0.5e-12
    U_T: float = 25e-3
    kappa: float = 0.7
    I_spkthr: float = 1e-9
    I_reset: float = 0.5e-12
    t_ref: float = 2e-3
    tau_ahp: float = 50e-3
    I_ahp_w: float = 0.0
    I_a_gain: float = 50e-12
    I_a_th: float = 0.5e-9
    I_a_norm: float = 10e-12
    synapse: SynapseParams = field(default_factory=SynapseParams.dynapse1)

    model: ClassVar[str] = "dpi"
    recommended_dt: ClassVar[float] = 0.1e-3
    mismatch_keys: ClassVar[tuple[str, ...]] = ("I_tau", "I_th", "I_a_gain", "I_a_th", "I_spkthr",
                                                "I_nmda_thr", "t_ref", "tau_ahp", "I_ahp_w") + TAU_KEYS
    phase: ClassVar[PhaseVariable] = PhaseVariable("I_mem", "I_reset", "I_spkthr", log=True)
    _syn_keys: ClassVar[tuple[str, ...]] = TAU_KEYS + CURRENT_GATE_KEYS

    def __post_init__(self) -> None:
        check_params(self, positive=("C_mem", "I_tau", "I_th", "I_0", "U_T", "kappa", "I_spkthr",
                                     "tau_ahp", "I_a_norm"),
                     non_negative=("t_ref", "I_ahp_w", "I_a_gain", "I_a_th"))
        if not self.I_0 <= self.I_reset < self.I_spkthr:
            raise ParameterError(
                f"DPIParams: need I_0 <= I_reset < I_spkthr, got I_0={self.I_0} A, "
                f"I_reset={self.I_reset} A, I_spkthr={self.I_spkthr} A")

    @classmethod
    def dynapse1(cls) -> "DPIParams":
        """DYNAP-SE1-like preset.

        C_mem 2 pF, I_tau 5 pA (tau_mem = 14.3 ms with U_T 25 mV, kappa 0.7), I_th 20 pA
        (gain I_th/I_tau = 4, Rockpool's default ratio), I_0 = I_reset = 0.5 pA, positive
        feedback and spike threshold as teili's DPI defaults (I_a_gain 50 pA, I_a_th 0.5 nA,
        I_a_norm 10 pA, I_spkthr 1 nA), t_ref 2 ms, tau_ahp 50 ms, no adaptation
        (I_ahp_w = 0). Rheobase (:attr:`rheobase`) 112 pA.
        """
        return cls()

    default = dynapse1

    @property
    def tau_mem(self) -> float:
        """Membrane time constant ``C_mem U_T / (kappa I_tau)`` (s)."""
        return self.C_mem * self.U_T / (self.kappa * self.I_tau)

    @property
    def rheobase(self) -> float:
        """Smallest constant input current (A) that makes the neuron fire (no AHP, no synapses).

        A steady state ``dI_mem/dt = 0`` satisfies ``(I_th/I_tau)(I_in - I_tau) = G(I_mem)``
        with ``G(I) = I - (I_a(I)/I_tau)(I + I_th)``; rising from ``I_0`` the membrane stops at
        the first such point, so it fires iff the left side exceeds ``max G`` on
        ``[I_0, I_spkthr]`` (evaluated on a fine logarithmic grid).
        """
        I = np.geomspace(self.I_0, self.I_spkthr, 200_001)
        with np.errstate(over="ignore"):
            I_a = self.I_a_gain / (1.0 + np.exp(-(I - self.I_a_th) / self.I_a_norm))
        G = I - I_a / self.I_tau * (I + self.I_th)
        return float(self.I_tau + max(G.max(), 0.0) * self.I_tau / self.I_th)

    def with_tau_mem(self, tau_mem: float) -> "DPIParams":
        """A copy whose ``I_tau`` gives the membrane time constant ``tau_mem`` (s)."""
        if not tau_mem > 0:
            raise ParameterError(f"DPIParams: tau_mem must be > 0 s, got {tau_mem}")
        return replace(self, I_tau=self.C_mem * self.U_T / (self.kappa * tau_mem))


#: Any neuron model's parameters.
NeuronParams = Union[LIFParams, AdExParams, DPIParams]
#: Parameter class of each neuron model name.
NEURON_PARAMS: dict[str, type] = {c.model: c for c in (LIFParams, AdExParams, DPIParams)}
NEURON_MODELS: tuple[str, ...] = tuple(NEURON_PARAMS)


def neuron_params(model: str, overrides: Mapping[str, float] | None = None) -> NeuronParams:
    """Parameters of neuron model ``model`` (its default preset) with flat ``overrides``.

    Raises
    ------
    ParameterError
        Unknown model, unknown parameter or a value out of range.
    """
    if model not in NEURON_PARAMS:
        raise ParameterError(f"unknown neuron model {model!r}; choose one of {', '.join(NEURON_MODELS)}")
    return NEURON_PARAMS[model].from_dict(dict(overrides or {}))


@dataclass(frozen=True)
class NoiseParams:
    """Membrane noise current (equations: :mod:`brian_models.noise`).

    Parameters
    ----------
    sigma : float
        OU (``tau_noise > 0``): stationary standard deviation of ``I_noise`` in amperes.
        White (``tau_noise == 0``): intensity ``sigma_w`` in ``A * s**0.5``.
    tau_noise : float
        Correlation time in seconds; 0 selects white noise.
    """

    sigma: float
    tau_noise: float = 5e-3

    def __post_init__(self) -> None:
        check_params(self, non_negative=("sigma", "tau_noise"))

    @classmethod
    def ou(cls, sigma: float, tau_noise: float) -> "NoiseParams":
        """Ornstein-Uhlenbeck current with standard deviation ``sigma`` (A), time ``tau_noise`` (s)."""
        if not tau_noise > 0:
            raise ParameterError(f"NoiseParams.ou: tau_noise must be > 0 s, got {tau_noise}")
        return cls(sigma=sigma, tau_noise=tau_noise)

    @classmethod
    def white(cls, intensity: float) -> "NoiseParams":
        """White noise current ``intensity * xi`` with ``intensity`` in ``A * s**0.5``."""
        return cls(sigma=intensity, tau_noise=0.0)

    @property
    def is_white(self) -> bool:
        """True for white noise (``tau_noise == 0``)."""
        return self.tau_noise == 0.0

    def white_equivalent(self) -> "NoiseParams":
        """White noise with the same low-frequency power as this OU current."""
        if self.is_white:
            return self
        return NoiseParams.white(self.sigma * math.sqrt(2.0 * self.tau_noise))

    def to_dict(self) -> dict[str, float]:
        return {"sigma": float(self.sigma), "tau_noise": float(self.tau_noise)}

    @classmethod
    def from_dict(cls, d: Mapping[str, float]) -> "NoiseParams":
        unknown = sorted(set(d) - {"sigma", "tau_noise"})
        if unknown:
            raise ParameterError(f"NoiseParams: unknown keys {unknown}; use sigma, tau_noise")
        return cls(**{k: float(v) for k, v in d.items()})
