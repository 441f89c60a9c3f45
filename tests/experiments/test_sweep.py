"""The resumable sweep engine: results, resuming, failures, and an interrupted dask sweep.

The cell function squares ``x`` (the reference is ``x * x``) and leaves one marker file per
call, so the tests count the calls each run made independently of the engine's own records.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from experiments.records import save_record
from experiments.sweep import Cell, SweepError, grid, run_sweep


def square_cell(params: dict, *, calls_dir: str, fail: int | None = None, sleep: float = 0.0,
                probe: str = "colorsys") -> dict:
    """A cheap top-level cell: ``x * x``; raises for ``x == fail``; one marker file per finished call.

    ``probe_loaded`` tells whether the module ``probe`` was imported before the cell ran.
    """
    calls = Path(calls_dir)
    x = params["x"]
    running = calls / f"running-{x}-{uuid.uuid4().hex}"
    running.touch()
    try:
        time.sleep(sleep)
        if x == fail:
            raise ValueError(f"cell {x} was told to fail")
        (calls / f"call-{x}-{uuid.uuid4().hex}").touch()
        return {"square": x * x, "pid": os.getpid(), "probe_loaded": probe in sys.modules}
    finally:
        running.unlink()


def _calls(calls_dir: Path) -> dict[int, int]:
    """Number of finished calls per ``x`` from the marker files."""
    counts: dict[int, int] = {}
    for p in calls_dir.glob("call-*"):
        x = int(p.name.split("-")[1])
        counts[x] = counts.get(x, 0) + 1
    return counts


@pytest.fixture
def calls_dir(tmp_path):
    path = tmp_path / "calls"
    path.mkdir()
    return path


def test_cell_key_is_stable_and_distinguishes_params():
    a = Cell.of(neuron="lif", cv=0.1, seed=0)
    assert a == Cell.from_params({"seed": 0, "cv": 0.1, "neuron": "lif"})
    assert a.key == Cell.from_params({"seed": 0, "cv": 0.1, "neuron": "lif"}).key
    assert a.key.startswith("cv=0.1_neuron=lif_seed=0-")
    assert a.key != Cell.of(neuron="lif", cv=0.1, seed=1).key
    assert Cell.of(cv=0).key != Cell.of(cv=0.0).key  # JSON keeps int and float apart
    assert Cell.of(path="a/b c").key.split("-")[0] == "path=a"  # no separators or spaces in keys
    assert "/" not in Cell.of(path="a/b c").key and " " not in Cell.of(path="a/b c").key
    assert a.params == {"cv": 0.1, "neuron": "lif", "seed": 0}
    assert [c.params for c in grid(a=[1, 2], b=["x", "y"])] == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
    with pytest.raises(SweepError, match="JSON scalars"):
        Cell.of(x=object())
    with pytest.raises(SweepError, match="not finite"):
        Cell.of(x=float("nan"))


def test_joblib_sweep_returns_all_results_and_rerun_skips_finished(tmp_path, calls_dir):
    fn = partial(square_cell, calls_dir=str(calls_dir))
    out = tmp_path / "sweep"
    records = run_sweep(grid(x=range(6)), fn, out, backend="joblib", n_jobs=2, progress=False)
    assert [r["result"]["square"] for r in records] == [x * x for x in range(6)]
    assert all(r["status"] == "done" and not r["reused"] and r["revision"] for r in records)
    assert len({r["result"]["pid"] for r in records}) >= 1
    assert _calls(calls_dir) == {x: 1 for x in range(6)}
    stored = json.loads((out / "cells" / f"{Cell.of(x=4).key}.json").read_text())
    assert stored["params"] == {"x": 4} and stored["result"]["square"] == 16 and stored["wall_seconds"] >= 0

    again = run_sweep(grid(x=range(6)), fn, out, backend="joblib", n_jobs=2, progress=False)
    assert _calls(calls_dir) == {x: 1 for x in range(6)}  # nothing ran again
    assert all(r["reused"] for r in again) and [r["result"] for r in again] == [r["result"] for r in records]

    more = run_sweep(grid(x=range(8)), fn, out, backend="joblib", n_jobs=1, progress=False)
    assert _calls(calls_dir) == {x: 1 for x in range(8)}  # only the two new cells ran
    assert [r["reused"] for r in more] == [True] * 6 + [False] * 2


def test_failed_cell_is_recorded_and_the_others_finish(tmp_path, calls_dir, capsys):
    out = tmp_path / "sweep"
    records = run_sweep(grid(x=range(5)), partial(square_cell, calls_dir=str(calls_dir), fail=3), out,
                        backend="joblib", n_jobs=2, progress=False)
    status = {r["params"]["x"]: r["status"] for r in records}
    assert status == {0: "done", 1: "done", 2: "done", 3: "failed", 4: "done"}
    failed = json.loads((out / "failed" / f"{Cell.of(x=3).key}.json").read_text())
    assert failed["error"] == "ValueError: cell 3 was told to fail" and "Traceback" in failed["traceback"]
    assert not (out / "cells" / f"{Cell.of(x=3).key}.json").exists()
    assert "1 of 5 cells failed" in capsys.readouterr().err

    # the rerun retries only the failed cell; its success clears the failure record
    records = run_sweep(grid(x=range(5)), partial(square_cell, calls_dir=str(calls_dir)), out,
                        backend="joblib", n_jobs=1, progress=False)
    assert [r["result"]["square"] for r in records] == [0, 1, 4, 9, 16]
    assert [r["reused"] for r in records] == [True, True, True, False, True]
    assert _calls(calls_dir) == {x: 1 for x in range(5)}
    assert not list((out / "failed").iterdir())


def test_resume_with_other_settings_is_refused(tmp_path, calls_dir):
    fn = partial(square_cell, calls_dir=str(calls_dir))
    run_sweep(grid(x=[1]), fn, tmp_path, n_jobs=1, progress=False, settings={"run_dir": "/a"})
    run_sweep(grid(x=[1]), fn, tmp_path, n_jobs=1, progress=False, settings={"run_dir": "/a", "extra": 1})
    with pytest.raises(SweepError, match="run_dir: '/a' there, '/b' now"):
        run_sweep(grid(x=[1]), fn, tmp_path, n_jobs=1, progress=False, settings={"run_dir": "/b"})
    with pytest.raises(SweepError, match="extra"):  # an added setting is kept and checked from then on
        run_sweep(grid(x=[1]), fn, tmp_path, n_jobs=1, progress=False, settings={"run_dir": "/a", "extra": 2})
    assert _calls(calls_dir) == {1: 1}
    with pytest.raises(SweepError, match="backend='dask'"):
        run_sweep(grid(x=[1]), fn, tmp_path, scheduler="tcp://127.0.0.1:1", progress=False)
    with pytest.raises(SweepError, match="unknown sweep backend"):
        run_sweep(grid(x=[1]), fn, tmp_path, backend="ray", progress=False)


def _wait_until_idle(calls_dir: Path, timeout: float = 20.0) -> None:
    """Wait until no cell is running (cancelled tasks already running finish on their own)."""
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        if any(calls_dir.glob("running-*")):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 0.5:
            return
        time.sleep(0.05)
    raise TimeoutError(f"cells still running in {calls_dir} after {timeout} s")


def test_interrupted_dask_sweep_resumes_with_exactly_the_unfinished_cells(tmp_path, calls_dir):
    distributed = pytest.importorskip("distributed")
    fn = partial(square_cell, calls_dir=str(calls_dir), sleep=0.2)
    out = tmp_path / "sweep"
    cells = grid(x=range(8))
    seen: list[str] = []

    def interrupt_after_three(record: dict) -> None:
        seen.append(record["key"])
        if len(seen) == 3:
            raise KeyboardInterrupt  # what Ctrl-C does in the loop collecting results

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        with pytest.raises(KeyboardInterrupt):
            run_sweep(cells, fn, out, backend="dask", scheduler=address, progress=False,
                      preload=["colorsys"], on_result=interrupt_after_three)
        _wait_until_idle(calls_dir)
        finished = {p.stem for p in (out / "cells").glob("*.json")}
        assert finished == set(seen)  # every result collected was written at once
        before = _calls(calls_dir)
        with distributed.Client(address) as client:  # the interrupted client left nothing queued
            assert client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) == 0

        records = run_sweep(cells, fn, out, backend="dask", scheduler=address, progress=False,
                            preload=["colorsys"])

    after = _calls(calls_dir)
    ran_again = {x for x in after if after[x] > before.get(x, 0)}
    unfinished = {c.params["x"] for c in cells if c.key not in finished}
    assert len(unfinished) == 5 and ran_again == unfinished
    assert all(after[x] - before.get(x, 0) == 1 for x in unfinished)  # once each
    assert [r["result"]["square"] for r in records] == [x * x for x in range(8)]
    assert {r["key"] for r in records if r["reused"]} == finished
    assert len(list((out / "cells").glob("*.json"))) == 8
    assert all(r["result"]["probe_loaded"] for r in records)  # preloaded before any cell ran


def test_mismatch_rows_are_mean_and_std_over_seeds_and_the_figure_redraws(tmp_path):
    from experiments.sweep_mismatch import aggregate, main

    acc = {("baseline", 0.0): [0.9, 0.9, 0.9], ("baseline", 0.2): [0.8, 0.7, 0.6], ("finetuned", 0.2): [0.85, 0.8]}
    records = []
    for (variant, cv), values in acc.items():
        for seed, a in enumerate(values):
            records.append({"status": "done", "params": {"variant": variant, "neuron": "lif", "cv": cv, "seed": seed},
                            "result": {"accuracy": a, "agreement_with_ann": a + 0.05, "spikes_per_inference": 100.0,
                                       "n_test": 20, "ann_accuracy": 0.9}})
    records.append({"status": "failed", "params": {"variant": "baseline", "neuron": "lif", "cv": 0.2, "seed": 9},
                    "error": "ValueError: boom"})
    rows = aggregate(records)
    assert [(r["variant"], r["cv"], r["n_seeds"]) for r in rows] == [
        ("baseline", 0.0, 3), ("baseline", 0.2, 3), ("finetuned", 0.2, 2)]
    for r in rows:
        values = acc[(r["variant"], r["cv"])]
        assert r["accuracy_mean"] == pytest.approx(np.mean(values))
        assert r["accuracy_std"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
        assert r["agreement_mean"] == pytest.approx(np.mean(values) + 0.05)

    save_record("extra_mismatch_digits", {"dataset": "digits", "metric": "accuracy", "rows": rows}, "cmd",
                data_dir=tmp_path)
    assert main(["--replot", "digits", "--data-dir", str(tmp_path), "--figures-dir", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig" / "mismatch_digits.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("option", ["--copies", "--limit-test"])
def test_sweep_mismatch_refuses_a_count_below_one(option, tmp_path, capsys):
    from experiments.sweep_mismatch import main

    with pytest.raises(SystemExit) as exc:
        main(["--run-dir", str(tmp_path), option, "0", "--data-dir", str(tmp_path)])
    assert exc.value.code == 2
    assert f"{option}: must be a positive integer, got 0" in capsys.readouterr().err
