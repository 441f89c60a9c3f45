"""Mismatch-aware fine-tuning: perturbation statistics and robustness gained on a small run."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from transfer.mismatch_aware import MismatchAware, factors
from transfer.models import ModelConfig, build_model
from transfer.quantize import TernaryConfig, Ternarizer
from transfer.train import TrainConfig, evaluate, fit


def test_lognormal_factors_have_mean_one_and_requested_cv():
    f = factors((400, 500), 0.2, np.random.default_rng(0))
    assert f.shape == (400, 500) and f.dtype == torch.float32
    assert float(f.mean()) == pytest.approx(1.0, abs=0.005)
    assert float(f.std() / f.mean()) == pytest.approx(0.2, rel=0.02)
    assert float(f.min()) > 0


def test_only_training_passes_are_perturbed():
    model = build_model(ModelConfig("rnn", 4, 8, 2), seed=0)
    tern = Ternarizer()
    ma = MismatchAware(tern, 0.2, seed=1)
    model.eval()
    assert torch.equal(ma(model)["w_rec"], tern(model)["w_rec"])
    model.train()
    assert not torch.equal(ma(model)["w_rec"], tern(model)["w_rec"])
    # Zeros stay zeros: mismatch never creates synapses.
    assert torch.all(ma(model)["w_rec"][tern(model)["w_rec"] == 0] == 0)


def test_an_lsnn_without_bias_is_perturbed_and_still_runs():
    # The LSNN has no bias (current injection only): its weights are perturbed, no bias appears,
    # and its forward pass takes the perturbed weights.
    model = build_model(ModelConfig("lsnn", 4, 8, 2, substeps=2), seed=0)
    tern = Ternarizer()
    model.train()
    w = MismatchAware(tern, 0.2, seed=1)(model)
    assert "b" not in w and not torch.equal(w["w_in"], tern(model)["w_in"])
    assert torch.all(w["w_rec"][tern(model)["w_rec"] == 0] == 0)
    assert model(torch.rand(3, 5, 4), weights=w).shape == (3, 2)


def test_each_neuron_scales_its_excitatory_and_inhibitory_synapses_by_its_own_factors():
    # Per-neuron synaptic time-constant mismatch: every excitatory recurrent synapse of a
    # neuron shares one factor and every inhibitory one another, so the difference of their
    # mean log-ratios varies across neurons like two independent factors (2 sigma**2), far
    # more than per-synapse factors averaged over ~n/2 synapses each would (~4 sigma**2 / n).
    n, cv = 400, 0.2
    model = build_model(ModelConfig("rnn", 4, n, 2), seed=0)
    tern = Ternarizer(TernaryConfig(max_fan_in=None))
    nominal = tern(model)["w_rec"].detach()
    perturbed = MismatchAware(tern, cv, seed=3)(model.train())["w_rec"].detach()
    log_ratio = torch.log(perturbed / nominal)
    exc = torch.nanmean(torch.where(nominal > 0, log_ratio, torch.nan), dim=1)
    inh = torch.nanmean(torch.where(nominal < 0, log_ratio, torch.nan), dim=1)
    sigma2 = np.log1p(cv ** 2)
    assert float((exc - inh).var()) == pytest.approx(2 * sigma2, rel=0.25)


def _mean_accuracy_on_chips(model, data, tern, cv, n_chips=8):
    probe = MismatchAware(tern, cv, seed=123, always=True)
    return np.mean([evaluate(model, data.X_test, data.y_test, "accuracy", probe) for _ in range(n_chips)])


def test_finetuning_under_mismatch_improves_accuracy_under_mismatch(digits_small):
    data = digits_small
    tern = Ternarizer(TernaryConfig(max_fan_in=64))
    base = build_model(ModelConfig("rnn", 8, 32, 10), seed=0)
    fit(base, data, TrainConfig(epochs=15, lr=3e-3, batch_size=32), progress=False)
    plain, aware = copy.deepcopy(base), copy.deepcopy(base)
    cfg = TrainConfig(epochs=12, lr=3e-3, batch_size=32, seed=1)
    fit(plain, data, cfg, weights_fn=tern, progress=False)
    fit(aware, data, cfg, weights_fn=MismatchAware(tern, 0.2, seed=2), progress=False)
    # Measured on this slice: 0.686 -> 0.745 mean accuracy on 8 random chips at CV 0.2.
    assert _mean_accuracy_on_chips(aware, data, tern, 0.2) > _mean_accuracy_on_chips(plain, data, tern, 0.2) + 0.02
