"""experiments.chip_path on a tiny digits slice: the record against the stages' own metrics."""

from __future__ import annotations

import json

import numpy as np

from experiments.chip_path import main


def test_chip_path_record_matches_its_stages(tmp_path):
    args = ["--dataset", "digits", "--hidden", "8", "--epochs", "2", "--chips", "0", "1", "--limit-train", "150", "--limit-test", "12",
            "--calibrate-samples", "80", "--runs", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "data"),
            "--quiet"]
    assert main(args) == 0
    row = json.loads((tmp_path / "data" / "chip_digits_rnn.json").read_text())["figures"]["rows"][0]
    stages = json.loads((tmp_path / "runs" / "digits_rnn" / "summary.json").read_text())["stages"]
    assert row["chips"] == [0, 1] and row["n_test"] == 12
    emulated = [stages[f"emulate_cv0.2_chip{c}"]["accuracy"] for c in (0, 1)]
    calibrated = [stages[f"emulate_cv0.2_chip{c}_calibrated"]["accuracy"] for c in (0, 1)]
    assert row["emulated"] == np.mean(emulated) and row["calibrated"] == np.mean(calibrated)
    assert row["calibrated_sd"] == np.std(calibrated, ddof=1)
    assert row["emulated_cv0"] == stages["emulate"]["accuracy"] and stages["train"]["chip"] == "dynapse1"
