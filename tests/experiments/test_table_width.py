"""The width table: its rows are the stages' own metrics, and a second call reuses the runs."""

from __future__ import annotations

import pytest

from experiments.records import load_record
from experiments.table_width import main
from transfer.files import read_json


def test_width_record_holds_the_measured_float_and_ternary_accuracies(tmp_path, capsys):
    argv = ["--dataset", "digits", "--hidden", "8", "--epochs", "1", "--limit-train", "100",
            "--runs", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "data"), "--quiet"]
    assert main(argv) == 0
    run = tmp_path / "runs" / "digits_rnn_h8"
    tr, q = read_json(run / "train" / "metrics.json"), read_json(run / "quantize" / "metrics.json")
    (row,) = load_record("extra_quant_width_digits", tmp_path / "data")["figures"]["rows"]
    assert row["hidden"] == 8 and row["candidate inputs"] == 8 + 8  # digits rows have 8 pixels
    assert row["fan-in cap"] == 64 and row["max fan-in"] <= 16
    assert row["float %"] == pytest.approx(100 * tr["accuracy"], abs=0.006)
    assert row["ternary QAT, cap %"] == pytest.approx(100 * q["accuracy"], abs=0.006)
    assert row["ternary QAT, no cap %"] == pytest.approx(100 * q["qat_uncapped_accuracy"], abs=0.006)
    assert row["gap, cap (points)"] == pytest.approx(100 * (tr["accuracy"] - q["accuracy"]), abs=0.006)

    weights = run / "train" / "model.pt"
    stamp = weights.stat().st_mtime_ns
    capsys.readouterr()
    assert main(argv) == 0
    assert "/train] reusing finished run" in capsys.readouterr().out
    assert weights.stat().st_mtime_ns == stamp


def test_width_refuses_a_zero_width():
    with pytest.raises(SystemExit):
        main(["--hidden", "0"])


def test_width_under_a_training_cap_and_another_seed_gets_its_own_runs_and_record(tmp_path):
    argv = ["--dataset", "digits", "--hidden", "8", "--epochs", "2", "--limit-train", "100",
            "--train-fan-in", "10", "--seed", "1",
            "--runs", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "data"), "--quiet"]
    assert main(argv) == 0
    tr = read_json(tmp_path / "runs" / "digits_rnn_h8_fan10_seed1" / "train" / "metrics.json")
    record = load_record("extra_quant_width_digits_fan10_seed1", tmp_path / "data")["figures"]
    assert record["title"] == "Ternary cost vs RNN width (digits, float trained at fan-in 10, seed 1)"
    (row,) = record["rows"]
    assert tr["seed"] == 1 and row["float fan-in"] == tr["max_fan_in"] <= 10
