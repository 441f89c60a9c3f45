"""Model shapes, conversion-friendly activations and input validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transfer.models import ModelConfig, build_model


@pytest.mark.parametrize("kind", ["rnn", "lstm", "esn"])
def test_output_and_state_shapes(kind):
    model = build_model(ModelConfig(kind, n_inputs=5, n_hidden=12, n_classes=3), seed=1)
    out, states = model(torch.rand(4, 7, 5), return_states=True)
    assert out.shape == (4, 3)
    assert states.shape == (4, 7, 12)


def test_rnn_states_are_non_negative_rates_clipped_at_act_max():
    x = torch.randn(8, 10, 5) * 3
    _, relu = build_model(ModelConfig("rnn", 5, 32, 3), seed=0)(x, return_states=True)
    _, clipped = build_model(ModelConfig("rnn", 5, 32, 3, act_max=1.0), seed=0)(x, return_states=True)
    assert relu.min() >= 0.0 and relu.max() > 1.0
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0


def test_rnn_bias_is_held_at_min_bias():
    # A DYNAP-SE DC bias only injects current: min_bias bounds the bias the network uses.
    x = torch.rand(4, 6, 5)
    low = build_model(ModelConfig("rnn", 5, 8, 3, min_bias=0.2, shared_bias=True), seed=0)
    ref = build_model(ModelConfig("rnn", 5, 8, 3, shared_bias=True), seed=0)
    with torch.no_grad():
        low.b.fill_(-1.0)
        ref.b.fill_(0.2)
    assert float(low.effective_bias()) == pytest.approx(0.2)
    assert torch.allclose(low(x), ref(x))
    with pytest.raises(ValueError, match="min_bias"):
        ModelConfig("rnn", 5, 8, 3, min_bias=float("nan"))


def test_lstm_gates_are_hard_sigmoid_and_state_bounded():
    model = build_model(ModelConfig("lstm", 5, 16, 3), seed=0)
    _, states = model(torch.randn(8, 10, 5) * 5, return_states=True)
    assert states.abs().max() <= 1.0


def test_esn_reservoir_has_requested_spectral_radius_and_density():
    cfg = ModelConfig("esn", 4, 50, 2, spectral_radius=0.8, density=0.1)
    model = build_model(cfg, seed=3)
    w = model.w_rec.detach().numpy().astype(float)
    assert np.max(np.abs(np.linalg.eigvals(w))) == pytest.approx(0.8, rel=1e-4)
    assert np.all(np.count_nonzero(w, axis=1) == 5)


def test_same_seed_same_weights_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_model(ModelConfig("rnn", 3, 8, 2), seed=5)
    after = torch.rand(1)
    b = build_model(ModelConfig("rnn", 3, 8, 2), seed=5)
    assert torch.equal(a.w_rec, b.w_rec)
    assert torch.equal(before, after)


def test_wrong_input_shape_is_a_clear_error():
    model = build_model(ModelConfig("rnn", 5, 8, 2), seed=0)
    with pytest.raises(ValueError, match=r"\(B, T, 5\)"):
        model(torch.rand(4, 7, 6))


def test_unknown_model_kind():
    with pytest.raises(ValueError, match="unknown model"):
        ModelConfig("gru", 3, 8, 2)
