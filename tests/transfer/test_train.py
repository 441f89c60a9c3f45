"""BPTT training on a real digits slice: loss goes down, seeds reproduce."""

from __future__ import annotations

import numpy as np
import pytest

from transfer.models import ModelConfig, build_model
from transfer.train import TrainConfig, evaluate, fit


def _train(data, kind="rnn", seed=0, epochs=12):
    model = build_model(ModelConfig(kind, data.n_features, 32, data.n_classes), seed=seed)
    result = fit(model, data, TrainConfig(epochs=epochs, seed=seed, lr=3e-3, batch_size=32), progress=False)
    return model, result


def test_training_lowers_the_loss_and_beats_chance(digits_small):
    model, result = _train(digits_small)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < 0.7 * losses[0]
    assert evaluate(model, digits_small.X_test, digits_small.y_test) > 0.5  # chance is 0.1


def test_lstm_trains(digits_small):
    model, result = _train(digits_small, "lstm")
    assert result.history[-1]["loss"] < result.history[0]["loss"]


def test_same_seed_same_metrics(digits_small):
    _, r1 = _train(digits_small, seed=3, epochs=3)
    _, r2 = _train(digits_small, seed=3, epochs=3)
    assert [h["loss"] for h in r1.history] == [h["loss"] for h in r2.history]
    assert r1.best_val == r2.best_val


def test_esn_readout_fits_in_closed_form(digits_small):
    model = build_model(ModelConfig("esn", 8, 64, 10), seed=0)
    result = fit(model, digits_small, TrainConfig(), progress=False)
    assert result.epochs_run == 1
    assert evaluate(model, digits_small.X_test, digits_small.y_test) > 0.6


def test_early_stopping_restores_best_epoch(digits_small):
    model, result = _train(digits_small, epochs=6)
    best = max(h["val"] for h in result.history)
    assert evaluate(model, digits_small.X_val, digits_small.y_val) == pytest.approx(best)


class _Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_weights(digits_small, tmp_path):
    """Kill a run in its third epoch; the rerun continues from epoch 2 and ends where an
    uninterrupted run ends, weight for weight."""
    import torch  # noqa: PLC0415

    cfg = TrainConfig(epochs=4, seed=1, lr=3e-3, batch_size=32)
    mc = ModelConfig("rnn", digits_small.n_features, 16, digits_small.n_classes)
    batches = -(-len(digits_small.y_train) // cfg.batch_size)
    calls = {"n": 0}

    def dies_in_epoch_3(model):  # weights_fn runs once per batch and once per evaluation
        calls["n"] += 1
        if calls["n"] > 2 * (batches + 1) + 1:
            raise _Interrupt
        return None

    state = tmp_path / "resume.pt"
    with pytest.raises(_Interrupt):
        fit(build_model(mc, seed=1), digits_small, cfg, weights_fn=dies_in_epoch_3, progress=False,
            resume=state)
    assert torch.load(state, weights_only=True)["epoch"] == 2  # tensors and plain values only
    resumed = build_model(mc, seed=1)
    r1 = fit(resumed, digits_small, cfg, progress=False, resume=state)
    straight = build_model(mc, seed=1)
    r2 = fit(straight, digits_small, cfg, progress=False)
    assert [h["loss"] for h in r1.history] == [h["loss"] for h in r2.history]
    for a, b in zip(resumed.state_dict().values(), straight.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="other training settings"):
        fit(build_model(mc, seed=1), digits_small, TrainConfig(epochs=5, seed=1), progress=False,
            resume=state)


def test_class_weights_are_inverse_frequencies():
    from transfer.train import class_weights

    w = class_weights(np.array([0, 0, 0, 1]), 3)
    # N / (C * count): 4 / (3 * 3) for class 0, 4 / (3 * 1) for class 1, absent class 2 -> 0
    np.testing.assert_allclose(w, [4 / 9, 4 / 3, 0.0])
    # a balanced set keeps the plain cross-entropy
    np.testing.assert_allclose(class_weights(np.array([1, 0, 1, 0]), 2), [1.0, 1.0])


def test_single_class_validation_runs_every_epoch_and_keeps_the_last(digits_small):
    import dataclasses

    one_class = dataclasses.replace(digits_small, y_val=np.zeros_like(digits_small.y_val))
    model = build_model(ModelConfig("rnn", 8, 8, 10), seed=0)
    cfg = TrainConfig(epochs=4, patience=1, lr=3e-3, device="cpu")
    with pytest.warns(UserWarning, match="validation split holds one class"):
        result = fit(model, one_class, cfg, progress=False)
    assert result.epochs_run == 4
    # the last epoch's weights are kept: its validation score is the model's
    assert evaluate(model, one_class.X_val, one_class.y_val) == result.history[-1]["val"]


def test_keep_last_runs_every_epoch_and_keeps_the_last(digits_small):
    model = build_model(ModelConfig("rnn", 8, 8, 10), seed=0)
    cfg = TrainConfig(epochs=4, patience=1, lr=3e-3, device="cpu", keep_last=True)
    result = fit(model, digits_small, cfg, progress=False)
    assert result.epochs_run == 4  # every epoch runs, whatever the patience
    # reference: the score the last epoch recorded in the history is the model's
    assert evaluate(model, digits_small.X_val, digits_small.y_val) == result.history[-1]["val"]


def test_distillation_loss_matches_a_numpy_reference():
    import torch
    from torch import nn

    from transfer.train import _distillation_loss

    rng = np.random.default_rng(0)
    student, teacher = rng.normal(size=(5, 4)), rng.normal(size=(5, 4)) * 3
    y = rng.integers(0, 4, 5)
    alpha, T = 0.7, 2.5

    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    ce = -log_softmax(student)[np.arange(5), y].mean()
    p_t = np.exp(log_softmax(teacher / T))
    kl = np.sum(p_t * (np.log(p_t) - log_softmax(student / T))) / 5
    want = (1 - alpha) * ce + alpha * T * T * kl
    # nn.Identity as the teacher: its "input" is the teacher's logits.
    loss = _distillation_loss(nn.CrossEntropyLoss(), nn.Identity(), alpha, T)
    got = loss(torch.tensor(student), torch.tensor(y), torch.tensor(teacher))
    assert float(got) == pytest.approx(want, rel=1e-9)


def test_pure_distillation_learns_the_teacher_without_the_labels(digits_small):
    from dataclasses import replace

    teacher, _ = _train(digits_small)
    shuffled = replace(digits_small, y_train=np.random.default_rng(1).permutation(digits_small.y_train))
    student = build_model(ModelConfig("rnn", digits_small.n_features, 32, digits_small.n_classes), seed=5)
    fit(student, shuffled, TrainConfig(epochs=12, lr=3e-3, batch_size=32, distill=1.0, patience=99),
        progress=False, teacher=teacher)
    # Scored against the true labels the student never saw: it learnt them from the teacher.
    assert evaluate(student, digits_small.X_test, digits_small.y_test) > 0.5  # chance is 0.1
    with pytest.raises(ValueError, match="--distill"):
        TrainConfig(distill=1.5)
