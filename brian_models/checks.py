"""Parameter validation shared by every parameter class of the description layer."""

from __future__ import annotations

import math
from dataclasses import fields

__all__ = ["ParameterError", "check_params"]


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
