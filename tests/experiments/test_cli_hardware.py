"""The hardware sub-commands end to end on a tiny digits chain:
train -> quantize -> simulate --neuron dpi --input-coding rate -> map -> emulate, plus the
refusals (a network that does not fit: exit 2 naming the rule; upload without samna: exit 3)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from experiments.cli import EXIT_BAD_INPUT, EXIT_DOES_NOT_FIT, EXIT_NO_BOARD, main
from hardware.config import HardwareConfig
from transfer.checkpoint import Checkpoint
from transfer.convert import ConversionSettings
from brian_models.description import InputEncoder, Population, Projection, Readout, SpikingNetwork
from brian_models.parameters import neuron_params

COMMON_KEYS = ("stage", "dataset", "model", "n_test", "accuracy", "seed", "revision")
HARDWARE_KEYS = ("chips_used", "cores_used", "max_fan_in", "max_fan_out")
SPIKING_KEYS = ("agreement_with_ann", "spikes_per_inference", "latency_ms", "wall_seconds",
                "compile_seconds", "samples_per_second", "bio_seconds_per_sample", "neuron",
                "mismatch", "device")
DPI = {"I_tau": 5e-12, "I_th": 20e-12, "t_ref": 2e-3, "tau_ampa": 5e-3}


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    root = tmp_path_factory.mktemp("hw")
    quiet = ["--quiet"]
    assert main(["train", "--model", "rnn", "--dataset", "digits", "--hidden", "16", "--epochs", "2",
                 "--limit-train", "200", "--limit-test", "30", "--chip", "dynapse1",
                 "--out", str(root / "train")] + quiet) == 0
    assert main(["quantize", str(root / "train"), "--epochs", "1", "--out", str(root / "quant")] + quiet) == 0
    # the stages read the chip from the run: DPI neurons, spike input, parameters snapped
    assert main(["simulate", str(root / "quant"), "--out", str(root / "sim")] + quiet) == 0
    assert main(["map", str(root / "sim"), "--chip", "dynapse1", "--out", str(root / "map")] + quiet) == 0
    assert main(["emulate", str(root / "map"), "--limit-test", "20", "--out", str(root / "emu")] + quiet) == 0
    return root


def _metrics(path):
    return json.loads((path / "metrics.json").read_text())


def test_map_writes_the_configuration_and_the_mapping_report(chain):
    m = _metrics(chain / "map")
    for key in COMMON_KEYS + HARDWARE_KEYS:
        assert key in m, key
    sim = _metrics(chain / "sim")
    assert (m["stage"], m["dataset"], m["model"]) == ("map", "digits", "rnn")
    assert m["accuracy"] == sim["accuracy"] and m["n_test"] == sim["n_test"] == 30
    assert (m["chips_used"], m["cores_used"]) == (1, 1) and 0 < m["max_fan_in"] <= 64
    assert m["max_fan_out"] == 1
    sim = _metrics(chain / "sim")
    assert (sim["neuron"], sim["input_coding"], sim["snapped_to_chip"]) == ("dpi", "rate", "dynapse1")
    assert m["max_bias_relative_error"] < 1e-9  # snapped in simulate: nothing left to quantise
    assert {e["synapse"] for e in m["efficacies"]} == {"NMDA", "GABA_B"}  # delay-free: slow synapses
    config = HardwareConfig.load(chain / "map" / "hardware.json")
    assert config.neuron_map["hidden"] and len(config.input_channels) == 8


def test_emulate_writes_the_spiking_and_hardware_keys(chain):
    m = _metrics(chain / "emu")
    for key in COMMON_KEYS + SPIKING_KEYS + HARDWARE_KEYS + ("energy_joules_per_inference",
                                                            "cpu_energy_joules_per_inference"):
        assert key in m, key
    assert (m["stage"], m["n_test"], m["neuron"]) == ("emulate", 20, "dpi")
    assert (m["device"], m["mismatch"]) == ("runtime", 0.0)
    assert 0.0 <= m["agreement_with_ann"] <= 1.0 and 0.0 <= m["accuracy"] <= 1.0
    step = ConversionSettings().step_duration  # the window the conversion presented each element for
    assert m["spikes_per_inference"] > 0 and m["bio_seconds_per_sample"] == pytest.approx(8 * step)
    assert m["energy_joules_per_inference"] == pytest.approx(m["energy"]["total"])
    assert m["energy_joules_per_inference"] > 0
    # 8 steps x (8 + 16) x 16 recurrent MACs + 10 x 16 readout MACs.
    assert m["cpu_macs_per_inference"] == 8 * 24 * 16 + 160 and m["cpu_energy_joules_per_inference"] > 0
    emulated = SpikingNetwork.load(chain / "emu" / "network.json")
    assert all(p.delay == 0 for p in emulated.projections)


def test_emulate_with_mismatch_records_it(chain):
    out = chain / "emu_mm"
    assert main(["emulate", str(chain / "map"), "--mismatch", "0.2", "--seed", "1", "--limit-test", "10",
                 "--out", str(out), "--quiet"]) == 0
    m = _metrics(out)
    assert (m["mismatch"], m["seed"], m["n_test"]) == (0.2, 1, 10)


def test_calibrate_then_emulate_the_calibrated_chip(chain, tmp_path):
    cal, emu = tmp_path / "cal", tmp_path / "emu"
    assert main(["calibrate", str(chain / "map"), "--mismatch", "0.2", "--seed", "3", "--samples", "60",
                 "--out", str(cal), "--quiet"]) == 0
    m = _metrics(cal)
    assert m["stage"] == "calibrate" and m["calibrated_for"] == {"mismatch": 0.2, "seed": 3, "noise": 0.0}
    assert m["calibration"]["samples"] == 60 and m["calibration"]["chip_seconds"] > 0
    assert HardwareConfig.load(cal / "hardware.json").configuration == \
        HardwareConfig.load(chain / "map" / "hardware.json").configuration
    assert main(["emulate", str(cal), "--mismatch", "0.2", "--seed", "3", "--limit-test", "10",
                 "--out", str(emu), "--quiet"]) == 0
    e = _metrics(emu)
    assert e["calibrated"] is True and e["calibrated_for"] == {"mismatch": 0.2, "seed": 3, "noise": 0.0}
    assert _metrics(chain / "emu")["calibrated"] is False


def test_baseline_fits_the_readout_on_the_input_spikes_alone(chain, tmp_path):
    """``baseline`` scores the mapped readout's window or every step, whichever cross-validation
    prefers, fitted on the input; the same fit by hand gives the same accuracy."""
    from experiments.runs import ann_checkpoint, run_data
    from hardware.baseline import input_only_accuracy

    assert main(["baseline", str(chain / "map"), "--samples", "120", "--out", str(tmp_path / "b"), "--quiet"]) == 0
    m = _metrics(tmp_path / "b")
    assert m["stage"] == "baseline" and m["fit"]["samples"] == 120 and m["n_test"] == 30
    data = run_data(ann_checkpoint(_metrics(chain / "map"), chain / "map"), 30)
    config = HardwareConfig.load(chain / "map" / "hardware.json")
    by_hand, _ = input_only_accuracy(config, data.X_train[:120], data.y_train[:120], data.X_test, data.y_test,
                                     steps=None)
    assert m["accuracy"] == by_hand and m["readout_slices"] in (config.readout.slices, data.X_test.shape[1])
    assert main(["baseline", str(chain / "sim"), "--out", str(tmp_path / "b2"), "--quiet"]) == EXIT_BAD_INPUT


def test_fleet_readout_is_fitted_on_other_chips_and_refuses_its_own(chain, tmp_path):
    """calibrate --fleet: one readout fitted on K chips (plays beyond the 200 training sequences
    wrap round), evaluated only on chips outside the fleet, and not counted as calibrated."""
    fleet, emu = tmp_path / "fleet", tmp_path / "emu"
    assert main(["calibrate", str(chain / "map"), "--mismatch", "0.2", "--seed", "10", "--fleet", "3",
                 "--samples", "240", "--backend", "torch", "--out", str(fleet), "--quiet"]) == 0
    m = _metrics(fleet)
    assert m["method"] == "fleet readout" and m["calibration"]["samples"] == 240
    assert m["calibrated_for"] == {"mismatch": 0.2, "fleet": 3, "seeds": [10, 11, 12], "noise": 0.0}
    assert main(["emulate", str(fleet), "--mismatch", "0.2", "--seed", "11", "--limit-test", "5",
                 "--out", str(emu), "--quiet"]) == EXIT_BAD_INPUT
    assert main(["emulate", str(fleet), "--mismatch", "0.2", "--seed", "3", "--limit-test", "10",
                 "--out", str(emu), "--quiet"]) == 0
    e = _metrics(emu)
    assert e["calibrated"] is False and e["fleet"] == 3
    assert main(["calibrate", str(chain / "map"), "--fleet", "3", "--out", str(tmp_path / "x"),
                 "--quiet"]) == EXIT_BAD_INPUT  # a fleet of identical chips
    # the fleet's plays as the prior of a calibration to one chip
    assert np.load(fleet / "plays.npz")["counts"].shape[0] == 240
    # the boards played side by side in two processes: the same plays, the same readout
    assert main(["calibrate", str(chain / "map"), "--mismatch", "0.2", "--seed", "10", "--fleet", "3",
                 "--samples", "240", "--backend", "torch", "--jobs", "2", "--out", str(tmp_path / "fleet2"),
                 "--quiet"]) == 0
    for key in ("counts", "y"):
        np.testing.assert_array_equal(np.load(tmp_path / "fleet2" / "plays.npz")[key], np.load(fleet / "plays.npz")[key])
    assert _metrics(tmp_path / "fleet2")["calibration"] == m["calibration"]
    assert main(["calibrate", str(chain / "map"), "--mismatch", "0.2", "--seed", "3", "--samples", "60",
                 "--prior", str(fleet), "--out", str(tmp_path / "cal"), "--quiet"]) == 0
    c = _metrics(tmp_path / "cal")
    assert c["calibrated_for"]["prior"] == str(fleet.resolve())
    assert c["calibration"]["readout_steps"] == m["calibration"]["readout_steps"]  # the fleet's choice
    assert main(["calibrate", str(chain / "map"), "--mismatch", "0.2", "--seed", "3", "--samples", "60",
                 "--prior", str(tmp_path / "cal"), "--out", str(tmp_path / "y"), "--quiet"]) == EXIT_BAD_INPUT


def test_torch_backend_repeats_brian2_on_simulate_and_emulate(chain, tmp_path):
    """The torch chip model against Brian2 from the same run: the same predictions and spikes."""
    for stage, src in (("simulate", chain / "quant"), ("emulate", chain / "map")):
        out = tmp_path / stage
        extra = ["--mismatch", "0.2", "--seed", "2"] if stage == "emulate" else []
        assert main([stage, str(src), "--backend", "torch", "--limit-test", "20", "--out", str(out), "--quiet",
                     *extra]) == 0
        ref = tmp_path / f"{stage}_brian2"
        assert main([stage, str(src), "--limit-test", "20", "--out", str(ref), "--quiet", *extra]) == 0
        got, want = _metrics(out), _metrics(ref)
        assert got["backend"] == "torch" and want["backend"] == "brian2"
        assert got["accuracy"] == want["accuracy"]
        assert got["spikes_per_inference"] == pytest.approx(want["spikes_per_inference"], rel=1e-3)
        key = "spiking" if stage == "simulate" else "emulated"
        with np.load(out / "predictions.npz") as a, np.load(ref / "predictions.npz") as b:
            assert np.mean(a[key] == b[key]) >= 0.95


def test_finetune_through_the_chip_model_then_map_and_emulate(chain, tmp_path):
    """finetune trains the simulate run's network on random chips; the result maps, and its
    emulation repeats the finetune run's own (snapped) simulation."""
    ft, mp, emu = tmp_path / "ft", tmp_path / "map", tmp_path / "emu"
    assert main(["finetune", str(chain / "sim"), "--epochs", "1", "--train-samples", "32", "--batch-size", "16",
                 "--out", str(ft), "--quiet"]) == 0
    m = _metrics(ft)
    assert m["stage"] == "finetune" and m["chip_training"]["mismatch"] == 0.2
    assert [h["epoch"] for h in m["history"]] == [0, 1] and m["best_epoch"] in (0, 1)
    assert m["snapped_to_chip"] == "dynapse1" and m["n_test"] == _metrics(chain / "sim")["n_test"]
    assert main(["map", str(ft), "--out", str(mp), "--quiet"]) == 0
    assert _metrics(mp)["max_bias_relative_error"] < 1e-9
    assert main(["emulate", str(mp), "--out", str(emu), "--quiet"]) == 0
    assert _metrics(emu)["agreement_with_simulation"] == 1.0
    assert _metrics(emu)["accuracy"] == m["accuracy"]


def test_finetune_skips_steps_whose_gradient_overflowed(chain, tmp_path, monkeypatch):
    """A step with a non-finite gradient leaves the network as it was and is counted."""
    import torch

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda params, max_norm: torch.tensor(float("inf")))
    ft = tmp_path / "ft"
    assert main(["finetune", str(chain / "sim"), "--epochs", "1", "--train-samples", "32", "--batch-size", "16",
                 "--precision", "float64", "--out", str(ft), "--quiet"]) == 0
    m = _metrics(ft)
    assert m["chip_training"]["precision"] == "float64" and m["history"][1]["skipped_steps"] == 2
    before = SpikingNetwork.load(chain / "sim" / "network.json")
    after = SpikingNetwork.load(ft / "network.json")
    for p, q in zip(before.projections, after.projections):
        assert np.array_equal(p.weights, q.weights) and p.efficacy == pytest.approx(q.efficacy, rel=1e-12)
    assert m["accuracy"] == _metrics(chain / "sim")["accuracy"]


def _network_dir(root, net: SpikingNetwork):
    root.mkdir(parents=True)
    net.save(root / "network.json")
    (root / "metrics.json").write_text(json.dumps({"stage": "simulate", "dataset": "handmade", "model": "rnn",
                                                   "n_test": 0, "accuracy": 0.0, "seed": 0}))
    return root


def _one_layer(n_in: int, n: int, weight: int, neuron: str = "dpi", kind: str = "rate") -> SpikingNetwork:
    pop = Population("hidden", n, neuron_params(neuron, dict(DPI) if neuron == "dpi" else {}))
    proj = Projection("in", "input", "hidden", "AMPA", np.full((n, n_in), weight), 1e-11)
    return SpikingNetwork((pop,), (proj,), InputEncoder(kind, n_in),
                          Readout("hidden", np.ones((2, n)), np.zeros(2), 100.0, 0.02))


def test_map_refuses_the_delayed_rnn_and_names_the_fix(chain, tmp_path, capsys):
    """An RNN not trained for the chip converts with one-step recurrent delays: refused."""
    train = tmp_path / "train"
    assert main(["train", "--model", "rnn", "--dataset", "digits", "--hidden", "8", "--epochs", "1",
                 "--limit-train", "100", "--limit-test", "10", "--out", str(train), "--quiet"]) == 0
    assert main(["quantize", str(train), "--epochs", "1", "--out", str(tmp_path / "q"), "--quiet"]) == 0
    assert main(["simulate", str(tmp_path / "q"), "--neuron", "dpi", "--input-coding", "rate",
                 "--out", str(tmp_path / "s"), "--quiet"]) == 0
    capsys.readouterr()
    code = main(["map", str(tmp_path / "s"), "--out", str(tmp_path / "m"), "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_DOES_NOT_FIT and len(err.strip().splitlines()) == 1
    assert "rule axonal_delays:" in err and "--chip dynapse1" in err


UNFIT = {  # a network that breaks one rule, and the rule
    "300 inputs into one neuron": (lambda: _one_layer(300, 1, 1), "cam_fan_in"),
    "5000 neurons": (lambda: _one_layer(2, 5000, 0), "neurons_per_board"),
    "LIF neurons": (lambda: _one_layer(4, 3, 1, neuron="lif"), "neuron_model"),
    "current-coded input": (lambda: _one_layer(4, 3, 1, kind="current"), "input_encoder"),
}


@pytest.mark.parametrize("case", list(UNFIT))
def test_map_refuses_a_network_that_does_not_fit(tmp_path, capsys, case):
    build, rule = UNFIT[case]
    run = _network_dir(tmp_path / "sim", build())
    code = main(["map", str(run), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_DOES_NOT_FIT
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"rule {rule}:" in err
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_upload_without_samna_refuses_clearly(chain, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "samna", None)  # samna absent even where it is installed
    code = main(["upload", str(chain / "map"), "--out", str(tmp_path / "up")])
    err = capsys.readouterr().err
    assert code == EXIT_NO_BOARD
    assert len(err.strip().splitlines()) == 1 and "samna" in err and "nothing was uploaded" in err
    assert not (tmp_path / "up" / "metrics.json").exists()


def test_stages_refuse_the_wrong_run_directory(chain, tmp_path, capsys):
    assert main(["emulate", str(chain / "sim"), "--out", str(tmp_path / "e"), "--quiet"]) == EXIT_BAD_INPUT
    assert "emulate needs a map or calibrate run" in capsys.readouterr().err
    assert main(["map", str(chain / "quant"), "--out", str(tmp_path / "m"), "--quiet"]) == EXIT_BAD_INPUT
    assert "map needs a simulate or finetune run" in capsys.readouterr().err
    assert main(["simulate", str(chain / "quant"), "--neuron", "lif", "--chip", "dynapse1",
                 "--out", str(tmp_path / "s"), "--quiet"]) == EXIT_BAD_INPUT
    assert "--chip snaps the DPI parameters" in capsys.readouterr().err


def test_lsnn_trained_for_the_chip_maps_as_two_populations(tmp_path):
    """An LSNN goes the whole chip path: DPI populations (adaptive and plain on their own cores)
    with spike input, snapped, mapped and emulated spike for spike."""
    q = ["--quiet"]
    assert main(["train", "--model", "lsnn", "--dataset", "recall", "--chip", "dynapse1", "--hidden", "16",
                 "--epochs", "1", "--limit-train", "100", "--limit-test", "12", "--out", str(tmp_path / "t")] + q) == 0
    assert main(["quantize", str(tmp_path / "t"), "--epochs", "1", "--out", str(tmp_path / "q")] + q) == 0
    assert main(["simulate", str(tmp_path / "q"), "--out", str(tmp_path / "s")] + q) == 0
    sim = _metrics(tmp_path / "s")
    assert (sim["neuron"], sim["input_coding"], sim["snapped_to_chip"]) == ("dpi", "rate", "dynapse1")
    net = SpikingNetwork.load(tmp_path / "s" / "network.json")
    assert [p.name for p in net.populations] == ["adaptive", "plain"]
    assert main(["map", str(tmp_path / "s"), "--out", str(tmp_path / "m")] + q) == 0
    assert _metrics(tmp_path / "m")["cores_used"] == 2
    assert main(["emulate", str(tmp_path / "m"), "--out", str(tmp_path / "e")] + q) == 0
    assert _metrics(tmp_path / "e")["agreement_with_simulation"] == 1.0


def test_lsnn_without_adaptation_is_one_plain_population(tmp_path):
    """``--adaptive-fraction 0`` (the control of the memory task): no adaptive neuron, so the
    chip network holds only the plain population."""
    q = ["--quiet"]
    assert main(["train", "--model", "lsnn", "--dataset", "recall", "--chip", "dynapse1", "--hidden", "8",
                 "--adaptive-fraction", "0", "--epochs", "1", "--limit-train", "60", "--limit-test", "6",
                 "--out", str(tmp_path / "t")] + q) == 0
    # a memory task is read at its last element (the recall cue), not over the whole sequence,
    # which would show the readout the stored pattern while it is presented
    extra = Checkpoint.load(tmp_path / "t").config.extra
    assert extra["readout"] == "last" and extra["adaptive_fraction"] == 0
    assert main(["quantize", str(tmp_path / "t"), "--epochs", "1", "--out", str(tmp_path / "q")] + q) == 0
    assert main(["simulate", str(tmp_path / "q"), "--out", str(tmp_path / "s")] + q) == 0
    net = SpikingNetwork.load(tmp_path / "s" / "network.json")
    assert [p.name for p in net.populations] == ["plain"]
    assert net.readout.window == pytest.approx(net.step_duration)  # counts of the last element only


def test_emulate_with_noise_is_reproducible_and_differs_from_the_quiet_chip(tmp_path, chain):
    """``emulate --noise``: the same chip and seed give the same spikes; the noise changes them."""
    runs = {}
    for name, noise in (("quiet", "0"), ("noisy", "1e-11"), ("noisy_again", "1e-11")):
        assert main(["emulate", str(chain / "map"), "--noise", noise, "--mismatch", "0.2", "--seed", "1",
                     "--limit-test", "6", "--out", str(tmp_path / name), "--quiet"]) == 0
        runs[name] = _metrics(tmp_path / name)
    assert runs["noisy"]["noise"] == 1e-11 and runs["quiet"]["noise"] == 0.0
    assert runs["noisy"]["spikes_per_inference"] == runs["noisy_again"]["spikes_per_inference"]
    assert runs["noisy"]["spikes_per_inference"] != runs["quiet"]["spikes_per_inference"]
