"""Spiking LSTM: gate rates against the hard sigmoid, the cell's hold and decay, a converted
digits LSTM against its ANN, and clear refusals of bad configurations.

Hand-made LSTMs with one hidden unit, one input and no recurrence give the gate values in
closed form: with ``w_in = 6`` every gate's pre-activation is ``z = 6 x + b``, so
``hsig(z) = clip(x + b/6 + 1/2, 0, 1)``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from brian_models.network import SimulationSettings
from brian_models.simulate import simulate
from brian_models.spiking_lstm import run_spiking_lstm
from transfer.convert import ConversionError
from transfer.models import ModelConfig, build_model
from transfer.quantize import TernaryConfig, Ternarizer, bake
from transfer.spiking_lstm import SpikingLSTMSettings, convert_lstm, lstm_macs
from transfer.train import TrainConfig, fit, predict

X_RAMP = np.linspace(0, 1, 6)[None, :, None]  # one sample, 6 steps, x = 0, 0.2, ..., 1


def hsig(z):
    return np.clip(z / 6 + 0.5, 0, 1)


def handmade(bias_ifgo, H: int = 1):
    """One-input LSTM with ``w_in = 6``, no recurrence and biases (i, f, g, o)."""
    model = build_model(ModelConfig("lstm", 1, H, 2), seed=0)
    with torch.no_grad():
        model.w_in.fill_(6.0)
        model.w_rec.zero_()
        model.b.copy_(torch.tensor(np.repeat(bias_ifgo, H), dtype=torch.float32))
        model.w_out.copy_(torch.tensor([[1.0] * H, [-1.0] * H]))
        model.b_out.zero_()
    return model


@pytest.fixture(scope="module")
def ramp_net():
    """Biases i -3, f +3, g -3, o 0: i = x, f = 1 (saturated), g = clip(6x - 3), o = clip(x + 1/2)."""
    model = handmade([-3.0, 3.0, -3.0, 0.0])
    return model, convert_lstm(model, X_RAMP, SpikingLSTMSettings(gating="exact"))


def test_spiking_gates_follow_the_hard_sigmoid(ramp_net):
    model, net = ramp_net
    run = run_spiking_lstm(net, X_RAMP, record_cell=True)
    N = net.spikes_per_unit  # 20 spikes stand for a gate value of 1
    counts = run.counts_gates[0, :6].reshape(6, 5, 1)[:, :, 0]  # windows x (i, f, o, g_on, g_off)
    x = X_RAMP[0, :, 0]
    expected = {"i": hsig(6 * x - 3), "f": hsig(6 * x + 3), "o": hsig(6 * x)}
    for p, name in enumerate(("i", "f", "o")):
        measured = np.minimum(counts[:, p], N) / N
        assert np.max(np.abs(measured - expected[name])) <= 2 / N + 1e-9, (name, measured, expected[name])
        assert np.mean(np.abs(measured - expected[name])) <= 0.05, name
    g = (np.minimum(counts[:, 3], N) - np.minimum(counts[:, 4], N)) / N
    g_ann = np.clip(6 * x - 3, -1, 1)
    assert np.max(np.abs(g - g_ann)) <= 2 / N + 1e-9  # within two spikes per window
    # ON and OFF never fire together (the candidate's sign picks one population)
    assert np.all(np.minimum(counts[:, 3], counts[:, 4]) == 0)
    # The cell after window t is the ANN's c_t (c_t = f c_{t-1} + i g, no recurrence here)
    c_ann, c = [], 0.0
    for t in range(6):
        c = hsig(6 * x[t] + 3) * c + hsig(6 * x[t] - 3) * g_ann[t]
        c_ann.append(c)
    assert np.max(np.abs(run.cell[0, :6, 0] - np.array(c_ann))) <= 0.1


@pytest.mark.parametrize("gating,c0", [("exact", 0.6), ("shunting", 0.6), ("exact", -0.05)])
def test_cell_holds_its_value_for_420_ms_without_input(ramp_net, gating, c0):
    _, net = ramp_net
    # f saturated (z = 6), i closed (z = -6), g silent (z = 0), o open: c must stay
    net = replace(net, bias=np.array([-6.0, 6.0, 0.0, 6.0]),
                  gating=gating)
    X = np.zeros((1, 20, 1))  # 20 steps + the extra window: 21 x 20 ms = 420 ms
    run = run_spiking_lstm(net, X, cell_init=np.array([c0]), record_cell=True)
    assert np.max(np.abs(run.cell[0, :, 0] - c0)) < 1e-9
    # and the output pair keeps reporting h = o * c = c0 (one spike = 0.05 per window);
    # small values too: the pair is driven through the inverse f-I curve, no dead zone
    h = (run.counts_h[0, :, 0] - run.counts_h[0, :, 1]) / (net.rate_scale_h * net.step_duration)
    assert h[-1] == pytest.approx(c0, abs=0.1)
    assert np.mean(h) == pytest.approx(c0, abs=0.02)


@pytest.mark.parametrize("gating", ["exact", "shunting"])
def test_forget_gate_scales_the_cell_per_window(ramp_net, gating):
    _, net = ramp_net
    # f = hsig(1.5) = 0.75, i closed: exact gives c_t = 0.6 * 0.75^t; the shunt gives
    # c_t = 0.6 * exp(-kappa (1 - f))^t (each of the 5 not_f spikes multiplies by exp(-kappa/N))
    net = replace(net, bias=np.array([-6.0, 1.5, 0.0, 6.0]), gating=gating)
    run = run_spiking_lstm(net, np.zeros((1, 4, 1)), cell_init=np.array([0.6]), record_cell=True)
    factor = 0.75 if gating == "exact" else np.exp(-net.kappa_forget * 0.25)
    expected = 0.6 * factor ** np.arange(1, 5)
    assert np.max(np.abs(run.cell[0, :, 0] - expected)) < 0.05


def test_bad_configurations_raise_clear_errors(ramp_net):
    model, _ = ramp_net
    X = X_RAMP
    with pytest.raises(ConversionError, match="LSTMClassifier"):
        convert_lstm(build_model(ModelConfig("rnn", 1, 2, 2)), X)
    floaty = build_model(ModelConfig("lstm", 1, 2, 2), seed=0)  # untrained float weights
    with pytest.raises(ConversionError, match="not ternary"):
        convert_lstm(floaty, X)
    leaky = build_model(ModelConfig("lstm", 1, 1, 2, syn_leak=0.5), seed=0)
    leaky.load_state_dict(model.state_dict())
    with pytest.raises(ConversionError, match="syn_leak"):
        convert_lstm(leaky, X)
    with pytest.raises(ConversionError, match="gating"):
        SpikingLSTMSettings(gating="magic")
    with pytest.raises(ConversionError, match="lif"):
        SpikingLSTMSettings(neuron="dpi")
    with pytest.raises(ConversionError, match=r"shape \(N>0, T, 1\)"):
        convert_lstm(model, np.zeros((4, 3, 2)))
    with pytest.raises(ValueError, match=r"scaled to \[0, 1\]"):
        simulate(ramp_net[1], X * 3, progress=False)


def test_lstm_macs_count_gates_products_and_readout():
    # T=8, F=8, H=16, C=10: 8 * (4*16*(8+16) + 3*16) + 10*16
    assert lstm_macs(8, 16, 10, 8) == 8 * (4 * 16 * 24 + 48) + 160


@pytest.mark.slow
def test_converted_digits_lstm_agrees_with_its_ann(digits_small):
    data = digits_small
    torch.manual_seed(0)
    model = build_model(ModelConfig("lstm", data.n_features, 16, data.n_classes), seed=0)
    fit(model, data, TrainConfig(epochs=15, seed=0, lr=5e-3, batch_size=32), progress=False)
    tern = Ternarizer(TernaryConfig(max_fan_in=None))
    fit(model, data, TrainConfig(epochs=6, seed=0, lr=2e-3, batch_size=32), weights_fn=tern, progress=False)
    bake(model, tern)
    X = data.X_test[:40]
    ann = predict(model, X)
    net = convert_lstm(model, data.X_train[:200], SpikingLSTMSettings(gating="exact"))
    result = simulate(net, X, SimulationSettings(batch_size=40), progress=False)
    agreement = float(np.mean(result.predictions == ann))
    assert agreement >= 0.85, agreement
    assert result.spikes_per_inference > 0
