"""NIR round trips against the real snnTorch 1.0.0 (nir 1.0.8, nirtorch 2.6): see docs/NIR.md."""

from __future__ import annotations

import numpy as np
import pytest

nir = pytest.importorskip("nir")
snn = pytest.importorskip("snntorch")
torch = pytest.importorskip("torch")
from snntorch.export_nir import export_to_nir  # noqa: E402
from snntorch.import_nir import import_from_nir  # noqa: E402

from brian_models import nir_io  # noqa: E402
from brian_models.description import SpikingNetwork  # noqa: E402
from brian_models.parameters import DPIParams  # noqa: E402
from experiments.cli import main  # noqa: E402

H, F, C = 32, 8, 10


class RecurrentSNN(torch.nn.Module):
    """Linear -> RLeaky (all-to-all) -> Linear, ternary weights, reset to zero (what NIR's
    ``v_reset = 0`` and snnTorch's import say), no reset delay."""

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.fc = torch.nn.Linear(F, H)
        self.lif = snn.RLeaky(beta=0.98, threshold=1.0, all_to_all=True, linear_features=H,
                              reset_mechanism="zero", reset_delay=False)
        self.out = torch.nn.Linear(H, C)
        with torch.no_grad():
            for w, a in ((self.fc.weight, 0.06), (self.lif.recurrent.weight, 0.2)):
                w.copy_(a * torch.randint(-1, 2, w.shape, generator=g).float())
            self.fc.bias.fill_(0.01)
            self.lif.recurrent.bias.zero_()

    def step(self, x, spk, mem):
        spk, mem = self.lif(self.fc(x), spk, mem)
        return self.out(spk), spk, mem

    @torch.no_grad()
    def run(self, x):
        spk, mem = self.lif.init_rleaky()
        outs, spikes = [], []
        for t in range(x.shape[1]):
            o, spk, mem = self.step(x[:, t], spk, mem)
            outs.append(o)
            spikes.append(spk)
        return torch.stack(outs, 1).numpy(), torch.stack(spikes, 1).numpy().astype(bool)


class _OneStep(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.fc, self.lif, self.out = net.fc, net.lif, net.out

    def forward(self, x):
        return self.out(self.lif(self.fc(x))[0])


def _snntorch_graph(net):
    return export_to_nir(_OneStep(net), torch.zeros(1, F), ignore_dims=[0])


@pytest.fixture(scope="module")
def snn_net():
    return RecurrentSNN()


@pytest.fixture(scope="module")
def inputs(digits):
    return nir_io.present(digits.X_test[:24], 25).astype(np.float32)  # 8 elements x 25 steps


def test_snntorch_rleaky_imports_with_the_same_spikes(snn_net, inputs, tmp_path):
    """(a) snnTorch's export, read here and carried by a description: spike for spike."""
    out_ref, spikes_ref = snn_net.run(torch.as_tensor(inputs))
    assert spikes_ref.sum() > 1000
    path = tmp_path / "snntorch.nir"
    nir.write(str(path), _snntorch_graph(snn_net))
    imported = nir_io.read(path)
    desc = nir_io.to_description(imported)
    assert [p.name for p in desc.projections] == ["in_exc", "in_inh", "rec_exc", "rec_inh"]
    assert desc.population("lif").params.synapse.tau_ampa == nir_io.DT  # one-step pulse synapses
    again = nir_io.from_description(desc)
    for net in (imported, again):
        out, spikes = nir_io.run(net, inputs, dtype=np.float32)
        assert np.array_equal(spikes["lif"], spikes_ref)
        assert np.allclose(out, out_ref, atol=1e-5)


def test_export_imports_in_snntorch_with_the_same_predictions(snn_net, digits, tmp_path):
    """(b) a network exported here runs in snnTorch as it runs here (digits test slice)."""
    graph = _snntorch_graph(snn_net)
    net = nir_io.from_graph(graph)
    desc = nir_io.to_description(net, step_duration=25 * nir_io.DT)
    path = nir_io.write(desc, tmp_path / "here.nir")
    module = import_from_nir(nir.read(str(path)))
    X = digits.X_test[:60]
    ours, _ = nir_io.predict(nir_io.read(path), X, 25, 25)
    x = torch.as_tensor(nir_io.present(X, 25), dtype=torch.float32)
    state, outs = None, []
    with torch.no_grad():
        for t in range(x.shape[1]):
            o, state = module(x[:, t], state)
            outs.append(o)
    theirs = torch.stack(outs, 1)[:, -25:].sum(1).argmax(1).numpy()
    assert np.mean(ours == theirs) >= 0.99


def test_export_then_import_is_exact(snn_net, tmp_path):
    """(c) description -> NIR file -> description: the same weights, parameters and readout."""
    desc = nir_io.to_description(nir_io.from_graph(_snntorch_graph(snn_net)), step_duration=0.02)
    back = nir_io.to_description(nir_io.read(nir_io.write(desc, tmp_path / "x.nir")))
    assert back.to_dict()["populations"] == desc.to_dict()["populations"]
    assert back.encoder == desc.encoder and back.step_duration == desc.step_duration
    for a, b in zip(desc.projections, back.projections, strict=True):
        assert (a.name, a.pre, a.post, a.synapse, a.efficacy, a.delay) == (b.name, b.pre, b.post, b.synapse,
                                                                          b.efficacy, b.delay)
        assert np.array_equal(a.weights, b.weights)
    ro, rb = desc.readout, back.readout
    assert (ro.population, ro.rate_scale, ro.window, ro.leak) == (rb.population, rb.rate_scale, rb.window, rb.leak)
    assert np.allclose(ro.weights, rb.weights, rtol=1e-12, atol=0) and np.allclose(ro.bias, rb.bias, rtol=1e-12)


def test_what_nir_cannot_carry_is_refused_in_one_line(snn_net, tmp_path, capsys):
    desc = nir_io.to_description(nir_io.from_graph(_snntorch_graph(snn_net)))
    pop = desc.populations[0]
    dpi = SpikingNetwork((type(pop)(pop.name, pop.size, DPIParams.dynapse1()),), desc.projections,
                         desc.encoder, desc.readout)
    with pytest.raises(nir_io.NIRError, match="NIR has no DPI node"):
        nir_io.from_description(dpi)
    conv = nir.NIRGraph(nodes={"input": nir.Input(np.array([1, 8, 8])),
                               "conv": nir.Conv2d(None, np.ones((2, 1, 3, 3)), 1, 1, 1, 1, np.zeros(2)),
                               "output": nir.Output(np.array([2, 8, 8]))},
                        edges=[("input", "conv"), ("conv", "output")], type_check=False)
    with pytest.raises(nir_io.NIRError, match="'conv' is a Conv2d"):
        nir_io.from_graph(conv)
    delay = nir.NIRGraph(nodes={"input": nir.Input(np.array([8])), "d": nir.Delay(np.full(8, 0.01)),
                                "output": nir.Output(np.array([8]))},
                         edges=[("input", "d"), ("d", "output")])
    path = tmp_path / "delay.nir"
    nir.write(str(path), delay)
    assert main(["import", str(path), "--out", str(tmp_path / "run")]) == 1
    assert "NIR node 'd' is a Delay" in capsys.readouterr().err


def test_cli_import_then_export(snn_net, tmp_path, capsys):
    src = tmp_path / "snn.nir"
    nir.write(str(src), _snntorch_graph(snn_net))
    run = tmp_path / "imported"
    assert main(["import", str(src), "--steps-per-element", "25", "--limit-test", "40", "--out", str(run),
                 "--quiet"]) == 0
    m = __import__("json").loads((run / "metrics.json").read_text())
    assert m["stage"] == "import" and m["max_fan_in"] <= 64 and m["agreement_with_float"] == 1.0
    assert main(["export", str(run), "--nir", str(tmp_path / "out.nir")]) == 0
    back = nir_io.read(tmp_path / "out.nir")
    assert back.meta["steps_per_element"] == 25


def test_lif_rate_is_the_discrete_lif():
    """The f-I curve the DPI is matched to is the rate of snnTorch's update, step for step."""
    from transfer.nir_dpi import lif_rate  # noqa: PLC0415

    beta, u = 0.95, np.array([0.0, 0.04, 0.06, 0.2, 0.5, 1.0, 1.5])
    v, count = np.zeros(u.size), np.zeros(u.size)
    for _ in range(4000):
        v = beta * v + u
        count += v > 1
        v = np.where(v > 1, 0.0, v)
    assert np.allclose(lif_rate(u, beta, 1.0), count / 4000, atol=1e-3)


def test_cli_import_simulate_dpi_map_emulate(snn_net, tmp_path, capsys):
    """An snnTorch RLeaky network: import -> simulate on DPI neurons with spike input, snapped
    -> map -> emulate (nominal and on a mismatched chip), the usual metrics at every stage."""
    import json  # noqa: PLC0415

    src = tmp_path / "snn.nir"
    nir.write(str(src), _snntorch_graph(snn_net))
    runs = {k: tmp_path / k for k in ("imp", "sim", "map", "emu", "emu02")}
    assert main(["import", str(src), "--steps-per-element", "25", "--limit-test", "30", "--out", str(runs["imp"]),
                 "--quiet"]) == 0
    assert main(["simulate", str(runs["imp"]), "--neuron", "dpi", "--chip", "dynapse1", "--out", str(runs["sim"]),
                 "--quiet"]) == 0
    sim = json.loads((runs["sim"] / "metrics.json").read_text())
    net = SpikingNetwork.load(runs["sim"] / "network.json")
    assert net.encoder.kind == "rate" and all(p.neuron == "dpi" for p in net.populations)
    assert all(p.delay == 0 for p in net.projections) and net.step_duration == pytest.approx(10 * 25 * nir_io.DT)
    assert sim["n_test"] == 30 and sim["model"] == "nir" and sim["snapped_to_chip"] == "dynapse1"
    for key in ("accuracy", "ann_accuracy", "agreement_with_ann", "spikes_per_inference", "imported_accuracy"):
        assert key in sim
    assert sim["spikes_per_inference"] > 0
    assert main(["map", str(runs["sim"]), "--out", str(runs["map"]), "--quiet"]) == 0
    mapped = json.loads((runs["map"] / "metrics.json").read_text())
    assert mapped["max_fan_in"] <= 64 and mapped["ann_source"] == str(runs["imp"].resolve())
    assert main(["emulate", str(runs["map"]), "--out", str(runs["emu"]), "--quiet"]) == 0
    assert main(["emulate", str(runs["map"]), "--mismatch", "0.2", "--seed", "1", "--out", str(runs["emu02"]),
                 "--quiet"]) == 0
    emu = json.loads((runs["emu"] / "metrics.json").read_text())
    assert emu["n_test"] == 30 and emu["ann_accuracy"] == sim["ann_accuracy"]
    assert emu["agreement_with_simulation"] >= 0.9  # the board holds the snapped network
    assert emu["cpu_macs_per_inference"] > 0 and emu["energy_joules_per_inference"] > 0
    emu02 = json.loads((runs["emu02"] / "metrics.json").read_text())
    assert emu02["mismatch"] == 0.2 and "agreement_with_ann" in emu02
    capsys.readouterr()
    assert main(["simulate", str(runs["imp"]), "--neuron", "adex", "--out", str(tmp_path / "x")]) == 1
    assert "LIF neurons (as imported) or DPI" in capsys.readouterr().err
