"""The network description layer: typed parameters, the file formats, per-population mismatch
streams, and Brian2's state left as the caller chose it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from brian2 import prefs
from brian2.devices.device import get_device

from brian_models.calibrate import measure_fi_curve
from brian_models.description import FORMAT, Population, SpikingNetwork, replicate
from brian_models.mismatch import draw_chip
from brian_models.network import SimulationSettings
from brian_models.parameters import DPIParams, LIFParams, neuron_params
from brian_models.simulate import simulate

DATA = Path(__file__).resolve().parent / "data"


def test_format_1_file_reads_and_runs_as_when_it_was_written():
    """``network_v1.json`` was written by ``transfer.spec`` at 072048a (partial parameter dicts)
    and simulated there; the counts it gave are in ``network_v1_counts.npz``."""
    net = SpikingNetwork.load(DATA / "network_v1.json")
    hidden, out = net.populations
    assert isinstance(hidden.params, DPIParams) and isinstance(out.params, LIFParams)
    # given values kept, the rest from the model's preset
    assert hidden.params.t_ref == 2.5e-4 and hidden.params.synapse.tau_nmda == 0.04
    assert hidden.params.I_tau == DPIParams.dynapse1().I_tau
    assert out.params.tau_mem == 5e-3 and out.params.R_mem == LIFParams.default().R_mem
    with np.load(DATA / "network_v1_counts.npz") as f:
        X, expected = f["X"], {k[len("counts_"):]: f[k] for k in f.files if k.startswith("counts_")}
    result = simulate(net, X, SimulationSettings(batch_size=3), progress=False)
    assert sum(c.sum() for c in expected.values()) > 100
    for name, counts in expected.items():
        np.testing.assert_array_equal(result.counts[name], counts)


def test_format_2_round_trip_is_exact(tmp_path):
    net = SpikingNetwork.load(DATA / "network_v1.json")
    path = net.save(tmp_path)
    text = path.read_text()
    assert FORMAT in text
    again = SpikingNetwork.load(path)
    assert again.to_dict() == net.to_dict()
    assert again.populations[0].params == net.populations[0].params


def test_unreadable_files_name_the_file(tmp_path):
    bad = tmp_path / "network.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="network.json holds a JSON list"):
        SpikingNetwork.load(tmp_path)
    bad.write_text('{"format": "rnn2dynapse.SpikingNetwork/9"}')
    with pytest.raises(ValueError, match="network.json: unknown network format"):
        SpikingNetwork.load(bad)


def test_adding_a_population_leaves_the_other_draws_unchanged():
    net = SpikingNetwork.load(DATA / "network_v1.json")
    extra = Population("extra", 7, neuron_params("dpi"))
    bigger = replace(net, populations=(extra,) + net.populations)
    a, b = draw_chip(net, 0.2, seed=3), draw_chip(bigger, 0.2, seed=3)
    for name in ("hidden", "out"):
        for key, factors in a.neuron[name].items():
            np.testing.assert_array_equal(factors, b.neuron[name][key])
    for name, factors in a.synapse.items():
        np.testing.assert_array_equal(factors, b.synapse[name])
    assert set(b.neuron["extra"]) == set(DPIParams.mismatch_keys)
    # another seed is another chip; CV 0 draws nothing
    assert not np.array_equal(draw_chip(net, 0.2, seed=4).neuron["hidden"]["I_tau"], a.neuron["hidden"]["I_tau"])
    assert draw_chip(net, 0.0, seed=3).neuron == {}


def test_calibration_leaves_the_callers_brian2_state_alone():
    before_device, before_target = get_device(), prefs.codegen.target
    prefs.codegen.target = "cython"
    try:
        rates = measure_fi_curve(neuron_params("lif"), np.array([0.0, 3e-10]), duration=0.2)
        assert rates[0] == 0 and rates[1] > 10
        assert prefs.codegen.target == "cython" and get_device() is before_device
    finally:
        prefs.codegen.target = before_target


def test_readout_of_two_populations_reads_them_side_by_side(tmp_path):
    net = SpikingNetwork.load(DATA / "network_v1.json")
    hidden, out = net.populations
    w = np.arange(2 * (hidden.size + out.size), dtype=float).reshape(2, -1) / 10
    two = replace(net, readout=replace(net.readout, population=("hidden", "out"), weights=w))
    counts = {"hidden": np.ones((1, 4, hidden.size)), "out": 2 * np.ones((1, 4, out.size))}
    features = np.concatenate([counts["hidden"], counts["out"]], axis=2)
    np.testing.assert_array_equal(two.readout.gather(counts), features)
    again = SpikingNetwork.load(two.save(tmp_path))
    assert again.readout.populations == ("hidden", "out") and again.readout == two.readout
    with pytest.raises(ValueError, match="has 9 neurons"):
        replace(net, readout=replace(net.readout, population=("hidden", "out")))


def test_replicated_readout_of_two_populations_in_slices_scores_identical_copies_as_the_original():
    """``replicate`` repeats each population's columns, slice by slice, for that population's
    copies: copies that fire as the original give the original's scores."""
    net = SpikingNetwork.load(DATA / "network_v1.json")
    hidden, out = net.populations
    rng = np.random.default_rng(0)
    ro = replace(net.readout, population=("hidden", "out"), slices=2, window=2 * net.step_duration,
                 weights=rng.normal(size=(2, 2 * (hidden.size + out.size))))
    two = replace(net, readout=ro)
    k = 3
    rep = replicate(two, k)
    counts = {"hidden": rng.integers(0, 5, (4, 3, hidden.size)), "out": rng.integers(0, 5, (4, 3, out.size))}
    copied = {name: np.tile(c, (1, 1, k)) for name, c in counts.items()}  # unit j of copy c at c * size + j
    np.testing.assert_allclose(rep.readout.scores(rep.readout.gather(copied), net.step_duration),
                               ro.scores(ro.gather(counts), net.step_duration), rtol=1e-12)
