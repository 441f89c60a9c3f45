"""Issue 24: no traceback, no silent nonsense, no lost run; the chip's rules checked wherever a
configuration is read.

Every failure here must be one line on stderr naming the problem, the contract's exit code,
no traceback, and nothing half-written that a later stage would accept (no ``metrics.json``).
The chain is a tiny digits slice (100 training and 20 test sequences, 8 hidden units, 2
epochs), trained for the chip so that it maps.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import experiments.stages  # noqa: F401 (Brian2 loaded: in-process commands make no tmp folder)
from experiments.cli import EXIT_BAD_INPUT, EXIT_DOES_NOT_FIT, EXIT_INTERRUPTED, main
from experiments.outdir import LOCK_NAME, lock
from experiments.settings import QuantizeSettings, SettingsError
from transfer.checkpoint import Checkpoint
from transfer.datasets import load_dataset
from transfer.files import read_json

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--limit-train", "100", "--limit-test", "20", "--hidden", "8", "--epochs", "2"]


def run(capsys, *argv: str) -> tuple[int, str]:
    """Exit code and stderr of ``rnn2dynapse argv --quiet`` run in this process."""
    capsys.readouterr()
    try:
        code = main([*argv, "--quiet"])
    except SystemExit as exc:  # argparse
        code = exc.code
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    """``err`` is a single line without a traceback; return it."""
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def refused(capsys, code: int, *argv: str) -> str:
    """Run ``argv``, expect exit ``code`` and one line on stderr; return that line."""
    got, err = run(capsys, *argv)
    assert got == code, err
    return one_line(err)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """train --chip dynapse1, quantize, simulate (DPI, snapped) and map on a tiny slice."""
    root = tmp_path_factory.mktemp("reliability")
    q = ["--quiet"]
    assert main(["train", "--model", "rnn", "--dataset", "digits", "--chip", "dynapse1", *TINY,
                 "--out", str(root / "train")] + q) == 0
    assert main(["quantize", str(root / "train"), "--epochs", "2", "--out", str(root / "quant")] + q) == 0
    assert main(["simulate", str(root / "quant"), "--out", str(root / "sim")] + q) == 0
    assert main(["map", str(root / "sim"), "--out", str(root / "map")] + q) == 0
    return root


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# -- 1. the chip's rules on every hardware.json read ---------------------------------------------
def _first_neuron(h: dict) -> dict:
    return h["configuration"]["chips"][0]["cores"][0]["neurons"][0]


def _edit_core_id(h: dict) -> None:
    h["configuration"]["chips"][0]["cores"][0]["core_id"] = 9


EDITS = {
    "65 CAM entries": (lambda h: _first_neuron(h).update(synapses=[[0, 10, "NMDA"]] * 65), "cam_fan_in"),
    "200 CAM entries": (lambda h: _first_neuron(h).update(synapses=[[0, 10, "NMDA"]] * 200), "cam_fan_in"),
    "core 9": (_edit_core_id, "address_range"),
    "neuron 999": (lambda h: _first_neuron(h).update(neuron_id=999), "neurons_per_core"),
    "negative neuron": (lambda h: _first_neuron(h).update(neuron_id=-3), "neurons_per_core"),
    "6 SRAM entries": (lambda h: _first_neuron(h).update(destinations=_first_neuron(h)["destinations"] * 6),
                       "sram_fan_out"),
}


@pytest.mark.parametrize("command", ["emulate", "calibrate", "upload"])
@pytest.mark.parametrize("edit", list(EDITS))
def test_every_reader_of_hardware_json_checks_the_chip_rules(chain, tmp_path, capsys, command, edit):
    change, rule = EDITS[edit]
    bad = _copy(chain / "map", tmp_path / "map")
    config = read_json(bad / "hardware.json")
    change(config)
    (bad / "hardware.json").write_text(json.dumps(config))
    out = ["--out", str(tmp_path / "out")] if command != "upload" else []
    line = refused(capsys, EXIT_DOES_NOT_FIT, command, str(bad), *out)
    assert f"rule {rule}" in line and "hardware.json" in line
    assert not (tmp_path / "out").exists()  # a failed command leaves no --out behind


# -- 2. a resume file is continued only for its own settings, data and source run --------------
def _interrupt_at_save(monkeypatch):
    """Ctrl-C just before the checkpoint is written: every epoch is in the resume file."""
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(Checkpoint, "save", interrupted)


def test_train_resumes_only_with_its_own_settings_and_data(tmp_path, capsys, monkeypatch):
    data = tmp_path / "mine.npz"
    digits = load_dataset("digits").subset(limit_train=100, limit_test=20)
    digits.to_npz(data)
    out = tmp_path / "t"
    argv = ["train", "--model", "rnn", "--dataset", str(data), "--hidden", "8", "--epochs", "2",
            "--out", str(out)]
    with monkeypatch.context() as m:
        _interrupt_at_save(m)
        line = refused(capsys, EXIT_INTERRUPTED, *argv)
    assert f"kept {out / 'resume.pt'}" in line and "rerun the same command to resume" in line
    # the same file name, other data
    with np.load(data) as f:
        arrays = dict(f)
    changed = dict(arrays, X_train=1 - arrays["X_train"])
    np.savez(data, **changed)
    line = refused(capsys, EXIT_BAD_INPUT, *argv)
    assert "resume.pt was written for other data" in line and "delete" in line and "--out" in line
    np.savez(data, **arrays)
    # other settings
    line = refused(capsys, EXIT_BAD_INPUT, *argv[:-2], "--seed", "3", "--out", str(out))
    assert "other training settings" in line and "seed" in line
    assert not (out / "metrics.json").exists()
    # the same command finishes from the resume file
    assert run(capsys, *argv)[0] == 0
    assert (out / "metrics.json").exists() and not (out / "resume.pt").exists()


def test_quantize_resumes_only_from_the_same_source_run(chain, tmp_path, capsys, monkeypatch):
    out = tmp_path / "q"
    with monkeypatch.context() as m:
        _interrupt_at_save(m)
        line = refused(capsys, EXIT_INTERRUPTED, "quantize", str(chain / "train"), "--epochs", "2",
                       "--out", str(out))
    assert "resume_cap64.pt" in line
    twin = _copy(chain / "train", tmp_path / "twin")  # the same settings and weights, another run
    line = refused(capsys, EXIT_BAD_INPUT, "quantize", str(twin), "--epochs", "2", "--out", str(out))
    assert "written from another source run" in line and str(twin) in line
    line = refused(capsys, EXIT_BAD_INPUT, "quantize", str(chain / "train"), "--epochs", "2",
                   "--delta-factor", "0.5", "--out", str(out))
    assert "other training settings" in line and "delta_factor" in line
    assert run(capsys, "quantize", str(chain / "train"), "--epochs", "2", "--out", str(out))[0] == 0
    assert not list(out.glob("resume*.pt"))


# -- 3. no tracebacks: --out, damaged run files, interrupts ---------------------------------------
def test_out_that_is_a_file_or_empty_is_refused(chain, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    line = refused(capsys, EXIT_BAD_INPUT, "map", str(chain / "sim"), "--out", str(afile))
    assert f"{afile} exists and is not a directory" in line
    line = refused(capsys, EXIT_BAD_INPUT, "map", str(chain / "sim"), "--out", "")
    assert "--out" in line and "empty" in line


def test_out_on_a_read_only_disk_is_one_line(chain, tmp_path, capsys, monkeypatch):
    target = tmp_path / "ro" / "m"
    real = Path.mkdir

    def read_only(self, *args, **kwargs):
        if self in (target, target.parent):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    line = refused(capsys, EXIT_BAD_INPUT, "map", str(chain / "sim"), "--out", str(target))
    assert f"cannot create {target}" in line and "Read-only file system" in line


def test_out_on_a_full_disk_is_one_line_and_leaves_no_finished_run(chain, tmp_path, capsys, monkeypatch):
    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(src))

    monkeypatch.setattr(os, "replace", full)
    out = tmp_path / "m"
    line = refused(capsys, EXIT_BAD_INPUT, "map", str(chain / "sim"), "--out", str(out))
    assert "No space left on device" in line and str(out) in line
    assert not (out / "metrics.json").exists() and not list(out.glob(".*.tmp"))


class _Planted:
    """Unpickled with code execution, this would create the file ``path`` (``open(path, "w")``)."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


DAMAGED = {
    "truncated model.pt": (lambda d: (d / "model.pt").write_bytes((d / "model.pt").read_bytes()[:100]),
                           "model.pt is truncated or damaged"),
    "empty model.pt": (lambda d: (d / "model.pt").write_bytes(b""), "model.pt is empty"),
    "random model.pt": (lambda d: (d / "model.pt").write_bytes(np.random.default_rng(0).bytes(3000)),
                        "model.pt is not a file of tensors"),
    "no train.json": (lambda d: (d / "train.json").unlink(), "train.json is missing"),
    "metrics.json a list": (lambda d: (d / "metrics.json").write_text("[1, 2]"),
                            "metrics.json holds a JSON list, not a JSON object"),
    "metrics.json not JSON": (lambda d: (d / "metrics.json").write_text('{"stage": "quan'),
                              "metrics.json is not valid JSON"),
    "model.json of another shape": (
        lambda d: (d / "model.json").write_text(json.dumps(dict(read_json(d / "model.json"), n_hidden=9))),
        "model.pt does not hold the weights model.json describes"),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_checkpoint_is_one_line_naming_the_file(chain, tmp_path, capsys, case):
    damage, message = DAMAGED[case]
    run_dir = _copy(chain / "quant", tmp_path / "quant")
    damage(run_dir)
    line = refused(capsys, EXIT_BAD_INPUT, "simulate", str(run_dir), "--out", str(tmp_path / "s"))
    assert message in line and str(run_dir) in line
    assert not (tmp_path / "s").exists()


def test_hardware_json_that_is_not_an_object_is_one_line(chain, tmp_path, capsys):
    bad = _copy(chain / "map", tmp_path / "map")
    (bad / "hardware.json").write_text('["not", "a", "configuration"]')
    line = refused(capsys, EXIT_BAD_INPUT, "emulate", str(bad), "--out", str(tmp_path / "e"))
    assert f"{bad / 'hardware.json'} holds a JSON list" in line and "Brian2" not in line


def test_damaged_simulate_predictions_fail_emulate_before_it_emulates(chain, tmp_path, capsys):
    sim = _copy(chain / "sim", tmp_path / "sim")
    (sim / "predictions.npz").write_bytes(b"PK\x03\x04 cut short")
    mapped = _copy(chain / "map", tmp_path / "map")
    (mapped / "metrics.json").write_text(json.dumps(dict(read_json(mapped / "metrics.json"), source=str(sim))))
    line = refused(capsys, EXIT_BAD_INPUT, "emulate", str(mapped), "--out", str(tmp_path / "e"))
    assert f"{sim / 'predictions.npz'} is not the predictions file simulate wrote" in line
    assert not (tmp_path / "e").exists()


# -- 7. nothing planted in a torch file runs ------------------------------------------------------
def test_a_planted_model_pt_or_resume_pt_runs_no_code(chain, tmp_path, capsys):
    marker = tmp_path / "executed"
    run_dir = _copy(chain / "quant", tmp_path / "quant")
    torch.save({"w_in": _Planted(marker)}, run_dir / "model.pt")
    line = refused(capsys, EXIT_BAD_INPUT, "simulate", str(run_dir), "--out", str(tmp_path / "s"))
    assert "model.pt is not a file of tensors" in line and "could run code" in line
    out = tmp_path / "t"
    out.mkdir()
    torch.save({"key": _Planted(marker)}, out / "resume.pt")
    line = refused(capsys, EXIT_BAD_INPUT, "train", "--model", "rnn", "--dataset", "digits", *TINY,
                   "--out", str(out))
    assert "resume.pt is not a file of tensors" in line
    assert not marker.exists()


# -- 4. one writer per --out ---------------------------------------------------------------------
def test_a_second_writer_to_the_same_out_is_refused(chain, tmp_path, capsys):
    out = tmp_path / "m"
    out.mkdir()
    with lock(out, "map (the first writer)"):
        line = refused(capsys, EXIT_BAD_INPUT, "map", str(chain / "sim"), "--out", str(out))
        assert f"{out} is in use by another rnn2dynapse run (pid {os.getpid()}" in line
        assert not (out / "metrics.json").exists()
    assert run(capsys, "map", str(chain / "sim"), "--out", str(out))[0] == 0
    assert not (out / LOCK_NAME).exists()


def test_the_lock_file_of_a_dead_process_does_not_block(chain, tmp_path, capsys):
    out = tmp_path / "m"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / LOCK_NAME).write_text(f"pid {dead.pid} on this host: rnn2dynapse map\n")
    assert run(capsys, "map", str(chain / "sim"), "--out", str(out))[0] == 0
    assert (out / "metrics.json").exists() and not (out / LOCK_NAME).exists()


# -- 5. nonsense is refused, not saved as a finished run ------------------------------------------
def _npz(path: Path, y_train: np.ndarray, y_test: np.ndarray) -> str:
    rng = np.random.default_rng(0)
    np.savez(path, X_train=rng.random((len(y_train), 4, 3)), y_train=y_train,
             X_test=rng.random((len(y_test), 4, 3)), y_test=y_test)
    return str(path)


def test_sparse_labels_and_a_test_class_absent_from_train_are_refused(tmp_path, capsys):
    sparse = _npz(tmp_path / "sparse.npz", np.arange(60) % 3 * 1_000_000, np.array([0, 1_000_000, 2_000_000]))
    line = refused(capsys, EXIT_BAD_INPUT, "train", "--model", "rnn", "--dataset", sparse,
                   "--out", str(tmp_path / "a"))
    assert "2000001 classes" in line and "remap the labels to 0..C-1" in line
    unseen = _npz(tmp_path / "unseen.npz", np.arange(60) % 2, np.array([0, 1, 2]))
    line = refused(capsys, EXIT_BAD_INPUT, "train", "--model", "rnn", "--dataset", unseen,
                   "--out", str(tmp_path / "b"))
    assert "label 2 in another split but not in y_train" in line
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


NONSENSE = {
    "--epochs 0": (["train", "--model", "rnn", "--dataset", "digits", "--epochs", "0"], "--epochs"),
    "--epochs -3": (["train", "--model", "rnn", "--dataset", "digits", "--epochs", "-3"], "--epochs"),
    "--mismatch-aware nan": (["quantize", "RUN", "--mismatch-aware", "nan"], "--mismatch-aware"),
    "--lr inf": (["quantize", "RUN", "--lr", "inf"], "--lr"),
    "--act-penalty -5": (["train", "--model", "rnn", "--dataset", "digits", "--act-penalty", "-5"],
                         "--act-penalty"),
    "--noise 1": (["simulate", "RUN", "--noise", "1"], "--noise must be a current in amperes"),
    "--clip-percentile 150": (["quantize", "RUN", "--clip-percentile", "150"],
                              "--clip-percentile must lie in [0, 100], got 150"),
    "--seed -1": (["emulate", "RUN", "--seed", "-1"], "--seed"),
    "--jobs 2 on Brian2": (["emulate", "RUN", "--jobs", "2"], "--jobs is for the torch backends"),
    "--jobs 0": (["emulate", "RUN", "--backend", "torch-fast", "--jobs", "0"], "argument --jobs: must be a positive integer, got 0"),
}


@pytest.mark.parametrize("case", list(NONSENSE))
def test_nonsense_options_are_refused_naming_the_option(chain, tmp_path, capsys, case):
    argv, message = NONSENSE[case]
    argv = [str(chain / "quant") if a == "RUN" else a for a in argv]
    line = refused(capsys, EXIT_BAD_INPUT, *argv, "--out", str(tmp_path / "o"))
    assert message in line and "Settings(" not in line
    assert not (tmp_path / "o").exists()


def test_settings_from_python_name_the_option_too():
    with pytest.raises(SettingsError, match="--epochs must be a positive integer, got -3"):
        QuantizeSettings("some_run", epochs=-3)


# -- 6. clear messages ----------------------------------------------------------------------------
def test_a_directory_named_like_an_npz_is_called_a_directory(tmp_path, capsys):
    (tmp_path / "x.npz").mkdir()
    line = refused(capsys, EXIT_BAD_INPUT, "train", "--model", "rnn", "--dataset", str(tmp_path / "x.npz"),
                   "--out", str(tmp_path / "o"))
    assert "x.npz is a directory, not a .npz file" in line


# -- 8. files a run writes ------------------------------------------------------------------------
def test_run_files_share_one_mode_that_respects_the_umask(chain):
    expected = 0o666 & ~_umask()
    for name in ("metrics.json", "train.json", "model.json", "model.pt"):
        assert (chain / "train" / name).stat().st_mode & 0o777 == expected, name
    assert (chain / "map" / "metrics.json").stat().st_mode & 0o777 == expected


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- the command line as a process: a failure leaves nothing, Ctrl-C is one line -----------------
def _cli(*argv: str, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "experiments.cli", *argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.monotonic()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, f"{path} never appeared"
        time.sleep(0.02)


def test_a_failed_command_leaves_no_out_and_no_tmp(chain, tmp_path):
    bad = _copy(chain / "map", tmp_path / "map")
    config = read_json(bad / "hardware.json")
    EDITS["65 CAM entries"][0](config)
    (bad / "hardware.json").write_text(json.dumps(config))
    out = tmp_path / "e"
    proc = _cli("emulate", str(bad), "--out", str(out), "--quiet")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == EXIT_DOES_NOT_FIT and "rule cam_fan_in" in one_line(err)
    assert not out.exists()


def test_ctrl_c_in_train_is_one_line_and_the_same_command_resumes(tmp_path):
    out = tmp_path / "t"
    # every epoch runs under a fan-in cap (no early stop): the run is still working when the
    # first epoch's resume file appears
    argv = ("train", "--model", "rnn", "--dataset", "digits", "--limit-train", "100", "--limit-test", "20",
            "--hidden", "8", "--epochs", "400", "--max-fan-in", "8", "--out", str(out), "--quiet")
    proc = _cli(*argv)
    _wait_for(out / "resume.pt", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED, (proc.returncode, err)
    line = one_line(err)
    assert f"interrupted; kept {out / 'resume.pt'}" in line and "rerun the same command to resume" in line
    assert sorted(p.name for p in out.iterdir()) == ["resume.pt"]  # no tmp, no lock, no metrics
    done_before = torch.load(out / "resume.pt", weights_only=True)["epoch"]
    assert 1 <= done_before < 400
    again = _cli(*argv)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert read_json(out / "metrics.json")["epochs_run"] == 400 and not (out / "resume.pt").exists()


def test_ctrl_c_in_simulate_is_one_line_and_the_same_command_finishes(chain, tmp_path, capsys):
    out = tmp_path / "s"
    # 10 batches of 10 samples: a few seconds of simulation after the network is written
    argv = ("simulate", str(chain / "quant"), "--neuron", "lif", "--limit-test", "100", "--batch-size", "10",
            "--out", str(out))
    proc = _cli(*argv, "--quiet")
    _wait_for(out / "network.json", proc)  # converted; simulating the test split now
    line = refused(capsys, EXIT_BAD_INPUT, *argv)  # a second writer meanwhile
    assert f"in use by another rnn2dynapse run (pid {proc.pid}" in line
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED, (proc.returncode, err)
    line = one_line(err)
    assert "simulate: interrupted; nothing finished was written: rerun the same command" in line
    assert not (out / "metrics.json").exists() and not (out / "tmp").exists() and not (out / LOCK_NAME).exists()
    assert run(capsys, *argv)[0] == 0
    assert read_json(out / "metrics.json")["n_test"] == 100


def test_scratch_directory_is_absolute_for_compilers_that_change_directory(tmp_path, monkeypatch):
    """A relative --out must not leave a relative temporary directory: torch.compile runs its
    C++ compiler from another working directory (make run's fleet failed that way)."""
    import atexit
    import logging
    import tempfile

    from experiments.outdir import SCRATCH, use_scratch

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", tempfile.tempdir)
    monkeypatch.setattr(logging, "raiseExceptions", logging.raiseExceptions)
    monkeypatch.setattr(atexit, "register", lambda *args, **kwargs: None)
    (tmp_path / "out").mkdir()
    use_scratch(Path("out"), created=False)
    assert Path(tempfile.gettempdir()) == tmp_path / "out" / SCRATCH


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_in_run_stops_its_leg_processes(tmp_path):
    """The main job runs its legs in processes of their own: Ctrl-C stops them all, says so in
    one line, and nothing goes on writing after the command has returned."""
    out = tmp_path / "run"
    proc = _cli("run", "--dataset", "digits", "--hidden", "8", "--epochs", "2", "--limit-train", "100",
                "--limit-test", "20", "--fleet", "0", "--out", str(out), "--quiet")
    _wait_for(out / "rnn_chip" / "train" / "metrics.json", proc, timeout=300)
    workers = _children(proc.pid)
    assert len([p for p in workers if "spawn" in Path(f"/proc/{p}/cmdline").read_text()]) == 2
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED, (proc.returncode, err)
    assert f"run: interrupted; the finished stages are kept in {out}" in one_line(err)
    time.sleep(1)
    assert not [p for p in workers if Path(f"/proc/{p}").exists()
                and (Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z")]
    written = sorted(str(p) for p in out.rglob("*"))
    time.sleep(2)
    assert sorted(str(p) for p in out.rglob("*")) == written


def test_a_stop_that_a_finaliser_swallowed_is_delivered_again(monkeypatch):
    """A leg's process stops on SIGTERM by raising SystemExit; raised inside a finaliser (Brian2
    frees objects through weakref callbacks) Python would swallow it and run on."""
    import weakref

    from experiments.interrupts import redelivered_interrupts

    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    try:
        class Freed:
            pass

        with pytest.raises(SystemExit), redelivered_interrupts(signal.SIGTERM, SystemExit):
            obj = Freed()
            weakref.finalize(obj, sys.exit, 3)  # the stop arrives while the finaliser runs
            del obj  # swallowed: "Exception ignored in ..."
            t0 = time.monotonic()
            while time.monotonic() - t0 < 5:
                time.sleep(0.01)
    finally:
        signal.signal(signal.SIGTERM, previous)
