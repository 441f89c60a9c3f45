"""experiments.backend_agreement on a tiny chip path run: Brian2 and the torch chip model agree."""

from __future__ import annotations

import json

from experiments.backend_agreement import main as agreement
from experiments.chip_path import main as chip_path


def test_torch_emulation_repeats_brian2_on_nominal_and_mismatched_chips(tmp_path):
    runs, data = tmp_path / "runs", tmp_path / "data"
    assert chip_path(["--dataset", "digits", "--hidden", "8", "--epochs", "2", "--chips", "1", "--limit-train", "150",
                      "--limit-test", "12", "--calibrate-samples", "40", "--runs", str(runs), "--no-record",
                      "--quiet"]) == 0
    assert agreement([str(runs / "digits_rnn"), "--chips", "1", "--data-dir", str(data), "--quiet"]) == 0
    rows = json.loads((data / "extra_backend_agreement_digits_rnn.json").read_text())["figures"]["rows"]
    assert [(r["chip"], r["cv"]) for r in rows] == [("nominal", 0.0), ("1", 0.2)]
    for r in rows:
        assert r["n_test"] == 12 and r["same_prediction"] == 1.0
        assert r["brian2"] == r["torch"] and r["brian2_spikes"] == r["torch_spikes"] > 0
