"""Bias codes of DYNAP-SE1 and the DPI relations between biases and model parameters.

Bias codes
----------
A bias is a current set by a coarse/fine pair (samna ``Dynapse1Parameter``; Rockpool
``BiasGen.get_bias`` without its per-bias correction factors)::

    I = fine / 255 * Imax[coarse],   coarse 0..7, fine 0..255,
    Imax = 15 pA, 105 pA, 820 pA, 6.5 nA, 50 nA, 0.4 uA, 3.2 uA, 24 uA   (DYNAPSE1.coarse_imax_pA)

:func:`current_to_code` picks the code with the least error, the smallest coarse range on a
tie (best resolution); a positive current never maps to fine 0 (it would switch the circuit
off). Different codes can give exactly the same current (``(1, f) == (0, 7 f)``); the
currents are computed from integer picoamperes so that such codes compare equal bit for bit.

DPI relations (Chicca et al. 2014, Proc. IEEE 102(9); Bartolozzi & Indiveri 2007; Rockpool
``DPIParameters``/``MembraneParameters``), with ``U_T``, ``kappa`` and the capacitances from
:class:`hardware.dynapse1.LayoutConstants` (or the population's own values)::

    time constant      tau    = C * U_T / (kappa * I_tau)        (membrane, synapses, AHP)
    refractory period  t_ref  = C_ref * U_T / (kappa * I_rfr)    (IF_RFR_N; C_ref = 0.5 pF)
    pulse width        t_pulse = C_pulse * U_T / (kappa * I_pw)  (PULSE_PWLK_P; C_pulse = 0.5 pF)
    synaptic efficacy  e = (I_g / I_tau) * I_w * (1 - exp(-t_pulse / tau))

The last line is the jump of ``I_syn`` caused by one pulse of width ``t_pulse`` into the
first-order DPI low-pass ``tau dI_syn/dt = -I_syn + (I_g/I_tau) I_w`` (HARDWARE.md; the linear
regime ``I_syn >> I_g``); it is the ``e`` of :mod:`brian_models.synapses`
(``I_x += w*e`` per spike). Synaptic capacitances assumed: AMPA and GABA_A 24.5 pF, NMDA and
GABA_B 25 pF, AHP 40 pF (Rockpool ``DynapSE1Capacitance``: 49, 50 and 80 x 0.5 pF).

Parameter -> bias table (kind="neuron" derives all rows, kind="synapse" the rows marked S)::

    I_tau (or tau_mem via C_mem)        IF_TAU1_N        membrane leak (all neurons use TAU1)
    I_th                                IF_THR_N         membrane DPI gain ("threshold") current
    t_ref                               IF_RFR_N         refractory period (C_ref)
    tau_ahp                             IF_AHTAU_N       adaptation time constant (C_ahp)
    I_ahp_g (default 4 * I_tau_ahp)     IF_AHTHR_N       adaptation DPI gain
    I_ahp_w                             IF_AHW_P         adaptation weight
    I_dc                                IF_DC_P          constant input current of the core
    I_nmda_thr (alias I_f_nmda)         IF_NMDA_N        NMDA gate of the membrane
  S t_pulse                             PULSE_PWLK_P     pulse-extender width (C_pulse)
  S tau_<x>                             NPDPI{E,I}_TAU_{F,S}_P   synaptic time constant (C_<x>)
  S I_g_<x> (default 4 * I_tau_<x>)     NPDPI{E,I}_THR_{F,S}_P   synaptic DPI gain
  S efficacy_<x> (or I_w_<x> direct)    PS_WEIGHT_{EXC,INH}_{F,S}_N   base weight

with ``<x>`` in ampa (E, F), nmda (E, S), gaba_a (I, F), gaba_b (I, S). The default gain
factor 4 is Rockpool's ``f_gain`` default. Biases with no parameter keep the codes INI's
samna examples start from (``gen_param_group_1core`` in ctxctl: e.g. IF_TAU1_N (4, 80),
IF_THR_N (5, 80), IF_RFR_N (4, 128), IF_TAU2_N (7, 255) "tau2 off", PULSE_PWLK_P (4, 106),
R2R_P (3, 85), IF_BUF_P (3, 80), all weights, IF_DC_P, IF_NMDA_N, IF_AHW_P, IF_AHTHR_N and
IF_CASC_N (0, 0)); see :data:`DEFAULT_CODES`. Without ``t_pulse`` the pulse width is thus
PULSE_PWLK_P (4, 106) = 20.8 nA, i.e. about 0.86 us with ``C_pulse = 0.5 pF``, and the base
weight of an efficacy ``e`` is about ``1450 e`` for a 5 ms synapse with the default gain.

``I_ahp_w`` is mapped one to one onto the IF_AHW_P current. :mod:`brian_models.dpi` adds
``I_ahp_w`` to ``I_ahp`` at each spike; on the chip that jump also depends on IF_AHTHR_N,
IF_AHTAU_N and the pulse width, which this mapping does not model.

Parameters that no bias sets (``C_mem``, ``U_T``, ``kappa``, ``I_0``, ``I_spkthr``,
``I_reset``, the capacitances) are silicon constants; :func:`biases_from_params` returns them
(with any unrecognised keys, which are reported) so that :func:`params_from_biases` can decode
a parameter group into the same model parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from brian_models.parameters import DPIParams
from brian_models.synapse_types import SYNAPSES
from hardware.config import Dynapse1Parameter, Dynapse1ParameterGroup
from hardware.dynapse1 import DYNAPSE1, ChipSpec
from hardware.errors import HardwareConstraintError

__all__ = [
    "DEFAULT_CODES",
    "DEFAULT_DPI_GAIN",
    "SYNAPSE_BIASES",
    "SYNAPSE_KEYS",
    "EFFICACY_KEYS",
    "NEURON_KEYS",
    "CONSTANT_KEYS",
    "SynapseBiases",
    "BiasReport",
    "code_to_current",
    "current_to_code",
    "quantisation_error",
    "dpi_current",
    "dpi_time",
    "synaptic_efficacy",
    "weight_current",
    "parameter_currents",
    "biases_from_params",
    "params_from_biases",
    "CoreParameters",
    "core_biases",
    "decode_core",
]

#: Codes of biases no parameter sets: INI ctxctl ``gen_param_group_1core`` (samna examples).
DEFAULT_CODES: dict[str, tuple[int, int]] = {
    "IF_AHTAU_N": (4, 80), "IF_AHTHR_N": (0, 0), "IF_AHW_P": (0, 0), "IF_BUF_P": (3, 80),
    "IF_CASC_N": (0, 0), "IF_DC_P": (0, 0), "IF_NMDA_N": (0, 0), "IF_RFR_N": (4, 128),
    "IF_TAU1_N": (4, 80), "IF_TAU2_N": (7, 255), "IF_THR_N": (5, 80),
    "NPDPIE_TAU_F_P": (4, 80), "NPDPIE_TAU_S_P": (4, 80), "NPDPIE_THR_F_P": (4, 80),
    "NPDPIE_THR_S_P": (4, 80), "NPDPII_TAU_F_P": (4, 80), "NPDPII_TAU_S_P": (4, 80),
    "NPDPII_THR_F_P": (4, 80), "NPDPII_THR_S_P": (4, 80), "PS_WEIGHT_EXC_F_N": (0, 0),
    "PS_WEIGHT_EXC_S_N": (0, 0), "PS_WEIGHT_INH_F_N": (0, 0), "PS_WEIGHT_INH_S_N": (0, 0),
    "PULSE_PWLK_P": (4, 106), "R2R_P": (3, 85),
}

#: Gain ``I_g / I_tau`` of a DPI whose gain current is not given (Rockpool ``f_gain``).
DEFAULT_DPI_GAIN = 4.0


@dataclass(frozen=True)
class SynapseBiases:
    """The three biases of one synapse type and its parameter-name suffix."""

    key: str
    tau: str
    gain: str
    weight: str


def _synapse_biases(name: str) -> SynapseBiases:
    """The biases of a synapse type follow from its circuit: excitatory or inhibitory DPI
    (``NPDPIE``/``NPDPII``, ``PS_WEIGHT_EXC``/``INH``), fast or slow (``F``/``S``)."""
    syn = SYNAPSES[name]
    ei, speed = ("E", "EXC") if syn.excitatory else ("I", "INH"), "F" if syn.fast else "S"
    return SynapseBiases(syn.key, f"NPDPI{ei[0]}_TAU_{speed}_P", f"NPDPI{ei[0]}_THR_{speed}_P",
                         f"PS_WEIGHT_{ei[1]}_{speed}_N")


#: Bias names of each synapse type (F = fast, S = slow; E = excitatory, I = inhibitory), from
#: the one declaration of the types (:mod:`brian_models.synapse_types`).
SYNAPSE_BIASES: dict[str, SynapseBiases] = {name: _synapse_biases(name) for name in SYNAPSES}

#: Parameters of the synaptic circuits that biases set (kind="synapse").
SYNAPSE_KEYS: tuple[str, ...] = ("t_pulse",) + tuple(
    f"{p}_{s.key}" for s in SYNAPSE_BIASES.values() for p in ("tau", "I_g", "I_w", "efficacy"))
#: The decoded per-type efficacies (amperes per synapse and spike).
EFFICACY_KEYS: tuple[str, ...] = tuple(f"efficacy_{s.key}" for s in SYNAPSE_BIASES.values())
#: Membrane parameters that biases set (kind="neuron", besides the synapse keys).
NEURON_KEYS: tuple[str, ...] = ("I_tau", "tau_mem", "I_th", "t_ref", "tau_ahp", "I_ahp_g",
                                "I_ahp_w", "I_dc", "I_nmda_thr", "I_f_nmda")
#: Silicon constants: no bias sets them (see :class:`hardware.dynapse1.LayoutConstants`), and
#: the DPI model's positive-feedback parameters, which no DYNAP-SE1 bias sets either.
CONSTANT_KEYS: tuple[str, ...] = ((tuple(DYNAPSE1.layout.to_dict()) if DYNAPSE1.layout else ())
                                  + ("I_a_gain", "I_a_th", "I_a_norm"))


# -- codes ---------------------------------------------------------------------------------
def code_to_current(coarse: int, fine: int, spec: ChipSpec = DYNAPSE1) -> float:
    """Bias current ``fine / fine_max * Imax[coarse]`` in amperes.

    Raises
    ------
    HardwareConstraintError
        ``bias_codes_in_range`` if ``coarse`` or ``fine`` is outside the chip's range.
    """
    c, f = int(coarse), int(fine)
    if not 0 <= c < spec.n_coarse:
        raise HardwareConstraintError("bias_codes_in_range", "bias code", f"coarse {c}",
                                      f"0..{spec.n_coarse - 1}", "use a coarse value of the chip")
    if not 0 <= f <= spec.fine_max:
        raise HardwareConstraintError("bias_codes_in_range", "bias code", f"fine {f}",
                                      f"0..{spec.fine_max}", "use a fine value of the chip")
    return f * spec.coarse_imax_pA[c] / spec.fine_max * 1e-12


def current_to_code(current: float, spec: ChipSpec = DYNAPSE1, where: str = "bias current"
                    ) -> tuple[int, int]:
    """The ``(coarse, fine)`` code closest to ``current`` (smallest coarse range on ties).

    Parameters
    ----------
    current : float
        Wanted current in amperes, ``0 <= current <= Imax[-1]`` (plus half a fine step).
    spec : ChipSpec
    where : str
        What the current is for, used in the error message.

    Raises
    ------
    HardwareConstraintError
        ``bias_current_range`` for a negative, non-finite or too large current.
    """
    i = float(current)
    top = spec.max_bias_current * (1 + 0.5 / spec.fine_max)
    if not (math.isfinite(i) and 0 <= i <= top):
        raise HardwareConstraintError(
            "bias_current_range", where, f"{i:.4g} A", f"0..{spec.max_bias_current:.3g} A",
            "change the parameter so that its bias current fits the chip's bias generator")
    if i == 0:
        return 0, 0
    best: tuple[int, int] = (0, 1)
    best_err = math.inf
    for c, imax_pA in enumerate(spec.coarse_imax_pA):
        f = int(round(i * spec.fine_max / (imax_pA * 1e-12)))
        f = min(max(f, 1), spec.fine_max)
        err = abs(code_to_current(c, f, spec) - i)
        if err < best_err:
            best, best_err = (c, f), err
    return best


def quantisation_error(current: float, spec: ChipSpec = DYNAPSE1) -> float:
    """Relative error ``|I_q - I| / I`` of representing ``current`` by its nearest code (0 for 0)."""
    i = float(current)
    if i == 0:
        return 0.0
    return abs(code_to_current(*current_to_code(i, spec), spec) - i) / i


# -- DPI relations --------------------------------------------------------------------------
def dpi_current(time: float, capacitance: float, U_T: float, kappa: float) -> float:
    """The bias current ``C U_T / (kappa t)`` that gives time constant (or period) ``t``."""
    t = float(time)
    if not t > 0:
        raise ValueError(f"a DPI time constant must be > 0 s, got {t}")
    return capacitance * U_T / (kappa * t)


def dpi_time(current: float, capacitance: float, U_T: float, kappa: float) -> float:
    """The time constant ``C U_T / (kappa I)`` set by bias current ``I`` (inf for 0 A)."""
    i = float(current)
    return math.inf if i == 0 else capacitance * U_T / (kappa * i)


def synaptic_efficacy(I_w: float, I_g: float, I_tau: float, t_pulse: float,
                      capacitance: float, U_T: float, kappa: float) -> float:
    """Jump of ``I_syn`` per spike: ``(I_g / I_tau) I_w (1 - exp(-t_pulse / tau))``.

    For ``I_tau = 0`` (infinite ``tau``) the limit ``I_g I_w t_pulse kappa / (C U_T)``.
    """
    if I_tau == 0:
        return I_g * I_w * t_pulse * kappa / (capacitance * U_T)
    tau = dpi_time(I_tau, capacitance, U_T, kappa)
    return (I_g / I_tau) * I_w * -math.expm1(-t_pulse / tau)


def weight_current(efficacy: float, I_g: float, I_tau: float, t_pulse: float,
                   capacitance: float, U_T: float, kappa: float) -> float:
    """The base weight ``I_w`` that gives ``efficacy`` (inverse of :func:`synaptic_efficacy`)."""
    per_amp = synaptic_efficacy(1.0, I_g, I_tau, t_pulse, capacitance, U_T, kappa)
    if efficacy == 0:
        return 0.0
    if not per_amp > 0:
        raise ValueError("the synaptic gain current or the pulse width is zero: no efficacy possible")
    return efficacy / per_amp


def parameter_currents(group: Dynapse1ParameterGroup, spec: ChipSpec = DYNAPSE1) -> dict[str, float]:
    """Current of every bias of ``group`` in amperes."""
    return {n: code_to_current(p.coarse_value, p.fine_value, spec) for n, p in group.param_map.items()}


# -- parameters <-> biases ---------------------------------------------------------------------
@dataclass(frozen=True)
class BiasReport:
    """What :func:`biases_from_params` did with a parameter dict.

    Attributes
    ----------
    requested : dict
        Parameters converted to biases, as given (SI units).
    decoded : dict
        All parameters decoded back from the codes (:func:`params_from_biases`).
    relative_error : dict
        ``|decoded - requested| / |requested|`` per converted parameter (0 when both are 0).
    defaulted : tuple of str
        Biases set to :data:`DEFAULT_CODES` (or a default gain) for lack of a parameter.
    unknown : tuple of str
        Parameters the mapping does not recognise (kept as constants, not set by biases).
    ignored : tuple of str
        Recognised parameters this ``kind`` does not convert.
    constants : dict
        Parameters no bias sets, for :func:`params_from_biases`.
    """

    requested: dict[str, float]
    decoded: dict[str, float]
    relative_error: dict[str, float]
    defaulted: tuple[str, ...]
    unknown: tuple[str, ...]
    ignored: tuple[str, ...]
    constants: dict[str, float] = field(default_factory=dict)

    @property
    def max_relative_error(self) -> float:
        """Largest relative quantisation error over the converted parameters."""
        return max(self.relative_error.values(), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {"requested": dict(self.requested), "relative_error": dict(self.relative_error),
                "defaulted": list(self.defaulted), "unknown": list(self.unknown),
                "ignored": list(self.ignored)}


def _layout(spec: ChipSpec) -> dict[str, float]:
    if spec.layout is None:
        raise ValueError(f"{spec.name} has no DPI layout constants; bias conversion supports DYNAP-SE1 only")
    return spec.layout.to_dict()


def biases_from_params(params: Mapping[str, float], kind: str = "neuron",
                       spec: ChipSpec = DYNAPSE1) -> tuple[Dynapse1ParameterGroup, BiasReport]:
    """The 25 biases of a core from a DPI population's physical parameters.

    Parameters
    ----------
    params : mapping of str to float
        SI parameters named as in the module docstring's table (missing ones: documented
        defaults; silicon constants override the layout's; unknown keys are reported).
    kind : {"neuron", "synapse"}
        ``"neuron"`` converts every row of the table; ``"synapse"`` only the synaptic rows,
        leaving the membrane biases at their defaults.
    spec : ChipSpec

    Returns
    -------
    group : Dynapse1ParameterGroup
    report : BiasReport

    Raises
    ------
    HardwareConstraintError
        ``bias_current_range`` if a parameter needs a current the chip cannot make.
    """
    if kind not in ("neuron", "synapse"):
        raise ValueError(f"kind must be 'neuron' or 'synapse', got {kind!r}")
    p = {str(k): float(v) for k, v in params.items()}
    for k, v in p.items():
        if not math.isfinite(v):
            raise ValueError(f"parameter {k} is {v}; DPI parameters must be finite")
    if "I_f_nmda" in p and "I_nmda_thr" not in p:
        p["I_nmda_thr"] = p.pop("I_f_nmda")
    known = set(NEURON_KEYS) | set(SYNAPSE_KEYS) | set(_layout(spec)) | set(CONSTANT_KEYS)
    unknown = tuple(sorted(k for k in p if k not in known))
    consts = _layout(spec)
    consts.update({k: v for k, v in p.items() if k in consts or k in CONSTANT_KEYS or k in unknown})
    U_T, kappa = consts["U_T"], consts["kappa"]
    converts = set(SYNAPSE_KEYS) | (set(NEURON_KEYS) if kind == "neuron" else set())
    ignored = tuple(sorted(k for k in p if k in NEURON_KEYS and k not in converts))

    codes = dict(DEFAULT_CODES)
    defaulted = set(spec.bias_names)
    requested: dict[str, float] = {}

    def put(bias: str, current: float, param: str) -> None:
        codes[bias] = current_to_code(current, spec, where=f"bias {bias} (from parameter {param})")
        defaulted.discard(bias)

    def cur(bias: str) -> float:
        return code_to_current(*codes[bias], spec)

    def take(key: str) -> float | None:
        if key in p and key in converts:
            requested[key] = p[key]
            return p[key]
        return None

    if (t := take("t_pulse")) is not None:
        put("PULSE_PWLK_P", dpi_current(t, consts["C_pulse"], U_T, kappa), "t_pulse")
    if kind == "neuron":
        if (i := take("I_tau")) is not None:
            put("IF_TAU1_N", i, "I_tau")
        elif (t := take("tau_mem")) is not None:
            put("IF_TAU1_N", dpi_current(t, consts["C_mem"], U_T, kappa), "tau_mem")
        for key, bias in (("I_th", "IF_THR_N"), ("I_ahp_w", "IF_AHW_P"), ("I_dc", "IF_DC_P"),
                          ("I_nmda_thr", "IF_NMDA_N")):
            if (i := take(key)) is not None:
                put(bias, i, key)
        if (t := take("t_ref")) is not None:
            put("IF_RFR_N", dpi_current(t, consts["C_ref"], U_T, kappa), "t_ref")
        if (t := take("tau_ahp")) is not None:
            put("IF_AHTAU_N", dpi_current(t, consts["C_ahp"], U_T, kappa), "tau_ahp")
        if (i := take("I_ahp_g")) is not None:
            put("IF_AHTHR_N", i, "I_ahp_g")
        elif "tau_ahp" in requested:
            put("IF_AHTHR_N", DEFAULT_DPI_GAIN * cur("IF_AHTAU_N"), "tau_ahp (default gain)")
    for syn in SYNAPSE_BIASES.values():
        c_syn = consts[f"C_{syn.key}"]
        if (t := take(f"tau_{syn.key}")) is not None:
            put(syn.tau, dpi_current(t, c_syn, U_T, kappa), f"tau_{syn.key}")
        if (i := take(f"I_g_{syn.key}")) is not None:
            put(syn.gain, i, f"I_g_{syn.key}")
        elif f"tau_{syn.key}" in requested:
            put(syn.gain, DEFAULT_DPI_GAIN * cur(syn.tau), f"tau_{syn.key} (default gain)")
        if (i := take(f"I_w_{syn.key}")) is not None:
            put(syn.weight, i, f"I_w_{syn.key}")
        elif (e := take(f"efficacy_{syn.key}")) is not None:
            if e > 0 and cur(syn.gain) == 0:
                raise HardwareConstraintError(
                    "bias_current_range", f"bias {syn.gain} (gain of efficacy_{syn.key})", "0 A",
                    "> 0 A", f"give a positive I_g_{syn.key}: with zero gain no efficacy is possible")
            i_w = weight_current(e, cur(syn.gain), cur(syn.tau), dpi_time(cur("PULSE_PWLK_P"),
                                 consts["C_pulse"], U_T, kappa), c_syn, U_T, kappa)
            try:
                put(syn.weight, i_w, f"efficacy_{syn.key}")
            except HardwareConstraintError as err:
                raise HardwareConstraintError(
                    err.rule, err.where, err.value, err.limit,
                    f"lower efficacy_{syn.key} ({e:.3g} A), or raise the gain I_g_{syn.key} or the "
                    "pulse width t_pulse") from None

    group = Dynapse1ParameterGroup(
        {n: Dynapse1Parameter(n, *codes[n]) for n in spec.bias_names})
    decoded = params_from_biases(group, consts, spec)
    if "tau_mem" in requested:
        decoded["tau_mem"] = dpi_time(decoded["I_tau"], consts["C_mem"], U_T, kappa)
    errors = {}
    for key, want in requested.items():
        got = decoded[key]
        errors[key] = 0.0 if got == want else abs(got - want) / abs(want) if want != 0 else math.inf
    report = BiasReport(requested=requested, decoded=decoded, relative_error=errors,
                        defaulted=tuple(n for n in spec.bias_names if n in defaulted),
                        unknown=unknown, ignored=ignored, constants=consts)
    return group, report


def params_from_biases(group: Dynapse1ParameterGroup, constants: Mapping[str, float] | None = None,
                       spec: ChipSpec = DYNAPSE1) -> dict[str, float]:
    """Decode a core's biases into DPI model parameters (the inverse of :func:`biases_from_params`).

    Parameters
    ----------
    group : Dynapse1ParameterGroup
        Must hold all biases of ``spec``.
    constants : mapping, optional
        Silicon constants and pass-through parameters (``HardwareConfig.analog_constants[pop]``);
        default: the layout of ``spec``.
    spec : ChipSpec

    Returns
    -------
    dict of str to float
        The constants, plus ``I_tau, I_th, t_ref, tau_ahp, I_ahp_g, I_ahp_w, I_dc, I_nmda_thr,
        t_pulse`` and per synapse type ``x``: ``tau_x, I_g_x, I_w_x, efficacy_x``. A zero
        time-constant current decodes to ``inf`` seconds.
    """
    missing = [n for n in spec.bias_names if n not in group.param_map]
    if missing:
        raise ValueError(f"parameter group lacks biases {missing}")
    c = _layout(spec)
    c.update({str(k): float(v) for k, v in (constants or {}).items()})
    U_T, kappa = c["U_T"], c["kappa"]
    cur = parameter_currents(group, spec)
    out = dict(c)
    out.update({
        "I_tau": cur["IF_TAU1_N"],
        "I_th": cur["IF_THR_N"],
        "t_ref": dpi_time(cur["IF_RFR_N"], c["C_ref"], U_T, kappa),
        "tau_ahp": dpi_time(cur["IF_AHTAU_N"], c["C_ahp"], U_T, kappa),
        "I_ahp_g": cur["IF_AHTHR_N"],
        "I_ahp_w": cur["IF_AHW_P"],
        "I_dc": cur["IF_DC_P"],
        "I_nmda_thr": cur["IF_NMDA_N"],
        "t_pulse": dpi_time(cur["PULSE_PWLK_P"], c["C_pulse"], U_T, kappa),
    })
    for syn in SYNAPSE_BIASES.values():
        c_syn = c[f"C_{syn.key}"]
        i_tau, i_g, i_w = cur[syn.tau], cur[syn.gain], cur[syn.weight]
        out[f"tau_{syn.key}"] = dpi_time(i_tau, c_syn, U_T, kappa)
        out[f"I_g_{syn.key}"] = i_g
        out[f"I_w_{syn.key}"] = i_w
        out[f"efficacy_{syn.key}"] = synaptic_efficacy(i_w, i_g, i_tau, out["t_pulse"], c_syn, U_T, kappa)
    return out


# -- typed: one core's parameters <-> its biases -------------------------------------------------
#: ``I_nmda_thr`` used when ``IF_NMDA_N`` is 0 A, relative to ``I_0``: the gate
#: ``I_mem / (I_mem + I_nmda_thr)`` is then fully open (``I_mem >= I_0``), as on the chip.
_OPEN_NMDA_GATE = 1e-9


@dataclass(frozen=True)
class CoreParameters:
    """What the biases of one core set for the population on it.

    Attributes
    ----------
    neuron : DPIParams
        Membrane, AHP, refractory and synaptic time-constant parameters (and the silicon
        constants no bias sets).
    efficacy : dict of str to float
        Per synapse type name, the efficacy of one synapse (A): the core's base weight.
    dc : float or None
        The core's DC input current (``IF_DC_P``, A); ``None`` leaves the bias at its default.
    circuit : dict of str to float
        Decoded circuit values no model parameter holds (pulse width, DPI gains, weight
        currents, AHP gain), for reports.
    """

    neuron: DPIParams
    efficacy: dict[str, float] = field(default_factory=dict)
    dc: float | None = None
    circuit: dict[str, float] = field(default_factory=dict)

    def table(self) -> dict[str, float]:
        """The flat parameter table :func:`biases_from_params` reads."""
        out = self.neuron.to_dict()
        out.update({f"efficacy_{SYNAPSES[name].key}": float(e) for name, e in self.efficacy.items()})
        if self.dc is not None:
            out["I_dc"] = float(self.dc)
        return out


def core_biases(core: CoreParameters, spec: ChipSpec = DYNAPSE1
                ) -> tuple[Dynapse1ParameterGroup, BiasReport]:
    """The 25 biases of a core holding ``core`` (see :func:`biases_from_params`)."""
    return biases_from_params(core.table(), kind="neuron", spec=spec)


def decode_core(group: Dynapse1ParameterGroup, constants: Mapping[str, float] | None = None,
                spec: ChipSpec = DYNAPSE1) -> CoreParameters:
    """The parameters a core's biases decode to (the inverse of :func:`core_biases`).

    An ``IF_NMDA_N`` of 0 A opens the NMDA gate fully (as on the chip).

    Raises
    ------
    ValueError
        If a model parameter decodes to a non-finite value (a time-constant bias of 0 A).
    """
    decoded = params_from_biases(group, constants, spec)
    fields = {k: float(decoded[k]) for k in DPIParams.keys() if k in decoded}
    if fields.get("I_nmda_thr", 1.0) == 0.0:
        fields["I_nmda_thr"] = _OPEN_NMDA_GATE * fields.get("I_0", DPIParams.dynapse1().I_0)
    for key, value in fields.items():
        if not math.isfinite(value):
            raise ValueError(f"parameter {key} decodes to {value} (a bias current of 0 A); "
                             "set a non-zero bias code for it")
    efficacy = {name: float(decoded[f"efficacy_{s.key}"]) for name, s in SYNAPSES.items()}
    known = set(fields) | {f"efficacy_{s.key}" for s in SYNAPSES.values()} | {"I_dc"}
    circuit = {k: float(v) for k, v in decoded.items() if k not in known and math.isfinite(v)}
    return CoreParameters(DPIParams.from_dict(fields), efficacy, float(decoded["I_dc"]), circuit)
