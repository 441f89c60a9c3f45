"""The DYNAP-SE board as one frozen spec object: every hardware constant is defined here, once.

:data:`DYNAPSE1` describes the first-generation DYNAP-SE board (4 chips x 4 cores x 256
neurons, 64 CAM and 4 SRAM entries per neuron, 25 shared biases per core, 1024 FPGA spike
generators). :data:`DYNAPSE2` describes one DYNAP-SE2 chip with the same class; the mapper does
not support it yet (``supported=False``).

Sources
-------
- samna ``dynapse1`` reference (SynSense/INI docs, "Classes and methods"): the object model,
  the 25 parameter names, ``Dynapse1Parameter(param_name, coarse_value, fine_value)`` with
  coarse in [0, 8) and fine in [0, 256), ``FpgaSpikeEvent(core_mask, neuron_id, target_chip,
  isi)``.
- INI ``ctxctl_contrib`` / ``netgen`` helpers for samna (helper functions, not samna names):
  ``dynapse1utils.get_global_id``, the ISI unit ``isi_base / 90`` microseconds
  (``dynapse1utils.set_fpga_spike_gen``) and ``dynapse1constants.py``: ``NUM_CHIPS = 4``,
  ``CORES_PER_CHIP = 4``, ``NEURONS_PER_CORE = 256``, ``MAX_NUM_CAMS = 64``,
  ``ISI_NUM_BITS = 16``, ``MAX_FPGA_LEN = 2**15 - 1``; unused CAM entries default to
  ``(listen_core_id=0, listen_neuron_id=0, NMDA)`` (``netgen_details.get_usable_post_synapse_id``),
  hence :attr:`ChipSpec.null_address`.
- Rockpool ``devices/dynapse`` (``infrastructure/biasgen.py``: ``COARSE_BASE_EXT`` = 15 pA ...
  24 uA for SE1, ``COARSE_BASE_EXT[1:-1]`` for SE2; ``dynapse1_simconfig.py``:
  ``DynapSE1Capacitance`` and ``DynapSE1Layout``).
- libcaer ``dynapse.h`` (the same 4 x 4 x 256 geometry, 64 CAM, 4 SRAM).

The layout capacitances are not measured values of a particular chip: they are the values
Rockpool's DYNAP-SE1 simulator uses (``DynapSE1Capacitance``: ``Co = 0.5 pF``, refractory and
pulse circuits ``1 Co``, AMPA/GABA_A ``49 Co``, NMDA/GABA_B ``50 Co``, AHP ``80 Co``), and the
membrane capacitance is the project's DPI preset value (HARDWARE.md: 1.5-3 pF).
"""

from __future__ import annotations

from dataclasses import dataclass

from brian_models.synapse_types import SYNAPSE_TYPES

__all__ = [
    "LayoutConstants",
    "ChipSpec",
    "DYNAPSE1_LAYOUT",
    "DYNAPSE1",
    "DYNAPSE2",
    "DYNAPSE1_BIAS_NAMES",
]

#: The 25 per-core biases of DYNAP-SE1, in the order of HARDWARE.md / samna's reference.
DYNAPSE1_BIAS_NAMES: tuple[str, ...] = (
    "IF_AHTAU_N", "IF_AHTHR_N", "IF_AHW_P", "IF_BUF_P", "IF_CASC_N", "IF_DC_P",
    "IF_NMDA_N", "IF_RFR_N", "IF_TAU1_N", "IF_TAU2_N", "IF_THR_N", "NPDPIE_TAU_F_P",
    "NPDPIE_TAU_S_P", "NPDPIE_THR_F_P", "NPDPIE_THR_S_P", "NPDPII_TAU_F_P", "NPDPII_TAU_S_P",
    "NPDPII_THR_F_P", "NPDPII_THR_S_P", "PS_WEIGHT_EXC_F_N", "PS_WEIGHT_EXC_S_N",
    "PS_WEIGHT_INH_F_N", "PS_WEIGHT_INH_S_N", "PULSE_PWLK_P", "R2R_P",
)


@dataclass(frozen=True)
class LayoutConstants:
    """Silicon constants of the DPI circuits: fixed at layout time, not set by biases.

    Parameters
    ----------
    U_T : float
        Thermal voltage in volts (25 mV).
    kappa : float
        Subthreshold slope factor (0.7, HARDWARE.md; Rockpool averages 0.75 and 0.66).
    I_0 : float
        Dark (leakage) current in amperes.
    C_mem : float
        Membrane capacitance in farads.
    C_ref, C_pulse : float
        Capacitances of the refractory-period and pulse-extender circuits in farads.
    C_ahp : float
        Capacitance of the adaptation (AHP) DPI in farads.
    C_ampa, C_nmda, C_gaba_a, C_gaba_b : float
        Capacitances of the four synaptic DPIs in farads.
    I_spkthr : float
        Spiking threshold of ``I_mem`` in amperes (set by the layout, not by a bias).
    I_reset : float
        Membrane current after a spike in amperes.
    """

    U_T: float = 0.025
    kappa: float = 0.7
    I_0: float = 1e-12
    C_mem: float = 2e-12
    C_ref: float = 0.5e-12
    C_pulse: float = 0.5e-12
    C_ahp: float = 40e-12
    C_ampa: float = 24.5e-12
    C_nmda: float = 25e-12
    C_gaba_a: float = 24.5e-12
    C_gaba_b: float = 25e-12
    I_spkthr: float = 1e-9
    I_reset: float = 1e-12

    def to_dict(self) -> dict[str, float]:
        """All constants as a flat dict of SI floats."""
        return {name: float(getattr(self, name)) for name in self.__dataclass_fields__}


#: Layout constants assumed for DYNAP-SE1 (see the module docstring for their sources).
DYNAPSE1_LAYOUT = LayoutConstants()


@dataclass(frozen=True)
class ChipSpec:
    """Geometry, memories, biases and I/O limits of one DYNAP-SE generation.

    Parameters
    ----------
    name : str
        Human-readable name (``"DYNAP-SE1"``).
    n_chips, cores_per_chip, neurons_per_core : int
        Board geometry.
    cam_per_neuron : int
        CAM (fan-in) entries per neuron.
    sram_per_neuron : int
        SRAM (fan-out) entries per neuron.
    synapse_types : tuple of str
        Synapse types a CAM entry can select.
    bias_names : tuple of str
        Names of the biases shared by the neurons of one core.
    coarse_imax_pA : tuple of int
        Maximum current of each coarse range in picoamperes (integers, so that equal
        currents of different codes compare equal bit for bit).
    fine_max : int
        Largest fine value; a bias current is ``fine / fine_max * Imax[coarse]``.
    n_input_generators : int or None
        FPGA spike generators (virtual neurons) available for input.
    isi_bits : int or None
        Width of the inter-spike interval of a preloaded FPGA event.
    max_preloaded_events : int or None
        Longest sequence the FPGA spike generator can preload.
    fpga_clock_hz : float or None
        Clock of the FPGA spike generator: one ISI unit is ``isi_multiplier / fpga_clock_hz``.
    null_address : tuple of int or None
        ``(core, neuron)`` that unused CAM entries listen to by default; no source (neuron
        with destinations, or input generator) may use it, on any chip.
    layout : LayoutConstants or None
        Silicon constants of the DPI circuits (``None`` where not characterised).
    supported : bool
        Whether :func:`hardware.mapper.map_network` supports this generation.
    """

    name: str
    n_chips: int
    cores_per_chip: int
    neurons_per_core: int
    cam_per_neuron: int
    sram_per_neuron: int
    synapse_types: tuple[str, ...]
    bias_names: tuple[str, ...]
    coarse_imax_pA: tuple[int, ...]
    fine_max: int = 255
    n_input_generators: int | None = None
    isi_bits: int | None = None
    max_preloaded_events: int | None = None
    fpga_clock_hz: float | None = None
    null_address: tuple[int, int] | None = None
    layout: LayoutConstants | None = None
    supported: bool = True

    # -- derived sizes -------------------------------------------------------------------
    @property
    def neurons_per_chip(self) -> int:
        """Neurons on one chip."""
        return self.cores_per_chip * self.neurons_per_core

    @property
    def n_cores(self) -> int:
        """Cores on the board."""
        return self.n_chips * self.cores_per_chip

    @property
    def n_neurons(self) -> int:
        """Neurons on the board (4096 for DYNAP-SE1)."""
        return self.n_chips * self.neurons_per_chip

    @property
    def usable_neurons(self) -> int:
        """Neurons the mapper may place: all but the null address of each chip (4092)."""
        return self.n_neurons - (self.n_chips if self.null_address is not None else 0)

    @property
    def usable_input_generators(self) -> int:
        """Input generators the mapper may use: all but the null address (1023)."""
        n = self.n_input_generators or 0
        return n - (1 if (self.null_address is not None and n) else 0)

    @property
    def n_coarse(self) -> int:
        """Number of coarse ranges (8 for DYNAP-SE1)."""
        return len(self.coarse_imax_pA)

    @property
    def coarse_imax(self) -> tuple[float, ...]:
        """Maximum current of each coarse range in amperes."""
        return tuple(i * 1e-12 for i in self.coarse_imax_pA)

    @property
    def max_bias_current(self) -> float:
        """Largest bias current in amperes (24 uA for DYNAP-SE1)."""
        return self.coarse_imax_pA[-1] * 1e-12

    @property
    def max_isi(self) -> int:
        """Largest ISI of a preloaded FPGA event (``2**isi_bits - 1``)."""
        if self.isi_bits is None:
            raise ValueError(f"{self.name} has no FPGA spike generator ISI defined")
        return 2 ** self.isi_bits - 1

    # -- addresses -------------------------------------------------------------------------
    def global_id(self, chip: int, core: int, neuron: int) -> int:
        """Global neuron id ``neuron + neurons_per_core*core + neurons_per_chip*chip``.

        Same numbering as INI ctxctl_contrib's helper ``dynapse1utils.get_global_id`` (a
        helper function, not part of ``samna.dynapse1``).

        Raises
        ------
        ValueError
            If an index is outside the board.
        """
        self._check_address(chip, core, neuron)
        return int(neuron) + self.neurons_per_core * int(core) + self.neurons_per_chip * int(chip)

    def from_global_id(self, global_id: int) -> tuple[int, int, int]:
        """Inverse of :meth:`global_id`: ``(chip, core, neuron)``."""
        gid = int(global_id)
        if not 0 <= gid < self.n_neurons:
            raise ValueError(f"global neuron id {gid} is outside 0..{self.n_neurons - 1} of {self.name}")
        chip, rest = divmod(gid, self.neurons_per_chip)
        core, neuron = divmod(rest, self.neurons_per_core)
        return chip, core, neuron

    def _check_address(self, chip: int, core: int, neuron: int) -> None:
        for label, value, size in (("chip", chip, self.n_chips), ("core", core, self.cores_per_chip),
                                   ("neuron", neuron, self.neurons_per_core)):
            if not 0 <= int(value) < size:
                raise ValueError(f"{label} index {value} is outside 0..{size - 1} of {self.name}")

    def core_mask(self, cores: "tuple[int, ...] | list[int] | set[int]") -> int:
        """Bit mask with bit ``k`` set for each core ``k`` (as in ``Dynapse1Destination.core_mask``)."""
        mask = 0
        for k in cores:
            if not 0 <= int(k) < self.cores_per_chip:
                raise ValueError(f"core index {k} is outside 0..{self.cores_per_chip - 1} of {self.name}")
            mask |= 1 << int(k)
        return mask

    def cores_of_mask(self, mask: int) -> tuple[int, ...]:
        """The cores whose bits are set in ``mask``."""
        return tuple(k for k in range(self.cores_per_chip) if int(mask) >> k & 1)


#: The DYNAP-SE1 board (four chips), the target of :func:`hardware.mapper.map_network`.
DYNAPSE1 = ChipSpec(
    name="DYNAP-SE1",
    n_chips=4,
    cores_per_chip=4,
    neurons_per_core=256,
    cam_per_neuron=64,
    sram_per_neuron=4,
    synapse_types=SYNAPSE_TYPES,
    bias_names=DYNAPSE1_BIAS_NAMES,
    coarse_imax_pA=(15, 105, 820, 6_500, 50_000, 400_000, 3_200_000, 24_000_000),
    fine_max=255,
    n_input_generators=1024,
    isi_bits=16,
    max_preloaded_events=2 ** 15 - 1,
    fpga_clock_hz=90e6,
    null_address=(0, 0),
    layout=DYNAPSE1_LAYOUT,
    supported=True,
)

#: One DYNAP-SE2 chip (DevBoard). Not supported by the mapper yet.
#:
#: 4 cores x 256 neurons, 64 CAM entries (11-bit tag, dendrite type, 4-bit weight mask over
#: SYAM_W0_P..SYAM_W3_P) and 4 SRAM destinations per neuron (HARDWARE.md). The bias names are
#: the subset HARDWARE.md names, not the full SE2 list; the coarse table is Rockpool's
#: theoretical ``BiasGenSE2`` base (``COARSE_BASE_EXT[1:-1]``: 105 pA ... 3.2 uA; the real
#: chip uses per-transistor lookup tables). The FPGA input fields are left undefined.
DYNAPSE2 = ChipSpec(
    name="DYNAP-SE2",
    n_chips=1,
    cores_per_chip=4,
    neurons_per_core=256,
    cam_per_neuron=64,
    sram_per_neuron=4,
    synapse_types=("AMPA", "NMDA", "GABA", "SHUNT"),
    bias_names=("SOIF_LEAK_N", "SOIF_GAIN_N", "SOIF_SPKTHR_P", "SOIF_REFR_N", "SOIF_DC_P",
                "DEAM_ETAU_P", "DEAM_EGAIN_P", "SOAD_TAU_P",
                "SYAM_W0_P", "SYAM_W1_P", "SYAM_W2_P", "SYAM_W3_P"),
    coarse_imax_pA=(105, 820, 6_500, 50_000, 400_000, 3_200_000),
    fine_max=255,
    layout=None,
    supported=False,
)
