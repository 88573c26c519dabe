r"""A latent-variable model whose evidence and posterior are exact (chapter :doc:`/book/elbo`).

The linear-Gaussian model (probabilistic PCA)::

    z ~ N(0, I_dz)       (dz: the latent dimension)
    x | z ~ N(W z + b, s2 I_D)

has :math:`p(x) = \mathcal{N}(b, W W^\top + s^2 I)` and a Gaussian posterior :math:`p(z \mid x)` in
closed form, so the ELBO of any Gaussian :math:`q(z) = \mathcal{N}(m, S)` can be compared with
the true :math:`\log p(x)` and the gap with the true :math:`\mathrm{KL}(q \,\|\, p(z \mid x))`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LinearGaussianModel", "gaussian_kl_full"]

_LOG_2PI = np.log(2 * np.pi)


def gaussian_kl_full(m1, S1, m2, S2):
    r""":math:`\mathrm{KL}(\mathcal{N}(m_1, S_1) \,\|\, \mathcal{N}(m_2, S_2))` for full covariances (rows of means, shared covariances).

    Parameters
    ----------
    m1, m2 : ndarray of shape (n, dz)
    S1, S2 : ndarray of shape (dz, dz)

    Returns
    -------
    ndarray of shape (n,)
    """
    dz = S1.shape[0]
    S2_inv = np.linalg.inv(S2)
    diff = m2 - m1
    _, logdet1 = np.linalg.slogdet(S1)
    _, logdet2 = np.linalg.slogdet(S2)
    maha = np.einsum("ni,ij,nj->n", diff, S2_inv, diff)
    return 0.5 * (np.trace(S2_inv @ S1) + maha - dz + logdet2 - logdet1)


class LinearGaussianModel:
    r""":math:`z \sim \mathcal{N}(0, I)`, :math:`x \mid z \sim \mathcal{N}(W z + b, \mathtt{noise\_var}\, I)`: everything in closed form.

    Parameters
    ----------
    W : ndarray of shape (D, dz)
    b : ndarray of shape (D,)
    noise_var : float
    """

    def __init__(self, W, b, noise_var):
        self.W = np.asarray(W, dtype=float)
        self.b = np.asarray(b, dtype=float)
        self.noise_var = float(noise_var)
        if self.W.ndim != 2 or self.b.shape != (self.W.shape[0],):
            raise ValueError(f"W must be (D, dz) and b (D,); got {self.W.shape} and {self.b.shape}")
        if not self.noise_var > 0:
            raise ValueError(f"noise_var must be positive; got {noise_var!r}")

    def _check_x(self, x):
        x = np.atleast_2d(np.asarray(x, dtype=float))
        if x.shape[1] != self.W.shape[0]:
            raise ValueError(f"x must have {self.W.shape[0]} columns; got {x.shape[1]}")
        return x

    def sample(self, n, random_state=None):
        """Draw ``(x, z)`` pairs: ``n`` rows each."""
        rng = np.random.default_rng(random_state)
        z = rng.standard_normal((n, self.W.shape[1]))
        x = z @ self.W.T + self.b + np.sqrt(self.noise_var) * rng.standard_normal((n, self.W.shape[0]))
        return x, z

    def log_evidence(self, x):
        r""":math:`\log p(x) = \log \mathcal{N}(x \mid b, W W^\top + \mathtt{noise\_var}\, I)` per row."""
        x = self._check_x(x)
        D = x.shape[1]
        C = self.W @ self.W.T + self.noise_var * np.eye(D)
        _, logdet = np.linalg.slogdet(C)
        diff = x - self.b
        maha = np.einsum("ni,ij,nj->n", diff, np.linalg.inv(C), diff)
        return -0.5 * (D * _LOG_2PI + logdet + maha)

    def posterior(self, x):
        r"""The exact posterior :math:`p(z \mid x) = \mathcal{N}(\mathtt{mean}, \mathtt{cov})`: means per row, one covariance."""
        x = self._check_x(x)
        dz = self.W.shape[1]
        cov = np.linalg.inv(np.eye(dz) + self.W.T @ self.W / self.noise_var)
        mean = (x - self.b) @ self.W @ cov.T / self.noise_var
        return mean, cov

    def elbo(self, x, q_mean, q_cov):
        r"""The ELBO of :math:`q(z) = \mathcal{N}(\mathtt{q\_mean}, \mathtt{q\_cov})` in closed form, per row.

        :math:`\mathbb{E}_q[\log p(x \mid z)] + \mathbb{E}_q[\log p(z)] + H[q]` (eq. :math:numref:`elbo-definition`).
        """
        x = self._check_x(x)
        q_mean = np.atleast_2d(q_mean)
        D, dz = self.W.shape
        resid = x - q_mean @ self.W.T - self.b
        expected_sq = np.sum(resid ** 2, axis=1) + np.trace(self.W @ q_cov @ self.W.T)
        log_lik = -0.5 * (D * np.log(2 * np.pi * self.noise_var) + expected_sq / self.noise_var)
        log_prior = -0.5 * (dz * _LOG_2PI + np.sum(q_mean ** 2, axis=1) + np.trace(q_cov))
        _, logdet = np.linalg.slogdet(q_cov)
        entropy = 0.5 * (dz * (1 + _LOG_2PI) + logdet)
        return log_lik + log_prior + entropy

    def elbo_monte_carlo(self, x, q_mean, q_cov, n_samples, random_state=None):
        r"""The same ELBO estimated by sampling :math:`z \sim q`: mean of :math:`\log p(x, z) - \log q(z)`."""
        x = self._check_x(x)
        rng = np.random.default_rng(random_state)
        q_mean = np.atleast_2d(q_mean)
        D, dz = self.W.shape
        L = np.linalg.cholesky(q_cov)
        eps = rng.standard_normal((n_samples, x.shape[0], dz))
        z = q_mean + eps @ L.T
        resid = x - z @ self.W.T - self.b
        log_lik = -0.5 * (D * np.log(2 * np.pi * self.noise_var) + np.sum(resid ** 2, -1) / self.noise_var)
        log_prior = -0.5 * (dz * _LOG_2PI + np.sum(z ** 2, -1))
        _, logdet = np.linalg.slogdet(q_cov)
        log_q = -0.5 * (dz * _LOG_2PI + logdet + np.sum(eps ** 2, -1))
        return np.mean(log_lik + log_prior - log_q, axis=0)
