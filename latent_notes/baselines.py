"""Simple reference models that a latent-variable model must beat."""

from __future__ import annotations

import math

import numpy as np
import torch

from ._validation import check_choice, check_int, check_is_fitted, check_real, check_tensor

__all__ = ["IndependentPixels", "nats_to_bits_per_dim"]


def nats_to_bits_per_dim(nats_per_example, n_dims):
    """Convert a negative log-likelihood in nats per example to bits per dimension.

    ``nats_per_example`` may be a number, a NumPy array or a tensor; the result has its type.
    """
    n_dims = check_int(n_dims, "n_dims", 1)
    if isinstance(nats_per_example, torch.Tensor):
        finite = bool(torch.isfinite(nats_per_example).all()) \
            if torch.is_floating_point(nats_per_example) else True
    else:
        if isinstance(nats_per_example, (bool, np.bool_, str, bytes)):
            raise TypeError("nats_per_example must be a number, array or tensor; got "
                            f"{type(nats_per_example).__name__}")
        try:
            arr = np.asarray(nats_per_example, dtype=float)
        except (TypeError, ValueError):
            raise TypeError("nats_per_example must be a number, array or tensor; got "
                            f"{type(nats_per_example).__name__}") from None
        finite = bool(np.all(np.isfinite(arr)))
    if not finite:
        raise ValueError("nats_per_example contains NaN or infinite values")
    return nats_per_example / (n_dims * math.log(2.0))


class IndependentPixels:
    """Every pixel drawn independently: Bernoulli or categorical, fitted by counting.

    The maximum-likelihood fit with ``alpha`` pseudo-counts added to every
    outcome (so that a value never seen in training keeps a positive
    probability).

    Parameters
    ----------
    likelihood : {"bernoulli", "categorical"}
    n_levels : int
        Values ``0..n_levels-1`` of a categorical pixel.
    alpha : float
        Pseudo-count per outcome.
    """

    def __init__(self, likelihood="bernoulli", n_levels=2, alpha=0.5):
        check_choice(likelihood, "likelihood", ("bernoulli", "categorical"))
        self.likelihood = likelihood
        self.n_levels = 2 if likelihood == "bernoulli" else check_int(n_levels, "n_levels", 2)
        self.alpha = check_real(alpha, "alpha", low=0.0)

    def _levels(self, X):
        X = check_tensor(X, "X", ndim=2, kind="any")
        if X.shape[1] == 0:
            raise ValueError(f"X must have at least one pixel (column); got shape {tuple(X.shape)}")
        levels = X.round().long() if torch.is_floating_point(X) else X.long()
        if (levels != X).any() or (levels < 0).any() or (levels >= self.n_levels).any():
            raise ValueError(f"X must hold integer values 0..{self.n_levels - 1}")
        return levels

    def fit(self, X):
        """Count each pixel's values in ``X``."""
        levels = self._levels(X)
        counts = torch.nn.functional.one_hot(levels, self.n_levels).sum(0).double() + self.alpha
        self.log_probs_ = torch.log(counts / counts.sum(-1, keepdim=True))  # (pixels, levels)
        return self

    def log_prob(self, X):
        r""":math:`\log p(x)` of each row, in nats."""
        check_is_fitted(self, "log_probs_")
        levels = self._levels(X)
        if levels.shape[1] != self.log_probs_.shape[0]:
            raise ValueError(f"X has {levels.shape[1]} pixels, but the model was fitted on "
                             f"{self.log_probs_.shape[0]}")
        return self.log_probs_.gather(1, levels.T.to(self.log_probs_.device)).sum(0)
