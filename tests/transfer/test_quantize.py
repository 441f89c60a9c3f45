"""Ternary quantization: exact ternary values, the TWN scale, the fan-in cap, and QAT."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from transfer.models import ModelConfig, build_model
from transfer.quantize import (FanInPruning, TernaryConfig, Ternarizer, bake, fan_in_mask,
                               matrix_report, ternarize)
from transfer.train import TrainConfig, evaluate, fit


def test_ternarize_matches_twn_formula():
    w = torch.tensor([[0.9, -0.05, 0.3], [-0.6, 0.1, -0.2]])
    q, a = ternarize(w, 0.7)
    delta = 0.7 * w.abs().mean()          # 0.7 * 2.15/6
    mask = w.abs() > delta
    assert float(a) == pytest.approx(float(w.abs()[mask].mean()))
    assert torch.equal(q, a * torch.sign(w) * mask)
    values = np.unique(q.numpy())
    assert len(values) <= 3
    assert np.allclose(np.abs(values[values != 0]), float(a))


def test_fan_in_cap_counts_input_and_recurrent_together():
    g = torch.Generator().manual_seed(0)
    mats = {"w_in": torch.randn(20, 28, generator=g), "w_rec": torch.randn(20, 128, generator=g)}
    masks = fan_in_mask(mats, 64, 0.7)
    fan_in = masks["w_in"].sum(1) + masks["w_rec"].sum(1)
    assert fan_in.max() == 64
    uncapped = fan_in_mask(mats, None, 0.7)
    assert (uncapped["w_in"].sum(1) + uncapped["w_rec"].sum(1)).max() > 64


def test_baked_model_holds_three_values_per_matrix_and_respects_cap():
    model = build_model(ModelConfig("rnn", 28, 128, 10), seed=0)
    scales = bake(model, Ternarizer(TernaryConfig(max_fan_in=64)))
    report = matrix_report(model)
    for name in ("w_in", "w_rec"):
        assert report[name]["n_distinct"] <= 3 and report[name]["is_ternary"]
        assert report[name]["a"] == pytest.approx(scales[name])
    assert report["fan_in"]["max"] <= 64


def test_straight_through_estimator_passes_gradients():
    model = build_model(ModelConfig("rnn", 4, 8, 2), seed=0)
    weights = Ternarizer()(model)
    weights["w_rec"].sum().backward()
    assert torch.all(model.w_rec.grad == 1.0)


def test_finetuning_beats_post_training_ternarization(digits_small):
    data = digits_small
    model = build_model(ModelConfig("rnn", 8, 32, 10), seed=0)
    fit(model, data, TrainConfig(epochs=15, lr=3e-3, batch_size=32), progress=False)
    tern = Ternarizer(TernaryConfig(max_fan_in=16))  # a tight cap makes the loss visible
    ptq = evaluate(model, data.X_test, data.y_test, "accuracy", tern)
    tuned = copy.deepcopy(model)
    fit(tuned, data, TrainConfig(epochs=10, lr=3e-3, batch_size=32), weights_fn=tern, progress=False)
    qat = evaluate(tuned, data.X_test, data.y_test, "accuracy", tern)
    assert qat > ptq + 0.02


@pytest.mark.parametrize("kind", ["rnn", "lstm", "esn"])
def test_only_chip_side_matrices_become_ternary(kind):
    """The readout runs on the host from spike counts: it stays float."""
    model = build_model(ModelConfig(kind, 4, 30, 3), seed=0)
    model.w_out.data.normal_()
    w_out = model.w_out.detach().clone()
    bake(model, Ternarizer())
    report = matrix_report(model)
    assert report["w_rec"]["is_ternary"] and report["w_in"]["is_ternary"]
    assert torch.equal(model.w_out, w_out)
    assert not report["w_out"]["quantized"]


def test_bad_fan_in_cap():
    with pytest.raises(ValueError, match="max-fan-in"):
        TernaryConfig(max_fan_in=0)


def test_fan_in_pruning_follows_the_cubic_schedule():
    """Zhu & Gupta: cap(e) = k + (n - k) * (1 - f)**3, from every input down to k."""
    prune = FanInPruning(max_fan_in=64, n_candidates=284, start_epoch=5, end_epoch=20, delta_factor=0.4)
    caps = []
    for epoch in range(30):
        prune.set_epoch(epoch)
        caps.append(prune.cap(training=True))
    assert caps[:6] == [284] * 6                       # nothing pruned before the start
    assert caps[20:] == [64] * 10                      # the cap from the end epoch on
    assert caps[10] == round(64 + 220 * (1 - 5 / 15) ** 3)
    assert all(a >= b for a, b in zip(caps, caps[1:]))
    prune.set_epoch(0)
    assert prune.cap(training=False) == 64             # evaluation scores the final network


def test_fan_in_pruning_keeps_each_neurons_strongest_inputs():
    model = build_model(ModelConfig("rnn", 28, 128, 10), seed=0)
    prune = FanInPruning(40, 156, 0, 1, delta_factor=0.4)
    weights = prune(model.eval())
    w_in, w_rec = (weights[n].detach().numpy() for n in ("w_in", "w_rec"))
    kept = (w_in != 0).sum(1) + (w_rec != 0).sum(1)
    assert kept.max() <= 40
    # Independent ranking: |w| / (0.4 * mean|W|) of each matrix, side by side.
    rel = np.concatenate([np.abs(m) / (0.4 * np.abs(m).mean()) for m in
                          (model.w_in.detach().numpy(), model.w_rec.detach().numpy())], axis=1)
    both = np.concatenate([w_in, w_rec], axis=1) != 0
    for row, keep in zip(rel, both):
        assert row[keep].min() >= np.sort(row)[-40] - 1e-6
    weights["w_rec"].sum().backward()                  # gradients reach the kept weights only
    assert torch.equal(model.w_rec.grad != 0, torch.from_numpy(w_rec != 0))
    prune.bake(model)
    assert torch.equal(model.w_rec.detach(), weights["w_rec"].detach())


def test_fit_tells_the_pruning_schedule_each_epoch(digits_small):
    seen = []

    class Recording(FanInPruning):
        def set_epoch(self, epoch):
            seen.append(epoch)
            super().set_epoch(epoch)

    model = build_model(ModelConfig("rnn", 8, 16, 10), seed=0)
    fit(model, digits_small, TrainConfig(epochs=3, batch_size=64, patience=3),
        weights_fn=Recording(10, 24, 0, 2, 0.4), progress=False)
    assert seen == [0, 1, 2]
