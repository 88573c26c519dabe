"""Data sets: generated with known ground truth, or shipped with a package.

Nothing here downloads anything; every generator takes a ``random_state``.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .em import check_random_state

__all__ = ["make_gaussian_mixture", "make_weight_height", "WeightHeight"]


def _check_n_samples(n_samples):
    if isinstance(n_samples, bool) or not isinstance(n_samples, (numbers.Integral, np.integer)) \
            or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int; got {n_samples!r}")


def make_gaussian_mixture(n_samples, weights=None, means=None, variances=None, random_state=None):
    """Sample a spherical Gaussian mixture and return the true labels.

    The default is a 2-D mixture of three components that overlap enough to
    make EM's job non-trivial: weights ``(0.5, 0.3, 0.2)``, means
    ``(0, 0)``, ``(3, 2)``, ``(-1, 3)`` and variances ``(1.0, 0.5, 0.3)``.

    Parameters
    ----------
    n_samples : int
    weights : array-like of shape (K,), optional
        Non-negative, summing to one.
    means : array-like of shape (K, d), optional
    variances : array-like of shape (K,), optional
        ``sigma_k^2`` of each spherical component.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    X : ndarray of shape (n_samples, d)
    z : ndarray of shape (n_samples,)
        The component of each sample, in ``0..K-1``.
    """
    _check_n_samples(n_samples)
    weights = np.array([0.5, 0.3, 0.2]) if weights is None else np.asarray(weights, dtype=float)
    means = np.array([[0.0, 0.0], [3.0, 2.0], [-1.0, 3.0]]) if means is None \
        else np.asarray(means, dtype=float)
    variances = np.array([1.0, 0.5, 0.3]) if variances is None else np.asarray(variances, dtype=float)
    K = weights.shape[0]
    if weights.ndim != 1 or np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
        raise ValueError("weights must be a 1-D array of non-negative numbers summing to 1")
    if means.ndim != 2 or means.shape[0] != K:
        raise ValueError(f"means must have shape (K, d) with K={K}; got {means.shape}")
    if variances.shape != (K,) or np.any(variances <= 0):
        raise ValueError(f"variances must be {K} positive numbers; got {variances}")
    rng = check_random_state(random_state)
    z = rng.choice(K, size=n_samples, p=weights)
    X = means[z] + np.sqrt(variances[z])[:, None] * rng.standard_normal((n_samples, means.shape[1]))
    return X, z


class WeightHeight(NamedTuple):
    """A simulated population: see :func:`make_weight_height`."""

    weight: np.ndarray
    height: np.ndarray
    sex: np.ndarray


def make_weight_height(n_samples=1000, random_state=None):
    """Simulate weights, heights and the sex that drives both.

    The report's opening example (section 1): we see a weight ``X``, want a
    height ``Y``, and an unobserved sex ``Z`` shapes both. Here ``Z`` is 0 or 1
    with probability 1/2; ``height | Z`` is normal with mean 164 or 177 cm and
    standard deviation 6.5 or 7 cm; ``weight | height, Z`` is linear in height
    with a sex-specific line and 8 kg of noise. The numbers are illustrative
    (of the order of adult populations), not estimates from any survey.

    Parameters
    ----------
    n_samples : int
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    WeightHeight
        ``weight`` (kg), ``height`` (cm) and ``sex`` (0 or 1), each of shape
        ``(n_samples,)``.
    """
    _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    sex = rng.integers(0, 2, size=n_samples)
    height = np.where(sex == 0, 164.0, 177.0) + np.where(sex == 0, 6.5, 7.0) * rng.standard_normal(n_samples)
    slope = np.where(sex == 0, 0.8, 0.95)
    intercept = np.where(sex == 0, -68.0, -85.0)
    weight = intercept + slope * height + 8.0 * rng.standard_normal(n_samples)
    return WeightHeight(weight=weight, height=height, sex=sex)
