"""experiments.emulation_fidelity on a tiny digits reservoir: with its parameters snapped to
the bias codes, the emulated board repeats the direct simulation, with and without mismatch."""

from __future__ import annotations

import json

from experiments.cli import main as cli
from experiments.emulation_fidelity import main


def test_snapped_reservoir_emulates_exactly_and_is_recorded(tmp_path):
    quiet = ["--quiet"]
    assert cli(["train", "--model", "esn", "--dataset", "digits", "--hidden", "24", "--shared-bias",
                "--limit-train", "200", "--limit-test", "12", "--out", str(tmp_path / "train")] + quiet) == 0
    assert cli(["quantize", str(tmp_path / "train"), "--out", str(tmp_path / "quant")] + quiet) == 0
    args = ["--run-dirs", str(tmp_path / "quant"), "--cvs", "0", "0.2", "--seed", "1",
            "--out", str(tmp_path / "fid"), "--data-dir", str(tmp_path / "data"), "--quiet"]
    assert main(args) == 0
    rows = json.loads((tmp_path / "data" / "extra_emulation_fidelity.json").read_text())["figures"]["rows"]
    assert [r["cv"] for r in rows] == [0.0, 0.2]
    for r in rows:
        assert r["n_test"] == 12 and r["same_predictions"] == 1.0
        assert r["simulated"] == r["emulated"] and r["simulated_spikes"] == r["emulated_spikes"] > 0
    # Mismatch changes what the network does (else the second row would prove nothing).
    assert rows[0]["simulated_spikes"] != rows[1]["simulated_spikes"]
    assert main(args) == 0  # every stage is reused
    # A chip the readout was not fitted on reads it as mapped: emulate refits nothing (a readout
    # fitted on the emulated chip's own responses is a calibration, made by calibrate).
    nominal = tmp_path / "fid" / f"{tmp_path.name}_cv0_seed1"
    assert cli(["emulate", str(nominal / "map"), "--mismatch", "0.2", "--seed", "4",
                "--out", str(tmp_path / "chip4")] + quiet) == 0
    mapped = json.loads((nominal / "map" / "hardware.json").read_text())["readout"]
    emulated = json.loads((tmp_path / "chip4" / "network.json").read_text())["readout"]
    assert emulated["weights"] == mapped["weights"] and emulated["bias"] == mapped["bias"]
    assert json.loads((tmp_path / "chip4" / "metrics.json").read_text())["calibrated"] is False
