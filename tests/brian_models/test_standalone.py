"""cpp_standalone against the runtime numpy target: same spikes, one compile for many batches.

The only test that compiles C++ (about 10 s on an idle 2-core machine); it runs in CI too.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import brian2
import numpy as np
import pytest

from brian_models.network import BatchNetwork, SimulationSettings
from brian_models.description import InputEncoder, Population, Projection, Readout, SpikingNetwork
from brian_models.parameters import neuron_params

pytestmark = pytest.mark.slow

STEP = 0.02


def recurrent_net() -> SpikingNetwork:
    """Current-coded input (the conversion default) into 8 LIF neurons with excitatory,
    inhibitory (subtractive and shunting) and delayed recurrence, read by 3 output neurons.

    No NMDA synapse: the network's arithmetic is then +, -, * and / only, which numpy and C++
    (compiled without fast-math) evaluate to the same IEEE doubles, so the spikes must agree
    exactly; a libm ``tanh`` could differ from numpy's in the last bit.
    """
    rng = np.random.default_rng(7)
    F, H, O = 5, 8, 3
    projections = (
        Projection("in", "input", "hid", "AMPA", rng.integers(1, 3, (H, F)), 100e-12),
        Projection("in_inh", "input", "hid", "GABA_B", rng.integers(0, 2, (H, F)), 30e-12),
        Projection("rec_exc", "hid", "hid", "AMPA", (rng.random((H, H)) < 0.5).astype(int), 60e-12, delay=2e-3),
        Projection("rec_inh", "hid", "hid", "GABA_B", (rng.random((H, H)) < 0.3).astype(int), 60e-12),
        Projection("rec_shunt", "hid", "hid", "GABA_A", (rng.random((H, H)) < 0.2).astype(int), 40e-12),
        Projection("out", "hid", "out", "AMPA", rng.integers(1, 3, (O, H)), 80e-12, delay=1e-3),
    )
    populations = (Population("hid", H, neuron_params("lif"), bias_current=np.full(H, 60e-12)),
                   Population("out", O, neuron_params("lif"), bias_current=np.full(O, 100e-12)))
    return SpikingNetwork(populations, projections, InputEncoder("current", F),
                          Readout("out", np.eye(O), np.zeros(O), 100.0, STEP), STEP)


def test_standalone_matches_runtime_and_reruns_without_compiling(tmp_path: Path):
    net = recurrent_net()
    T, B = 6, 8
    rng = np.random.default_rng(11)
    batches = [rng.uniform(0, 1, (B, T, 5)), rng.uniform(0, 1, (B, T, 5)), rng.uniform(0, 1, (5, T, 5))]
    settings = SimulationSettings(batch_size=B, mismatch=0.2, mismatch_seed=3, seed=2,
                                  build_dir=str(tmp_path / "brian"))
    with BatchNetwork(net, T, settings) as runtime:
        expected = [runtime.run(X) for X in batches]
    assert all(c["hid"].sum() > 0 and c["out"].sum() > 0 for c in expected)

    cwd_before = set(os.listdir("."))
    standalone = BatchNetwork(net, T, replace(settings, device="cpp_standalone"))
    try:
        got = [standalone.run(batches[0])]
        compile_seconds = standalone.compile_seconds
        binary = tmp_path / "brian" / "standalone" / "main"
        assert compile_seconds > 0 and binary.is_file()
        built_at = binary.stat().st_mtime_ns
        t0 = time.perf_counter()
        got.append(standalone.run(batches[1]))
        rerun_seconds = time.perf_counter() - t0
        got.append(standalone.run(batches[2]))  # a partial batch: padded, same binary
        # no recompilation: the binary is untouched and the compile time was counted once
        assert binary.stat().st_mtime_ns == built_at
        assert standalone.compile_seconds == compile_seconds
        assert rerun_seconds < compile_seconds / 3, (rerun_seconds, compile_seconds)
    finally:
        standalone.close()
    assert type(brian2.get_device()).__name__ == "RuntimeDevice"
    assert set(os.listdir(".")) == cwd_before  # everything went to tmp_path

    for b, (want, have) in enumerate(zip(expected, got)):
        for name in ("hid", "out"):
            assert have[name].shape == want[name].shape
            np.testing.assert_array_equal(have[name], want[name], err_msg=f"batch {b}, {name}")
    # the batches differ, so agreeing on each is not a coincidence
    assert not np.array_equal(got[0]["hid"], got[1]["hid"])

    # after close() the runtime device works again in this process
    with BatchNetwork(net, T, settings) as again:
        np.testing.assert_array_equal(again.run(batches[0])["hid"], expected[0]["hid"])
