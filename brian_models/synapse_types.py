"""The four DYNAP-SE synapse types, declared once, and their time constants (numpy only).

Each synapse type ``x`` is one first-order low-pass current per postsynaptic neuron (the DPI
synapse of Bartolozzi & Indiveri 2007 and Chicca et al. 2014, Proc. IEEE 102(9), in its
linear regime ``I_syn >> I_g``); a presynaptic spike of a synapse with integer count ``w``
(repeated CAM entries) and efficacy ``e`` (amp, the per-core base weight) adds ``w*e``::

    dI_x/dt = -I_x / tau_x,        on a presynaptic spike:  I_x += w * e

How each current enters the membrane (:attr:`SynapseType.effect`):

- ``"add"`` (AMPA): adds to the input current;
- ``"gated"`` (NMDA): adds through a gate of the membrane state (the DPI's ``I_mem /
  (I_mem + I_nmda_thr)``, the LIF/AdEx Mg block of Jahr & Stevens 1990);
- ``"shunt"`` (GABA_A): increases the leak (divisive);
- ``"subtract"`` (GABA_B): subtracts from the input current.

The names are samna's ``Dynapse1SynType`` members. Every other module (the Brian2 synapses,
the hardware configuration, the bias table, the torch chip model) reads this table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

from brian_models.checks import check_params

__all__ = [
    "SynapseType",
    "SYNAPSES",
    "SYNAPSE_TYPES",
    "EXCITATORY",
    "INHIBITORY",
    "TAU_KEYS",
    "VOLTAGE_GATE_KEYS",
    "CURRENT_GATE_KEYS",
    "SynapseParams",
]


@dataclass(frozen=True)
class SynapseType:
    """One DYNAP-SE synapse type.

    Attributes
    ----------
    name : str
        samna ``Dynapse1SynType`` name (``"AMPA"``...).
    key : str
        Lower-case suffix of its parameters (``tau_<key>``, ``efficacy_<key>``).
    excitatory : bool
    fast : bool
        Fast (AMPA, GABA_A) or slow (NMDA, GABA_B) circuit of the chip.
    effect : {"add", "gated", "shunt", "subtract"}
        How the current enters the membrane (module docstring).
    """

    name: str
    key: str
    excitatory: bool
    fast: bool
    effect: str

    @property
    def variable(self) -> str:
        """The postsynaptic state variable, ``I_<key>``."""
        return f"I_{self.key}"

    @property
    def tau(self) -> str:
        """The time-constant field of :class:`SynapseParams`, ``tau_<key>``."""
        return f"tau_{self.key}"

    @property
    def sign(self) -> int:
        """+1 for excitatory, -1 for inhibitory types."""
        return 1 if self.excitatory else -1


#: The four types in samna's documentation order.
SYNAPSES: dict[str, SynapseType] = {
    "AMPA": SynapseType("AMPA", "ampa", excitatory=True, fast=True, effect="add"),
    "NMDA": SynapseType("NMDA", "nmda", excitatory=True, fast=False, effect="gated"),
    "GABA_A": SynapseType("GABA_A", "gaba_a", excitatory=False, fast=True, effect="shunt"),
    "GABA_B": SynapseType("GABA_B", "gaba_b", excitatory=False, fast=False, effect="subtract"),
}
SYNAPSE_TYPES: tuple[str, ...] = tuple(SYNAPSES)
EXCITATORY: tuple[str, ...] = tuple(n for n, s in SYNAPSES.items() if s.excitatory)
INHIBITORY: tuple[str, ...] = tuple(n for n, s in SYNAPSES.items() if not s.excitatory)

TAU_KEYS: tuple[str, ...] = tuple(s.tau for s in SYNAPSES.values())
VOLTAGE_GATE_KEYS = ("v_nmda_half", "v_nmda_slope")
CURRENT_GATE_KEYS = ("I_nmda_thr",)


@dataclass(frozen=True)
class SynapseParams:
    """Synaptic time constants and NMDA gate, SI floats.

    Parameters
    ----------
    tau_ampa, tau_nmda, tau_gaba_a, tau_gaba_b : float
        Time constants in seconds.
    I_nmda_thr : float
        DPI NMDA gate current ``I_f_nmda`` in amperes (bias ``IF_NMDA_N``); DPI only.
    v_nmda_half, v_nmda_slope : float
        Half-activation voltage and slope of the Mg-block gate in volts; LIF and AdEx only.
    """

    tau_ampa: float = 5e-3
    tau_nmda: float = 50e-3
    tau_gaba_a: float = 10e-3
    tau_gaba_b: float = 30e-3
    I_nmda_thr: float = 10e-12
    v_nmda_half: float = -20.5e-3
    v_nmda_slope: float = 16.1e-3

    def __post_init__(self) -> None:
        check_params(self, positive=TAU_KEYS + ("I_nmda_thr", "v_nmda_slope"))

    @classmethod
    def dynapse1(cls) -> "SynapseParams":
        """DYNAP-SE1-like preset: AMPA 5 ms, NMDA 50 ms, GABA_A 10 ms, GABA_B 30 ms.

        Typical values of the DPI synapses (Chicca et al. 2014; HARDWARE.md); the NMDA gate
        current is 10 pA and the voltage gate is Jahr & Stevens' (1990) Mg block at 1 mM.
        """
        return cls()

    def to_dict(self, keys: tuple[str, ...] = TAU_KEYS + VOLTAGE_GATE_KEYS + CURRENT_GATE_KEYS
                ) -> dict[str, float]:
        """Flat dict of the fields named in ``keys``."""
        return {k: float(getattr(self, k)) for k in keys}

    def updated(self, values: Mapping[str, float]) -> "SynapseParams":
        """A copy with the fields in ``values`` replaced."""
        return replace(self, **{k: float(v) for k, v in values.items()})
