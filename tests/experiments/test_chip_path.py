"""experiments.chip_path on a tiny digits slice: the record against the stages' own metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments.chip_path import main


def test_chip_path_record_matches_its_stages(tmp_path):
    args = ["--dataset", "digits", "--hidden", "8", "--epochs", "2", "--chips", "0", "1", "--limit-train", "150", "--limit-test", "12",
            "--calibrate-samples", "80", "--noise", "1e-12", "--runs", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "data"),
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
    # the mapped readout (no fleet) fitted on the input spikes of the calibration's sequences
    assert row["input_only"] == stages["baseline"]["accuracy"] and stages["baseline"]["source"].endswith("map")
    assert stages["baseline"]["fit"]["samples"] == 80 and stages["baseline"]["n_test"] == 12
    # the chips are noisy, the nominal chip (the CV 0 reference) is not
    assert row["noise"] == stages["emulate_cv0.2_chip1_calibrated"]["noise"] == 1e-12
    assert stages["calibrate_cv0.2_chip1"]["calibrated_for"]["noise"] == 1e-12 and stages["emulate"]["noise"] == 0

    # The sweep over CVs on Brian2 (its default is torch-fast) reuses the chip path's chips at
    # CV 0.2 and adds CV 0.1.
    from experiments.chip_sweep import main as sweep

    sweep_args = [str(tmp_path / "runs" / "digits_rnn"), "--cvs", "0.1", "0.2", "--chips", "0", "1",
                  "--calibrate-samples", "80", "--noise", "1e-12", "--data-dir", str(tmp_path / "data"), "--quiet",
                  "--backend", "brian2"]
    assert sweep(sweep_args) == 0
    rows = json.loads((tmp_path / "data" / "extra_chip_sweep_digits_rnn.json").read_text())["figures"]["rows"]
    assert [r["cv"] for r in rows] == [0.1, 0.2]
    assert rows[1]["emulated"] == row["emulated"] and rows[1]["calibrated"] == row["calibrated"]
    assert (tmp_path / "runs" / "digits_rnn" / "emulate_cv0.1_chip1_calibrated" / "metrics.json").exists()
    # --no-calibrate: the chips before calibration only, in a record of its own (named by --tag too)
    assert sweep(sweep_args[:2] + ["0.3"] + sweep_args[4:] + ["--no-calibrate", "--tag", "cv03"]) == 0
    plain = json.loads((tmp_path / "data" / "extra_chip_sweep_digits_rnn_uncalibrated_cv03.json").read_text())["figures"]
    chip1 = json.loads((tmp_path / "runs" / "digits_rnn" / "emulate_cv0.3_chip1" / "metrics.json").read_text())
    assert plain["rows"][0]["calibrated"] is None and "not calibrated" in plain["note"]
    assert plain["rows"][0]["emulated_per_chip"][1] == chip1["accuracy"]
    assert not (tmp_path / "runs" / "digits_rnn" / "calibrate_cv0.3_chip1").exists()
    # chips emulated with other noise are not reused as if they were these
    with pytest.raises(ValueError, match="ran with membrane noise 1e-12 A, not 0 A"):
        sweep(sweep_args[:7] + ["--calibrate-samples", "80", "--no-record", "--quiet", "--backend", "brian2"])
    # nor calibrations that played another number of sequences
    with pytest.raises(ValueError, match=r"calibrated with 80 plays \(readout transform linear, without a fleet "
                                         r"prior\), not 40"):
        main([("40" if a == "80" else a) for a in args] + ["--no-record"])


def test_chip_path_with_a_fleet_readout(tmp_path):
    """--fleet: the uncalibrated chips and chip CV 0 read the readout fitted on other chips (here
    on the square roots of the rates, --readout-transform sqrt, as the calibrated ones do)."""
    args = ["--dataset", "digits", "--hidden", "8", "--epochs", "2", "--chips", "0", "1", "--limit-train", "150",
            "--limit-test", "12", "--calibrate-samples", "60", "--fleet", "3", "--fleet-samples", "180",
            "--fleet-backend", "torch", "--runs", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "data"),
            "--quiet", "--readout-transform", "sqrt"]
    assert main(args) == 0
    row = json.loads((tmp_path / "data" / "chip_digits_rnn.json").read_text())["figures"]["rows"][0]
    stages = json.loads((tmp_path / "runs" / "digits_rnn" / "summary.json").read_text())["stages"]
    assert row["fleet"] == 3 and stages["fleet"]["calibrated_for"]["seeds"] == [1000, 1001, 1002]
    assert row["emulated_cv0"] == stages["fleet_emulate"]["accuracy"]
    assert row["mapped_cv0"] == stages["emulate"]["accuracy"]
    plain = [stages[f"fleet_emulate_cv0.2_chip{c}"] for c in (0, 1)]
    assert row["emulated"] == np.mean([m["accuracy"] for m in plain])
    assert all(m["fleet"] == 3 and m["calibrated"] is False for m in plain)
    assert stages["fleet"]["calibration"]["readout_transform"] == "sqrt"
    assert row["readout_transform"] == ["sqrt", "sqrt"] == row["calibrated_readout_transform"]
    assert "emulate_cv0.2_chip0" not in stages  # the mapped readout is not what the chips read
    # the baseline reads the input as the fleet's readout reads the chip, fitted on the fleet's sequences
    assert stages["baseline"]["source"].endswith("fleet") and stages["baseline"]["fit"]["samples"] == 150  # the whole training slice
    assert stages["baseline"]["readout_slices"] == stages["fleet_emulate"]["readout_slices"]
    from experiments.input_baseline import main as input_baseline

    assert input_baseline([str(tmp_path / "runs" / "digits_rnn"), "--data-dir", str(tmp_path / "data"), "--quiet"]) == 0
    base = json.loads((tmp_path / "data" / "extra_input_baseline.json").read_text())["figures"]["rows"][0]
    assert base["input_only"] == row["input_only"] and base["emulated"] == row["emulated"]
    assert base["readout_of"] == "fleet" and base["train_sequences"] == stages["baseline"]["fit"]["samples"]
    # refitted on the fleet's saved plays, the fleet's own form scores what the fleet's
    # cross-validation chose it by (the probe reads the chips back from the fleet's seed)
    from experiments.readout_probe import main as probe

    assert probe([str(tmp_path / "runs" / "digits_rnn"), "--hidden", "8", "--data-dir", str(tmp_path / "data")]) == 0
    probed = json.loads((tmp_path / "data" / "extra_readout_probe_digits_rnn.json").read_text())["figures"]["rows"]
    own = [r for r in probed if r["readout"].endswith("(the fleet's form)")]
    # the linear forms also read the input spikes alone, with the fleet's steps
    alone = [r for r in probed if r["reads"] == "input"]
    assert [r["readout"] for r in alone] == ["8 steps one by one, linear", "last 2 steps one by one",
                                             "last 3 steps one by one"]
    assert alone[0]["cv_score"] > 0.5  # the whole 8 x 8 digit, read linearly (chance: 0.1)
    assert len(own) == 1 and own[0]["readout"].split(",")[1].strip().startswith("sqrt")
    chosen = stages["fleet"]["calibration"]
    assert own[0]["cv_score"] >= chosen["cv_score"] - 1e-12
    if own[0]["regularisation"] == chosen["regularisation"]:
        assert own[0]["cv_score"] == pytest.approx(chosen["cv_score"], abs=1e-12)
    # calibration to each chip pools the fleet's plays
    assert stages["fleet_calibrate_cv0.2_chip1"]["calibrated_for"]["prior"].endswith("fleet")
    assert stages["fleet_emulate_cv0.2_chip1_calibrated"]["calibrated"] is True
    # a second call reuses the fleet (here without calibrating the chips); another fleet size in
    # the same directory is refused
    assert main(args + ["--no-calibrate"]) == 0
    again = json.loads((tmp_path / "data" / "chip_digits_rnn.json").read_text())["figures"]["rows"][0]
    assert again["emulated"] == row["emulated"] and again["calibrated"] is None
    with pytest.raises(ValueError, match="fitted its readout on 3 chips"):
        main(args[:16] + ["2"] + args[17:])
    with pytest.raises(ValueError, match=r"\(readout transform sqrt\), not 3 at CV 0.2 with 180 \(linear\)"):
        main(args[:-1] + ["linear"])

    # calibration budgets: named by their plays beside the chip path's own calibration, which the
    # budget of the same plays repeats; the uncalibrated chip is the chip path's
    from experiments.calibration_budget import main as budget

    assert budget([str(tmp_path / "runs" / "digits_rnn"), "--samples", "20", "60", "--chips", "1", "--backend",
                   "brian2", "--data-dir", str(tmp_path / "data"), "--quiet"]) == 0
    spent = json.loads((tmp_path / "data" / "extra_calibration_budget_digits_rnn.json").read_text())["figures"]["rows"]
    assert [r["samples"] for r in spent] == [0, 20, 60]
    assert spent[0]["per_chip"] == [stages["fleet_emulate_cv0.2_chip1"]["accuracy"]]
    assert spent[2]["per_chip"] == [stages["fleet_emulate_cv0.2_chip1_calibrated"]["accuracy"]]
    assert spent[1]["chip_seconds"] == pytest.approx(spent[2]["chip_seconds"] / 3)
    assert (tmp_path / "runs" / "digits_rnn" / "fleet_calibrate_cv0.2_chip1_n20" / "metrics.json").exists()

    from experiments.chip_sweep import main as sweep

    assert sweep([str(tmp_path / "runs" / "digits_rnn"), "--cvs", "0.2", "--chips", "0", "1",
                  "--calibrate-samples", "60", "--data-dir", str(tmp_path / "data"), "--quiet",
                  "--backend", "brian2"]) == 0
    rows = json.loads((tmp_path / "data" / "extra_chip_sweep_digits_rnn.json").read_text())["figures"]["rows"]
    assert rows[0]["emulated"] == row["emulated"] and rows[0]["calibrated"] == row["calibrated"]

    # Training through the chip model against the rate-level route, from the same run: its
    # baseline is the fleet readout on the same chips, scored by the torch chip model.
    from experiments.chip_training_compare import main as compare

    assert compare([str(tmp_path / "runs" / "digits_rnn"), "--epochs", "1", "--train-cvs", "0.2", "--chips", "0", "1",
                    "--data-dir", str(tmp_path / "data"), "--quiet"]) == 0
    rows = json.loads((tmp_path / "data" / "extra_chip_training_digits_rnn.json").read_text())["figures"]["rows"]
    assert [r["train_cv"] for r in rows] == [None, 0.2] and rows[1]["epochs"] == 1
    # float32 torch against Brian2 on 12 test sequences (the square-root readout in each): at
    # most one prediction apart per chip
    assert abs(rows[0]["chips"] - 100 * row["emulated"]) <= 100 / 12 + 0.01
    assert abs(rows[0]["nominal"] - 100 * row["emulated_cv0"]) <= 100 / 12 + 0.01


def test_results_render_the_chip_records(tmp_path):
    from experiments.make_results import render
    from experiments.records import save_record

    row = {"dataset": "digits", "model": "rnn", "hidden": 64, "n_test": 359, "float": 0.9, "ternary": 0.95,
           "spiking_dpi": 0.84, "emulated_cv0": 0.84, "cv": 0.2, "chips": [0, 1, 2], "emulated": 0.58,
           "emulated_sd": 0.096, "calibrated": 0.911, "calibrated_sd": 0.0056, "spikes": 3149.4,
           "energy_uJ": 86.15}
    save_record("chip_digits_rnn", {"rows": [row], "note": "n."}, "python -m experiments.chip_path", tmp_path)
    text = render({"chip_digits_rnn": json.loads((tmp_path / "chip_digits_rnn.json").read_text())})
    assert "## The chip path" in text and "91.10 ± 0.56" in text and "58.00 ± 9.60" in text


def test_results_compare_ecg5000_with_he2019_per_stage(tmp_path):
    """The ECG5000 rows get their own table: 5-class / normal-vs-abnormal balanced accuracy per
    stage, the chip columns averaged over the chips."""
    from experiments.make_results import render
    from experiments.records import save_record

    second = {"train": 0.95, "quantize": 0.96, "simulate_hw": 0.97, "emulate": 0.97,
              "emulate_cv0.2_chip0": 0.96, "emulate_cv0.2_chip1": 0.94,
              "emulate_cv0.2_chip0_calibrated": 0.98, "emulate_cv0.2_chip1_calibrated": 0.96}
    row = {"dataset": "ecg5000", "model": "esn", "hidden": 128, "n_test": 4500, "float": 0.85, "ternary": 0.854,
           "spiking_dpi": 0.89, "emulated_cv0": 0.89, "cv": 0.2, "chips": [0, 1], "emulated": 0.885,
           "emulated_sd": 0.0, "calibrated": 0.886, "calibrated_sd": 0.001, "spikes": 45000.0, "energy_uJ": 900.0,
           "normal_vs_abnormal_balanced_accuracy": second}
    save_record("chip_ecg5000_esn", {"rows": [row], "note": "n."}, "python -m experiments.chip_path", tmp_path)
    text = render({"chip_ecg5000_esn": json.loads((tmp_path / "chip_ecg5000_esn.json").read_text())})
    he = text[text.index("He et al. 2019"):]
    assert "85.00 / 95.00" in he and "88.50 / 95.00" in he and "88.60 / 97.00" in he


def test_seed_screen_selects_the_seed_whose_fleet_scores_best_on_unseen_chips(tmp_path):
    from experiments.seed_screen import main as screen

    args = ["--dataset", "digits", "--model", "rnn", "--seeds", "0", "1", "--copies", "1", "--hidden", "8",
            "--epochs", "2", "--limit-train", "150", "--limit-test", "12", "--fleet", "2", "--fleet-samples", "60",
            "--fleet-backend", "torch", "--noise", "0", "--runs", str(tmp_path / "runs"),
            "--data-dir", str(tmp_path / "data"), "--quiet"]
    assert screen(args) == 0
    rows = json.loads((tmp_path / "data" / "extra_seed_screen_digits_rnn.json").read_text())["figures"]["rows"]
    assert [r["seed"] for r in rows] == [0, 1] and sum(r["selected"] for r in rows) == 1
    chosen = max(rows, key=lambda r: r["fleet_cv_score"])
    assert chosen["selected"]
    for r in rows:  # each score is its own fleet's, fitted on chips other than the scored ones
        fleet = json.loads((tmp_path / "runs" / f"digits_rnn_c1_fleet_seed{r['seed']}" / "fleet" / "metrics.json").read_text())
        assert fleet["calibration"]["cv_score"] == r["fleet_cv_score"]
        assert min(fleet["calibrated_for"]["seeds"]) >= 1000
