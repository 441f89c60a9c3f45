"""experiments.bench_rockpool: Rockpool is an optional extra; without it the other simulators still run."""

import importlib.util

import pytest

from experiments import bench_rockpool


@pytest.mark.skipif(importlib.util.find_spec("rockpool") is not None, reason="rockpool is installed here")
def test_runs_the_other_simulators_without_rockpool(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = bench_rockpool.main(["--neurons", "4", "--samples", "2", "--batch", "2", "--steps", "1",
                                "--no-standalone", "--no-record", "--no-train", "--torch-dts", "0.5",
                                "--torch-batches", "2", "--threads", "1"])
    assert code == 0
    out = capsys.readouterr().out
    skipped = [line for line in out.splitlines() if "DynapSim skipped" in line]
    assert len(skipped) == 1 and "rockpool" in skipped[0] and "not installed" in skipped[0]
    assert "brian2 runtime/numpy" in out and "torch chip model" in out and "DynapSim (jax" not in out
    assert not (tmp_path / "docs").exists()
