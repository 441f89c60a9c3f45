"""The main job (`make run`) end to end on a tiny real digits slice, and its resume."""

from __future__ import annotations

import json

from experiments.cli import main


def test_run_prints_one_table_and_resumes(tmp_path, capsys):
    args = ["run", "--dataset", "digits", "--hidden", "16", "--epochs", "2", "--limit-train", "150",
            "--limit-test", "30", "--fleet", "3", "--out", str(tmp_path / "run"), "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    stages = [r["stage"] for r in summary["rows"]]
    assert "DYNAP-SE emulated" in stages and "spiking LIF (Brian2)" in stages
    assert "DYNAP-SE emulated" in out and "rnn2dynapse run: digits, 30 test samples" in out
    emulated = summary["legs"]["esn_hw"]["stages"]["emulate"]
    assert emulated["n_test"] == 30 and emulated["energy_joules_per_inference"] > 0
    # The hardware leg simulates the chip-snapped reservoir: the board's emulation repeats it.
    assert summary["legs"]["esn_hw"]["stages"]["simulate_hw"]["snapped_to_chip"] == "dynapse1"
    assert emulated["agreement_with_simulation"] == 1.0
    assert summary["legs"]["esn_hw"]["stages"]["map"]["cores_used"] >= 1
    # The chip leg: the RNN trained for the chip, on three chips at CV 0.2, before and after
    # calibration; summary.json keeps each emulation's metrics.
    chip = summary["legs"]["rnn_chip"]["stages"]
    assert chip["train"]["chip"] == "dynapse1" and chip["simulate_hw"]["snapped_to_chip"] == "dynapse1"
    assert chip["quantize"]["mismatch_aware_cv"] == 0.2
    # the RNN leg reads a readout fitted on 3 other chips, and calibrates with their plays
    rnn_runs = [r for r in summary["chip_runs"] if r["model"] == "rnn"]
    assert all(r["fleet"] == 3 for r in rnn_runs if not r["calibrated"])
    assert all(r["calibrated_for"]["prior"] for r in rnn_runs if r["calibrated"])
    # The memory leg: the LSNN on recall through the same chip path, its own rows.
    for model, dataset in (("rnn", "digits"), ("lsnn", "recall")):
        runs = [r for r in summary["chip_runs"] if r["model"] == model]
        assert len(runs) == 6 and {r["mismatch_seed"] for r in runs} == {0, 1, 2}
        assert sorted(r["calibrated"] for r in runs) == [False] * 3 + [True] * 3
        for r in runs:
            assert r["stage"] == "emulate" and r["mismatch"] == 0.2 and r["noise"] == 1e-11
            assert r["dataset"] == dataset and 0 <= r["accuracy"] <= 1 and r["energy_joules_per_inference"] > 0
    assert len(summary["chip_runs"]) == 12
    memory = summary["legs"]["lsnn_memory"]["stages"]
    assert memory["train"]["chip"] == "dynapse1" and memory["map"]["cores_used"] == 2
    assert "chip CV 0.2, 3 chips, calibrated" in out and "LSNN recall" in out
    # A second call reuses every finished stage instead of recomputing it (the legs ran in two
    # processes; this call runs them one after another in this one, where capsys sees them).
    assert main(args + ["--jobs", "1"]) == 0
    assert capsys.readouterr().out.count("reusing finished run") == sum(
        len(leg["stages"]) for leg in summary["legs"].values())


def test_lstm_chain_simulates_each_gating_into_its_own_stage_and_table_columns(tmp_path):
    from experiments.main_job import run_chain
    from experiments.table_accuracy import chain_row

    summary = run_chain("digits", tmp_path / "lstm", model="lstm", hidden=8, epochs=2, limit_train=150,
                        limit_test=12, neurons=("lif",), gatings=("exact", "shunting"), progress=False)
    stages = summary["stages"]
    assert stages["simulate_lif"]["gating"] == "exact"
    assert stages["simulate_lif_shunting"]["gating"] == "shunting"
    labels = [r["stage"] for r in summary["rows"]]
    assert "spiking LIF (Brian2)" in labels and "spiking LIF shunting (Brian2)" in labels
    row = chain_row(summary)
    assert row["spiking_lif"] == stages["simulate_lif"]["accuracy"]
    assert row["spiking_lif_shunting"] == stages["simulate_lif_shunting"]["accuracy"]
    assert row["n_simulated_lif_shunting"] == 12


def test_a_failing_leg_is_raised_and_stops_the_others(tmp_path):
    """Legs in processes of their own: the first failure comes back as its own exception."""
    import pytest

    from experiments.main_job import run_legs

    chains = {"bad": dict(dataset=str(tmp_path / "missing.npz"), out=tmp_path / "bad"),
              "slow": dict(dataset="digits", out=tmp_path / "slow", hidden=8, epochs=500, limit_train=150,
                           limit_test=20, neurons=())}
    with pytest.raises(Exception, match="missing.npz"):
        run_legs(chains, jobs=2)
    assert not (tmp_path / "slow" / "summary.json").exists()
