"""ChipNetwork: its forward pass is Brian2's simulation of what it writes back; it trains within the chip's rules."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from brian_models.description import InputEncoder, Population, Projection, Readout, SpikingNetwork
from brian_models.network import SimulationSettings
from brian_models.parameters import DYNAPSE1_SMALLEST_BIAS, neuron_params
from brian_models.simulate import simulate
from transfer.chip_network import DYNAPSE1_LARGEST_BIAS, ChipNetwork, readout_scores_torch

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("coding, cv", [("rate", 0.2), ("current", 0.0)])
def test_forward_is_brian2_on_the_written_back_network(chip_net, coding, cv):
    """After changing weights and biases, the module's counts and scores are Brian2's on to_description()."""
    net = chip_net("dpi", coding, 0.02)
    model = ChipNetwork(net, dtype=torch.float64, device="cpu", mismatch=cv, mismatch_seed=3, phase_seed=2).eval()
    with torch.no_grad():
        for w in model.latent.values():
            w.mul_(-1.0)  # every CAM entry changes sign: the excitatory and inhibitory projections swap
        for v in model.log_efficacy.values():
            v.add_(0.3)
        model.dc_pA["hidden"].add_(5.0)
    X = np.random.default_rng(1).random((4, 5, 3))
    with torch.no_grad():
        scores, counts = model(torch.as_tensor(X), return_counts=True)
    desc = model.to_description()
    assert not np.array_equal(desc.projections[3].weights, net.projections[3].weights)
    ref = simulate(desc, X, SimulationSettings(batch_size=4, mismatch=cv, mismatch_seed=3, seed=2), progress=False)
    assert ref.counts["hidden"].sum() > 20
    assert np.array_equal(counts["hidden"].numpy().astype(int), ref.counts["hidden"])
    np.testing.assert_allclose(scores.numpy(), ref.scores, rtol=1e-12, atol=1e-12)


def _dense_net(n: int = 6, F: int = 10, density: float = 1.0, seed: int = 0) -> SpikingNetwork:
    """LIF network whose input entries are excitatory with probability ``density`` (the
    others, below 1, inhibitory) and whose recurrence is all-to-all excitatory."""
    rng = np.random.default_rng(seed)
    draw = rng.random((n, F))
    exc = (draw < density).astype(np.int64)
    inh = (draw >= density).astype(np.int64) if density < 1 else 0 * exc
    rec = np.ones((n, n), dtype=np.int64) - np.eye(n, dtype=np.int64)
    pop = Population("hidden", n, neuron_params("lif"), bias_current=np.full(n, 120e-12))
    projs = (Projection("in_exc", "input", "hidden", "AMPA", exc, 400e-12),
             Projection("in_inh", "input", "hidden", "GABA_B", inh, 400e-12),
             Projection("rec_exc", "hidden", "hidden", "AMPA", rec, 300e-12),
             Projection("rec_inh", "hidden", "hidden", "GABA_B", 0 * rec, 300e-12))
    readout = Readout("hidden", rng.normal(0, 0.1, (2, n)), np.zeros(2), 100.0, 0.01)
    return SpikingNetwork((pop,), projs, InputEncoder("rate", F, 200.0), readout, 0.01)


def test_ternary_entries_split_by_sign_and_respect_the_fan_in_cap():
    net = _dense_net()
    model = ChipNetwork(net, max_fan_in=8, device="cpu")
    with torch.no_grad():
        latent = next(iter(model.latent.values()))  # the input pair
        latent[0, :3] = torch.tensor([1.0, -1.0, 0.2])
    desc = model.to_description()
    w = {p.name: p.weights for p in desc.projections}
    fan_in = sum(np.count_nonzero(m, axis=1) for m in w.values())
    assert fan_in.max() == 8
    assert w["in_exc"][0, 0] == 1 and w["in_inh"][0, 1] == 1 and w["in_exc"][0, 2] == w["in_inh"][0, 2] == 0
    assert not np.any(w["in_exc"] * w["in_inh"]) and not np.any(w["rec_exc"] * w["rec_inh"])
    assert set(np.unique(np.concatenate([m.ravel() for m in w.values()]))) <= {0, 1}


def test_currents_and_time_constants_stay_within_their_bounds():
    net = _dense_net()
    model = ChipNetwork(net, train_taus=True, tau_bounds=(1e-3, 0.5), device="cpu")
    with torch.no_grad():
        for v in model.log_efficacy.values():
            v.fill_(np.log(1e-9))
    efficacies = {k: float(v.detach()) for k, v in model.efficacies().items()}
    assert efficacies["in_exc"] == pytest.approx(1e-9)  # the largest of its core and type
    assert efficacies["rec_exc"] == pytest.approx(0.75e-9)  # keeps the template's ratio 300/400
    with torch.no_grad():
        for v in model.log_efficacy.values():
            v.fill_(0.0)  # 1 A
        model.dc_pA["hidden"].fill_(-5.0)
        for v in model.log_tau.values():
            v.fill_(-20.0)
    assert all(float(e.detach()) == pytest.approx(DYNAPSE1_LARGEST_BIAS) for e in model.efficacies().values())
    assert float(model.dc_currents()["hidden"].detach().min()) == 0.0
    assert all(float(t.detach()) == pytest.approx(1e-3) for t in model.time_constants()["hidden"].values())
    desc = model.to_description()
    assert desc.populations[0].params.tau_mem == pytest.approx(1e-3)
    model.clamp_()
    assert float(model.dc_pA["hidden"].detach()) == 0.0
    with torch.no_grad():
        for v in model.log_efficacy.values():
            v.fill_(-60.0)
    assert all(float(e.detach()) == pytest.approx(DYNAPSE1_SMALLEST_BIAS) for e in model.efficacies().values())
    model.clamp_()
    assert all(float(v.detach()) == pytest.approx(np.log(DYNAPSE1_SMALLEST_BIAS)) for v in model.log_efficacy.values())


def test_training_lowers_the_loss_through_the_surrogate():
    """Adam on a two-class toy task (which channel is on) lowers the loss; every kind of parameter learns."""
    net = _dense_net(n=6, F=4, density=0.6)
    X = torch.zeros(8, 3, 4, dtype=torch.float64)
    y = torch.arange(8) % 2
    X[y == 0, :, :2] = 1.0
    X[y == 1, :, 2:] = 1.0
    model = ChipNetwork(net, dt=5e-4, max_fan_in=6, device="cpu", dtype=torch.float64)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(12):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X), y)
        loss.backward()
        if not losses:
            grads = {name: p.grad for name, p in model.named_parameters()}
            assert all(g is not None and torch.any(g != 0) for g in grads.values()), grads
        opt.step()
        model.clamp_()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]


def test_mismatch_aware_training_draws_a_new_chip_per_forward(chip_net):
    net = chip_net("lif", "rate", 0.0)
    X = torch.as_tensor(np.random.default_rng(1).random((2, 2, 3)))
    model = ChipNetwork(net, mismatch=0.3, mismatch_aware=True, device="cpu", dtype=torch.float64)
    with torch.no_grad():
        train = [model(X) for _ in range(2)]
        model.eval()
        frozen = [model(X) for _ in range(2)]
    assert not torch.equal(train[0], train[1])
    assert torch.equal(frozen[0], frozen[1])


def test_refuses_what_the_chip_cannot_hold():
    net = _dense_net()
    doubled = replace(net, projections=(replace(net.projections[0], weights=2 * net.projections[0].weights),)
                      + net.projections[1:])
    with pytest.raises(ValueError, match="above 1"):
        ChipNetwork(doubled, device="cpu")
    with pytest.raises(ValueError, match="max_fan_in"):
        ChipNetwork(net, max_fan_in=0, device="cpu")
    with pytest.raises(ValueError, match="shape"):
        ChipNetwork(net, device="cpu")(torch.zeros(2, 3, 4))


def test_gradients_stay_bounded_over_a_long_recurrent_run(chip_net):
    """400 ms (800 steps of 0.5 ms) of a 48-neuron recurrent DPI network with every synapse type.

    With the defaults (spike mechanism detached, ``gamma = 0.3``) the largest gradient is
    0.48 (measured); keeping the reset's and upswing's gradients with ``gamma = 1`` it was
    2e107: the explosion :mod:`transfer.chip_dynamics` describes.
    """
    net = chip_net("dpi", "rate", 0.0, n=48, F=8, seed=1)
    X = torch.as_tensor(np.random.default_rng(0).random((4, 20, 8)))
    y = torch.tensor([0, 1, 2, 0])
    largest = {}
    for name, kwargs, detach in [("default", {}, True), ("raw", {"gamma": 1.0}, False)]:
        model = ChipNetwork(net, dt=5e-4, device="cpu", dtype=torch.float64, **kwargs)
        torch.nn.functional.cross_entropy(model(X, detach=detach), y).backward()
        largest[name] = max(float(p.grad.abs().max()) for p in model.parameters())
    assert largest["default"] < 10
    assert largest["raw"] > 1e50


@pytest.mark.parametrize("slices, leak, transform", [(1, 1.0, "linear"), (1, 0.5, "linear"), (4, 1.0, "linear"),
                                                      (2, 0.5, "linear"), (1, 1.0, "sqrt"), (2, 0.5, "sqrt")])
def test_torch_readout_equals_the_numpy_readout(slices, leak, transform):
    """Scores of one readout in torch and numpy, whole runs and per-sample ends, plain and sliced,
    on rates and on their square roots."""
    rng = np.random.default_rng(0)
    step = 0.02
    ro = Readout("p", rng.normal(size=(3, 5 * slices)), rng.normal(size=3), rate_scale=40.0,
                 window=4 * step, leak=leak, slices=slices, transform=transform)
    counts = rng.integers(0, 5, (6, 7, 5)).astype(float)
    ends = np.array([1, 2, 3, 5, 7, 7])
    for end in (None, ends):
        got = readout_scores_torch(ro, torch.as_tensor(counts), step,
                                   ends=None if end is None else torch.as_tensor(end))
        np.testing.assert_allclose(got.numpy(), ro.scores(counts, step, end), rtol=1e-12, atol=1e-12)


def test_square_root_readout_has_finite_gradients_at_silent_neurons():
    """A neuron that never fires reads 0 and passes a zero gradient, not the infinite slope of
    the square root at 0; a firing one passes d sqrt(r)/dr = 1 / (2 sqrt(r))."""
    ro = Readout("p", np.ones((1, 2)), np.zeros(1), rate_scale=50.0, window=0.02, transform="sqrt")
    counts = torch.tensor([[[0.0, 4.0]]], requires_grad=True)
    readout_scores_torch(ro, counts, 0.02).sum().backward()
    rate = 4.0 / (0.02 * 50.0)
    np.testing.assert_allclose(counts.grad.numpy()[0, 0], [0.0, 1 / (2 * np.sqrt(rate)) / (0.02 * 50.0)])
