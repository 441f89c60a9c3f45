"""Batching by copies: ``B`` samples run as ``B`` copies of a network in one set of groups.

Copy ``b`` of neuron ``k`` of a group of ``n`` is neuron ``b * n + k``; connections are
block-diagonal (each copy talks only to itself). Every Brian2 builder of the project (the
spiking network, the spiking LSTM, the LSNN) indexes its copies with :func:`block_indices`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["block_indices"]


def block_indices(pre: np.ndarray, post: np.ndarray, copies: int, n_pre: int, n_post: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Pre and post indices of ``copies`` block-diagonal copies of the connections ``pre -> post``.

    Copy ``b`` of connection ``(i, j)`` is ``(b * n_pre + i, b * n_post + j)``; the result is
    ordered copy by copy.
    """
    off = np.arange(int(copies))[:, None]
    pre, post = np.asarray(pre), np.asarray(post)
    return (pre[None] + off * n_pre).ravel(), (post[None] + off * n_post).ravel()
