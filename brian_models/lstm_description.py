"""Description of a spiking LSTM: rate-coded gate populations and a cell-state integrator (numpy only).

What :func:`transfer.spiking_lstm.convert_lstm` produces and
:mod:`brian_models.spiking_lstm` simulates; the equations and the two gatings (``"exact"``
multiply-and-hold, ``"shunting"`` divisive GABA_A) are documented in
:mod:`transfer.spiking_lstm`. Populations per hidden unit: the gates (``i, f, o`` or their
complements), the candidate as an ON/OFF pair, the output ``h`` as an ON/OFF pair, and a
non-spiking cell integrator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brian_models.description import TransferFunction
from brian_models.parameters import LIFParams

__all__ = ["GATINGS", "POPULATIONS", "SpikingLSTM"]

GATINGS = ("exact", "shunting")
#: Gate populations per gating, in the order of the Brian2 gate group (H neurons each).
POPULATIONS = {"exact": ("i", "f", "o", "g_on", "g_off"),
               "shunting": ("not_i", "not_f", "not_o", "g_on", "g_off")}
#: Row block of ``z`` (order i, f, g, o of the model) that drives each population.
_ROW = {"i": 0, "f": 1, "g_on": 2, "g_off": 2, "o": 3, "not_i": 0, "not_f": 1, "not_o": 3}
#: Neuron value ``alpha * z + beta`` that each population's rate stands for.
_AFFINE = {"i": (1 / 6, 0.5), "f": (1 / 6, 0.5), "o": (1 / 6, 0.5), "g_on": (1.0, 0.0),
           "g_off": (-1.0, 0.0), "not_i": (-1 / 6, 0.5), "not_f": (-1 / 6, 0.5), "not_o": (-1 / 6, 0.5)}


@dataclass(frozen=True, eq=False)
class SpikingLSTM:
    """A converted LSTM: everything its spiking network needs.

    ``w_in [4H, F]`` and ``rec_sign [4H, H]`` (entries -1/0/1, times ``a_rec``) keep the
    model's row order i, f, g, o; ``bias [4H]``; ``tf_gate`` is calibrated for rates up to
    ``max_rate``, ``tf_h`` for ``rate_scale_h * |h|`` up to ``max_rate``; ``h_lut`` holds the
    currents at which the LIF fires at ``u * max_rate`` for ``u`` on ``linspace(0, 1, len)``.

    Timing and gating: ``gating`` (:data:`GATINGS`), ``step_duration`` (s per element),
    ``max_rate`` (Hz of a gate value 1), ``tau_syn`` (recurrent AMPA/GABA_B), ``tau_shunt``
    (GABA_A), ``kappa_gate`` (shunting strength), ``count_delay`` (exact gating: spikes in
    the first ``count_delay`` of a window are not counted).
    """

    gating: str
    params: LIFParams
    step_duration: float
    max_rate: float
    tau_syn: float
    tau_shunt: float
    kappa_gate: float
    count_delay: float
    w_in: np.ndarray
    rec_sign: np.ndarray
    a_rec: float
    bias: np.ndarray
    tf_gate: TransferFunction
    tf_h: TransferFunction
    h_scale: float
    w_out: np.ndarray
    b_out: np.ndarray
    kappa_forget: float = 3.0
    h_lut: np.ndarray | None = None

    @property
    def n_hidden(self) -> int:
        return int(self.rec_sign.shape[1])

    @property
    def n_inputs(self) -> int:
        return int(self.w_in.shape[1])

    @property
    def populations(self) -> tuple[str, ...]:
        return POPULATIONS[self.gating]

    @property
    def spikes_per_unit(self) -> float:
        """``N``: spikes in one window that stand for a gate value of 1."""
        return self.max_rate * self.step_duration

    @property
    def counted_spikes_per_unit(self) -> float:
        """Exact gating: counted spikes (after ``count_delay``) that stand for a gate value of 1."""
        return self.max_rate * (self.step_duration - self.count_delay)

    @property
    def rate_scale_h(self) -> float:
        return self.max_rate / self.h_scale

    def affine(self) -> tuple[np.ndarray, np.ndarray]:
        """Per gate population: ``alpha``, ``beta`` (its rate stands for ``alpha*z + beta``)."""
        a, b = zip(*(_AFFINE[p] for p in self.populations))
        return np.array(a), np.array(b)

    def rows(self) -> np.ndarray:
        """``[5, H]``: the row of ``z`` that drives each gate neuron."""
        H = self.n_hidden
        return np.array([_ROW[p] * H + np.arange(H) for p in self.populations])

    def gate_bias_current(self) -> np.ndarray:
        """Constant current ``I0 + gain*(alpha*b + beta)`` of each gate neuron ``[5H]`` (A)."""
        alpha, beta = self.affine()
        b = self.bias[self.rows()]
        return (self.tf_gate.I0 + self.tf_gate.gain * (alpha[:, None] * b + beta[:, None])).ravel()

    def gate_input_current(self, X: np.ndarray) -> np.ndarray:
        """Input current ``gain * alpha * W_in x`` of each gate neuron ``[N, T, 5H]`` (A)."""
        alpha, _ = self.affine()
        z = np.asarray(X, float) @ self.w_in.T  # [N, T, 4H]
        rows = self.rows()
        return np.concatenate([self.tf_gate.gain * a * z[:, :, r] for a, r in zip(alpha, rows)], axis=2)

    def readout_window(self, n_steps: int) -> int:
        """Index of the window whose ``h`` spikes the readout reads.

        ``"exact"``: the extra window ``T`` where ``h_T`` is held; ``"shunting"``: the last
        input window ``T - 1`` (there is no clock that would hold ``h`` beyond it).
        """
        return n_steps if self.gating == "exact" else n_steps - 1

    def scores(self, counts_h: np.ndarray, n_steps: int) -> np.ndarray:
        """Class scores ``W_out h + b_out`` with ``h = (n_on - n_off) / (rate_scale_h * step)``."""
        H = self.n_hidden
        c = counts_h[:, self.readout_window(n_steps)].astype(float)
        h = (c[:, :H] - c[:, H:]) / (self.rate_scale_h * self.step_duration)
        return h @ self.w_out.T + self.b_out
