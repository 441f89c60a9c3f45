"""experiments.bench_rockpool: Rockpool is an optional extra, so without it the script refuses in one line."""

import importlib.util

import pytest

from experiments import bench_rockpool


@pytest.mark.skipif(importlib.util.find_spec("rockpool") is not None, reason="rockpool is installed here")
def test_refuses_cleanly_without_rockpool(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = bench_rockpool.main(["--neurons", "4", "--samples", "2", "--batch", "2", "--steps", "1",
                                "--no-standalone", "--no-record"])
    assert code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rockpool" in err[0] and "not installed" in err[0]
    assert not (tmp_path / "docs").exists()
