"""Simple reference models that a latent-variable model must beat."""

from __future__ import annotations

import math

import torch

__all__ = ["IndependentPixels", "nats_to_bits_per_dim"]


def nats_to_bits_per_dim(nats_per_example, n_dims):
    """Convert a negative log-likelihood in nats per example to bits per dimension."""
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
        if likelihood not in ("bernoulli", "categorical"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'categorical'; got {likelihood!r}")
        self.likelihood = likelihood
        self.n_levels = 2 if likelihood == "bernoulli" else int(n_levels)
        self.alpha = float(alpha)

    def _levels(self, X):
        if not isinstance(X, torch.Tensor) or X.dim() != 2:
            raise ValueError("X must be a 2-D torch.Tensor (examples, pixels)")
        levels = X.round().long()
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
        levels = self._levels(X)
        return self.log_probs_.gather(1, levels.T).sum(0)
