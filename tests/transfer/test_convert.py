"""ANN-to-SNN conversion against its references: the ANN it came from, the measured f-I
curve, and the ternary matrices it splits.

A small ReLU RNN (64 hidden units) is trained on a digits slice and ternarized once per
session; Brian2 runs on the numpy target.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brian_models.calibrate import measure_fi_curve
from brian_models.network import SimulationSettings
from brian_models.parameters import neuron_params
from brian_models.simulate import simulate
from transfer.convert import (CONVERSION_PRESETS, ConversionError, ConversionSettings, calibrate,
                              convert, ternary_counts)
from transfer.models import ModelConfig, build_model
from transfer.quantize import Ternarizer, TernaryConfig, bake
from brian_models.description import INPUT, DescriptionError, replicate
from transfer.train import TrainConfig, fit, predict

SIM = SimulationSettings(batch_size=64)


def _train_ternary(config: ModelConfig, data):
    """``config``'s model trained on ``data``, then fine-tuned and baked ternary."""
    model = build_model(config, seed=0)
    fit(model, data, TrainConfig(epochs=25, lr=5e-3, batch_size=32, act_penalty=0.1), progress=False)
    tern = Ternarizer(TernaryConfig())
    fit(model, data, TrainConfig(epochs=8, lr=2e-3, batch_size=32), weights_fn=tern, progress=False)
    bake(model, tern)
    return model.eval()


@pytest.fixture(scope="module")
def ternary_rnn(digits_small):
    return _train_ternary(ModelConfig("rnn", 8, 64, 10), digits_small)


@pytest.fixture(scope="module")
def lif_run(ternary_rnn, digits_small):
    net = convert(ternary_rnn, digits_small.X_train[:300], ConversionSettings(neuron="lif"))
    X = digits_small.X_test[:96]
    return net, X, simulate(net, X, SIM, progress=False)


def test_split_and_shared_efficacies_equal_the_ternary_matrices(ternary_rnn, lif_run):
    net = lif_run[0]
    proj = {p.name: p for p in net.projections}
    for kind, w in (("in", ternary_rnn.w_in), ("rec", ternary_rnn.w_rec)):
        w = w.detach().numpy()
        a = np.abs(w[w != 0]).max()
        exc, inh = proj[f"{kind}_exc"], proj[f"{kind}_inh"]
        rebuilt = a * (np.asarray(exc.weights) - np.asarray(inh.weights))
        np.testing.assert_allclose(rebuilt, w, rtol=1e-6)
        assert not (np.asarray(exc.weights) * np.asarray(inh.weights)).any()  # never both
        # One efficacy per matrix and sign: current input has the same amperes per unit.
        assert exc.efficacy > 0 and inh.efficacy > 0
    assert proj["rec_exc"].efficacy == proj["rec_inh"].efficacy
    assert proj["rec_exc"].synapse == "AMPA" and proj["rec_inh"].synapse == "GABA_B"


def test_non_ternary_matrix_is_refused():
    with pytest.raises(ConversionError, match="not ternary"):
        ternary_counts(np.array([[0.5, -0.5], [0.2, 0.0]]), "w_rec")


def test_fi_fit_reproduces_the_target_rates():
    """The fitted line I0 + gain*h, fed to the neuron, fires at rate_scale*h (measured anew)."""
    p = neuron_params("lif", CONVERSION_PRESETS["lif"])
    tf = calibrate(p, rate_scale=800.0, h_max=1.0)
    h = np.array([0.2, 0.4, 0.6, 0.8, 1.0])
    rates = measure_fi_curve(p, tf.I0 + tf.gain * h, duration=0.5)
    # Within 6 % of the top rate: the linear fit of a curved f-I relation (rms_error says how much).
    np.testing.assert_allclose(rates, 800.0 * h, atol=0.06 * 800.0)
    assert tf.rms_error < 0.05


def test_spiking_rates_follow_ann_activations(ternary_rnn, lif_run):
    net, X, result = lif_run
    with torch.no_grad():
        _, states = ternary_rnn(torch.as_tensor(X, dtype=torch.float32), return_states=True)
    target = states.numpy() * net.readout.rate_scale * net.step_duration  # expected spikes per window
    counts = result.counts["hidden"]
    r = np.corrcoef(target.ravel(), counts.ravel())[0, 1]
    assert r > 0.9, f"spike counts correlate with ANN activations only at r={r:.3f}"


def test_converted_digits_rnn_agrees_with_its_ann(ternary_rnn, lif_run):
    _, X, result = lif_run
    ann = predict(ternary_rnn, X)
    assert np.mean(result.predictions == ann) >= 0.88


# Measured on this fixture (first 96 test samples): LIF 0.927, AdEx 0.927, DPI 0.854. The
# DPI falls short at low rates, near its rheobase (see test_dpi_feedforward_counts_match_targets).
@pytest.mark.parametrize(("neuron", "bound"), [("adex", 0.85), ("dpi", 0.75)])
def test_adex_and_dpi_convert(neuron, bound, ternary_rnn, digits_small):
    net = convert(ternary_rnn, digits_small.X_train[:300], ConversionSettings(neuron=neuron))
    X = digits_small.X_test[:64]
    result = simulate(net, X, SIM, progress=False)
    assert np.mean(result.predictions == predict(ternary_rnn, X)) >= bound


def test_dpi_feedforward_counts_match_targets(ternary_rnn, digits_small):
    """Without recurrence the calibrated DPI fires what the ANN asks for, window by window."""
    import copy  # noqa: PLC0415

    model = copy.deepcopy(ternary_rnn)
    with torch.no_grad():
        model.w_rec.zero_()
        X = digits_small.X_test[:32]
        _, states = model(torch.as_tensor(X, dtype=torch.float32), return_states=True)
    net = convert(model, digits_small.X_train[:300], ConversionSettings(neuron="dpi"))
    counts = simulate(net, X, SIM, progress=False).counts["hidden"]
    target = states.numpy() * net.readout.rate_scale * net.step_duration
    busy = target > 5  # rheobase: the fit is poorest below a few spikes per window
    ratio = counts[busy].sum() / target[busy].sum()
    assert 0.9 < ratio < 1.1
    assert np.corrcoef(target.ravel(), counts.ravel())[0, 1] > 0.95


def test_bad_settings_are_refused(ternary_rnn, digits_small):
    with pytest.raises(ConversionError, match="input coding"):
        ConversionSettings(input_coding="phase")
    with pytest.raises(ConversionError, match="reaches only"):
        convert(ternary_rnn, digits_small.X_train[:50],
                ConversionSettings(neuron="lif", max_rate=20000.0))
    lstm = build_model(ModelConfig("lstm", 8, 8, 10), seed=0)
    with pytest.raises(ConversionError, match="spiking_lstm"):
        convert(lstm, digits_small.X_train[:10])


def test_delay_free_rnn_converts_to_slow_synapses_without_delays(digits_small):
    """``syn_leak < 1``: every synapse is a slow filter, nothing is delayed, and the spiking
    network (spike input, as on DYNAP-SE) agrees with its ANN."""
    model = _train_ternary(ModelConfig("rnn", 8, 48, 10, syn_leak=0.5, substeps=4), digits_small)
    with pytest.raises(ConversionError, match="input_coding='rate'"):
        convert(model, digits_small.X_train[:300], ConversionSettings(neuron="lif"))
    settings = ConversionSettings(neuron="lif", input_coding="rate")
    net = convert(model, digits_small.X_train[:300], settings)
    tau = -settings.step_duration / np.log(1 - 0.5)
    assert {p.synapse for p in net.projections} == {"NMDA", "GABA_B"}
    assert all(p.delay == 0 for p in net.projections)
    assert net.populations[0].params.synapse.tau_nmda == pytest.approx(tau)
    assert net.readout.leak == 0.5
    X = digits_small.X_test[:64]
    result = simulate(net, X, SIM, progress=False)
    with torch.no_grad():
        _, states = model(torch.as_tensor(X, dtype=torch.float32), return_states=True)
    target = states.numpy() * net.readout.rate_scale * net.step_duration
    r = np.corrcoef(target.ravel(), result.counts["hidden"].ravel())[0, 1]
    agreement = np.mean(result.predictions == predict(model, X))
    print(f"delay-free RNN: r = {r:.3f}, agreement {agreement:.3f}")
    # Measured: r = 0.966, agreement 0.766 (0.906 for a model trained on all of digits).
    assert r > 0.9
    assert agreement >= 0.7


def test_replicated_network_runs_every_copy_as_the_original(ternary_rnn, digits_small):
    """``replicate``: k block-diagonal copies, no neuron gains an input, and without mismatch,
    noise or random phases each copy fires exactly as the original; the readout's mean over
    identical copies gives the original's scores."""
    net = convert(ternary_rnn, digits_small.X_train[:200], ConversionSettings(neuron="lif"))
    k, n = 3, net.population("hidden").size
    rep = replicate(net, k)
    assert rep.population("hidden").size == k * n and rep.metadata["copies"] == k
    for a, b in zip(net.projections, rep.projections):
        want = np.tile(a.weights, (k, 1)) if a.pre == INPUT else np.kron(np.eye(k, dtype=int), a.weights)
        np.testing.assert_array_equal(b.weights, want)
    fan_in = sum((p.weights > 0).sum(axis=1) for p in net.projections)
    assert np.array_equal(sum((p.weights > 0).sum(axis=1) for p in rep.projections), np.tile(fan_in, k))
    exact = SimulationSettings(batch_size=64, random_phase=False)
    X = digits_small.X_test[:8]
    one, many = simulate(net, X, exact), simulate(rep, X, exact)
    counts = many.counts["hidden"].reshape(len(X), -1, k, n)
    for c in range(k):
        np.testing.assert_array_equal(counts[:, :, c], one.counts["hidden"])
    np.testing.assert_allclose(many.scores, one.scores, rtol=1e-12, atol=1e-12)
    assert replicate(net, 1) is net
    with pytest.raises(DescriptionError, match="copies"):
        replicate(net, 0)
