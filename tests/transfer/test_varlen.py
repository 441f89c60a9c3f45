"""Variable-length sequences: the length-aware readouts of every model against running each
sequence alone, truncated to its length; the spiking readout cut at each sample's end
against simulating each length for its own duration; the dataset's lengths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brian_models.network import SimulationSettings
from transfer.chip_model import simulate_torch
from transfer.convert import ConversionSettings, convert
from transfer.datasets import DatasetError, load_dataset, valid_steps
from transfer.models import ModelConfig, build_model
from transfer.quantize import TernaryConfig, Ternarizer, bake
from transfer.train import predict

B, T, F = 7, 9, 3
LENGTHS = np.array([1, 3, 9, 5, 2, 9, 7])
MODELS = [("rnn", {}), ("rnn", {"syn_leak": 0.5, "substeps": 3}), ("lstm", {}), ("esn", {}),
          ("lsnn", {"extra": {"readout": "last"}}), ("lsnn", {"extra": {"readout": "mean"}})]


def _model(kind, extra):
    m = build_model(ModelConfig(kind=kind, n_inputs=F, n_hidden=16, n_classes=4, **extra), seed=1)
    if kind == "esn":
        torch.nn.init.normal_(m.w_out)
    return m.eval()


@pytest.mark.parametrize("kind,extra", MODELS, ids=lambda v: str(v))
def test_padded_batch_equals_each_sequence_alone_truncated(kind, extra):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(B, T, F, generator=gen)
    padded = x.clone()
    for i, L in enumerate(LENGTHS):
        padded[i, L:] = 5 * torch.rand(T - L, F, generator=gen)  # padding no model may read
    m = _model(kind, extra)
    with torch.no_grad():
        out = m(padded, lengths=LENGTHS)
        alone = torch.cat([m(x[i:i + 1, :L]) for i, L in enumerate(LENGTHS)])
    torch.testing.assert_close(out, alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind,extra", MODELS, ids=lambda v: str(v))
def test_full_lengths_are_bit_identical_to_none(kind, extra):
    x = torch.rand(B, T, F, generator=torch.Generator().manual_seed(1))
    m = _model(kind, extra)
    with torch.no_grad():
        assert torch.equal(m(x), m(x, lengths=np.full(B, T)))


def test_esn_readout_fit_reads_each_sequence_over_its_own_steps():
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.uniform(size=(40, T, F)), dtype=torch.float32)
    lengths = rng.integers(1, T + 1, 40)
    y = torch.as_tensor(rng.integers(0, 4, 40))
    m = _model("esn", {})
    m.fit_readout(x, y, lengths=lengths)
    feats = torch.cat([m.states(x[i:i + 1, :L]).mean(1) for i, L in enumerate(lengths)])
    from transfer.models import ridge_readout
    w, b = ridge_readout(feats.numpy(), y.numpy(), 4, m.config.ridge)
    np.testing.assert_allclose(m.w_out.detach().numpy(), w, rtol=1e-3, atol=1e-4)


def test_spiking_readout_cut_at_each_end_equals_running_each_length_for_its_own_duration():
    """A converted ternary RNN in the torch chip model (current input, no random phase: a
    deterministic run): the padded batch cut at each sample's end gives the counts and scores
    of running the samples of each length alone for that many windows."""
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(12, 6, F))
    lengths = rng.integers(1, 7, 12)
    model = build_model(ModelConfig(kind="rnn", n_inputs=F, n_hidden=10, n_classes=3), seed=0)
    bake(model, Ternarizer(TernaryConfig()))
    net = convert(model, X.astype(np.float32), ConversionSettings(neuron="lif", input_coding="current"))
    sim = SimulationSettings(random_phase=False)
    cut = simulate_torch(net, X, sim, lengths=lengths)
    assert (cut.counts["hidden"][~valid_steps(lengths, 6)] == 0).all()
    for L in np.unique(lengths):
        rows = lengths == L
        alone = simulate_torch(net, X[rows, :L], sim)
        np.testing.assert_array_equal(cut.counts["hidden"][rows, :L], alone.counts["hidden"])
        np.testing.assert_allclose(cut.scores[rows], alone.scores)
    # the converted network follows its ANN read at the same ends
    ann = predict(model, X.astype(np.float32), lengths=lengths)
    assert np.mean(ann == cut.predictions) >= 0.75


def _save(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_nan_padding_gives_lengths_and_zero_padding(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(50, 8, 2)).astype(np.float32)
    lengths = rng.integers(1, 9, 50)
    for i, L in enumerate(lengths):
        X[i, L:] = np.nan
    data = load_dataset(_save(tmp_path / "nan.npz", X_train=X, y_train=np.arange(50) % 2))
    assert data.variable_length
    all_lengths = np.concatenate([data.len_train, data.len_val, data.len_test])
    assert sorted(all_lengths.tolist()) == sorted(lengths.tolist())
    for split in ("train", "val", "test"):
        Xs, Ls = getattr(data, f"X_{split}"), getattr(data, f"len_{split}")
        assert not np.isnan(Xs).any() and (Xs[~valid_steps(Ls, 8)] == 0).all()
    # the same lengths given as len_train with zero padding load the same dataset
    explicit = load_dataset(_save(tmp_path / "len.npz", X_train=np.nan_to_num(X), y_train=np.arange(50) % 2,
                                  len_train=lengths))
    np.testing.assert_array_equal(explicit.X_test, data.X_test)
    np.testing.assert_array_equal(explicit.len_test, data.len_test)
    # subset and to_npz keep the lengths
    sub = data.subset(limit_train=10, limit_test=5)
    assert sub.len_train.shape == (10,) and sub.len_test.shape == (5,)
    back = load_dataset(data.to_npz(tmp_path / "back.npz"))
    np.testing.assert_array_equal(back.len_val, data.len_val)


def test_lengths_all_equal_to_T_are_no_lengths(tmp_path):
    X = np.random.default_rng(0).uniform(size=(30, 4, 2)).astype(np.float32)
    y = np.arange(30) % 2
    plain = load_dataset(_save(tmp_path / "plain.npz", X_train=X, y_train=y))
    full = load_dataset(_save(tmp_path / "full.npz", X_train=X, y_train=y, len_train=np.full(30, 4)))
    assert not full.variable_length and full.len_train is None
    np.testing.assert_array_equal(full.X_train, plain.X_train)


@pytest.mark.parametrize("lengths,message", [
    (np.full(20, 0), "length 0 in len_train"),
    (np.full(20, 5), "length 5 in len_train"),
    (np.full(19, 2), "len_train of shape (19,)"),
    (np.full(20, 2.5), "len_train of dtype float64"),
    (np.full((20, 1), 2), "len_train of shape (20, 1)"),
])
def test_bad_lengths_name_the_file_and_the_key(tmp_path, lengths, message):
    path = _save(tmp_path / "bad.npz", X_train=np.zeros((20, 4, 2)), y_train=np.arange(20) % 2,
                 len_train=lengths)
    with pytest.raises(DatasetError, match="bad.npz") as err:
        load_dataset(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_nan_inside_a_sequence_is_refused(tmp_path):
    X = np.zeros((20, 4, 2))
    X[3, 1, 0] = np.nan
    with pytest.raises(DatasetError, match=r"NaN in X_train at sequence 3, step 1"):
        load_dataset(_save(tmp_path / "hole.npz", X_train=X, y_train=np.arange(20) % 2))
