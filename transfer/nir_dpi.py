"""An imported NIR network of LIF populations on DPI neurons, with spike input: what the chip runs.

``rnn2dynapse import`` writes a description of LIF populations that reproduces snnTorch's
discrete-time reading of a NIR graph (:mod:`brian_models.nir_io`, ``docs/NIR.md``): a step of
``dt`` = 0.1 ms, ``v <- beta v + u`` with ``u`` the input of the step in units of the
threshold, reset to zero. :func:`lif_to_dpi` swaps every population for DPI neurons:

1. **Slower time.** Everything runs ``time_scale`` (K) times slower: membrane and synaptic
   time constants, the presentation of each element and the readout window times K, the
   charge per step the same (so rates are divided by K). A network of leaky integrators and
   linear synapses computes the same thing slowed down; K = 10 puts snnTorch's top rate (a
   spike every step, 10 kHz) at 1 kHz, the rate the project's conversions run DPI neurons at,
   and the 0.1 ms synapses at 1 ms.
2. **Matched f-I curves.** The DPI neuron (membrane time constant K times the LIF's) is
   measured in Brian2 (:func:`brian_models.calibrate.measure_fi_curve`) and a line
   ``I = I0 + gain * u`` is fitted so that its rate for a constant input ``u`` per step matches
   the discrete LIF's, ``1 / (n K dt)`` with ``n`` the steps ``v <- beta v + u`` takes from 0
   to the threshold, for ``u`` from the LIF's rheobase ``1 - beta`` to 1 (a spike every
   step). ``gain`` is the DPI's charge for one threshold's worth of input in one (slowed)
   step: every weight keeps its value in those units.
3. **Currents become charges.** A spike that moved ``v`` by ``w`` now delivers the charge
   ``gain * w * K dt`` through a DPI synapse of time constant K times the LIF's; the bias and
   ``I0`` are the DC; the input, a current per unit of ``x``, becomes regular spike trains
   (``input_coding="rate"``) at a rate chosen so that input and recurrent synapses of one type
   share one efficacy (DYNAP-SE has one weight per synapse type and core), or stays a current.

What this does not carry: the LIF's exact subthreshold trajectory (the DPI's is logistic near
its floor and its spike upswing is positive feedback, not a hard threshold), snnTorch's
ceiling of one spike per step (the DPI fires faster for ``u > 1``, up to its refractory
period) and the arrival of input spikes instead of a current (a regular train delivers the
same mean charge in pulses). ``docs/NIR.md`` gives the measured cost.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from brian_models.calibrate import measure_fi_curve
from brian_models.description import (INPUT, InputEncoder, Population, Projection, SpikingNetwork,
                                      TransferFunction)
from brian_models.nir_io import DT
from brian_models.parameters import DPIParams, LIFParams
from brian_models.synapse_types import SYNAPSES
from transfer.convert import CONVERSION_PRESETS, ConversionError

__all__ = ["LIFToDPISettings", "lif_rate", "fit_dpi", "lif_to_dpi"]


@dataclass(frozen=True)
class LIFToDPISettings:
    """Settings of :func:`lif_to_dpi`.

    Parameters
    ----------
    time_scale : float
        K: the DPI network runs K times slower than the imported one.
    input_coding : {"rate", "current"}
        Input as regular spike trains (what the chip takes) or as a current.
    params : dict
        Overrides of the DPI parameters (flat, SI), below the matched membrane and synaptic
        time constants.
    """

    time_scale: float = 10.0
    input_coding: str = "rate"
    params: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if not self.time_scale > 0:
            raise ConversionError(f"time_scale must be positive, got {self.time_scale}")
        if self.input_coding not in ("rate", "current"):
            raise ConversionError(f"input coding must be 'current' or 'rate', got {self.input_coding!r}")


def lif_rate(u: np.ndarray, beta: float, step: float) -> np.ndarray:
    """Firing rate (Hz) of the discrete LIF ``v <- beta v + u``, threshold 1, reset to 0, for a
    constant input ``u`` per step of ``step`` seconds: ``1 / (n step)`` with ``n`` the first
    step where ``u (1 - beta^n) / (1 - beta) > 1`` (0 below the rheobase ``1 - beta``)."""
    u = np.asarray(u, dtype=float)
    out = np.zeros(u.shape)
    fire = u > 1 - beta
    if beta <= 0:
        n = np.ones(u.shape)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            n = np.floor(np.log(1 - (1 - beta) / np.where(fire, u, 1.0)) / np.log(beta)) + 1
    out[fire] = 1.0 / (np.maximum(n[fire], 1) * step)
    return out


def fit_dpi(params: DPIParams, beta: float, step: float, n_points: int = 160,
            duration: float = 1.0) -> TransferFunction:
    """The line ``I = I0 + gain * u`` that gives the DPI neuron ``params`` the rate of the
    discrete LIF (:func:`lif_rate`) for ``u`` from the rheobase ``1 - beta`` to 1.

    Returns a :class:`TransferFunction` (``rate_scale`` = ``1 / step``, the rate at ``u = 1``;
    ``rms``: root mean square of the DPI's rate error over that range, relative to it).

    Raises
    ------
    ConversionError
        The DPI neuron does not reach ``1 / step``.
    """
    currents = np.geomspace(1e-13, 1e-7, n_points)
    rates = measure_fi_curve(params, currents, duration=duration)
    top = np.maximum.accumulate(rates)
    if top[-1] < 1.05 / step:
        raise ConversionError(f"the DPI neuron reaches only {top[-1]:.0f} Hz but the imported network's top rate "
                              f"is {1 / step:.0f} Hz; raise the time scale (--time-scale)")
    u = np.linspace(1 - beta, 1.0, 41)[1:]
    target = lif_rate(u, beta, step)
    firing = np.flatnonzero(top > 0)
    keep = np.concatenate([[True], np.diff(top[firing]) > 0])
    I_u = np.interp(target, top[firing][keep], currents[firing][keep])
    # Anchored at the rheobases: silent below the LIF's, as the LIF is (a free line puts I0
    # above the DPI's rheobase, and every neuron fires without input).
    I_rh = float(currents[firing[0]])
    gain = float(np.sum((I_u - I_rh) * (u - (1 - beta))) / np.sum((u - (1 - beta)) ** 2))
    I0 = I_rh - gain * (1 - beta)
    check = np.interp(I0 + gain * u, currents, rates)
    rms = float(np.sqrt(np.mean((check - target) ** 2)) * step)
    return TransferFunction(float(I0), float(gain), float(1 / step), rms)


def _dpi_params(lif: LIFParams, k: float, synapses: set[str], overrides: dict[str, float] | None) -> DPIParams:
    """DPI parameters: the conversion preset, ``overrides``, the LIF's membrane time constant
    and those of the ``synapses`` it uses times ``k``."""
    p = DPIParams.from_dict({**CONVERSION_PRESETS["dpi"], **(overrides or {})})
    I_tau = p.C_mem * p.U_T / (p.kappa * k * lif.tau_mem)
    syn = {SYNAPSES[s].tau: k * lif.value(SYNAPSES[s].tau) for s in synapses}
    return replace(p, I_tau=I_tau, synapse=p.synapse.updated(syn))


def lif_to_dpi(net: SpikingNetwork, settings: LIFToDPISettings = LIFToDPISettings(),
               dt: float | None = None) -> SpikingNetwork:
    """The DPI version of an imported description of LIF populations (module docstring).

    Parameters
    ----------
    net : SpikingNetwork
        LIF populations with current input (``rnn2dynapse import``'s ``network.json``).
    settings : LIFToDPISettings
    dt : float, optional
        The NIR step the description reproduces (default: its metadata's ``nir_dt``, else
        :data:`brian_models.nir_io.DT`).

    Raises
    ------
    ConversionError
        A population that is not LIF, input that is not a current, or a DPI that cannot keep up.
    """
    k = settings.time_scale
    dt = float(dt or net.metadata.get("nir_dt") or DT)
    if net.encoder.kind != "current":
        raise ConversionError("lif_to_dpi takes an imported network (current input), not spike input")
    params: dict[str, DPIParams] = {}
    fits: dict[str, TransferFunction] = {}
    unit: dict[str, float] = {}  # DPI amperes per ampere of the LIF description
    for pop in net.populations:
        lif = pop.params
        if not isinstance(lif, LIFParams):
            raise ConversionError(f"population {pop.name!r} is {pop.neuron.upper()}; lif_to_dpi swaps LIF populations")
        used = {p.synapse for p in net.projections if p.post == pop.name}
        params[pop.name] = _dpi_params(lif, k, used, settings.params)
        beta = 1 - dt / lif.tau_mem
        fits[pop.name] = fit_dpi(params[pop.name], beta, k * dt)
        # u per ampere (steady current) = R dt / (dv tau); the DPI current is gain * u.
        unit[pop.name] = fits[pop.name].gain * lif.R_mem * dt / ((lif.v_thresh - lif.v_rest) * lif.tau_mem)

    def tau(name: str, synapse: str, dpi: bool) -> float:
        pop = next(p for p in net.populations if p.name == name)
        return (params[name] if dpi else pop.params).value(SYNAPSES[synapse].tau)

    # A spike's charge e * tau_syn, in u units times dt, becomes gain * u * K dt through a DPI
    # synapse K times slower: the DPI efficacy is unit * e (see the module docstring).
    projs = [replace(p, efficacy=unit[p.post] * p.efficacy) for p in net.projections if p.pre != INPUT]
    encoder = net.encoder
    input_rate = None
    inputs = [p for p in net.projections if p.pre == INPUT]
    if settings.input_coding == "rate" and inputs:
        # One efficacy per synapse type and core: the rate at which an input spike carries the
        # charge of a recurrent (else any spiking) spike of the same type; 1 / (K dt) without one.
        for p in inputs:
            peers = [q for q in net.projections if q.post == p.post and q.pre != INPUT
                     and q.synapse == p.synapse and q.weights.any()]
            if peers and p.weights.any():
                peer = next((q for q in peers if q.pre == q.post), peers[0])
                input_rate = p.efficacy / (peer.efficacy * tau(peer.post, peer.synapse, False) * k)
                break
        input_rate = input_rate or 1.0 / (k * dt)
        encoder = InputEncoder("rate", net.encoder.n_channels, max_rate=float(input_rate), regular=True)
        projs = [replace(p, efficacy=unit[p.post] * p.efficacy / (tau(p.post, p.synapse, True) * input_rate))
                 for p in inputs] + projs
    else:
        projs = [replace(p, efficacy=unit[p.post] * p.efficacy) for p in inputs] + projs
    pops = []
    for pop in net.populations:
        bias = np.zeros(pop.size) if pop.bias_current is None else np.asarray(pop.bias_current, float)
        pops.append(Population(pop.name, pop.size, params[pop.name],
                               bias_current=fits[pop.name].I0 + unit[pop.name] * bias))
    ro = net.readout
    readout = replace(ro, rate_scale=ro.rate_scale / k, window=ro.window * k)
    meta: dict[str, Any] = dict(net.metadata, model="nir", neuron="dpi",
                                transfer_function=fits[net.populations[0].name].to_dict(),
                                lif_to_dpi={"time_scale": k, "nir_dt": dt, "input_coding": settings.input_coding,
                                            "input_rate": input_rate,
                                            "fits": {n: f.to_dict() for n, f in fits.items()}})
    return SpikingNetwork(tuple(pops), tuple(projs), encoder, readout, net.step_duration * k, meta)
