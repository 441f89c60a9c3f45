"""Reading each sequence of a zero-padded batch at its own end (variable-length data).

A batch ``x [B, T, F]`` may hold sequences shorter than ``T``, padded at the end; their
lengths ``[B]`` (integers in ``1..T``) come from :class:`transfer.datasets.Dataset`. Every
model is causal, so the steps before a sequence's end do not see its padding; only the
readout has to stop there. ``lengths=None`` means every sequence has all ``T`` steps, and
the models then run exactly the code they ran before lengths existed.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["as_lengths", "at_ends", "mean_until", "step_mask"]


def as_lengths(lengths: np.ndarray | torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    """``lengths`` as an int64 tensor on ``like``'s device (``None`` stays ``None``)."""
    if lengths is None:
        return None
    return torch.as_tensor(np.asarray(lengths) if not isinstance(lengths, torch.Tensor) else lengths,
                           dtype=torch.long, device=like.device)


def step_mask(lengths: torch.Tensor, n_steps: int) -> torch.Tensor:
    """``[B, T]`` boolean mask of the steps each sequence holds."""
    return torch.arange(n_steps, device=lengths.device)[None, :] < lengths[:, None]


def at_ends(states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``states [B, T, ...]`` at each sequence's last step ``lengths - 1``: ``[B, ...]``."""
    return states[torch.arange(states.shape[0], device=states.device), lengths - 1]


def mean_until(states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean of ``states [B, T, H]`` over each sequence's first ``lengths`` steps: ``[B, H]``."""
    mask = step_mask(lengths, states.shape[1]).to(states.dtype)
    return (states * mask[:, :, None]).sum(1) / lengths.to(states.dtype)[:, None]
