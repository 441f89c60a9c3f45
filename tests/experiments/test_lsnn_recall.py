"""Smoke test of the LSNN-versus-LIF experiment script: it runs end to end and writes its record."""

from __future__ import annotations

import json

import pytest
import torch

from experiments import lsnn_recall


@pytest.mark.slow
def test_tiny_run_writes_results(tmp_path):
    out = tmp_path / "lsnn"
    threads = str(torch.get_num_threads())  # leave the session's torch setting alone
    rc = lsnn_recall.main(["--out", str(out), "--no-record", "--threads", threads, "--limit-train", "80", "--limit-test", "20",
                           "--hidden", "16", "--substeps", "2", "--epochs", "1", "--qat-epochs", "1",
                           "--brian-limit-test", "20", "--dpi-limit-test", "4", "--dpi-limit-val", "4",
                           "--dpi-input-scales", "1.5", "--dpi-ahp-scales", "0.4"])
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["variants"]) == {"lsnn", "lif"}
    for name, v in res["variants"].items():
        assert v["brian_alif"]["agreement_with_torch"] == 1.0
        assert v["brian_alif"]["spike_count_mismatches"] == 0
        assert v["ternary"]["w_rec"]["n_distinct"] <= 3
        assert (out / f"{name}.pt").exists()
        assert 0 <= v["brian_dpi"]["accuracy"] <= 1
    with pytest.raises(SystemExit):
        lsnn_recall.main(["--out", str(out), "--dataset", "nope"])
