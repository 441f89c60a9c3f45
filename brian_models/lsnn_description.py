"""Description of a trained LSNN (Bellec et al. 2018) for the Brian2 runner (numpy only).

What :func:`transfer.lsnn.describe_lsnn` extracts from a :class:`transfer.lsnn.LSNNClassifier`
and :mod:`brian_models.lsnn` simulates: the weights and constants of the LSNN's discrete
update, which neuron runs it (``"alif"``: the LSNN's own adaptive-threshold update;
``"dpi"``: DYNAP-SE DPI neurons whose AHP current carries the adaptation) and, for DPI, the
mapping of LSNN units onto currents (:class:`DPIMapping`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from brian_models.description import DescriptionError
from brian_models.parameters import DPIParams

__all__ = ["LSNN_NEURONS", "DPIMapping", "LSNNNetwork"]

LSNN_NEURONS = ("alif", "dpi")


@dataclass(frozen=True)
class DPIMapping:
    """How LSNN units map onto the DPI neuron (``neuron="dpi"``).

    Parameters
    ----------
    params : DPIParams
        Base DPI parameters; ``tau_mem``, ``tau_ahp`` and the synaptic time constants are
        set from the LSNN.
    input_scale : float
        Multiplies ``I_unit`` for the input currents and the recurrent efficacies. At 1 the
        DPI fires less than the ALIF neuron for the same input (one neuron, 2 units for
        200 ms: 8 spikes against 11; 13 at the default 1.5).
    ahp_scale : float
        Multiplies the AHP jump ``beta (1 - rho) I_unit``. The AHP current acts on the DPI
        more strongly than the same threshold rise on the ALIF neuron (it also divides the
        membrane's steady state): with beta 30, tau_adapt 500 ms and 5 ms steps the neuron
        above goes from 11 to 5 spikes as ALIF and from 13 to 1 as DPI at the default 0.4.
        The defaults (1.5, 0.4) are the best of a grid on 100 validation sequences of the
        recall task for a ternary LSNN (95 % against the ALIF's 99 %; input scale 1.0: 27 %,
        the network stays nearly silent; measured here, see ``experiments/lsnn_recall.py``).
    tau_syn_ms : float
        Time constant of both the AMPA and the GABA_B synapse.
    dt_ms : float
        Euler step (the DPI needs ~0.1 ms, ``DPIParams.recommended_dt``).
    """

    params: DPIParams = field(default_factory=DPIParams.dynapse1)
    input_scale: float = 1.5
    ahp_scale: float = 0.4
    tau_syn_ms: float = 5.0
    dt_ms: float = 0.1

    def __post_init__(self) -> None:
        for name in ("input_scale", "tau_syn_ms", "dt_ms"):
            if not getattr(self, name) > 0:
                raise DescriptionError(f"DPIMapping: {name} must be > 0, got {getattr(self, name)}")
        if not self.ahp_scale >= 0:
            raise DescriptionError(f"DPIMapping: ahp_scale must be >= 0, got {self.ahp_scale}")


@dataclass(frozen=True, eq=False)
class LSNNNetwork:
    """A trained LSNN as float64 arrays, with the neuron that runs it.

    ``w_rec`` has no diagonal; ``beta [H]`` is 0 for plain and the adaptation strength for
    adaptive neurons; ``alpha``/``rho`` are the per-step membrane and adaptation decays;
    ``substeps`` LSNN steps of ``dt_ms`` make one sequence element; ``readout`` is ``"last"``
    (spike counts of the last element) or ``"mean"`` (mean count per element).
    """

    w_in: np.ndarray
    w_rec: np.ndarray
    w_out: np.ndarray
    b_out: np.ndarray
    beta: np.ndarray
    alpha: float
    rho: float
    theta0: float
    substeps: int
    dt_ms: float
    tau_mem_ms: float
    tau_adapt_ms: float
    readout: str
    neuron: str = "alif"
    dpi: DPIMapping = field(default_factory=DPIMapping)

    def __post_init__(self) -> None:
        if self.neuron not in LSNN_NEURONS:
            raise DescriptionError(f"unknown LSNN neuron {self.neuron!r}; choose one of {', '.join(LSNN_NEURONS)}")
        if self.readout not in ("last", "mean"):
            raise DescriptionError(f"LSNN readout must be 'last' or 'mean', got {self.readout!r}")

    @property
    def n_hidden(self) -> int:
        return self.w_rec.shape[0]

    @property
    def n_inputs(self) -> int:
        return self.w_in.shape[1]

    @property
    def step_duration(self) -> float:
        """Seconds per sequence element (``substeps * dt_ms``)."""
        return self.substeps * self.dt_ms * 1e-3

    def scores(self, counts: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """Class scores from spike counts per element ``[N, T, H]`` (the readout of the LSNN);
        with ``lengths [N]`` each sample is read at its element ``lengths - 1`` (``"last"``)
        or averaged over its first ``lengths`` elements (``"mean"``)."""
        counts = np.asarray(counts, float)
        if lengths is not None:
            ends = np.asarray(lengths, dtype=np.int64)
            if self.readout == "last":
                read = counts[np.arange(len(counts)), ends - 1]
            else:
                held = np.arange(counts.shape[1])[None, :] < ends[:, None]
                read = (counts * held[:, :, None]).sum(1) / ends[:, None]
            return read @ self.w_out.T + self.b_out
        read = counts[:, -1] if self.readout == "last" else counts.mean(1)
        return read @ self.w_out.T + self.b_out
