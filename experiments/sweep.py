"""A small resumable parameter sweep: run one function over many cells, locally or on dask.

A :class:`Cell` is a set of parameters with a stable :attr:`Cell.key` (a readable slug plus a
hash of the sorted JSON of the parameters). :func:`run_sweep` calls ``fn(params) -> dict`` for
every cell and writes each finished cell atomically to ``out_dir/cells/<key>.json``
(parameters, result, wall time, revision). A rerun skips every cell whose file exists, so an
interrupted sweep loses only the cells that were running. A cell that raises is recorded in
``out_dir/failed/<key>.json`` with its error and does not stop the others; it is tried again
on the next run.

Backends
--------
``joblib``
    ``joblib.Parallel(n_jobs)`` on this machine; each worker writes its cell's file right after
    the cell finishes, so an interrupt (Ctrl-C) keeps every finished cell.
``dask``
    ``distributed.Client(scheduler)`` (a temporary local cluster when no address is given);
    the cells go out with ``client.map`` and each result is written here, by the client, as
    it completes (``as_completed``), so the workers need not share a filesystem with it.
    Dask workers run cells in threads: a module that must be imported in a process's main
    thread (Brian2 installs a SIGINT handler at import) goes in ``preload``, which every
    worker, also one joining later, imports in its main thread before it runs a cell.

``fn`` must be picklable: a top-level function, or a :func:`functools.partial` of one.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import re
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from experiments.runs import git_revision
from transfer.files import read_json, write_json

__all__ = ["Cell", "SweepError", "grid", "run_sweep", "BACKENDS"]

#: The backends :func:`run_sweep` knows.
BACKENDS = ("joblib", "dask")

_SCALARS = (str, int, float, bool, type(None))
_SLUG_MAX = 80


class SweepError(ValueError):
    """A sweep was set up wrongly (bad cell parameters, backend or output directory)."""


def _freeze(name: str, value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(name, v) for v in value)
    if not isinstance(value, _SCALARS):
        raise SweepError(f"cell parameter {name!r} = {value!r} is a {type(value).__name__}; "
                         "cell parameters must be JSON scalars (str, int, float, bool, None) or lists of them")
    if isinstance(value, float) and not math.isfinite(value):
        raise SweepError(f"cell parameter {name!r} = {value!r} is not finite; it would not survive JSON")
    return value


@dataclass(frozen=True)
class Cell:
    """One point of a sweep: parameters (JSON scalars) with a stable file key.

    Build one with ``Cell.of(neuron="lif", cv=0.1, seed=0)`` or ``Cell.from_params(d)``.
    The parameters are kept sorted by name, so two cells with the same parameters are equal
    and have the same key whatever order the parameters were given in. Note that ``0`` and
    ``0.0`` are different parameters (JSON keeps ints and floats apart).
    """

    items: tuple[tuple[str, Any], ...]

    def __post_init__(self) -> None:
        names = [k for k, _ in self.items]
        if not all(isinstance(k, str) and k for k in names):
            raise SweepError(f"cell parameter names must be non-empty strings, got {names!r}")
        if len(set(names)) != len(names):
            raise SweepError(f"cell parameter names repeat: {names!r}")
        frozen = tuple(sorted((k, _freeze(k, v)) for k, v in self.items))
        object.__setattr__(self, "items", frozen)

    @classmethod
    def of(cls, **params: Any) -> "Cell":
        """A cell from keyword arguments."""
        return cls(tuple(params.items()))

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "Cell":
        """A cell from a mapping of parameter names to values."""
        return cls(tuple(params.items()))

    @property
    def params(self) -> dict[str, Any]:
        """The parameters as a plain dict (tuples back to lists, as JSON would give them)."""
        def thaw(v: Any) -> Any:
            return [thaw(x) for x in v] if isinstance(v, tuple) else v
        return {k: thaw(v) for k, v in self.items}

    @property
    def key(self) -> str:
        """``name=value_..._<hash>``: readable, filesystem-safe and unique for the parameters."""
        text = json.dumps(self.params, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha1(text.encode()).hexdigest()[:10]
        parts = [f"{k}={'+'.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in self.items]
        slug = re.sub(r"[^A-Za-z0-9._=+-]", "-", "_".join(parts))[:_SLUG_MAX]
        return f"{slug}-{digest}" if slug else digest


def grid(**axes: Iterable[Any]) -> list[Cell]:
    """Every combination of the given axes, the last axis varying fastest.

    ``grid(neuron=["lif", "dpi"], cv=[0.0, 0.1])`` gives four cells.
    """
    cells = [{}]
    for name, values in axes.items():
        values = list(values)
        if not values:
            raise SweepError(f"sweep axis {name!r} has no values")
        cells = [dict(c, **{name: v}) for c in cells for v in values]
    return [Cell.from_params(c) for c in cells]


# -- one cell ---------------------------------------------------------------------------------
def _execute(fn: Callable[[dict[str, Any]], dict[str, Any]], key: str, params: dict[str, Any],
             revision: str) -> dict[str, Any]:
    """Run one cell and return its record; an ``Exception`` becomes a ``failed`` record.

    ``KeyboardInterrupt`` and ``SystemExit`` are not caught: they stop the sweep.
    """
    t0 = time.perf_counter()
    record: dict[str, Any] = {"key": key, "params": params, "revision": revision}
    try:
        result = fn(dict(params))
        if not isinstance(result, Mapping):
            raise TypeError(f"the cell function returned a {type(result).__name__}; it must return a dict")
        record.update(status="done", result=dict(result))
    except Exception as exc:  # noqa: BLE001 (one cell's failure must not stop the sweep)
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc())
    record["wall_seconds"] = time.perf_counter() - t0
    return record


def _write(out_dir: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Store a cell record: ``cells/<key>.json`` when done (clearing an old failure), else ``failed/``.

    Returns the record as stored (a result JSON cannot hold turns the cell into a failure).
    """
    key = record["key"]
    if record["status"] == "done":
        try:
            json.dumps(record)  # before write_json, which would leave its temporary file behind
        except (TypeError, ValueError) as exc:
            record = {k: v for k, v in record.items() if k != "result"}
            record.update(status="failed", error=f"the cell's result is not JSON-serializable: {exc}")
        else:
            write_json(out_dir / "cells" / f"{key}.json", record)
            (out_dir / "failed" / f"{key}.json").unlink(missing_ok=True)
            return record
    write_json(out_dir / "failed" / f"{key}.json", record)
    return record


def _execute_and_write(fn: Callable[[dict[str, Any]], dict[str, Any]], key: str, params: dict[str, Any],
                       revision: str, out_dir: str) -> dict[str, Any]:
    """The joblib task: run one cell and write its file from the worker, at once."""
    return _write(Path(out_dir), _execute(fn, key, params, revision))


# -- backends ---------------------------------------------------------------------------------
def _joblib(todo: list[Cell], fn: Callable, out_dir: Path, revision: str, n_jobs: int) -> Iterator[dict[str, Any]]:
    from joblib import Parallel, delayed  # noqa: PLC0415

    tasks = (delayed(_execute_and_write)(fn, c.key, c.params, revision, str(out_dir)) for c in todo)
    yield from Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks)


def _preload_plugin(modules: Sequence[str]) -> Any:
    """A dask worker plugin importing ``modules`` in each worker's main thread (its event loop)."""
    from distributed.diagnostics.plugin import WorkerPlugin  # noqa: PLC0415

    class Preload(WorkerPlugin):  # pickled by value (cloudpickle): workers need not import this module
        idempotent = True

        def __init__(self, names: tuple[str, ...]) -> None:
            self.names = names
            self.name = "sweep-preload-" + "-".join(names)

        def setup(self, worker: Any) -> None:
            for name in self.names:
                importlib.import_module(name)

    return Preload(tuple(modules))


def _dask(todo: list[Cell], fn: Callable, out_dir: Path, revision: str, n_jobs: int,
          scheduler: str | None, preload: Sequence[str]) -> Iterator[dict[str, Any]]:
    from distributed import Client, LocalCluster, as_completed  # noqa: PLC0415

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=n_jobs, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        scheduler = cluster.scheduler_address
    client = Client(scheduler)
    futures = []
    try:
        if preload:
            client.register_plugin(_preload_plugin(preload))
        run = uuid.uuid4().hex[:8]  # task keys of this run only: a cancelled earlier run cannot clash
        futures = client.map(_execute, [fn] * len(todo), [c.key for c in todo], [c.params for c in todo],
                             [revision] * len(todo), key=[f"sweep-{c.key}-{run}" for c in todo], pure=False)
        cell_of = {f.key: c for f, c in zip(futures, todo)}
        for future in as_completed(futures):
            if future.status == "finished":
                yield _write(out_dir, future.result())
                continue
            # the task itself broke (a worker died, the function could not be unpickled): that cell failed
            cell = cell_of[future.key]
            exc = future.exception() if future.status == "error" else None
            error = f"{type(exc).__name__}: {exc}" if exc is not None else f"dask task {future.status}"
            yield _write(out_dir, {"key": cell.key, "params": cell.params, "revision": revision,
                                   "status": "failed", "error": error, "wall_seconds": None})
    finally:  # interrupted or done: drop what is still queued, leave the scheduler clean
        if futures:
            client.cancel(futures)
        client.close()
        if cluster is not None:
            cluster.close()


# -- the sweep --------------------------------------------------------------------------------
def _check_settings(out_dir: Path, settings: dict[str, Any] | None) -> None:
    """Keep ``settings`` in ``out_dir/sweep.json``; refuse to resume when one of them changed.

    A setting may be added (a new curve's run directory) or left out on a rerun; one present
    both in the stored and in the new settings must have the same value.
    """
    if settings is None:
        return
    path = out_dir / "sweep.json"
    settings = json.loads(json.dumps(settings, sort_keys=True))  # as it will read back
    old = read_json(path).get("settings", {}) if path.exists() else {}
    changed = sorted(k for k in set(old) & set(settings) if old[k] != settings[k])
    if changed:
        raise SweepError(f"{out_dir} holds a sweep with other settings ({', '.join(changed)}: "
                         + "; ".join(f"{old[k]!r} there, {settings[k]!r} now" for k in changed)
                         + "); its finished cells would be reused wrongly, so choose a new output directory")
    if not path.exists() or set(settings) - set(old):
        write_json(path, {"settings": dict(old, **settings), "revision": git_revision()})


def run_sweep(cells: Iterable[Cell | Mapping[str, Any]], fn: Callable[[dict[str, Any]], dict[str, Any]],
              out_dir: str | Path, *, backend: str = "joblib", n_jobs: int = 2, scheduler: str | None = None,
              progress: bool = True, settings: dict[str, Any] | None = None, preload: Sequence[str] = (),
              on_result: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run ``fn`` over every cell not yet finished in ``out_dir``; return one record per cell.

    Parameters
    ----------
    cells
        :class:`Cell` objects or parameter mappings; duplicates run once.
    fn
        ``fn(params) -> dict`` of JSON-serializable results; a picklable top-level function
        (or :func:`functools.partial` of one) taking the cell's parameters as a dict.
    out_dir
        Holds ``cells/<key>.json`` (finished), ``failed/<key>.json`` (raised, with the error)
        and ``sweep.json`` (``settings``).
    backend
        ``"joblib"`` (this machine, ``n_jobs`` processes) or ``"dask"``.
    n_jobs
        joblib processes; for ``dask`` without ``scheduler``, the workers of a temporary
        local cluster.
    scheduler
        A dask scheduler address (``tcp://host:8786``); only with ``backend="dask"``.
    progress
        Show a tqdm bar over the cells still to run.
    settings
        Constant settings shared by all cells (e.g. the input run directory), kept in
        ``sweep.json``: resuming ``out_dir`` with a changed setting raises :class:`SweepError`
        rather than mixing old cells into the new sweep (new settings may be added).
    preload
        Modules every dask worker imports in its main thread before running cells (``brian2``,
        which cannot be imported from a worker thread). joblib workers run cells in their main
        thread and need none.
    on_result
        Called in this process with each new record, after it was written.

    Returns
    -------
    list of dict
        In the order of ``cells``: ``{"key", "params", "status": "done" | "failed", "result"``
        (done) or ``"error"`` (failed), ``"wall_seconds", "revision", "reused"}``; ``reused`` is
        true for cells finished by an earlier run. Failures are also summed up on stderr.

    Raises
    ------
    SweepError
        Unknown backend, a scheduler without ``backend="dask"``, bad cell parameters, or an
        ``out_dir`` holding a sweep with other ``settings``.
    """
    if backend not in BACKENDS:
        raise SweepError(f"unknown sweep backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if scheduler is not None and backend != "dask":
        raise SweepError(f"a scheduler address ({scheduler}) needs backend='dask', not {backend!r}")
    if n_jobs < 1:
        raise SweepError(f"n_jobs must be at least 1, got {n_jobs}")
    unique: dict[str, Cell] = {}
    for c in cells:
        cell = c if isinstance(c, Cell) else Cell.from_params(c)
        unique.setdefault(cell.key, cell)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_settings(out_dir, settings)

    records: dict[str, dict[str, Any]] = {}
    todo: list[Cell] = []
    for key, cell in unique.items():
        path = out_dir / "cells" / f"{key}.json"
        if path.exists():
            records[key] = dict(read_json(path), reused=True)
        else:
            todo.append(cell)
    revision = git_revision()

    if todo:
        from tqdm.auto import tqdm  # noqa: PLC0415

        if backend == "joblib":
            stream = _joblib(todo, fn, out_dir, revision, n_jobs)
        else:
            stream = _dask(todo, fn, out_dir, revision, n_jobs, scheduler, preload)
        bar = tqdm(total=len(todo), desc=f"sweep {out_dir.name}", unit="cell", disable=not progress,
                   initial=0, postfix={"reused": len(records)})
        n_failed = 0
        try:
            for record in stream:
                records[record["key"]] = dict(record, reused=False)
                n_failed += record["status"] == "failed"
                bar.update(1)
                if n_failed:
                    bar.set_postfix(reused=len(records) - bar.n, failed=n_failed)
                if on_result is not None:
                    on_result(record)
        finally:
            bar.close()
            stream.close()  # stops the dask generator's cluster at once on an interrupt

    result = [records[key] for key in unique]
    failed = [r for r in result if r["status"] == "failed"]
    if failed:
        print(f"sweep {out_dir}: {len(failed)} of {len(result)} cells failed "
              f"(details in {out_dir / 'failed'}):", file=sys.stderr)
        for r in failed:
            print(f"  {r['key']}: {r['error']}", file=sys.stderr)
    return result
