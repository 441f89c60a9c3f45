"""Spiking LSTM: a ternary :class:`~transfer.models.LSTMClassifier` becomes rate-coded spiking gates.

The LSTM (``transfer.models``; ``hsig(z) = clip(z/6 + 1/2, 0, 1)``)::

    z_t = W_in x_t + W_rec h_{t-1} + b          rows: i, f, g, o (H each)
    c_t = hsig(z_f) c_{t-1} + hsig(z_i) clip(z_g, -1, 1)
    h_t = hsig(z_o) clip(c_t, -1, 1)

Populations (per hidden unit, LIF neurons calibrated as in :mod:`transfer.convert`)
-------------------------------------------------------------------------------------
- gate neurons ``i, f, o``: current ``I0 + gain*(z/6 + 1/2)``, i.e. the rate
  ``max_rate * hsig(z)`` (the lower clip is the neuron's threshold);
- the signed candidate as an ON/OFF pair ``g_on, g_off``: currents ``I0 +- gain*z``, rates
  ``max_rate * relu(+-z)``;
- the signed output ``h`` as an ON/OFF pair: rates ``rate_scale_h * relu(+-h)``, with
  ``rate_scale_h = max_rate / lambda_h`` and ``lambda_h`` a percentile of ``|h|`` on training
  data (data-based normalisation, Rueckauer et al. 2017). The cell drives the pair through
  the measured inverse f-I curve (:func:`inverse_fi_table`), not the linear fit: the fit's
  intercept lies below rheobase, which silences the pair for ``|h|`` below ~0.09 and, on
  the recall task, let small memories die out (exact-gating agreement 31 % with the fit,
  see ``experiments/spiking_lstm.py``). Gates keep the linear fit (they sum synaptic
  currents) and so have that dead zone near a value of 0;
- a non-spiking cell-state integrator ``c`` per unit.

Input enters as current (``gain * alpha * W_in x``, ``alpha`` = 1/6 for gates, +-1 for the
candidate). A ternary recurrent entry ``+-a_rec`` from ``h_on`` (``h_off`` with the opposite
sign) becomes an AMPA (positive) or GABA_B (negative, subtractive) synapse whose shared
efficacy per target population is ``e = gain * |alpha| * a_rec / (rate_scale_h * tau_syn)``,
so that a rate ``rate_scale_h * h`` gives the mean current ``gain * alpha * a_rec * h``.
Each sequence element lasts ``step_duration`` (20 ms); ``N = max_rate * step_duration``
spikes stand for a gate value of 1.

Gatings (how the three products are made)
-----------------------------------------
``"exact"`` (the reference): sample-and-hold at window boundaries. During window ``t``
the cell counts its gates' spikes ``n_i, n_f, n_o, n_g+, n_g-`` (after the first
``count_delay``, while the gates still answer the previous ``h``; ``N`` shrinks to
``max_rate * (step_duration - count_delay)``); at the boundary a
multiplicative coupling of the counts sets
``c <- min(n_f,N)/N * c + min(n_i,N) * (min(n_g+,N) - min(n_g-,N)) / N**2`` and
``h <- min(n_o,N)/N * clip(c, -1, 1)``; the ``h`` pair fires at ``rate_scale_h * h`` during
window ``t+1``, where it drives the gates of element ``t+1`` (no axonal delay needed). The
``min(., N)`` is the upper clip of the hard sigmoid/tanh. The network runs ``T + 1`` windows
and the readout reads the ``h`` spikes of the last one. The cell holds its value exactly
while ``f`` saturates and ``i`` is silent. This needs clocked multiply-and-hold: a digital
co-processor could carry it, DYNAP-SE cannot.

``"shunting"`` (mechanisms of analog neuromorphic circuits, no clock, no delays):

- forget: the complement gate ``not_f`` (rate ``max_rate * hsig(-z_f) = max_rate * (1 - f)``)
  shunts the cell integrator to its rest value 0: each spike multiplies ``c`` by
  ``exp(-kappa_f / N)``, so a window scales ``c`` by ``exp(-kappa_f (1 - f))``, fitted to
  ``f`` on training data (:func:`fit_forget_shunt`);
- input: the candidate pair is shunted (GABA_A, divisive) by the complement gate ``not_i``;
  each candidate spike moves ``c`` by ``+-1/N``;
- output: the ``h`` pair is driven by ``clip(c, -1, 1)`` and shunted by ``not_o``.

Every element of this route has a DYNAP-SE counterpart (AMPA/GABA_B currents, GABA_A
shunting, complement populations by sign-flipped ternary weights and bias) except the
non-leaky cell integrator, which on the chip would need a slow NMDA/DPI synapse or a
self-exciting attractor population. This is the gating the DYNAP-SE mapping could carry;
its products are approximations (divisive instead of multiplicative).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from brian_models.calibrate import measure_fi_curve
from brian_models.description import TransferFunction
from brian_models.lstm_description import GATINGS, SpikingLSTM
from brian_models.parameters import LIFParams, neuron_params
from transfer.convert import CONVERSION_PRESETS, ConversionError, calibrate, ternary_counts
from transfer.models import LSTMClassifier

__all__ = ["SpikingLSTMSettings", "convert_lstm", "fit_forget_shunt", "inverse_fi_table", "lstm_macs"]


@dataclass(frozen=True)
class SpikingLSTMSettings:
    """Settings of the spiking-LSTM conversion.

    Parameters
    ----------
    gating : {"exact", "shunting"}
    neuron : {"lif"}
        Only LIF for now.
    params : dict
        Overrides of the LIF parameters (SI floats) on top of ``CONVERSION_PRESETS["lif"]``.
    step_duration : float
        Seconds per sequence element.
    max_rate : float
        Rate (Hz) of a gate value of 1 and of the ``percentile`` of ``|h|``.
    percentile : float
        Percentile of non-zero ``|h|`` on training data used for normalisation.
    tau_syn : float
        Time constant (s) of the recurrent AMPA/GABA_B synapses.
    tau_shunt : float
        Time constant (s) of the GABA_A shunting synapses (gating ``"shunting"``).
    kappa_gate : float
        Shunting strength: the relative leak increase of a candidate/output neuron when its
        complement gate fires at ``max_rate`` (gate value 0). Shunting also raises the
        current a neuron needs to fire, so strong shunts silence small candidates: on the
        recall LSTM (100 test samples) 0.3 gave 42 % accuracy, 1, 3, 10 and 30 gave 25-26 %
        (chance).
    count_delay : float
        Exact gating: the cell does not count gate spikes in the first ``count_delay``
        seconds of a window, while the gates still follow the previous element's ``h``
        (synaptic and membrane lag); ``max_rate * (step_duration - count_delay)`` spikes
        then stand for 1.
    """

    gating: str = "exact"
    neuron: str = "lif"
    params: dict[str, float] = field(default_factory=dict)
    step_duration: float = 0.02
    max_rate: float = 1000.0
    percentile: float = 99.9
    tau_syn: float = 1e-3
    tau_shunt: float = 2e-3
    kappa_gate: float = 0.3
    count_delay: float = 3e-3

    def __post_init__(self) -> None:
        if self.gating not in GATINGS:
            raise ConversionError(f"unknown gating {self.gating!r}; choose one of {', '.join(GATINGS)}")
        if self.neuron != "lif":
            raise ConversionError(f"the spiking LSTM supports neuron 'lif' only, got {self.neuron!r}")
        for name in ("step_duration", "max_rate", "tau_syn", "tau_shunt", "kappa_gate"):
            if not float(getattr(self, name)) > 0:
                raise ConversionError(f"spiking LSTM setting {name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.count_delay < 0.5 * self.step_duration:
            raise ConversionError(f"count_delay must lie in [0, step_duration/2), got {self.count_delay}")
        if not 0 < self.percentile <= 100:
            raise ConversionError(f"percentile must lie in (0, 100], got {self.percentile}")


def _check_model(model: torch.nn.Module) -> LSTMClassifier:
    if not isinstance(model, LSTMClassifier):
        raise ConversionError(f"the spiking LSTM converts an LSTMClassifier, got {type(model).__name__}; "
                              "RNNs and ESNs convert through transfer.convert.convert()")
    cfg = model.config
    if cfg.kind != "lstm":
        raise ConversionError(f"model config says kind {cfg.kind!r} but the model is an LSTM")
    # LSTMClassifier always uses hard sigmoid / hard tanh; these ModelConfig fields would
    # claim dynamics it does not have (or that the conversion cannot realise).
    if cfg.syn_leak != 1.0 or cfg.substeps != 1:
        raise ConversionError(f"LSTM checkpoint has syn_leak={cfg.syn_leak}, substeps={cfg.substeps}; "
                              "the spiking LSTM needs the plain LSTM (syn_leak 1, substeps 1)")
    if cfg.act_max is not None:
        raise ConversionError(f"LSTM checkpoint has act_max={cfg.act_max}; the LSTM's activations are "
                              "bounded by its hard sigmoid/tanh, act_max must be unset")
    if cfg.extra:
        raise ConversionError(f"LSTM checkpoint has extra settings {sorted(cfg.extra)} that the "
                              "spiking LSTM does not know how to convert")
    return model


@torch.no_grad()
def _lstm_traces(model: LSTMClassifier, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forget-gate values ``f [N, T, H]`` and outputs ``h [N, T, H]`` of ``model`` on ``X``."""
    w = model.weight_matrices()
    H = model.config.n_hidden
    x = torch.as_tensor(X, dtype=torch.float32)
    _, hs = model(x, return_states=True)
    drive = x @ w["w_in"].T + model.b
    h_prev = torch.cat([torch.zeros_like(hs[:, :1]), hs[:, :-1]], 1)
    z_f = drive[:, :, H:2 * H] + h_prev @ w["w_rec"][H:2 * H].T
    return torch.clamp(z_f / 6 + 0.5, 0, 1).numpy(), hs.numpy()


def fit_forget_shunt(f: np.ndarray) -> float:
    """``kappa`` minimising the mean of ``(exp(-kappa (1 - f)) - f)**2`` over forget values ``f``.

    A window of shunting by the complement gate scales the cell by ``exp(-kappa (1 - f))``;
    the LSTM scales it by ``f``. Grid search over ``kappa`` in [0.1, 20].
    """
    f = np.asarray(f, float).ravel()
    if f.size == 0:
        raise ConversionError("no forget-gate values to fit the shunt to")
    kappas = np.linspace(0.1, 20, 400)
    err = [np.mean((np.exp(-k * (1 - f)) - f) ** 2) for k in kappas]
    return float(kappas[int(np.argmin(err))])


def convert_lstm(model: torch.nn.Module, X_train: np.ndarray,
                 settings: SpikingLSTMSettings = SpikingLSTMSettings()) -> SpikingLSTM:
    """Convert a ternary LSTM into a :class:`SpikingLSTM` (see the module docstring).

    Parameters
    ----------
    model : LSTMClassifier
        With ternary ``w_in`` and ``w_rec`` (the output of ``rnn2dynapse quantize``).
    X_train : ndarray [N, T, F]
        Training inputs for the normalisation of ``h`` and the forget-shunt fit.
    settings : SpikingLSTMSettings
    """
    model = _check_model(model).cpu().eval()
    X_train = np.asarray(X_train, dtype=np.float32)
    if X_train.ndim != 3 or X_train.shape[2] != model.config.n_inputs or len(X_train) == 0:
        raise ConversionError(f"normalisation inputs must have shape (N>0, T, {model.config.n_inputs}), "
                              f"got {X_train.shape}")
    w_in = model.w_in.detach().numpy().astype(float)
    w_rec = model.w_rec.detach().numpy().astype(float)
    ternary_counts(w_in, "w_in")  # raises for non-ternary matrices
    e, i, a_rec = ternary_counts(w_rec, "w_rec")
    f, h = _lstm_traces(model, X_train)
    nz = np.abs(h[np.abs(h) > 1e-6])
    h_scale = float(min(1.0, np.percentile(nz, settings.percentile))) if nz.size else 1.0
    overrides = {**CONVERSION_PRESETS["lif"], **settings.params,
                 "tau_ampa": settings.tau_syn, "tau_gaba_b": settings.tau_syn,
                 "tau_gaba_a": settings.tau_shunt}
    params = neuron_params("lif", overrides)
    tf_gate = calibrate(params, settings.max_rate, h_max=1.0)
    h_lut = inverse_fi_table(params, settings.max_rate)
    # The h pair fires at max_rate * |h| / h_scale: the same curve with h rescaled.
    tf_h = TransferFunction(tf_gate.I0, tf_gate.gain / h_scale, settings.max_rate / h_scale,
                            tf_gate.rms_error)
    return SpikingLSTM(settings.gating, params, settings.step_duration, settings.max_rate,
                       settings.tau_syn, settings.tau_shunt, settings.kappa_gate, settings.count_delay,
                       w_in, (e - i).astype(np.int8), a_rec, model.b.detach().numpy().astype(float),
                       tf_gate, tf_h, h_scale, model.w_out.detach().numpy().astype(float),
                       model.b_out.detach().numpy().astype(float),
                       kappa_forget=fit_forget_shunt(f), h_lut=h_lut)


def inverse_fi_table(params: LIFParams, max_rate: float, n_entries: int = 201) -> np.ndarray:
    """Currents (A) at which the LIF fires at ``u * max_rate`` for ``u`` on ``linspace(0, 1, n_entries)``.

    Measured in Brian2 (:func:`brian_models.calibrate.measure_fi_curve`) and inverted on the
    monotone envelope; ``u = 0`` maps to the rheobase. The cell drives the ``h`` pair
    through this table (it is not a synapse, so it need not be linear): a linear fit leaves
    the LIF silent for ``|h|`` below ~0.09 of its range, where the f-I curve bends.
    """
    currents = np.geomspace(1e-11, 1e-7, 400)
    rates = np.maximum.accumulate(measure_fi_curve(params, currents, duration=0.5))
    if rates[-1] < max_rate:
        raise ConversionError(f"the LIF reaches only {rates[-1]:.0f} Hz but the spiking LSTM needs {max_rate:.0f} Hz")
    firing = np.flatnonzero(rates > 0)
    keep = np.concatenate([[True], np.diff(rates[firing]) > 0])
    rheobase = params.rheobase
    r, I = np.concatenate([[0.0], rates[firing][keep]]), np.concatenate([[rheobase], currents[firing][keep]])
    return np.interp(np.linspace(0, 1, n_entries) * max_rate, r, I)


def lstm_macs(n_in: int, n_hidden: int, n_out: int, n_steps: int) -> int:
    """Multiply-accumulates of one LSTM inference: ``T * 4H(F + H)`` for the gates, ``3TH``
    for the element-wise products and ``C H`` for the readout."""
    return int(n_steps * (4 * n_hidden * (n_in + n_hidden) + 3 * n_hidden) + n_out * n_hidden)
