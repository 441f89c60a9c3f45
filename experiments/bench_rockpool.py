"""Peer simulators: the same recurrent DPI network in Brian2, Rockpool's DynapSim and the torch chip model.

    python -m experiments.bench_rockpool [--neurons 128] [--samples 128] [--batch 64] [--steps 28]
                                         [--no-standalone] [--brian-dts 0.1 0.2] [--no-record] [--threads 2]
                                         [--torch-dts 0.1 0.2 0.5] [--torch-batches 16 64 256] [--no-torch]
                                         [--torch-modes eager compiled] [--torch-threads 1 2]
                                         [--torch-jobs 1 2]
                                         [--train-dts 0.5 0.2 0.1] [--train-batches 2] [--no-train]

Rockpool with jax (``pip install -c constraints.txt -e '.[rockpool]'``) is an optional extra: without
it the DynapSim row is skipped (one line says so) and the other rows run.

The network: ``--neurons`` DPI neurons (:mod:`brian_models.dpi`, DYNAP-SE1 preset) driven by
28 rate-coded input channels (regular spikes, 500 Hz for a white pixel, 8 input synapses per
neuron) with a random sparse ternary recurrence (56 synapses per neuron, sign +1 -> AMPA,
-1 -> GABA_B, efficacy ``--w-rec``), a per-neuron DC bias around the rheobase, no delay, no
mismatch, no noise, every neuron starting at rest. Each sample is one image read row by row,
``--steps`` x 20 ms. The same connectivity, efficacies, bias currents, membrane and synapse
time constants and the same input spike trains are given to Rockpool 3.1's DynapSim
(``rockpool.devices.dynapse.DynapSim``, the DYNAP-SE2 DPI simulator in jax) at the same
``dt`` = 0.1 ms; see :func:`dynapsim_kwargs` for which parameters map and which cannot.

Measured: wall seconds to simulate the samples in (a) Brian2 runtime/numpy batched,
(b) Brian2 cpp_standalone batched (compile time apart), (c) DynapSim under ``jax.jit``
(first call, i.e. trace + compile, apart), (d) the torch chip model
(:func:`transfer.chip_model.simulate_torch`) on the CPU (CUDA when present) in float64 and
float32 at each ``--torch-dts`` and ``--torch-batches``, step by step and compiled by
``torch.compile`` (the ``torch-fast`` backend: its first batch, which traces and compiles, is
timed apart as ``compile_s``); the real-time factor (simulated
seconds per wall second) and the mean firing rate per neuron in each, as a check that the
networks are active and comparable. ``agree`` is the fraction of samples whose prediction
equals that of Brian2 runtime at dt 0.1 ms in float64, with a readout (ridge regression,
:func:`transfer.models.ridge_readout`) fitted on that run's spike counts averaged over the
sequence to the samples' labels (:func:`fit_readout`), so that predictions follow what the
network encodes; a setting is faithful when it agrees on at least 99 % (``checks`` names the
fastest faithful one, and ``x_dynapsim`` is each row's speed over DynapSim's). The integration
scheme is forward Euler in every row: the DPI equations write their clip at ``I_0`` into the
Euler step (:mod:`brian_models.dpi`), so another scheme would need other equations. ``equal_counts`` is the fraction of
(sample, window, neuron) spike counts equal to that run's. Training through the model
(:class:`transfer.chip_network.ChipNetwork`, float32, batch 64, cross-entropy, Adam): seconds
per 1000 sequences of 28 x 28 (measured over ``--train-batches`` batches and scaled) and the
peak resident memory of the process meanwhile (Linux ``VmHWM``, reset before the batches).

Threads: ``--threads`` for torch (``--torch-threads`` for the chip model's rows, each in turn;
``--torch-jobs J`` adds rows of the chip model in J processes of one thread each, whose
seconds include starting them); ``OMP_WAIT_POLICY`` is set to ``PASSIVE`` unless given,
because on a shared 2-core machine OpenMP's spinning threads made a 2-thread torch matrix
product 400 times slower (measured while other jobs ran). Writes the record
``docs/data/extra_rockpool_peer.json``, or ``docs/data/extra_chip_model_peer.json`` when
DynapSim was skipped (so that a run without Rockpool does not replace its figures).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from dataclasses import replace
from typing import Any

import numpy as np

__all__ = ["main", "peer_network", "input_spikes", "dynapsim_kwargs", "labelled_inputs", "fit_readout",
           "STEP", "DT"]

STEP = 0.02  # seconds per sequence element (real time on the chip)
DT = 1e-4  # integration step of both simulators (the DPI model's recommended_dt)
N_IN, FAN_IN_INPUT, FAN_IN_RECURRENT, MAX_RATE = 28, 8, 56, 500.0
TAU_SYN = 5e-3  # one synaptic time constant: DynapSim 3.1 has a single synapse per neuron


def _require_rockpool() -> Any:
    """Import Rockpool's DynapSim and jax, or raise ImportError with a one-line reason."""
    try:
        import jax  # noqa: PLC0415
        from rockpool.devices.dynapse import DynapSim  # noqa: PLC0415
    except ImportError as exc:  # also jax missing
        raise ImportError(f"rockpool with jax is not installed ({exc}); "
                          "install the optional extra: pip install -c constraints.txt -e '.[rockpool]'") from exc
    return jax, DynapSim


def peer_network(n: int, seed: int = 0, w_in: float = 40e-12, w_rec: float = 30e-12):
    """The random recurrent DPI network (a :class:`~brian_models.description.SpikingNetwork`)."""
    from brian_models.description import InputEncoder, Population, Projection, Readout, SpikingNetwork  # noqa: PLC0415
    from brian_models.parameters import neuron_params  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    fan_rec = min(FAN_IN_RECURRENT, n - 1)
    W_in = np.zeros((n, N_IN), dtype=np.int64)
    W_exc = np.zeros((n, n), dtype=np.int64)
    W_inh = np.zeros_like(W_exc)
    for k in range(n):
        W_in[k, rng.choice(N_IN, FAN_IN_INPUT, replace=False)] = 1
        pre = rng.choice(np.delete(np.arange(n), k), fan_rec, replace=False)
        sign = rng.choice([-1, 1], fan_rec)
        W_exc[k, pre[sign > 0]] = 1
        W_inh[k, pre[sign < 0]] = 1
    params = {"tau_ampa": TAU_SYN, "tau_gaba_b": TAU_SYN}
    hidden = Population("hidden", n, neuron_params("dpi", params), bias_current=rng.uniform(100e-12, 140e-12, n))
    projections = (
        Projection("input", "input", "hidden", "AMPA", W_in, w_in),
        Projection("rec_exc", "hidden", "hidden", "AMPA", W_exc, w_rec),
        Projection("rec_inh", "hidden", "hidden", "GABA_B", W_inh, w_rec),
    )
    readout = Readout("hidden", np.zeros((2, n)), np.zeros(2), rate_scale=100.0, window=STEP)
    return SpikingNetwork((hidden,), projections, InputEncoder("rate", N_IN, max_rate=MAX_RATE, regular=True),
                          readout, STEP, metadata={"source": "experiments.bench_rockpool"})


def input_spikes(X: np.ndarray, dt: float = DT) -> np.ndarray:
    """Regular input spikes ``[N, T * steps_per_window, channels]`` as Brian2 makes them.

    Brian2's generator integrates ``dphase/dt = rate`` by Euler from ``phase = 0.5`` and
    spikes (``phase -= 1``) when ``phase >= 1``: the spike count up to step ``k`` is
    ``floor(0.5 + dt * sum(rate))``.
    """
    per = int(round(STEP / dt))
    rates = np.repeat(np.asarray(X, dtype=float) * MAX_RATE, per, axis=1)  # [N, K, C]
    phase = 0.5 + np.cumsum(rates * dt, axis=1)
    counts = np.floor(phase + 1e-9)
    return np.diff(counts, axis=1, prepend=np.floor(0.5)).astype(np.float32)


def dynapsim_kwargs(net, dt: float = DT) -> tuple[dict[str, Any], np.ndarray, np.ndarray, dict[str, str]]:
    """DynapSim keyword arguments, recurrent and input weight matrices, and a mapping note.

    Maps exactly: C_mem, U_T, kappa (kappa_n = kappa_p), I_tau (Itau_mem), I_th (Igain_mem),
    I_0 (Io), I_spkthr (Ispkthr), t_ref (Iref = Vth C_ref / t_ref), the DC bias (Idc), no
    adaptation (Iw_ahp = 0), the synaptic time constant (Itau_syn from C_syn), and the charge
    of one synaptic event: Rockpool adds ``(1 - exp(-t_pulse/tau)) (Igain_syn/Itau_syn) w
    Iscale`` per spike, so ``w = sign * count * efficacy / (that factor at w = 1)``.
    """
    pop = net.populations[0]
    p = pop.params
    tau_syn = p.synapse.tau_ampa
    C_syn, C_pulse, C_ref, Vth, Iscale, t_pulse, gain_ratio = 25e-12, 0.5e-12, 1.5e-12, 0.7, 1e-8, 10e-6, 100.0
    Itau_syn = p.U_T / p.kappa * C_syn / tau_syn
    per_unit = (1.0 - math.exp(-t_pulse / tau_syn)) * gain_ratio * Iscale  # A per spike at w = 1
    proj = {q.name: q for q in net.projections}
    w_rec = (proj["rec_exc"].weights * proj["rec_exc"].efficacy
             - proj["rec_inh"].weights * proj["rec_inh"].efficacy) / per_unit  # [post, pre]
    w_in = proj["input"].weights * proj["input"].efficacy / per_unit  # [post, channel]
    kwargs = dict(
        Idc=np.asarray(pop.bias_current, dtype=np.float32), Itau_mem=p.I_tau, Igain_mem=p.I_th,
        Ispkthr=p.I_spkthr, Iref=Vth * C_ref / max(p.t_ref, 1e-9), Iw_ahp=0.0,
        Itau_syn=Itau_syn, Igain_syn=gain_ratio * Itau_syn, C_syn=C_syn, C_pulse=C_pulse,
        Ipulse=Vth * C_pulse / t_pulse, C_ref=C_ref, C_mem=p.C_mem, Io=p.I_0,
        kappa_n=p.kappa, kappa_p=p.kappa, Ut=p.U_T, Vth=Vth, Iscale=Iscale, dt=dt,
    )
    note = {
        "maps": "C_mem, U_T, kappa, I_tau, I_th (gain), I_0, I_spkthr, t_ref, DC bias, tau_syn, "
                "synaptic charge per event, connectivity and signs, input spike trains, dt",
        "differs": "DynapSim 3.1 has ONE synapse per neuron (AMPA and GABA_B share it, same tau; "
                   "a net negative input in a step is clipped to I_0, so inhibition only cancels "
                   "coincident excitation); positive feedback is Io*exp(kappa' V/U_T), not "
                   "Brian's sigmoid (I_a_gain, I_a_th, I_a_norm unmapped); reset to Io "
                   "(Brian: I_reset = I_0 here, equal); the leak enters I_in and the steady state "
                   "(subtracted twice); input is suppressed while refractory but I_mem is not "
                   "clamped; float32; no NMDA gate/GABA_A shunt; the recurrent spike arrives one "
                   "dt later in both",
    }
    return kwargs, w_rec.T.astype(np.float32), w_in.astype(np.float32), note  # w_rec as [pre, post]


def labelled_inputs(n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """``n`` test images as ``[n, 28, 28]`` rows in [0, 1], their labels and where they came from.

    Fashion-MNIST when installed, else scikit-learn's digits upsampled to 28 x 28 (as
    :func:`experiments.bench_simulation.benchmark_inputs` does), repeated to ``n``.
    """
    from transfer.datasets import DatasetError, load_dataset  # noqa: PLC0415

    try:
        data = load_dataset("fashion")
        X, source = np.asarray(data.X_test, dtype=float), "fashion-mnist test rows"
    except DatasetError:
        from scipy.ndimage import zoom  # noqa: PLC0415

        data = load_dataset("digits")
        X = np.clip(zoom(data.X_test, (1, 28 / data.n_steps, N_IN / data.n_features), order=1), 0, 1)
        source = "digits test images upsampled to 28x28 (Fashion-MNIST not installed)"
    reps = math.ceil(n / len(X))
    return np.tile(X, (reps, 1, 1))[:n], np.tile(data.y_test, reps)[:n], source


def fit_readout(net, counts: np.ndarray, y: np.ndarray, ridge: float = 1.0):
    """``net`` with a readout of the mean rates over the whole sequence, fitted on ``counts`` to ``y``.

    ``ridge`` 1 gave the best held-out accuracy on the 128-neuron network (fit on 256
    Fashion-MNIST samples, tested on 256 others: 65 % against 60 % at 0.01 and 61 % at 10);
    a readout that interpolates its training counts (0.01) makes the agreement figures
    hypersensitive: dt 0.2 ms agreed on 72 % of the samples with it and on 95 % with ridge 1.
    """
    from brian_models.description import Readout  # noqa: PLC0415
    from transfer.models import ridge_readout  # noqa: PLC0415

    window = counts.shape[1] * STEP
    probe = Readout("hidden", np.eye(counts.shape[2]), np.zeros(counts.shape[2]), 100.0, window)
    w, b = ridge_readout(probe.scores(counts, STEP), y, int(y.max()) + 1, ridge)
    return replace(net, readout=Readout("hidden", w, b, 100.0, window))


def _row(sim: str, batch: int, n: int, steps: int, neurons: int, seconds: float, compile_s: float | None,
         counts: np.ndarray, *, dt: float = DT, dtype: str = "float64", agree: float | None = None,
         equal_counts: float | None = None, threads: int | None = None, procs: int = 1) -> dict[str, Any]:
    simulated = n * steps * STEP
    return {"simulator": sim, "dt_ms": dt * 1e3, "dtype": dtype, "threads": threads, "procs": procs,
            "batch": batch, "samples": n, "seconds": seconds,
            "compile_s": compile_s, "x_real_time": simulated / seconds, "samples_per_s": n / seconds,
            "rate_hz": float(counts.sum() / (n * neurons * steps * STEP)),
            "active_fraction": float((counts.sum(axis=(0, 1)) > 0).mean()),
            "agree": agree, "equal_counts": equal_counts}


def _brian(net, X: np.ndarray, settings) -> tuple[float, float, np.ndarray]:
    """Brian2 seconds, compile seconds and counts, timed as the simulation benchmark times them."""
    from experiments.bench_simulation import time_runs  # noqa: PLC0415

    return time_runs(net, X, settings)


def _rockpool(jax, DynapSim, net, X: np.ndarray, batch: int) -> tuple[float, float, np.ndarray]:
    """(seconds without the first call's compile, compile seconds, counts ``[N, T, n]``)."""
    kwargs, w_rec, w_in, _ = dynapsim_kwargs(net)
    n = net.populations[0].size
    mod = DynapSim((n, n), w_rec=w_rec, has_rec=True, rng_key=jax.random.PRNGKey(0), **kwargs)
    per = int(round(STEP / DT))
    steps = X.shape[1]

    @jax.jit
    def window_counts(module, inp):
        spikes, _, _ = module.evolve(inp, record=False)  # [B, K, n]
        return spikes.reshape(spikes.shape[0], steps, per, n).sum(axis=2)

    def run(xb):
        inp = input_spikes(xb) @ w_in.T  # [B, K, n]: input spikes times weights (a Linear layer)
        if len(xb) < batch:  # pad so the compiled shape is reused
            inp = np.concatenate([inp, np.zeros((batch - len(xb),) + inp.shape[1:], inp.dtype)])
        return np.asarray(window_counts(mod, inp))[:len(xb)]

    t0 = time.perf_counter()
    run(X[:batch])  # trace + compile + one batch
    first = time.perf_counter() - t0
    counts, seconds = [], 0.0
    for start in range(0, len(X), batch):
        t0 = time.perf_counter()
        counts.append(run(X[start:start + batch]))
        seconds += time.perf_counter() - t0
    return seconds, max(first - seconds * batch / len(X), 0.0), np.concatenate(counts).astype(np.int32)


def _torch_rows(net, X: np.ndarray, reference: dict[str, np.ndarray], base, args) -> list[dict[str, Any]]:
    """The torch chip model at every dt, dtype and batch size, against the Brian2 reference."""
    import torch  # noqa: PLC0415

    from transfer.chip_model import default_device, simulate_torch  # noqa: PLC0415

    rows = []
    n, T, N = X.shape[0], X.shape[1], args.neurons
    modes = [(False, torch.float64), (False, torch.float32)] * ("eager" in args.torch_modes) \
        + [(True, torch.float32), (True, torch.float64)] * ("compiled" in args.torch_modes)
    # in one process with each thread count, then in --torch-jobs processes of one thread
    parallel = [(t, 1) for t in args.torch_threads or [args.threads]] + [(1, j) for j in args.torch_jobs if j > 1]
    for dt_ms in args.torch_dts:
        for compiled, dtype in modes:
            for batch in args.torch_batches:
                for threads, jobs in parallel:
                    torch.set_num_threads(threads)
                    settings = replace(base, dt=dt_ms * 1e-3, batch_size=min(batch, n))
                    compile_s = None
                    if compiled and jobs == 1:  # torch.compile traces on the first batch of a shape: timed apart
                        # (the worker processes of jobs > 1 compile in their own time, which counts)
                        t0 = time.perf_counter()
                        simulate_torch(net, X[:min(batch, n), :1], settings, dtype=dtype, compiled=True)
                        compile_s = time.perf_counter() - t0
                    res = simulate_torch(net, X, settings, dtype=dtype, compiled=compiled, jobs=jobs)
                    c = res.counts["hidden"]
                    name = "torch chip model" + (" compiled" if compiled else "") + f" ({default_device().type})"
                    rows.append(_row(name, min(batch, n), n, T, N, res.wall_seconds, compile_s, c, dt=dt_ms * 1e-3,
                                     dtype=str(dtype).split(".")[-1], threads=threads, procs=jobs,
                                     agree=float(np.mean(res.predictions == reference["predictions"])),
                                     equal_counts=float(np.mean(c == reference["counts"]))))
    torch.set_num_threads(args.threads)
    return rows


def _peak_rss_gb() -> float | None:
    """Peak resident memory of this process since the last :func:`_reset_peak` (GB), or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) / 1e6 for line in f if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        return None


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current resident size (Linux >= 4.0)
    except OSError:
        pass


def _train_rows(net, X: np.ndarray, y: np.ndarray, args) -> list[dict[str, Any]]:
    """Seconds per 1000 sequences and peak memory of training through ChipNetwork, per dt."""
    import torch  # noqa: PLC0415

    from transfer.chip_network import ChipNetwork  # noqa: PLC0415

    batch = 64
    Xb = torch.as_tensor(np.resize(X, (batch,) + X.shape[1:]), dtype=torch.float64)
    yb = torch.as_tensor(np.resize(y, batch), dtype=torch.int64)
    rows = []
    for dt_ms in args.train_dts:
        model = ChipNetwork(net, dt=dt_ms * 1e-3, random_phase=False)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        _reset_peak()
        before = _peak_rss_gb()
        seconds = []
        for _ in range(args.train_batches):
            t0 = time.perf_counter()
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(Xb), yb)
            loss.backward()
            opt.step()
            model.clamp_()
            del loss
            seconds.append(time.perf_counter() - t0)
        per_batch = float(np.mean(seconds))
        rows.append({"dt_ms": dt_ms, "dtype": "float32", "batch": batch, "steps_per_sequence":
                     int(round(X.shape[1] * STEP / (dt_ms * 1e-3))), "batches": args.train_batches,
                     "s_per_batch": per_batch, "s_per_1000_sequences": per_batch * 1000 / batch,
                     "rss_before_gb": before, "peak_rss_gb": _peak_rss_gb()})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=128)
    parser.add_argument("--samples", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64, help="samples per batch in Brian2 and DynapSim")
    parser.add_argument("--steps", type=int, default=28, help="sequence steps (20 ms each) per sample, <= 28")
    parser.add_argument("--w-in", type=float, default=40e-12, help="input efficacy (A)")
    parser.add_argument("--w-rec", type=float, default=30e-12, help="recurrent efficacy (A)")
    parser.add_argument("--no-standalone", action="store_true", help="skip Brian2 cpp_standalone")
    parser.add_argument("--no-torch", action="store_true", help="skip the torch chip model")
    parser.add_argument("--brian-dts", type=float, nargs="+", default=[0.1],
                        help="dt in ms of the Brian2 cpp_standalone rows (runtime, the reference, runs at 0.1)")
    parser.add_argument("--torch-dts", type=float, nargs="+", default=[0.1, 0.2, 0.5], help="dt in ms")
    parser.add_argument("--torch-batches", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--torch-modes", nargs="+", default=["eager", "compiled"], choices=["eager", "compiled"],
                        help="the chip model step by step in eager torch, and compiled by torch.compile")
    parser.add_argument("--no-train", action="store_true", help="skip timing training through the model")
    parser.add_argument("--train-dts", type=float, nargs="+", default=[0.5, 0.2, 0.1], help="dt in ms")
    parser.add_argument("--train-batches", type=int, default=2, help="batches of 64 timed per dt")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--torch-threads", type=int, nargs="+", default=None,
                        help="torch threads of the chip model's rows in one process (default: --threads)")
    parser.add_argument("--torch-jobs", type=int, nargs="+", default=[1],
                        help="also run the chip model in J processes of one thread each (simulate_torch's jobs; "
                             "their seconds include starting the processes)")
    parser.add_argument("--no-record", action="store_true", help="do not write the record in docs/data")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.neurons, args.samples, args.batch) < 2 or not 1 <= args.steps <= 28:
        parser.error("--neurons, --samples, --batch must be >= 2 and --steps in 1..28")
    if min(args.torch_batches) < 1 or min(args.torch_dts + args.train_dts + args.brian_dts) <= 0 \
            or args.train_batches < 1:
        parser.error("--torch-batches, --train-batches and the dts must be positive")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported (see the docstring)
    try:
        jax, DynapSim = _require_rockpool()
    except ImportError as exc:
        jax = DynapSim = None
        print(f"bench_rockpool: DynapSim skipped: {exc}")

    import torch  # noqa: PLC0415

    from brian_models.network import SimulationSettings  # noqa: PLC0415
    from experiments.main_job import format_table  # noqa: PLC0415
    from experiments.records import command_line, save_record  # noqa: PLC0415

    torch.set_num_threads(args.threads)
    net = peer_network(args.neurons, args.seed, args.w_in, args.w_rec)
    X, y, source = labelled_inputs(args.samples)
    X, y = X[:, :args.steps], y
    n, T, N = args.samples, args.steps, args.neurons
    B = min(args.batch, n)
    rows: list[dict[str, Any]] = []
    counts: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="bench_rockpool_") as build:
        base = SimulationSettings(dt=DT, batch_size=B, random_phase=False, seed=args.seed,
                                  build_dir=os.path.join(build, "runtime"))
        secs, _, c = _brian(net, X, base)
        net = fit_readout(net, c, y)  # the readout every simulator's predictions go through
        reference = {"counts": c, "predictions": net.readout.scores(c, STEP).argmax(1)}
        rows.append(_row("brian2 runtime/numpy", B, n, T, N, secs, None, c, agree=1.0, equal_counts=1.0))
        counts["numpy"] = c
        for dt_ms in [] if args.no_standalone else args.brian_dts:
            secs, comp, c = _brian(net, X, replace(base, device="cpp_standalone", dt=dt_ms * 1e-3,
                                                   build_dir=os.path.join(build, f"standalone_{dt_ms:g}")))
            rows.append(_row("brian2 cpp_standalone", B, n, T, N, secs, comp, c, dt=dt_ms * 1e-3,
                             agree=float(np.mean(net.readout.scores(c, STEP).argmax(1) == reference["predictions"])),
                             equal_counts=float(np.mean(c == reference["counts"]))))
            if dt_ms * 1e-3 == DT:
                counts["standalone"] = c
    if DynapSim is not None:
        secs, comp, c = _rockpool(jax, DynapSim, net, X, B)
        rows.append(_row("rockpool DynapSim (jax.jit)", B, n, T, N, secs, comp, c, dtype="float32",
                         agree=float(np.mean(net.readout.scores(c, STEP).argmax(1) == reference["predictions"]))))
        counts["rockpool"] = c
    if not args.no_torch:
        rows.extend(_torch_rows(net, X, reference, replace(base, build_dir=None), args))
    training = [] if args.no_train else _train_rows(net, X, y, args)

    def corr(a, b):
        a, b = a.sum(axis=(0, 1)).astype(float), b.sum(axis=(0, 1)).astype(float)
        return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")

    checks: dict[str, Any] = {}
    if "rockpool" in counts:
        checks["rate_correlation_per_neuron_brian_vs_rockpool"] = corr(counts["numpy"], counts["rockpool"])
    if "standalone" in counts:
        checks["standalone_equals_runtime"] = bool(np.array_equal(counts["numpy"], counts["standalone"]))
    exact = [r for r in rows if r["simulator"].startswith("torch") and r["dt_ms"] == DT * 1e3
             and r["dtype"] == "float64"]
    if exact:
        checks["torch_float64_dt0.1_equals_runtime"] = all(r["equal_counts"] == 1.0 for r in exact)
    _, _, _, mapping = dynapsim_kwargs(net)
    columns = ["simulator", "dt_ms", "dtype", "threads", "procs", "batch", "samples", "seconds", "compile_s",
               "x_real_time", "samples_per_s", "rate_hz", "active_fraction", "agree", "equal_counts"]
    peer = next((r["samples_per_s"] for r in rows if r["simulator"].startswith("rockpool")), None)
    if peer:
        columns.append("x_dynapsim")
        for r in rows:
            r["x_dynapsim"] = r["samples_per_s"] / peer
    faithful = [r for r in rows if r["agree"] is not None and r["agree"] >= 0.99]
    if faithful:
        best = max(faithful, key=lambda r: r["samples_per_s"])
        checks["fastest_faithful"] = (f"{best['simulator']} dt {best['dt_ms']:g} ms {best['dtype']} batch "
                                      f"{best['batch']}, {best['procs']} process(es): "
                                      f"{best['samples_per_s']:.1f} samples/s")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    threads = (f"{os.cpu_count()} cores, load {load:.1f}, torch threads {torch.get_num_threads()}, "
               f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, "
               f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, "
               f"XLA_FLAGS={os.environ.get('XLA_FLAGS')}")
    print(f"{N} DPI neurons, {N_IN} rate-coded inputs, {T} x 20 ms per sample, reference dt {DT * 1e3:g} ms "
          f"({source}); {threads}")
    print(format_table(rows, columns))
    if training:
        print(f"training through the torch chip model (ChipNetwork, sequences of {T} x {N_IN}, Adam, "
              f"cross-entropy; {args.train_batches} batches of 64 timed per dt):")
        print(format_table(training, list(training[0])))
    print("checks: " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in checks.items()))
    note = (f"Random recurrent DPI network, {N} neurons, fan-in {FAN_IN_INPUT} input + "
            f"{min(FAN_IN_RECURRENT, N - 1)} ternary recurrent; input: {source}; reference dt {DT} s; "
            f"x_real_time = simulated seconds / wall seconds (compile excluded); {threads}. "
            "agree: predictions equal to Brian2 runtime's at dt 0.1 ms (readout fitted on its counts); "
            "equal_counts: spike counts equal to that run's. "
            + ("" if DynapSim is not None else "DynapSim skipped (rockpool not installed). ")
            + f"DynapSim mapping: {mapping['maps']}. Differs: {mapping['differs']}.")
    if not args.no_record:
        name = "extra_rockpool_peer" if DynapSim is not None else "extra_chip_model_peer"
        title = ("Peer simulators: Brian2, Rockpool DynapSim and the torch chip model on the same recurrent DPI network"
                 if DynapSim is not None else
                 "Peer simulators: Brian2 and the torch chip model on the same recurrent DPI network")
        path = save_record(name, {"title": title, "rows": [{c: r[c] for c in columns} for r in rows],
                                  "training": training, "checks": checks, "note": note},
                           command_line(argv, "experiments.bench_rockpool"))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
