"""Backpropagation-through-time training with Adam, gradient clipping and early stopping.

:func:`fit` trains any model of :mod:`transfer.models` (the ESN fits its ridge readout in
closed form instead). A ``weights_fn`` maps the model's latent weights to the weights the
forward pass uses; quantization-aware fine-tuning passes its ternarizer (with a
straight-through estimator) here, so one loop serves both float training and QAT.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .datasets import Dataset, score
from .files import read_tensors
from .sequence_ends import step_mask

__all__ = ["TrainConfig", "TrainResult", "fit", "evaluate", "predict", "pick_device", "class_weights", "resume_key",
           "check_resume"]

WeightsFn = Callable[[nn.Module], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one BPTT run.

    Parameters
    ----------
    epochs : int
        Maximum number of epochs.
    batch_size : int
    lr : float
        Adam learning rate.
    clip_grad : float
        Maximum global gradient norm.
    patience : int
        Stop after this many epochs without a better validation score; the best epoch's
        weights are restored.
    seed : int
    device : str
        ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda"``.
    act_penalty : float
        Weight of ``mean(relu(h - 1)**2)`` over all hidden activations: keeps ReLU
        activations (firing rates) mostly below 1, the rate that conversion normalises to.
    distill : float
        With a ``teacher`` passed to :func:`fit`: the loss is ``(1 - distill)`` times the
        cross-entropy plus ``distill`` times the knowledge-distillation loss (Hinton, Vinyals
        & Dean 2015, arXiv:1503.02531), ``T**2 * KL(softmax(teacher / T) || softmax(out / T))``.
    temperature : float
        The distillation temperature ``T``.
    keep_last : bool
        Run every epoch and keep the last one's weights instead of the best validation
        epoch's (``patience`` is then ignored): for a validation split too small to rank
        epochs, where the cosine schedule's final epoch is the better pick.
    """

    epochs: int = 30
    batch_size: int = 128
    lr: float = 2e-3
    clip_grad: float = 1.0
    patience: int = 6
    seed: int = 0
    device: str = "auto"
    act_penalty: float = 0.0
    distill: float = 0.0
    temperature: float = 2.0
    keep_last: bool = False

    def __post_init__(self) -> None:
        for name, ok, must in (("epochs", isinstance(self.epochs, int) and self.epochs >= 1, "a positive integer"),
                               ("batch_size", isinstance(self.batch_size, int) and self.batch_size >= 1,
                                "a positive integer"),
                               ("lr", math.isfinite(self.lr) and self.lr > 0, "a positive number"),
                               ("patience", self.patience >= 1, "a positive integer")):
            if not ok:
                raise ValueError(f"training setting {name} must be {must}, got {getattr(self, name)!r}")
        if not 0 <= self.distill <= 1 or not self.temperature > 0:
            raise ValueError(f"--distill must lie in [0, 1] and the temperature be > 0, got "
                             f"{self.distill} and {self.temperature}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TrainResult:
    """What a training run measured."""

    best_val: float
    epochs_run: int
    train_seconds: float
    history: list[dict[str, float]]

    @property
    def seconds_per_epoch(self) -> float:
        return self.train_seconds / max(1, self.epochs_run)


def pick_device(name: str = "auto") -> torch.device:
    """CUDA when asked for (or ``auto`` and present), CPU otherwise."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was requested but no CUDA device is available")
    return torch.device(name)


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency class weights ``N / (C * count_c)`` (1 for a balanced set).

    Classes absent from ``y`` get weight 0 (they contribute no loss anyway).
    """
    from sklearn.utils.class_weight import compute_class_weight  # noqa: PLC0415

    y = np.asarray(y, dtype=np.int64)
    present = np.unique(y)
    w = np.zeros(n_classes)
    # scikit-learn's "balanced" weights N / (K * count_c) over the K present classes, rescaled
    # to the C classes of the model: N / (C * count_c)
    w[present] = compute_class_weight("balanced", classes=present, y=y) * len(present) / n_classes
    return w


def _tensor(a: np.ndarray, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=dtype, device=device)


def _run(model: nn.Module, x: torch.Tensor, weights: dict[str, torch.Tensor] | None,
         lengths: torch.Tensor | np.ndarray | None, return_states: bool = False):
    """``model(x, weights)``, passing ``lengths`` only when there are any (so a model without
    them runs exactly as before)."""
    if lengths is None:
        return model(x, weights, return_states=True) if return_states else model(x, weights)
    return model(x, weights, return_states=return_states, lengths=lengths)


@torch.no_grad()
def predict(model: nn.Module, X: np.ndarray, weights_fn: WeightsFn | None = None,
            batch: int = 2048, lengths: np.ndarray | None = None) -> np.ndarray:
    """Predicted classes for ``X [N, T, F]``, each sequence read at its end ``lengths [N]``
    (``None``: all ``T`` steps)."""
    model.eval()
    device = next(model.parameters()).device
    weights = weights_fn(model) if weights_fn else None
    preds = [_run(model, _tensor(X[i:i + batch], device), weights,
                  None if lengths is None else lengths[i:i + batch]).argmax(1).cpu()
             for i in range(0, len(X), batch)]
    return torch.cat(preds).numpy() if preds else np.zeros(0, dtype=np.int64)


def evaluate(model: nn.Module, X: np.ndarray, y: np.ndarray, metric: str = "accuracy",
             weights_fn: WeightsFn | None = None, lengths: np.ndarray | None = None) -> float:
    """The dataset's metric (accuracy or balanced accuracy) of ``model`` on ``(X, y)``."""
    return score(y, predict(model, X, weights_fn, lengths=lengths), metric)


def _distillation_loss(ce: nn.Module, teacher: nn.Module, alpha: float, T: float):
    """``(1 - alpha) * ce(out, y) + alpha * T**2 * KL(teacher || student)`` at temperature ``T``."""
    def loss(out: torch.Tensor, target: torch.Tensor, x: torch.Tensor,
             lengths: torch.Tensor | None = None) -> torch.Tensor:
        with torch.no_grad():
            scores = teacher(x) if lengths is None else teacher(x, lengths=lengths)
            soft = torch.softmax(scores / T, dim=1)
        kd = nn.functional.kl_div(torch.log_softmax(out / T, dim=1), soft, reduction="batchmean")
        return (1 - alpha) * ce(out, target) + alpha * T * T * kd
    return loss


def _save_state(path: Path, state: dict[str, Any]) -> None:
    """Write the resume state atomically (a killed run leaves the previous epoch's file)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C or a full disk: keep the previous epoch's file, no half one
        tmp.unlink(missing_ok=True)
        raise


def _digest(*arrays: Any) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def resume_key(model: nn.Module, data: Dataset, config: TrainConfig, source: str | None = None,
               options: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a resume file must match to be continued: the caller's ``options`` (its stage's
    settings, plain JSON values), the training settings and the model's configuration, the
    data (a digest of the training and validation splits) and where the run starts from (the
    source run ``source`` and a digest of the starting weights)."""
    model_config = getattr(model, "config", None)
    return {
        "settings": {"stage": dict(options or {}), "train": config.to_dict(),
                     "model": model_config.to_dict() if hasattr(model_config, "to_dict") else None},
        "data": _digest(data.X_train, data.y_train, data.X_val, data.y_val,
                        *((data.len_train, data.len_val) if data.variable_length else ())),
        "source": {"run": source, "weights": _digest(*model.state_dict().values())},
    }


def check_resume(path: Path, state: Any, key: dict[str, Any]) -> None:
    """Refuse a resume file written for other settings, other data or another source run.

    Raises
    ------
    ValueError
        One line naming what differs and how to start fresh.
    """
    fresh = f"delete {path} to start over, or choose another --out"
    if not isinstance(state, dict) or not isinstance(state.get("key"), dict):
        raise ValueError(f"{path} is not a resume file this version of rnn2dynapse wrote; {fresh}")
    old = state["key"]
    if old.get("settings") != key["settings"]:
        was, now = old.get("settings") or {}, key["settings"]
        diff = [f"{part}.{k}: {(was.get(part) or {}).get(k)!r} -> {v!r}"
                for part in ("stage", "train", "model") for k, v in (now.get(part) or {}).items()
                if (was.get(part) or {}).get(k) != v]
        raise ValueError(f"{path} was written with other training settings ({'; '.join(diff[:4]) or 'changed'}); "
                         f"{fresh}")
    if old.get("data") != key["data"]:
        raise ValueError(f"{path} was written for other data (the training and validation splits differ: "
                         f"another dataset file, --limit-train or --seed); {fresh}")
    if old.get("source") != key["source"]:
        was, now = old.get("source") or {}, key["source"]
        what = (f"source run {was.get('run')} -> {now['run']}" if was.get("run") != now["run"]
                else "the starting weights differ")
        raise ValueError(f"{path} was written from another source run ({what}); {fresh}")


def fit(model: nn.Module, data: Dataset, config: TrainConfig, weights_fn: WeightsFn | None = None,
        progress: bool = True, desc: str = "train", resume: str | Path | None = None,
        teacher: nn.Module | None = None, source: str | None = None,
        options: dict[str, Any] | None = None) -> TrainResult:
    """Train ``model`` in place on ``data`` with BPTT; restore the best validation epoch.

    For an ESN (a model with ``fit_readout``) the readout is fitted in closed form on the
    states of the reservoir that ``weights_fn`` gives (the ternary one during fine-tuning).
    A validation split with a single class (the ECG record's) cannot rank epochs: then
    every epoch runs and the last one is kept, with a warning; ``config.keep_last`` does the
    same on request.
    On a dataset scored by balanced accuracy (ECG) the cross-entropy weights each class by
    its inverse frequency (:func:`class_weights`), so a rare class is not ignored.
    A model with a ``regularization(states)`` method (the LSNN's firing-rate penalty) has it
    added to the loss, on the states of ``forward(..., return_states=True)``.
    With ``resume`` (a file path) every finished epoch is saved there (weights, optimiser,
    schedule, random state, history), and a run that finds the file continues after its last
    finished epoch, so an interrupted run loses at most one epoch. The caller deletes it.
    The file is continued only when the settings (``config``, the model's and the caller's
    ``options``), the data and the starting point (``source``, the run trained from, and the
    starting weights) all match (:func:`resume_key`); otherwise
    a ``ValueError`` names what differs. It holds tensors and plain types only and is read
    with ``weights_only=True``.
    With a ``teacher`` (the float model, during quantization-aware fine-tuning) and
    ``config.distill > 0`` the student also matches the teacher's softened outputs.
    A ``weights_fn`` with a ``set_epoch(epoch)`` method (:class:`transfer.quantize.FanInPruning`)
    is told the 0-based epoch before each epoch's training.
    Variable-length data (``data.variable_length``) is read at each sequence's end in the
    loss, the validation score and the ESN's readout fit; the activation penalty counts only
    the steps each sequence holds.
    """
    device = pick_device(config.device)
    model.to(device)
    t0 = time.perf_counter()
    if hasattr(model, "fit_readout"):
        weights = weights_fn(model) if weights_fn else None
        extra = {} if data.len_train is None else {"lengths": data.len_train}
        model.fit_readout(_tensor(data.X_train, device), _tensor(data.y_train, device, torch.long), weights,
                          **extra)
        val = evaluate(model, data.X_val, data.y_val, data.metric, weights_fn, data.len_val)
        return TrainResult(val, 1, time.perf_counter() - t0, [{"epoch": 1, "val": val}])

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, config.epochs))
    gen = torch.Generator().manual_seed(config.seed)
    X = _tensor(data.X_train, device)
    y = _tensor(data.y_train, device, torch.long)
    L = None if data.len_train is None else _tensor(data.len_train, device, torch.long)
    weight = None
    if data.metric == "balanced_accuracy":
        weight = _tensor(class_weights(data.y_train, data.n_classes), device)
    ce = nn.CrossEntropyLoss(weight=weight)
    if teacher is not None and config.distill > 0:
        teacher = teacher.to(device).eval()
        loss_fn = _distillation_loss(ce, teacher, config.distill, config.temperature)
    else:
        loss_fn = lambda out, target, _x, _lengths=None: ce(out, target)  # noqa: E731
    one_class = np.unique(data.y_val).size < 2
    rank_epochs = not (one_class or config.keep_last)
    if one_class and not config.keep_last:
        warnings.warn(f"{data.name}: the validation split holds one class only; training runs all "
                      f"{config.epochs} epochs and keeps the last (no early stopping)", stacklevel=2)
    best_val, best_state, since_best = -np.inf, copy.deepcopy(model.state_dict()), 0
    history: list[dict[str, float]] = []
    epochs_run, start, done, elapsed = 0, 0, False, 0.0
    resume = Path(resume) if resume is not None else None
    key = resume_key(model, data, config, source, options) if resume is not None else None
    if resume is not None and resume.exists():
        st = read_tensors(resume)
        check_resume(resume, st, key)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        gen.set_state(st["gen"])
        best_val, best_state, since_best = st["best_val"], st["best_state"], st["since_best"]
        history, start, done, elapsed = st["history"], st["epoch"], st["done"], st["seconds"]
        epochs_run = start
        if progress:
            print(f"{desc}: resuming after epoch {start} from {resume}", flush=True)
    t0 = time.perf_counter() - elapsed
    bar = tqdm(range(start, config.epochs if not done else start), desc=desc, disable=not progress,
               unit="epoch", leave=False, initial=start, total=config.epochs)
    set_epoch = getattr(weights_fn, "set_epoch", None)  # a schedule over epochs (FanInPruning)
    for epoch in bar:
        model.train()
        if set_epoch is not None:
            set_epoch(epoch)
        order = torch.randperm(len(X), generator=gen).to(device)
        total, n = 0.0, 0
        for i in range(0, len(X), config.batch_size):
            idx = order[i:i + config.batch_size]
            weights = weights_fn(model) if weights_fn else None
            regularization = getattr(model, "regularization", None)
            ends = None if L is None else L[idx]
            if config.act_penalty > 0 or regularization is not None:
                out, states = _run(model, X[idx], weights, ends, return_states=True)
                loss = loss_fn(out, y[idx], X[idx], ends)
                if config.act_penalty > 0:
                    excess = torch.relu(states - 1).pow(2)
                    if ends is not None:  # only the steps each sequence holds
                        held = step_mask(ends, states.shape[1]).to(excess.dtype)[:, :, None]
                        excess = (excess * held).sum() / (held.sum() * excess.shape[2])
                    loss = loss + config.act_penalty * excess.mean()
                if regularization is not None:  # a model's own penalty on its states (LSNN rates)
                    loss = loss + regularization(states)
            else:
                loss = loss_fn(_run(model, X[idx], weights, ends), y[idx], X[idx], ends)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training diverged at epoch {epoch + 1} (loss {loss.item()}); "
                                         "lower --lr")
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, config.clip_grad)
            opt.step()
            total += loss.item() * len(idx)
            n += len(idx)
        sched.step()
        epochs_run += 1
        val = evaluate(model, data.X_val, data.y_val, data.metric, weights_fn, data.len_val)
        history.append({"epoch": epoch + 1, "loss": total / max(1, n), "val": val})
        bar.set_postfix(loss=f"{total / max(1, n):.3f}", val=f"{val:.3f}")
        if val > best_val or not rank_epochs:
            best_val, best_state, since_best = val, copy.deepcopy(model.state_dict()), 0
        else:
            since_best += 1
        done = since_best >= config.patience
        if resume is not None:
            _save_state(resume, {"key": key, "model": model.state_dict(),
                                 "opt": opt.state_dict(), "sched": sched.state_dict(),
                                 "gen": gen.get_state(), "best_val": best_val, "best_state": best_state,
                                 "since_best": since_best, "history": history, "epoch": epoch + 1,
                                 "done": done, "seconds": time.perf_counter() - t0})
        if done:
            break
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(float(best_val), epochs_run, time.perf_counter() - t0, history)
