"""Result records: what every experiment script writes and ``make results`` reads.

A record is one JSON file ``docs/data/<name>.json`` holding the figures an experiment
measured, the exact command that produced them, the code revision and the date. The files
are small and committed, so ``docs/RESULTS.md`` can be regenerated from them on any
machine; the heavy outputs (checkpoints, spike counts) stay in the ignored ``runs/``.
"""

from __future__ import annotations

import datetime as _dt
import shlex
import sys
from pathlib import Path
from typing import Any

from experiments.runs import git_revision
from transfer.files import read_json, write_json

__all__ = ["DATA_DIR", "FIGURES_DIR", "command_line", "save_record", "load_record", "load_records"]

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "docs" / "data"
FIGURES_DIR = ROOT / "docs" / "figures"


def command_line(argv: list[str] | None = None, module: str | None = None) -> str:
    """The command that reproduces this run (``python -m module args`` or the argv)."""
    args = sys.argv[1:] if argv is None else argv
    head = f"python -m {module}" if module else shlex.quote(sys.argv[0])
    return " ".join([head] + [shlex.quote(a) for a in args])


def save_record(name: str, figures: dict[str, Any], command: str, data_dir: Path = DATA_DIR) -> Path:
    """Write ``figures`` with provenance (command, revision, date) to ``data_dir/name.json``."""
    record = {
        "name": name,
        "command": command,
        "revision": git_revision(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "figures": figures,
    }
    return write_json(Path(data_dir) / f"{name}.json", record)


def load_record(name: str, data_dir: Path = DATA_DIR) -> dict[str, Any] | None:
    """The record called ``name``, or ``None`` when that experiment has not been run."""
    path = Path(data_dir) / f"{name}.json"
    return read_json(path) if path.exists() else None


def load_records(data_dir: Path = DATA_DIR) -> dict[str, dict[str, Any]]:
    """All records in ``data_dir`` by name."""
    return {p.stem: read_json(p) for p in sorted(Path(data_dir).glob("*.json"))}
