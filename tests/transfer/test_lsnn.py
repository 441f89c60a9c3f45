"""LSNN (LIF + adaptive-threshold spiking network): equations, settings, training, ternary QAT."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from transfer.lsnn import LSNNClassifier, LSNNSettings, spike_fn
from transfer.models import ModelConfig, build_model
from transfer.quantize import TernaryConfig, Ternarizer, bake, matrix_report
from transfer.train import TrainConfig, fit


def _config(H=10, F=4, C=3, K=3, **extra) -> ModelConfig:
    return ModelConfig("lsnn", F, H, C, substeps=K, extra=extra)


def _numpy_reference(model: LSNNClassifier, x: np.ndarray) -> np.ndarray:
    """The module docstring's equations, one sample, plain numpy float64: raster [T*K, H]."""
    w_in = model.w_in.detach().double().numpy()
    w_rec = model.w_rec.detach().double().numpy() * (1 - np.eye(model.config.n_hidden))
    beta = model.beta.double().numpy()
    s, K, H = model.settings, model.substeps, model.config.n_hidden
    dt = s.element_ms / K
    alpha, rho = math.exp(-dt / s.tau_mem_ms), math.exp(-dt / s.tau_adapt_ms)
    v, a, z = np.zeros(H), np.zeros(H), np.zeros(H)
    out = []
    for x_t in x:
        for _ in range(K):
            A_prev = s.theta0 + beta * a
            v = alpha * v + (1 - alpha) * (w_rec @ z + w_in @ x_t) - z * A_prev
            a = rho * a + (1 - rho) * z
            z = (v > s.theta0 + beta * a).astype(float)
            out.append(z)
    return np.array(out)


def test_build_model_makes_an_lsnn_with_the_documented_shapes():
    model = build_model(_config(), seed=0)
    assert isinstance(model, LSNNClassifier)
    assert model.n_adaptive == 5  # adaptive_fraction 0.5 of 10
    assert torch.all(torch.diag(model.w_rec) == 0)
    out, raster = model(torch.rand(2, 5, 4), return_states=True)
    assert out.shape == (2, 3)
    assert raster.shape == (2, 15, 10)
    assert set(torch.unique(raster).tolist()) <= {0.0, 1.0}


def test_forward_matches_an_independent_numpy_integration():
    model = build_model(_config(H=16, K=4, input_gain=4.0, beta=3.0, tau_adapt_ms=200.0), seed=2).double()
    x = np.random.default_rng(0).random((3, 6, 4))
    with torch.no_grad():
        _, raster = model(torch.tensor(x), return_states=True)
    ref = np.stack([_numpy_reference(model, xi) for xi in x])
    assert ref.sum() > 20  # the comparison covers real spiking
    np.testing.assert_array_equal(raster.numpy(), ref)


def test_adaptation_lengthens_interspike_intervals_lif_does_not():
    """One neuron, constant suprathreshold input: ALIF intervals grow, LIF ones stay put.

    (Reset by subtraction makes the LIF period a non-integer number of steps, so its
    intervals alternate between two neighbouring values.)
    """
    def intervals(fraction):
        model = build_model(_config(H=1, F=1, C=2, K=10, adaptive_fraction=fraction, beta=20.0,
                                    tau_adapt_ms=500.0), seed=0).double()
        with torch.no_grad():
            model.w_in.fill_(3.0)
            _, raster = model(torch.ones(1, 20, 1, dtype=torch.float64), return_states=True)
        return np.diff(np.flatnonzero(raster[0, :, 0].numpy()))
    lif, alif = intervals(0.0), intervals(1.0)
    assert len(lif) > 10 and lif.max() - lif.min() <= 1
    assert abs(lif[:10].mean() - lif[-10:].mean()) <= 0.2
    assert alif[-1] > 2 * alif[0]


def test_pseudo_derivative_is_the_triangle():
    x = torch.tensor([0.0, 0.5, -0.5, 2.0], requires_grad=True)
    z = spike_fn(x, gamma=0.3)
    z.sum().backward()
    assert z.tolist() == [0.0, 1.0, 0.0, 1.0]
    np.testing.assert_allclose(x.grad.numpy(), [0.3, 0.15, 0.15, 0.0])


@pytest.mark.parametrize("extra, word", [
    ({"beta": -1.0}, "beta"),
    ({"adaptive_fraction": 1.5}, "adaptive_fraction"),
    ({"readout": "max"}, "readout"),
    ({"tau_adapt_ms": 0.0}, "tau_adapt_ms"),
    ({"tau_adpt_ms": 500.0}, "tau_adpt_ms"),
])
def test_bad_settings_raise_clear_errors(extra, word):
    with pytest.raises(ValueError, match=word):
        _config(**extra)


def test_settings_round_trip_through_the_config():
    cfg = _config(beta=2.0, readout="mean")
    again = ModelConfig.from_dict(cfg.to_dict())
    assert LSNNSettings.from_extra(again.extra) == LSNNSettings(beta=2.0, readout="mean")


def test_rate_regularizer_is_the_documented_penalty():
    model = build_model(_config(rate_reg=2.0, rate_target_hz=50.0), seed=0)  # dt = 20/3 ms
    raster = torch.zeros(2, 6, 10)
    raster[:, :3, :5] = 1.0  # neurons 0-4 fire every other step: 0.5 spikes/step
    target = 50.0 * (20.0 / 3) * 1e-3
    expected = 2.0 * (5 * (0.5 - target) ** 2 + 5 * target ** 2) / 10
    assert float(model.regularization(raster)) == pytest.approx(expected)


def test_training_lowers_the_loss_on_a_digits_slice(digits):
    data = digits.subset(limit_train=200, limit_test=50, seed=0)
    extra = {"readout": "mean", "input_gain": 4.0}
    model = build_model(ModelConfig("lsnn", 8, 32, 10, substeps=2, extra=extra), seed=0)
    result = fit(model, data, TrainConfig(epochs=6, lr=2e-2, batch_size=20, device="cpu"), progress=False)
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < 0.85 * losses[0]  # measured: 2.33 -> 1.86 after 5 epochs
    assert result.best_val > 0.3  # chance is 0.1


def test_ternary_qat_gives_three_values_and_keeps_the_diagonal_empty(digits):
    data = digits.subset(limit_train=100, limit_test=50, seed=0)
    model = build_model(ModelConfig("lsnn", 8, 24, 10, substeps=2, extra={"readout": "mean"}), seed=0)
    tern = Ternarizer(TernaryConfig(max_fan_in=12))
    fit(model, data, TrainConfig(epochs=1, lr=1e-2, batch_size=50, device="cpu"), weights_fn=tern,
        progress=False)
    bake(model, tern)
    report = matrix_report(model)
    for name in ("w_in", "w_rec"):
        assert report[name]["n_distinct"] <= 3 and report[name]["is_ternary"]
    assert not report["w_out"]["quantized"]
    assert report["fan_in"]["max"] <= 12
    assert torch.all(torch.diag(model.w_rec) == 0)


def test_ternary_lsnn_as_a_dpi_network_spikes_as_the_lsnn_runner():
    """lsnn_to_network with current input is the LSNN runner's DPI network written as a
    description (adaptive and plain neurons as two populations): the same spikes per neuron."""
    from brian_models.lsnn import simulate_lsnn  # noqa: PLC0415 (Brian2 in this test only)
    from brian_models.network import SimulationSettings  # noqa: PLC0415
    from brian_models.simulate import simulate  # noqa: PLC0415
    from transfer.lsnn import describe_lsnn, lsnn_to_network  # noqa: PLC0415

    model = build_model(_config(H=12, F=4, K=4, input_gain=4.0, beta=30.0, tau_adapt_ms=300.0), seed=1)
    bake(model, Ternarizer(TernaryConfig(max_fan_in=8, delta_factor=1.0)))
    X = np.random.default_rng(0).random((3, 5, 4))
    ref = simulate_lsnn(describe_lsnn(model, "dpi"), X, batch_size=3)
    net = lsnn_to_network(model, input_coding="current")
    assert [p.name for p in net.populations] == ["adaptive", "plain"]
    assert net.population("adaptive").params.I_ahp_w > 0 == net.population("plain").params.I_ahp_w
    got = simulate(net, X, SimulationSettings(batch_size=3, random_phase=False), progress=False)
    beta = model.beta.numpy()
    order = np.concatenate([np.flatnonzero(beta > 0), np.flatnonzero(beta <= 0)])
    counts = np.concatenate([got.counts["adaptive"], got.counts["plain"]], axis=2)
    assert ref.counts.sum() > 20
    np.testing.assert_array_equal(counts, ref.counts[:, :, order])
    np.testing.assert_allclose(got.scores, ref.scores, rtol=1e-9, atol=1e-9)
    # spike input: one efficacy per synapse type into each core (what the chip can hold)
    spiking = lsnn_to_network(model, input_coding="rate")
    assert spiking.encoder.kind == "rate"
    for post in ("adaptive", "plain"):
        effs = {p.efficacy for p in spiking.projections if p.post == post and p.synapse == "AMPA"}
        assert len(effs) == 1 or np.allclose(list(effs), next(iter(effs)))
