"""NIR in and out: a network description as a NIR graph, a NIR graph as a network description.

Numpy and ``nir`` only (``nir`` is imported when a graph is read or written, with a clear
error when it is missing). The semantics are written down once, in ``docs/NIR.md``; in short:

- NIR is continuous-time; every tool that runs a NIR graph picks a time step. snnTorch 1.0.0
  (``export_nir.py``, ``import_nir.py``) fixes ``dt = 1e-4`` s and reads a ``LIF`` node
  ``tau dv/dt = (v_leak - v) + r I`` by forward Euler: ``beta = 1 - dt / tau`` and, with
  ``r = tau / dt``, ``v <- beta v + I`` per step (``I``: the weighted input of that step, a
  spike counting 1 in the step it happens). :data:`DT` is that step and :func:`run` is that
  update, which is what "the same spikes" means here.
- :class:`NIRNet` is a NIR graph read that way: spiking layers (``LIF``, ``CubaLIF``, ``IF``)
  with their input weights, an optional recurrent weight matrix each, and an optional
  readout ``Affine``/``Linear`` before the ``Output``.
- :func:`from_description` / :func:`to_description` translate between a :class:`NIRNet` and
  a :class:`~brian_models.description.SpikingNetwork` of LIF populations; :func:`to_graph` /
  :func:`from_graph` between a :class:`NIRNet` and a ``nir.NIRGraph``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from brian_models.description import INPUT, InputEncoder, Population, Projection, Readout, SpikingNetwork
from brian_models.parameters import LIFParams
from brian_models.synapse_types import EXCITATORY, SYNAPSES

__all__ = ["DT", "NIRError", "Layer", "NIRNet", "run", "predict", "from_description", "to_description",
           "to_graph", "from_graph", "read", "write", "NEURON_NODES", "WEIGHT_NODES"]

#: snnTorch's NIR time step (s): ``beta = 1 - DT / tau`` both ways in snnTorch 1.0.0.
DT = 1e-4
#: NIR node types read as spiking layers and as weights.
NEURON_NODES = ("LIF", "CubaLIF", "IF")
WEIGHT_NODES = ("Affine", "Linear")
#: Where a NIR voltage of 0 (``v_leak``) and of ``v_threshold`` land in volts when a graph
#: carries no rnn2dynapse metadata: the LIF preset's rest and threshold.
_V_REST, _V_THRESH, _R_MEM = LIFParams().v_rest, LIFParams().v_thresh, LIFParams().R_mem
_META = "rnn2dynapse"


class NIRError(ValueError):
    """A NIR graph this project cannot carry, or a description NIR cannot hold (one line, naming it)."""


@dataclass(frozen=True, eq=False)
class Layer:
    """One spiking population of a NIR graph, in snnTorch's discrete-time reading at ``dt``.

    Per step: ``syn <- alpha syn + I`` (CubaLIF only; else ``syn = I``), then ``v <- beta v +
    (1 - beta) v_leak + gain syn``; a neuron with ``v > threshold`` spikes and is set to
    ``v_reset``. ``I = sum_pre w_pre @ s_pre + bias + w_rec @ s_rec(previous step) + b_rec``.

    Attributes
    ----------
    name, kind : str
        The node's key and type (``"LIF"``, ``"CubaLIF"``, ``"IF"``).
    tau_mem, tau_syn, r, v_leak, threshold, v_reset, w_in : ndarray (n,)
        The node's NIR parameters (``tau_syn``, ``w_in``: CubaLIF; ``tau_mem`` inf for IF).
    inputs : tuple of (pre, weight, bias)
        Feed-forward inputs: ``pre`` is ``"input"`` or a layer's name.
    w_rec, b_rec : ndarray or None
        Recurrent weights ``[n, n]`` (spikes of the previous step) and their bias.
    meta : dict
        What NIR cannot hold but an export from here wrote (SI anchors, t_ref, synapses).
    """

    name: str
    kind: str
    tau_mem: np.ndarray
    r: np.ndarray
    v_leak: np.ndarray
    threshold: np.ndarray
    v_reset: np.ndarray
    inputs: tuple[tuple[str, np.ndarray, np.ndarray], ...]
    tau_syn: np.ndarray | None = None
    w_in: np.ndarray | None = None
    w_rec: np.ndarray | None = None
    b_rec: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.threshold.size)

    def coefficients(self, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``beta``, ``alpha`` and ``gain`` of the Euler step ``dt`` (snnTorch's mapping)."""
        if self.kind == "IF":
            return np.ones(self.size), np.zeros(self.size), self.r.copy()
        beta = 1.0 - dt / self.tau_mem
        if self.kind == "CubaLIF":
            alpha = 1.0 - dt / self.tau_syn
            return beta, alpha, self.r * dt / self.tau_mem * self.w_in * dt / self.tau_syn
        return beta, np.zeros(self.size), self.r * dt / self.tau_mem


@dataclass(frozen=True, eq=False)
class NIRNet:
    """A NIR graph of spiking layers, read in discrete time (see :class:`Layer`).

    ``readout`` ``(weight, bias)`` maps the last layer's spikes of a step to that step's
    output (``None``: the output is the spikes); ``n_inputs`` is the input's width.
    ``meta`` holds the presentation an export from here wrote (``steps_per_element``,
    ``readout_steps``) and other graph-level extras.
    """

    n_inputs: int
    layers: tuple[Layer, ...]
    readout: tuple[np.ndarray, np.ndarray] | None
    meta: dict[str, Any] = field(default_factory=dict)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)


def run(net: NIRNet, x: np.ndarray, dt: float = DT, dtype: type = np.float64) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run ``net`` on a batch of inputs ``x [N, steps, F]`` (one row per time step ``dt``).

    Returns the outputs ``[N, steps, C]`` (readout of the last layer's spikes, or the spikes)
    and every layer's spikes ``{name: [N, steps, n]}``.
    """
    x = np.asarray(x, dtype=dtype)
    N, steps, _ = x.shape
    coef = {l.name: tuple(np.asarray(c, dtype) for c in l.coefficients(dt)) for l in net.layers}
    v = {l.name: np.broadcast_to(np.asarray(l.v_leak, dtype) * 0, (N, l.size)).copy() for l in net.layers}
    syn = {l.name: np.zeros((N, l.size), dtype) for l in net.layers}
    spikes = {l.name: np.zeros((N, steps, l.size), dtype=bool) for l in net.layers}
    last = {l.name: np.zeros((N, l.size), dtype) for l in net.layers}
    cast = {l.name: [(pre, np.asarray(w, dtype), np.asarray(b, dtype)) for pre, w, b in l.inputs]
            for l in net.layers}
    for t in range(steps):
        now: dict[str, np.ndarray] = {INPUT: x[:, t]}
        for l in net.layers:
            beta, alpha, gain = coef[l.name]
            I = sum(now[pre] @ w.T + b for pre, w, b in cast[l.name])
            if l.w_rec is not None:
                I = I + last[l.name] @ np.asarray(l.w_rec, dtype).T + np.asarray(l.b_rec, dtype)
            syn[l.name] = alpha * syn[l.name] + I if l.kind == "CubaLIF" else I
            vv = beta * v[l.name] + (1 - beta) * np.asarray(l.v_leak, dtype) + gain * syn[l.name]
            s = vv > np.asarray(l.threshold, dtype)
            v[l.name] = np.where(s, np.asarray(l.v_reset, dtype), vv)
            spikes[l.name][:, t] = s
            now[l.name] = last[l.name] = s.astype(dtype)
    out = spikes[net.layers[-1].name].astype(dtype)
    if net.readout is not None:
        out = out @ np.asarray(net.readout[0], dtype).T + np.asarray(net.readout[1], dtype)
    return out, spikes


def present(X: np.ndarray, steps_per_element: int) -> np.ndarray:
    """Sequences ``[N, T, F]`` as time steps ``[N, T * steps_per_element, F]`` (each element held)."""
    return np.repeat(np.asarray(X), int(steps_per_element), axis=1)


def predict(net: NIRNet, X: np.ndarray, steps_per_element: int, readout_steps: int,
            batch: int = 256, dt: float = DT) -> tuple[np.ndarray, np.ndarray]:
    """Class predictions ``[N]`` and scores ``[N, C]`` of ``net`` on sequences ``X [N, T, F]``.

    Each element is held for ``steps_per_element`` steps; the scores are the outputs summed
    over the last ``readout_steps`` steps.
    """
    scores = []
    for i in range(0, len(X), batch):
        out, _ = run(net, present(X[i:i + batch], steps_per_element), dt)
        scores.append(out[:, -readout_steps:].sum(1))
    s = np.concatenate(scores)
    return s.argmax(1), s


# --- description <-> NIRNet ---------------------------------------------------------------

def _uniform(values: np.ndarray, what: str, node: str) -> float:
    v = np.asarray(values, dtype=float).ravel()
    if not np.allclose(v, v[0], rtol=1e-9, atol=0):
        raise NIRError(f"NIR node {node!r}: {what} differs between neurons; a population here has one value")
    return float(v[0])


def from_description(net: SpikingNetwork, dt: float = DT) -> NIRNet:
    """The NIR reading of a description of LIF populations (approximations in ``docs/NIR.md``).

    Each population becomes a ``LIF`` node in units where ``v_rest = 0`` and ``v_thresh = 1``,
    with ``r = tau_mem / dt``; input currents and DC become ``Affine`` weights and bias; a
    spiking projection becomes weights that move ``v`` by the charge its exponential synapse
    delivers (``efficacy * tau_syn``) at once (exact when ``tau_syn = dt``). Refractory periods
    are dropped (kept in the metadata for the way back).

    Raises
    ------
    NIRError
        A DPI or AdEx population, a delayed projection, spike-coded input, or a filtered readout.
    """
    for p in net.populations:
        if not isinstance(p.params, LIFParams):
            raise NIRError(f"population {p.name!r} is {p.neuron.upper()}: NIR has no {p.neuron.upper()} node; "
                           "export a simulate run with --neuron lif")
    if net.encoder.kind != "current":
        raise NIRError("the input is coded as spikes (rate encoder); NIR export takes current input "
                       "(simulate --input-coding current)")
    if net.readout.leak != 1 or len(net.readout.populations) != 1 or net.readout.transform != "linear":
        raise NIRError("the readout filters its rates (leak < 1), reads several populations or transforms "
                       "its rates; NIR holds a plain Affine readout")
    delayed = [p.name for p in net.projections if p.delay > 0]
    if delayed:
        raise NIRError(f"projection {delayed[0]!r} is delayed ({net.projections[[p.name for p in net.projections].index(delayed[0])].delay:g} s); "
                       "snnTorch reads no NIR Delay node and dropping it changes what the network computes")
    layers = []
    for pop in net.populations:
        p = pop.params
        dv = p.v_thresh - p.v_rest
        to_nir = p.R_mem * dt / (dv * p.tau_mem)  # amperes -> NIR current units (v <- v + I)
        inputs: dict[str, np.ndarray] = {}
        projs = []
        for proj in net.projections:
            if proj.post != pop.name:
                continue
            if proj.synapse not in ("AMPA", "GABA_B", "NMDA"):
                raise NIRError(f"projection {proj.name!r} uses {proj.synapse}, which has no NIR counterpart "
                               "(a shunt or a gated synapse)")
            sign = 1.0 if proj.synapse in EXCITATORY else -1.0
            if proj.pre == INPUT:
                scale = proj.efficacy * to_nir
            else:
                scale = proj.efficacy * p.value(SYNAPSES[proj.synapse].tau) * p.R_mem / (dv * p.tau_mem)
            w = inputs.setdefault(proj.pre, np.zeros(proj.weights.shape))
            w += sign * scale * proj.weights
            projs.append({"name": proj.name, "pre": proj.pre, "synapse": proj.synapse,
                          "efficacy": proj.efficacy, "delay": proj.delay, "unit": scale})
        bias = np.zeros(pop.size) if pop.bias_current is None else pop.bias_current * to_nir
        ff = []
        for pre, w in inputs.items():
            if pre != pop.name:
                ff.append((pre, w, bias if pre == INPUT else np.zeros(pop.size)))
        if INPUT not in inputs:
            ff.append((INPUT, np.zeros((pop.size, net.encoder.n_channels)), bias))
        w_rec = inputs.get(pop.name)
        meta = {"params": p.to_dict(), "projections": projs,
                "has_bias": pop.bias_current is not None}
        n = pop.size
        layers.append(Layer(pop.name, "LIF", np.full(n, p.tau_mem), np.full(n, p.tau_mem / dt), np.zeros(n),
                            np.ones(n), np.full(n, (p.v_reset - p.v_rest) / dv), tuple(ff),
                            w_rec=w_rec, b_rec=None if w_rec is None else np.zeros(n), meta=meta))
    order = _feedforward_order(layers)
    ro = net.readout
    last = order[-1]
    if ro.population != last.name:
        raise NIRError(f"the readout reads {ro.population!r}, not the last population {last.name!r}")
    if ro.slices > 1:
        raise NIRError(f"the readout reads its window in {ro.slices} slices; NIR's Affine readout reads one mean")
    n_steps = max(1, int(round(ro.window / dt)))
    readout = (ro.weights / (ro.rate_scale * n_steps * dt), ro.bias / n_steps)
    meta = {"steps_per_element": int(round(net.step_duration / dt)), "readout_steps": n_steps, "dt": dt,
            "step_duration": net.step_duration, "rate_scale": ro.rate_scale, "window": ro.window,
            "encoder": net.encoder.to_dict(), "metadata": net.metadata,
            "order": [p.name for p in net.populations]}
    return NIRNet(net.encoder.n_channels, tuple(order), readout, meta)


def _feedforward_order(layers: Sequence[Layer]) -> list[Layer]:
    """The layers in feed-forward order (refuses a cycle through several layers)."""
    done: list[Layer] = []
    names = {INPUT}
    pending = list(layers)
    while pending:
        ready = [l for l in pending if all(pre in names for pre, _, _ in l.inputs)]
        if not ready:
            raise NIRError(f"populations {', '.join(l.name for l in pending)} form a loop through several "
                           "populations; NIR import here takes recurrence within one population")
        for l in ready:
            done.append(l)
            names.add(l.name)
            pending.remove(l)
    return done


def _counts(w: np.ndarray, unit_exc: float | None, unit_inh: float | None,
            what: str) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Excitatory and inhibitory integer counts of a signed matrix and the value of one count
    of each (the smallest non-zero magnitude of that sign unless given)."""
    out = []
    for part, unit in ((np.maximum(w, 0), unit_exc), (np.maximum(-w, 0), unit_inh)):
        nz = part[part != 0]
        if nz.size == 0:
            out += [np.zeros(w.shape, np.int64), unit or 0.0]
            continue
        unit = float(nz.min()) if unit is None else unit
        k = part / unit
        counts = np.round(k)
        if not np.allclose(k, counts, rtol=0, atol=1e-6 * max(1.0, float(counts.max()))):
            raise NIRError(f"{what}: the weights are not whole multiples of one value per sign; ternarize "
                           "them first (rnn2dynapse import does, under the 64-input cap)")
        out += [counts.astype(np.int64), unit]
    return out[0], out[2], out[1], out[3]


def to_description(net: NIRNet, step_duration: float | None = None, rate_scale: float | None = None,
                   dt: float = DT) -> SpikingNetwork:
    """A description of LIF populations that runs ``net`` (the inverse of :func:`from_description`).

    Every weight matrix must be whole multiples of one value per matrix (ternary weights are);
    a ``LIF`` node's spikes reach their targets through synapses of time constant ``dt``,
    which forward Euler at ``dt`` turns into the one-step pulse of the discrete reading
    (``CubaLIF``: synapses of ``tau_syn``). Voltages land on the LIF preset (``v_leak`` at
    -65 mV, the threshold at -50 mV) unless the graph came from here.
    """
    step_duration = step_duration or net.meta.get("step_duration") or 0.03
    window = net.meta.get("window") or step_duration
    n_steps = net.meta.get("readout_steps") or max(1, int(round(window / dt)))
    pops, projs = [], []
    by_name = {l.name: l for l in net.layers}
    for l in net.layers:
        tau_mem = _uniform(l.tau_mem, "tau", l.name) if l.kind != "IF" else 1e4
        thr = _uniform(l.threshold, "v_threshold", l.name)
        v_leak = _uniform(l.v_leak, "v_leak", l.name)
        v_reset = _uniform(l.v_reset, "v_reset", l.name)
        beta, alpha, gain = l.coefficients(dt)
        g = _uniform(gain, "input gain (r, w_in)", l.name)
        if not thr > v_leak or not thr > v_reset:
            raise NIRError(f"NIR node {l.name!r}: v_threshold must lie above v_leak and v_reset")
        saved = l.meta.get("params")
        if saved:
            params = LIFParams.from_dict(saved)
        else:
            U = (_V_THRESH - _V_REST) / (thr - v_leak)  # volts per NIR unit
            syn_tau = _uniform(l.tau_syn, "tau_syn", l.name) if l.kind == "CubaLIF" else dt
            params = LIFParams(tau_mem=tau_mem, R_mem=_R_MEM, v_rest=_V_REST,
                               v_reset=_V_REST + (v_reset - v_leak) * U, v_thresh=_V_THRESH, t_ref=0.0)
            params = params.updated({"tau_ampa": syn_tau, "tau_gaba_b": syn_tau, "tau_nmda": syn_tau})
        dv = params.v_thresh - params.v_rest
        amp = g * dv * params.tau_mem / (params.R_mem * dt)  # amperes per NIR current unit
        saved_projs = {(p["pre"], p["synapse"]): p for p in l.meta.get("projections", [])}
        bias = None
        sources = [(pre, w, b) for pre, w, b in l.inputs]
        if l.w_rec is not None:
            if l.b_rec is not None and np.any(l.b_rec != 0):
                sources.append((INPUT + "#bias", None, l.b_rec))
            sources.append((l.name, l.w_rec, None))
        for pre, w, b in sources:
            if b is not None and np.any(np.asarray(b) != 0):
                bias = (0 if bias is None else bias) + np.asarray(b, float) * amp
            if w is None:
                continue
            if pre == INPUT:
                unit_exc = saved_projs.get((INPUT, "AMPA"), {}).get("unit")
                unit_inh = saved_projs.get((INPUT, "GABA_B"), {}).get("unit")
            else:
                unit_exc = saved_projs.get((pre, "AMPA"), {}).get("unit")
                unit_inh = saved_projs.get((pre, "GABA_B"), {}).get("unit")
            exc, inh, u_exc, u_inh = _counts(np.asarray(w, float), unit_exc, unit_inh, f"weights {pre} -> {l.name}")
            for synapse, counts, unit in (("AMPA", exc, u_exc), ("GABA_B", inh, u_inh)):
                s = saved_projs.get((pre, synapse))
                if s is None and not counts.any():
                    continue
                if pre == INPUT:
                    efficacy = unit * amp
                else:
                    efficacy = unit * g * dv * params.tau_mem / (params.R_mem * params.value(SYNAPSES[synapse].tau))
                if s is not None:
                    efficacy = s["efficacy"]
                kind = "exc" if synapse == "AMPA" else "inh"
                name = s["name"] if s else (f"in_{kind}" if pre == INPUT else
                                            f"rec_{kind}" if pre == l.name else f"{pre}_{l.name}_{kind}")
                if len(net.layers) > 1 and s is None:
                    name = f"{l.name}_{name}"
                projs.append(Projection(name, pre, l.name, synapse, counts, float(efficacy),
                                        float(s["delay"]) if s else 0.0))
        has_bias = l.meta.get("has_bias", bias is not None)
        pops.append(Population(l.name, l.size, params,
                               bias_current=None if not has_bias else np.broadcast_to(
                                   np.zeros(l.size) if bias is None else bias, (l.size,)).copy()))
    order = net.meta.get("order")
    if order and sorted(order) == sorted(p.name for p in pops):
        pops.sort(key=lambda p: order.index(p.name))
    last = net.layers[-1]
    if net.readout is None:
        w_ro, b_ro = np.eye(last.size), np.zeros(last.size)
    else:
        w_ro, b_ro = np.asarray(net.readout[0], float), np.asarray(net.readout[1], float)
    # scores = sum over the window's steps of (w s + b) = w counts + n b = (w n dt rs) rate / rs + n b
    rs = net.meta.get("rate_scale") or 1.0 / dt
    readout = Readout(last.name, w_ro * rs * n_steps * dt, b_ro * n_steps, rs, window)
    enc = net.meta.get("encoder")
    encoder = InputEncoder.from_dict(enc) if enc else InputEncoder("current", net.n_inputs)
    meta = dict(net.meta.get("metadata") or {"source": "NIR", "nir_dt": dt})
    return SpikingNetwork(tuple(pops), tuple(projs), encoder, readout, float(step_duration), meta)


# --- NIRNet <-> nir.NIRGraph --------------------------------------------------------------

def _nir() -> Any:
    try:
        import nir  # noqa: PLC0415 (optional dependency)
    except ImportError:
        raise NIRError("NIR needs the 'nir' package: pip install nir==1.0.8 (or the project's [dev] extra)") from None
    return nir


def _meta(d: dict[str, Any]) -> dict[str, Any]:
    return {_META: json.dumps(d, allow_nan=False)} if d else {}


def _read_meta(node: Any) -> dict[str, Any]:
    raw = (getattr(node, "metadata", None) or {}).get(_META)
    if raw is None:
        return {}
    if isinstance(raw, bytes):
        raw = raw.decode("utf8")
    return json.loads(str(raw))


def to_graph(net: NIRNet) -> Any:
    """A ``nir.NIRGraph``: ``input -> <layer>.w_in -> <layer> (<-> <layer>.w_rec) -> readout -> output``."""
    nir = _nir()
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array([net.n_inputs]))}
    edges: list[tuple[str, str]] = []
    node_key: dict[str, str] = {}
    for l in net.layers:
        if l.kind == "LIF":
            neuron = nir.LIF(tau=l.tau_mem, r=l.r, v_leak=l.v_leak, v_threshold=l.threshold,
                             v_reset=l.v_reset, metadata=_meta(l.meta))
        elif l.kind == "CubaLIF":
            neuron = nir.CubaLIF(tau_syn=l.tau_syn, tau_mem=l.tau_mem, r=l.r, v_leak=l.v_leak,
                                 v_threshold=l.threshold, v_reset=l.v_reset, w_in=l.w_in, metadata=_meta(l.meta))
        else:
            neuron = nir.IF(r=l.r, v_threshold=l.threshold, v_reset=l.v_reset, metadata=_meta(l.meta))
        # A recurrent layer is a subgraph ``<name>.input -> <name>.lif <-> <name>.w_rec``, keys
        # prefixed as snnTorch's own import builds it: snnTorch 1.0.0 regroups a loop it finds at
        # the top level with the input wired into w_rec (the input current would pass through
        # the recurrent weights), and nirtorch 2.6 fails on unprefixed subgraph keys.
        # nirtorch 2.6 visits nodes in key order (HDF5 sorts them) and fails on a subgraph it
        # reaches before its input: the input weights ``<name>.in`` sort before ``<name>.rnn``.
        key = l.name if l.w_rec is None else f"{l.name}.rnn"
        if l.w_rec is None:
            nodes[key] = neuron
        else:
            n = np.array([l.size])
            k = {part: f"{key}.{part}" for part in ("input", "lif", "w_rec", "output")}
            nodes[key] = nir.NIRGraph(
                nodes={k["input"]: nir.Input(input_type=n), k["lif"]: neuron,
                       k["w_rec"]: nir.Affine(weight=np.asarray(l.w_rec, float), bias=np.asarray(l.b_rec, float)),
                       k["output"]: nir.Output(output_type=n)},
                edges=[(k["input"], k["lif"]), (k["lif"], k["w_rec"]), (k["w_rec"], k["lif"]),
                       (k["lif"], k["output"])])
        node_key[l.name] = key
        for pre, w, b in l.inputs:
            key = f"{l.name}.in" if pre == INPUT else f"{pre}.to.{l.name}"
            nodes[key] = nir.Affine(weight=np.asarray(w, float), bias=np.asarray(b, float))
            edges += [("input" if pre == INPUT else node_key[pre], key), (key, node_key[l.name])]
    last = node_key[net.layers[-1].name]
    if net.readout is not None:
        w, b = net.readout
        nodes["readout"] = nir.Affine(weight=np.asarray(w, float), bias=np.asarray(b, float),
                                      metadata=_meta(net.meta))
        edges += [(last, "readout"), ("readout", "output")]
        n_out = w.shape[0]
    else:
        edges.append((last, "output"))
        n_out = net.layers[-1].size
    nodes["output"] = nir.Output(output_type=np.array([n_out]))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def _flatten(graph: Any, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Nodes and edges of ``graph`` with nested graphs (snnTorch's RLeaky) spliced in."""
    nir = _nir()
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, list[str]] = {}
    exit_: dict[str, list[str]] = {}
    for key, node in graph.nodes.items():
        name = prefix + key
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = _flatten(node, name + ".")
            neurons = [k for k, n in sub_nodes.items() if type(n).__name__ in NEURON_NODES]
            if len(neurons) == 1:  # a recurrent layer: named after the subgraph (less ".rnn")
                layer = name[:-4] if name.endswith(".rnn") else name
                sub_nodes = {layer if k == neurons[0] else k: n for k, n in sub_nodes.items()}
                sub_edges = [tuple(layer if x == neurons[0] else x for x in e) for e in sub_edges]
            ins = [k for k, n in sub_nodes.items() if isinstance(n, nir.Input)]
            outs = [k for k, n in sub_nodes.items() if isinstance(n, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise NIRError(f"NIR subgraph {name!r} needs one Input and one Output node")
            entry[name] = [b for a, b in sub_edges if a == ins[0]]
            exit_[name] = [a for a, b in sub_edges if b == outs[0]]
            nodes.update({k: n for k, n in sub_nodes.items() if k not in (ins[0], outs[0])})
            edges += [(a, b) for a, b in sub_edges if a != ins[0] and b != outs[0]]
        else:
            nodes[name] = node
    for a, b in graph.edges:
        a, b = prefix + a, prefix + b
        for src in exit_.get(a, [a]):
            for dst in entry.get(b, [b]):
                edges.append((src, dst))
    return nodes, list(dict.fromkeys(edges))


def _arr(v: Any, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(v, dtype=float), (n,)).astype(float).copy()


def from_graph(graph: Any) -> NIRNet:
    """Read a ``nir.NIRGraph`` of spiking layers with Affine/Linear weights (see :class:`NIRNet`).

    Raises
    ------
    NIRError
        One line naming the first node this project cannot carry (Conv, Delay, pooling, an
        unknown node) or a structure it does not take.
    """
    nir = _nir()
    nodes, edges = _flatten(graph)
    kinds = {k: type(n).__name__ for k, n in nodes.items()}
    for key, kind in kinds.items():
        if kind not in NEURON_NODES + WEIGHT_NODES + ("Input", "Output"):
            raise NIRError(f"NIR node {key!r} is a {kind}, which rnn2dynapse cannot carry (it takes "
                           f"{', '.join(NEURON_NODES + WEIGHT_NODES)}, Input, Output)")
    inputs = [k for k, t in kinds.items() if t == "Input"]
    outputs = [k for k, t in kinds.items() if t == "Output"]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NIRError(f"the NIR graph has {len(inputs)} Input and {len(outputs)} Output nodes; one of each is needed")
    pre = {k: [a for a, b in edges if b == k] for k in nodes}
    post = {k: [b for a, b in edges if a == k] for k in nodes}
    n_in = int(np.prod(np.asarray(list(nodes[inputs[0]].input_type.values())[0])))
    neuron_keys = [k for k, t in kinds.items() if t in NEURON_NODES]
    if not neuron_keys:
        raise NIRError("the NIR graph has no spiking node (LIF, CubaLIF, IF)")

    def rec(k: str) -> bool:
        return any(kinds[w] in WEIGHT_NODES and pre[w] == [k] for w in pre[k])

    def layer_name(k: str) -> str:
        return k[:-4] if k.endswith(".lif") and rec(k) and k[:-4] not in nodes else k

    def source(k: str) -> str:
        if kinds[k] == "Input":
            return INPUT
        if kinds[k] in NEURON_NODES:
            return layer_name(k)
        raise NIRError(f"NIR node {k!r} ({kinds[k]}) feeds a weight node; two weight nodes in a row are not taken")

    layers = []
    for key in neuron_keys:
        node = nodes[key]
        n = int(np.asarray(node.v_threshold).size)
        ff, w_rec, b_rec = [], None, None
        for src in pre[key]:
            if kinds[src] in WEIGHT_NODES:
                wnode = nodes[src]
                w = np.asarray(wnode.weight, float)
                b = np.asarray(getattr(wnode, "bias", np.zeros(w.shape[0])), float)
                if w.ndim != 2:
                    raise NIRError(f"NIR node {src!r}: weights of shape {w.shape} are not a matrix")
                srcs = pre[src]
                if len(srcs) != 1:
                    raise NIRError(f"NIR node {src!r} has {len(srcs)} inputs; a weight node takes one")
                if srcs[0] == key:
                    w_rec, b_rec = w, b
                else:
                    ff.append((source(srcs[0]), w, b))
            elif kinds[src] in ("Input",) + NEURON_NODES:
                ff.append((source(src), np.eye(n), np.zeros(n)))
        if not ff:
            raise NIRError(f"NIR node {key!r} receives nothing from the input or another layer")
        kind = kinds[key]
        tau = np.inf if kind == "IF" else (node.tau if kind == "LIF" else node.tau_mem)
        v_reset = node.v_reset if getattr(node, "v_reset", None) is not None else 0.0
        name = layer_name(key)
        layers.append(Layer(
            name, kind, _arr(tau, n), _arr(node.r, n), _arr(getattr(node, "v_leak", 0.0), n),
            _arr(node.v_threshold, n), _arr(v_reset, n), tuple(ff),
            tau_syn=_arr(node.tau_syn, n) if kind == "CubaLIF" else None,
            w_in=_arr(node.w_in, n) if kind == "CubaLIF" else None,
            w_rec=w_rec, b_rec=b_rec, meta=_read_meta(node)))
    order = _feedforward_order(layers)
    out_src = pre[outputs[0]]
    if len(out_src) != 1:
        raise NIRError(f"the Output node has {len(out_src)} inputs; one is needed")
    readout, meta = None, {}
    last = out_src[0]
    if kinds[last] in WEIGHT_NODES:
        wnode = nodes[last]
        w = np.asarray(wnode.weight, float)
        readout = (w, np.asarray(getattr(wnode, "bias", np.zeros(w.shape[0])), float))
        meta = _read_meta(wnode)
        last = pre[last][0]
    if kinds.get(last) not in NEURON_NODES or layer_name(last) != order[-1].name:
        raise NIRError(f"the Output node must read the last spiking layer ({order[-1].name!r}), not {last!r}")
    dangling = [k for k in neuron_keys if k != last and not any(
        kinds[d] in WEIGHT_NODES + NEURON_NODES and d != k for d in post[k])]
    if dangling:
        raise NIRError(f"NIR node {dangling[0]!r} drives nothing; the graph must be a chain of layers")
    return NIRNet(n_in, tuple(order), readout, meta)


def write(net: SpikingNetwork | NIRNet, path: str | Path) -> Path:
    """Write ``net`` (a description of LIF populations, or a :class:`NIRNet`) as a NIR file."""
    nirnet = net if isinstance(net, NIRNet) else from_description(net)
    path = Path(path)
    _nir().write(str(path), to_graph(nirnet))
    return path


def read(path: str | Path) -> NIRNet:
    """Read a NIR file into a :class:`NIRNet` (errors name the file)."""
    nir = _nir()
    path = Path(path)
    if not path.is_file():
        raise NIRError(f"no NIR file at {path}")
    try:
        graph = nir.read(str(path))
    except NIRError:
        raise
    except Exception as err:  # noqa: BLE001 (h5py and nir raise many kinds)
        raise NIRError(f"{path} is not a readable NIR file: {' '.join(str(err).split())[:200]}") from None
    try:
        return from_graph(graph)
    except NIRError as err:
        raise NIRError(f"{path}: {err}") from None
