"""Result records round-trip and RESULTS.md is rendered from them."""

from __future__ import annotations

from experiments.make_results import main as make_results
from experiments.records import load_record, load_records, save_record


def test_record_round_trip_with_provenance(tmp_path):
    save_record("bench_training", {"dataset": "digits", "device": "cpu",
                                   "rows": [{"model": "rnn", "seconds_per_epoch": 0.5}]},
                "python -m experiments.bench_training", data_dir=tmp_path)
    rec = load_record("bench_training", data_dir=tmp_path)
    assert rec["figures"]["rows"][0]["seconds_per_epoch"] == 0.5
    assert rec["command"] == "python -m experiments.bench_training"
    assert rec["revision"] and rec["date"]
    assert load_record("missing", data_dir=tmp_path) is None
    assert set(load_records(tmp_path)) == {"bench_training"}


def test_results_page_names_command_and_revision(tmp_path):
    rows = [{"model": "rnn", "n_test": 10, "metric": "accuracy", "float": 0.9, "ternary_ptq": 0.8,
             "ternary_qat": 0.88, "max_fan_in": 40, "spiking_lif": 0.85, "agreement_lif": 0.9,
             "n_simulated_lif": 10, "command": "python -m experiments.table_accuracy --datasets digits"}]
    rec = save_record("accuracy_digits", {"dataset": "digits", "rows": rows}, "cmd", data_dir=tmp_path)
    out = tmp_path / "RESULTS.md"
    assert make_results(["--data", str(tmp_path), "--out", str(out)]) == 0
    text = out.read_text()
    assert "## Accuracy: digits (accuracy)" in text
    row = next(line for line in text.splitlines() if line.startswith("rnn "))
    assert row.split()[:5] == ["rnn", "10", "90", "80", "88"]  # percentages of the record
    assert "python -m experiments.table_accuracy --datasets digits" in text
    assert load_record("accuracy_digits", data_dir=tmp_path)["revision"] in text
    assert rec.exists()


def test_records_sharing_a_title_are_told_apart_by_name():
    from experiments.make_results import render

    def rec(title):
        return {"figures": {"title": title, "rows": [{"cv": 0.2, "emulated": 0.9}]}, "command": "c", "revision": "r",
                "date": "d"}

    text = render({"extra_a_x": rec("Sweep"), "extra_a_y": rec("Sweep"), "extra_b": rec("Budget")})
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == ["## Sweep (`extra_a_x`)", "## Sweep (`extra_a_y`)", "## Budget"]  # in name order
