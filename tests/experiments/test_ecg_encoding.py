"""experiments.ecg_encoding: three encodings of the same beats through train and quantize."""

from __future__ import annotations

import json

from experiments.ecg_encoding import main


def test_each_encoding_is_trained_and_scored_on_the_whole_test_split(tmp_path):
    assert main(["--thresholds", "0.2", "--seeds", "0", "--epochs", "1", "--out", str(tmp_path / "runs"),
                 "--data-dir", str(tmp_path / "data")]) == 0
    rows = json.loads((tmp_path / "data" / "extra_ecg_encoding.json").read_text())["figures"]["rows"]
    channels = {r["encoding"]: r["channels"] for r in rows}
    assert channels == {"minmax": 7, "onoff (signed npz)": 14, "delta 0.2": 14}
    assert len(rows) == 6 and all(0 < r["accuracy %"] <= 100 for r in rows)
    assert all(0 <= r["input mean"] <= 1 for r in rows)
