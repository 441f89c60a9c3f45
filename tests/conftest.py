"""Shared fixtures: small slices of the real digits data."""

from __future__ import annotations

import os

# Passive OpenMP waiting: spinning threads slow torch down badly on a shared 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402

from transfer.datasets import load_dataset  # noqa: E402


@pytest.fixture(scope="session")
def digits():
    """The real scikit-learn digits as 8 steps x 8 features (full splits)."""
    return load_dataset("digits", seed=0)


@pytest.fixture(scope="session")
def digits_small(digits):
    """A seeded slice of digits for fast training tests."""
    return digits.subset(limit_train=400, limit_test=200, seed=0)
