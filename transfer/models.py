"""Conversion-friendly recurrent classifiers: vanilla RNN, LSTM and echo-state network.

All models read a batch ``x [B, T, F]`` and return class scores ``[B, C]``. Their hidden
activations are what spiking neurons will later carry as firing rates, so they are built
to be convertible:

- :class:`RNNClassifier`: ``h_t = relu(W_in x_t + W_rec h_{t-1} + b)``, optionally clipped at
  ``act_max`` (a rate is non-negative; training adds a penalty on activations above 1 so
  that the rates conversion normalises to stay bounded, see
  :class:`transfer.train.TrainConfig`); class scores ``W_out h_T + b_out``. Plain ReLU with
  the penalty trains markedly better than a hard clip at 1 on Fashion-MNIST rows (81 % vs
  74 % validation after 8 epochs on 10k samples, measured here).
- :class:`LSTMClassifier`: gates ``hardsigmoid``, candidate and output ``hardtanh``
  (piecewise-linear, so spiking populations with bounded rates can realise them).
- :class:`transfer.lsnn.LSNNClassifier` (``kind="lsnn"``): recurrent LIF and adaptive-threshold
  spiking neurons trained with a pseudo-derivative (Bellec et al. 2018); its settings go in
  ``ModelConfig.extra`` (:class:`transfer.lsnn.LSNNSettings`).
- :class:`ESNClassifier`: a fixed sparse random reservoir with spectral radius ``rho`` and
  leak ``alpha``, ``h_t = (1-alpha) h_{t-1} + alpha clip(W_in x_t + W h_{t-1} + b, 0, 1)``,
  and a ridge-regression readout on the time-averaged state (Jaeger 2001; He et al. 2019).

Every model exposes ``weight_matrices()`` (the matrices that quantization turns ternary)
and ``forward(x, return_states=True)`` for the hidden trajectory. ``forward(x,
lengths=L)`` reads a zero-padded batch of variable-length sequences at each one's end
(:mod:`transfer.sequence_ends`): the RNN and the LSTM read the state of step ``L - 1``, the
ESN averages its first ``L`` steps, the LSNN reads its last element ``L - 1`` or averages its
first ``L`` elements.
"""

from __future__ import annotations

import math

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from transfer.lsnn import LSNNClassifier, LSNNSettings
from transfer.sequence_ends import as_lengths, at_ends, mean_until

__all__ = [
    "ridge_readout",
    "ModelConfig",
    "RNNClassifier",
    "LSTMClassifier",
    "ESNClassifier",
    "build_model",
    "MODEL_TYPES",
]

MODEL_TYPES = ("rnn", "lstm", "esn", "lsnn")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a recurrent classifier.

    Parameters
    ----------
    kind : {"rnn", "lstm", "esn", "lsnn"}
    n_inputs, n_hidden, n_classes : int
    spectral_radius, leak, input_scale, density : float
        Reservoir settings (ESN only).
    ridge : float
        Ridge penalty of the ESN readout.
    act_max : float or None
        Upper clip of the RNN activation (``None``: plain ReLU, unbounded).
    syn_leak : float
        RNN only: per-step leak ``alpha`` of a synaptic filter on the pre-activation (1: the
        vanilla RNN). Below 1 the RNN is the rate model of a spiking network without delays
        (see :class:`RNNClassifier`).
    substeps : int
        RNN with ``syn_leak < 1``: integration steps per sequence element.
    shared_bias : bool
        One bias for all hidden units (DYNAP-SE has one DC bias per core), RNN and ESN.
    min_bias : float or None
        RNN only: lower bound of the bias (``None``: unbounded). A DYNAP-SE DC bias can only
        inject current, and the DPI neuron's calibrated transfer function needs a negative
        current at zero activation (about -0.09 ``act_max``), so a network meant for the chip
        keeps its bias above that.
    extra : dict
        Model-specific settings (e.g. LSNN adaptation).
    """

    kind: str
    n_inputs: int
    n_hidden: int
    n_classes: int
    spectral_radius: float = 0.9
    leak: float = 0.3
    input_scale: float = 1.0
    density: float = 0.1
    ridge: float = 1e-2
    act_max: float | None = None
    syn_leak: float = 1.0
    substeps: int = 1
    shared_bias: bool = False
    min_bias: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in MODEL_TYPES:
            raise ValueError(f"unknown model {self.kind!r}; choose one of {', '.join(MODEL_TYPES)}")
        for name in ("n_inputs", "n_hidden", "n_classes", "substeps"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"model config: {name} must be positive, got {getattr(self, name)}")
        if not 0 < self.syn_leak <= 1:
            raise ValueError(f"model config: syn_leak must lie in (0, 1], got {self.syn_leak}")
        if self.min_bias is not None and not math.isfinite(self.min_bias):
            raise ValueError(f"model config: min_bias must be finite, got {self.min_bias}")
        if self.kind == "lsnn":
            LSNNSettings.from_extra(self.extra)  # raises a ValueError naming a bad setting

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        return cls(**d)


def _check_input(x: torch.Tensor, n_inputs: int) -> None:
    if x.ndim != 3 or x.shape[2] != n_inputs:
        raise ValueError(f"model input must have shape (B, T, {n_inputs}), got {tuple(x.shape)}")


def clip01(x: torch.Tensor) -> torch.Tensor:
    """Clipped ReLU: ``min(max(x, 0), 1)``."""
    return torch.clamp(x, 0.0, 1.0)


class RNNClassifier(nn.Module):
    """Elman RNN with (clipped) ReLU units and a linear readout of the last state.

    With ``syn_leak = 1`` (vanilla): ``h_t = relu(W_in x_t + W_rec h_{t-1} + b)`` and scores
    ``W_out h_T + b_out``.

    With ``syn_leak = alpha < 1`` the model is the rate description of a spiking network
    whose synapses low-pass filter their input with ``tau = -dt / ln(1 - alpha)`` and have
    no delays, integrated with ``K = substeps`` steps per sequence element::

        s <- (1 - a) s + a (W_in x_t + W_rec r)      a = 1 - (1 - alpha)**(1/K)
        r  = relu(s + b)

    The state of element ``t`` is the mean of ``r`` over its ``K`` substeps (the spike count
    of its window); the readout reads ``q_T`` with ``q_t = (1 - alpha) q_{t-1} + alpha r_t``,
    the same filter applied to the per-window rates (:class:`brian_models.description.Readout` with
    ``leak = alpha``).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        H, F, C = config.n_hidden, config.n_inputs, config.n_classes
        self.w_in = nn.Parameter(torch.empty(H, F))
        self.w_rec = nn.Parameter(torch.empty(H, H))
        self.b = nn.Parameter(torch.zeros(1 if config.shared_bias else H))
        self.w_out = nn.Parameter(torch.empty(C, H))
        self.b_out = nn.Parameter(torch.zeros(C))
        nn.init.xavier_uniform_(self.w_in)
        nn.init.orthogonal_(self.w_rec, gain=0.5)
        nn.init.xavier_uniform_(self.w_out)
        # Small positive bias keeps units inside the linear range at the start.
        nn.init.constant_(self.b, 0.1)

    def weight_matrices(self) -> dict[str, nn.Parameter]:
        return {"w_in": self.w_in, "w_rec": self.w_rec, "w_out": self.w_out}

    def effective_bias(self) -> torch.Tensor:
        """The bias the network uses: ``b`` clipped at ``config.min_bias`` when that is set."""
        lo = self.config.min_bias
        return self.b if lo is None else torch.clamp(self.b, min=lo)

    #: Matrices quantization turns ternary: the chip-side ones. The readout runs on the host
    #: from spike counts, so it stays float (on Fashion-MNIST a ternary readout cost 2.5 points).
    quantized = ("w_in", "w_rec")

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor] | None = None,
                return_states: bool = False, lengths: np.ndarray | torch.Tensor | None = None):
        _check_input(x, self.config.n_inputs)
        w = weights or self.weight_matrices()
        ends = as_lengths(lengths, x)
        if self.config.syn_leak < 1:
            return self._forward_leaky(x, w, return_states, ends)
        B, T, _ = x.shape
        h = x.new_zeros(B, self.config.n_hidden)
        drive_in = x @ w["w_in"].T + w.get("b", self.effective_bias())  # [B, T, H]
        states = []
        for t in range(T):
            h = torch.clamp(drive_in[:, t] + h @ w["w_rec"].T, 0.0, self.config.act_max)
            states.append(h)
        read = h if ends is None else at_ends(torch.stack(states, 1), ends)
        out = read @ w["w_out"].T + self.b_out
        return (out, torch.stack(states, 1)) if return_states else out

    def _forward_leaky(self, x: torch.Tensor, w: dict[str, torch.Tensor], return_states: bool,
                       ends: torch.Tensor | None = None):
        cfg = self.config
        alpha, K = cfg.syn_leak, cfg.substeps
        a = 1 - (1 - alpha) ** (1 / K)
        B, T, _ = x.shape
        s = x.new_zeros(B, cfg.n_hidden)
        r = x.new_zeros(B, cfg.n_hidden)
        q = x.new_zeros(B, cfg.n_hidden)
        b = w.get("b", self.effective_bias())
        drive_in = x @ w["w_in"].T
        states, filtered = [], []
        for t in range(T):
            acc = 0.0
            for _ in range(K):
                s = (1 - a) * s + a * (drive_in[:, t] + r @ w["w_rec"].T)
                r = torch.clamp(s + b, 0.0, cfg.act_max)
                acc = acc + r
            rate = acc / K
            q = (1 - alpha) * q + alpha * rate
            states.append(rate)
            filtered.append(q)
        read = q if ends is None else at_ends(torch.stack(filtered, 1), ends)
        out = read @ w["w_out"].T + self.b_out
        return (out, torch.stack(states, 1)) if return_states else out


def hardsigmoid(x: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear sigmoid ``clip(x/6 + 1/2, 0, 1)`` (torch's hardsigmoid)."""
    return torch.clamp(x / 6.0 + 0.5, 0.0, 1.0)


class LSTMClassifier(nn.Module):
    """LSTM with hard-sigmoid gates and hard-tanh candidate/output (conversion-friendly)."""

    GATES = ("i", "f", "g", "o")

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        H, F, C = config.n_hidden, config.n_inputs, config.n_classes
        self.w_in = nn.Parameter(torch.empty(4 * H, F))
        self.w_rec = nn.Parameter(torch.empty(4 * H, H))
        self.b = nn.Parameter(torch.zeros(4 * H))
        self.w_out = nn.Parameter(torch.empty(C, H))
        self.b_out = nn.Parameter(torch.zeros(C))
        nn.init.xavier_uniform_(self.w_in)
        for k in range(4):
            nn.init.orthogonal_(self.w_rec.data[k * H:(k + 1) * H])
        nn.init.xavier_uniform_(self.w_out)
        with torch.no_grad():
            self.b[H:2 * H] = 1.0  # forget-gate bias: remember by default

    def weight_matrices(self) -> dict[str, nn.Parameter]:
        return {"w_in": self.w_in, "w_rec": self.w_rec, "w_out": self.w_out}

    #: Matrices quantization turns ternary: the chip-side ones. The readout runs on the host
    #: from spike counts, so it stays float (on Fashion-MNIST a ternary readout cost 2.5 points).
    quantized = ("w_in", "w_rec")

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor] | None = None,
                return_states: bool = False, lengths: np.ndarray | torch.Tensor | None = None):
        _check_input(x, self.config.n_inputs)
        w = weights or self.weight_matrices()
        ends = as_lengths(lengths, x)
        B, T, _ = x.shape
        H = self.config.n_hidden
        h = x.new_zeros(B, H)
        c = x.new_zeros(B, H)
        drive_in = x @ w["w_in"].T + w.get("b", self.b)
        states = []
        for t in range(T):
            z = drive_in[:, t] + h @ w["w_rec"].T
            i, f, g, o = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
            c = hardsigmoid(f) * c + hardsigmoid(i) * torch.clamp(g, -1.0, 1.0)
            h = hardsigmoid(o) * torch.clamp(c, -1.0, 1.0)
            states.append(h)
        read = h if ends is None else at_ends(torch.stack(states, 1), ends)
        out = read @ w["w_out"].T + self.b_out
        return (out, torch.stack(states, 1)) if return_states else out


def _sparse_reservoir(n: int, density: float, rho: float, rng: np.random.Generator) -> np.ndarray:
    """Random sparse matrix (exactly ``round(density*n)`` inputs per row) scaled to spectral radius ``rho``."""
    k = max(1, int(round(density * n)))
    w = np.zeros((n, n))
    for row in range(n):
        cols = rng.choice(n, size=k, replace=False)
        w[row, cols] = rng.choice([-1.0, 1.0], size=k) * rng.uniform(0.5, 1.0, size=k)
    radius = np.max(np.abs(np.linalg.eigvals(w)))
    return w * (rho / radius)


class ESNClassifier(nn.Module):
    """Echo-state network: fixed leaky clipped-ReLU reservoir and ridge readout.

    The readout reads the time-average of the reservoir state; it is fitted in closed form
    by :meth:`fit_readout` and stays a float, host-side readout: the chip holds the
    reservoir (``w_in``, ``w_rec``), which is what ternary quantization applies to, as in
    He et al. 2019.
    """

    def __init__(self, config: ModelConfig, seed: int = 0):
        super().__init__()
        self.config = config
        rng = np.random.default_rng(seed)
        H, F, C = config.n_hidden, config.n_inputs, config.n_classes
        w_rec = _sparse_reservoir(H, config.density, config.spectral_radius, rng)
        w_in = rng.choice([-1.0, 0.0, 1.0], size=(H, F), p=[0.25, 0.5, 0.25]) * config.input_scale
        b = np.full(1, 0.1) if config.shared_bias else rng.uniform(0.0, 0.2, size=H)
        self.w_in = nn.Parameter(torch.tensor(w_in, dtype=torch.float32), requires_grad=False)
        self.w_rec = nn.Parameter(torch.tensor(w_rec, dtype=torch.float32), requires_grad=False)
        self.b = nn.Parameter(torch.tensor(b, dtype=torch.float32), requires_grad=False)
        self.w_out = nn.Parameter(torch.zeros(C, H), requires_grad=False)
        self.b_out = nn.Parameter(torch.zeros(C), requires_grad=False)

    def weight_matrices(self) -> dict[str, nn.Parameter]:
        return {"w_in": self.w_in, "w_rec": self.w_rec, "w_out": self.w_out}

    #: Matrices quantization turns ternary (the readout is host-side and fitted in closed form).
    quantized = ("w_in", "w_rec")

    def states(self, x: torch.Tensor, weights: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Reservoir trajectory ``[B, T, H]``."""
        _check_input(x, self.config.n_inputs)
        w = weights or self.weight_matrices()
        a = self.config.leak
        B, T, _ = x.shape
        h = x.new_zeros(B, self.config.n_hidden)
        drive_in = x @ w["w_in"].T + w.get("b", self.b)
        out = []
        for t in range(T):
            h = (1 - a) * h + a * clip01(drive_in[:, t] + h @ w["w_rec"].T)
            out.append(h)
        return torch.stack(out, 1)

    def forward(self, x: torch.Tensor, weights: dict[str, torch.Tensor] | None = None,
                return_states: bool = False, lengths: np.ndarray | torch.Tensor | None = None):
        w = weights or self.weight_matrices()
        s = self.states(x, w)
        out = self.features(s, as_lengths(lengths, x)) @ w["w_out"].T + self.b_out
        return (out, s) if return_states else out

    @staticmethod
    def features(states: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """What the readout reads: the mean state over all steps, or over each sequence's first
        ``lengths`` steps."""
        return states.mean(1) if lengths is None else mean_until(states, lengths)

    @torch.no_grad()
    def fit_readout(self, x: torch.Tensor, y: torch.Tensor,
                    weights: dict[str, torch.Tensor] | None = None, batch: int = 2048,
                    lengths: np.ndarray | torch.Tensor | None = None) -> None:
        """Fit ``w_out``/``b_out`` by class-balanced ridge regression on the mean states (over
        each sequence's own steps with ``lengths``)."""
        ends = as_lengths(lengths, x)
        feats = torch.cat([self.features(self.states(x[i:i + batch], weights),
                                         None if ends is None else ends[i:i + batch])
                           for i in range(0, len(x), batch)])
        w, b = ridge_readout(feats.cpu().numpy(), y.cpu().numpy(), self.config.n_classes, self.config.ridge)
        self.w_out.copy_(torch.as_tensor(w))
        self.b_out.copy_(torch.as_tensor(b))


def ridge_readout(features: np.ndarray, y: np.ndarray, n_classes: int,
                  ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced ridge regression onto one-hot targets: ``(W [C, H], b [C])``.

    Each sample is weighted by ``N / (C * count(its class))`` so that rare classes (ECG
    anomalies) weigh as much as common ones.
    """
    feats = np.asarray(features, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    targets = np.eye(n_classes)[y]
    counts = np.maximum(np.bincount(y, minlength=n_classes), 1)
    sample_w = (len(y) / (n_classes * counts))[y][:, None]
    phi = np.hstack([feats, np.ones((len(feats), 1))])
    gram = phi.T @ (phi * sample_w) + ridge * np.eye(phi.shape[1])
    sol = np.linalg.solve(gram, phi.T @ (targets * sample_w))
    return sol[:-1].T.astype(np.float32), sol[-1].astype(np.float32)


def build_model(config: ModelConfig, seed: int = 0) -> nn.Module:
    """Instantiate the model described by ``config`` (seeded)."""
    with torch.random.fork_rng(devices=[]):  # seeded init without touching global state
        torch.manual_seed(seed)
        if config.kind == "rnn":
            return RNNClassifier(config)
        if config.kind == "lstm":
            return LSTMClassifier(config)
        if config.kind == "esn":
            return ESNClassifier(config, seed=seed)
        if config.kind == "lsnn":
            return LSNNClassifier(config)
        raise ValueError(f"unknown model {config.kind!r}; choose one of {', '.join(MODEL_TYPES)}")
