"""The error every broken hardware design rule raises.

A :class:`HardwareConstraintError` names the rule, where it broke (a neuron, a core, a bias,
the input stimulus), the limit, the value found and what the user can do about it::

    rule cam_fan_in: neuron chip 0 core 1 neuron 17 needs 80 CAM entries, limit 64;
    prune its inputs (rnn2dynapse quantize --max-fan-in 64)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "HardwareConstraintError",
    "neuron_where",
    "core_where",
]


def neuron_where(chip: int, core: int, neuron: int) -> str:
    """``"neuron chip C core K neuron N"``, the ``where`` of a per-neuron rule."""
    return f"neuron chip {chip} core {core} neuron {neuron}"


def core_where(chip: int, core: int) -> str:
    """``"core chip C core K"``, the ``where`` of a per-core rule."""
    return f"core chip {chip} core {core}"


class HardwareConstraintError(ValueError):
    """A network or configuration breaks a hardware design rule.

    Parameters
    ----------
    rule : str
        Name of the broken rule (e.g. ``"cam_fan_in"``).
    where : str
        What broke it (``"neuron chip 0 core 1 neuron 17"``, ``"core chip 0 core 2"``,
        ``"network"``, ``"input stimulus"``).
    value : object
        The value found.
    limit : object
        The limit of the rule.
    hint : str
        What to do about it.
    quantity : str, optional
        What ``value`` counts (``"CAM entries"``); appended to the value in the message.

    Attributes
    ----------
    rule, where, limit, value, hint, quantity
        As given.
    """

    def __init__(self, rule: str, where: str, value: Any, limit: Any, hint: str,
                 quantity: str = "") -> None:
        self.rule = rule
        self.where = where
        self.value = value
        self.limit = limit
        self.hint = hint
        self.quantity = quantity
        counted = f"{value} {quantity}" if quantity else f"{value}"
        super().__init__(f"rule {rule}: {where} needs {counted}, limit {limit}; {hint}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.rule, self.where, self.value, self.limit, self.hint, self.quantity))
