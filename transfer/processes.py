"""Run independent batches in worker processes, one CPU core each, and gather their results in order.

:func:`map_in_processes` gives each of ``jobs`` spawned processes a fixed share of the
batches (batch ``i`` to worker ``i mod jobs``: no shared task queue, so no lock that a
stopped worker could hold), one torch thread and one BLAS thread, and yields
``(index, result)`` as the workers send them. The workers ignore SIGINT: Ctrl-C reaches
the calling process, which stops them (SIGTERM, then SIGKILL) before the interrupt goes
on; so does any failure, which is raised in the caller as one line naming the batch.

Why processes rather than threads: torch's intra-op threads synchronise at every operation,
and with ``OMP_WAIT_POLICY=PASSIVE`` (needed on a shared 2-core machine, see
``experiments/bench_rockpool.py``) each synchronisation wakes a sleeping thread. On the
recurrent DPI network of that benchmark (128 neurons, batch 1024, compiled float32) two
threads simulated 244 samples/s against 294 with one; two processes with one thread each
run two such streams side by side.
"""

from __future__ import annotations

import multiprocessing
import signal
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterator, Sequence

__all__ = ["map_in_processes"]

#: How long stopped workers get to exit after SIGTERM before SIGKILL (seconds).
_GRACE = 5.0


def _worker(conn: Connection, setup: Callable[..., Any], setup_args: tuple, run: Callable[..., Any],
            tasks: list[tuple[int, Any]]) -> None:
    """Build the worker's state with ``setup(*setup_args)``, then send ``(i, run(state, item))`` per task."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch  # noqa: PLC0415 (the workers are spawned: nothing is imported yet)
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    torch.set_num_threads(1)
    index = None
    try:
        with threadpool_limits(1):
            state = setup(*setup_args)
            for index, item in tasks:
                conn.send((index, run(state, item), None))
    except Exception as exc:  # noqa: BLE001 (sent to the caller, which raises it)
        conn.send((index, None, f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _stop(procs: Sequence[multiprocessing.process.BaseProcess], finished: bool) -> None:
    """Let workers that sent everything exit on their own (``finished``); stop the others."""
    if finished:
        for p in procs:
            p.join(_GRACE)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(_GRACE)
        if p.is_alive():
            p.kill()
            p.join()


def map_in_processes(setup: Callable[..., Any], setup_args: tuple, run: Callable[[Any, Any], Any],
                     items: Sequence[Any], jobs: int) -> Iterator[tuple[int, Any]]:
    """Yield ``(i, run(state, items[i]))`` for every item, computed in ``jobs`` spawned processes.

    Parameters
    ----------
    setup : callable
        Module-level function (it is pickled by name) building a worker's state once, e.g. a
        simulator; ``setup_args`` are pickled to every worker.
    setup_args : tuple
    run : callable ``(state, item) -> result``
        Module-level function; results come back pickled.
    items : sequence
        The work, split between the workers in a fixed round-robin.
    jobs : int
        Worker processes (at most one per item).

    Raises
    ------
    RuntimeError
        When a worker fails or dies; the message names the item and the cause.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    jobs = min(jobs, len(items))
    ctx = multiprocessing.get_context("spawn")
    procs, conns = [], []
    finished = False
    try:
        for w in range(jobs):
            parent, child = ctx.Pipe(duplex=False)
            tasks = [(i, items[i]) for i in range(w, len(items), jobs)]
            p = ctx.Process(target=_worker, args=(child, setup, setup_args, run, tasks), daemon=True)
            p.start()
            child.close()
            procs.append(p)
            conns.append(parent)
        left = len(items)
        open_conns = list(conns)
        while left:
            if not open_conns:
                raise RuntimeError(f"worker processes ended with {left} of {len(items)} batches not done")
            for conn in wait(open_conns):
                try:
                    index, result, error = conn.recv()
                except EOFError:
                    open_conns.remove(conn)
                    w = conns.index(conn)
                    procs[w].join(_GRACE)
                    if procs[w].exitcode != 0:
                        raise RuntimeError(f"worker process {w} died (exit code {procs[w].exitcode})") from None
                    continue
                if error is not None:
                    raise RuntimeError(f"batch {index} failed in a worker process: {error}")
                left -= 1
                yield index, result
        finished = True
    finally:
        _stop(procs, finished)
        for conn in conns:
            conn.close()
