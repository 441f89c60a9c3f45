"""Input checks of the description layer: parameter validation shared by every parameter
class, and the one reader of a JSON object file (a network description, a hardware
configuration)."""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path
from typing import Any

__all__ = ["ParameterError", "check_params", "read_json_object"]


class ParameterError(ValueError):
    """A neuron, synapse, noise or mismatch parameter is missing, unknown or out of range."""


def check_params(owner: object, *, positive: tuple[str, ...] = (),
                 non_negative: tuple[str, ...] = ()) -> None:
    """Check that every float field of a dataclass is finite, and the named ones' signs.

    Parameters
    ----------
    owner : dataclass instance
        Its float fields are checked (nested dataclasses are skipped: they check themselves).
    positive, non_negative : tuple of str
        Fields that must be ``> 0`` / ``>= 0``.

    Raises
    ------
    ParameterError
        Naming the class, the field and the value found.
    """
    cls = type(owner).__name__
    for f in fields(owner):  # type: ignore[arg-type]
        value = getattr(owner, f.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(float(value)):
                raise ParameterError(f"{cls}: parameter {f.name} is {value}; it must be a finite number")
    for name in positive:
        value = float(getattr(owner, name))
        if not value > 0:
            raise ParameterError(f"{cls}: parameter {name} must be > 0, got {value}")
    for name in non_negative:
        value = float(getattr(owner, name))
        if not value >= 0:
            raise ParameterError(f"{cls}: parameter {name} must be >= 0, got {value}")


def read_json_object(path: str | Path, default_name: str, what: str,
                     error: type[Exception] = ValueError) -> tuple[Path, dict[str, Any]]:
    """The JSON object in ``path`` (or ``path/default_name`` for a directory).

    Parameters
    ----------
    path : str or Path
    default_name : str
        The file read in a directory.
    what : str
        What the file should hold, for the messages ("network description").
    error : exception class
        Raised, naming the file, when it is not JSON or not a JSON object.

    Returns
    -------
    (Path, dict)
        The file read and its object.

    Raises
    ------
    FileNotFoundError
        No file there.
    """
    path = Path(path)
    if path.is_dir():
        path = path / default_name
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise error(f"{path} is not a readable JSON {what}: {err}") from None
    if not isinstance(data, dict):
        raise error(f"{path} holds a JSON {type(data).__name__}, not a {what} object")
    return path, data
