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

from ._validation import as_float_array, check_int, check_real
from .em import check_random_state

__all__ = ["LinearGaussianModel", "gaussian_kl_full"]

_LOG_2PI = np.log(2 * np.pi)


def _check_covariance(S, name, size):
    """``S`` as a symmetric positive-definite ``(size, size)`` array, with its Cholesky factor."""
    S = as_float_array(S, name, shape=(size, size))
    if not np.allclose(S, S.T, rtol=1e-10, atol=1e-12 * np.max(np.abs(S))):
        raise ValueError(f"{name} must be symmetric")
    try:
        L = np.linalg.cholesky(S)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} must be positive definite (a covariance); its smallest "
                         f"eigenvalue is {float(np.linalg.eigvalsh(S).min()):.3g}") from None
    return S, L


def _mahalanobis(diff, L):
    """``diff_i^T (L L^T)^{-1} diff_i`` per row, each row scaled first so that nothing overflows.

    Raises ValueError when the result itself exceeds float64 (a point so far
    from the mean that its log-density cannot be represented).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        scale = np.maximum(np.max(np.abs(diff), axis=1), 1.0)
        solved = np.linalg.solve(L, (diff / scale[:, None]).T).T
        maha = scale * (scale * np.sum(solved * solved, axis=1))
    if not np.all(np.isfinite(maha)):
        raise ValueError("x holds points so far from the model (largest |x - b| "
                         f"{np.max(np.abs(diff)):.3g}) that their log-density overflows float64")
    return maha


def _check_means(m, name, n, dz):
    """Means of shape ``(n, dz)``; a single ``(dz,)`` row is repeated for every sample."""
    m = as_float_array(m, name)
    if m.ndim == 1 and m.shape == (dz,):
        m = np.broadcast_to(m, (n, dz))
    if m.shape != (n, dz):
        raise ValueError(f"{name} must have shape ({n}, {dz}) or ({dz},); got {m.shape}")
    return m


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
    S1 = as_float_array(S1, "S1", ndim=2)
    dz = S1.shape[0]
    S1, L1 = _check_covariance(S1, "S1", dz)
    S2, L2 = _check_covariance(S2, "S2", dz)
    m1 = as_float_array(m1, "m1", ndim=2)
    if m1.shape[1] != dz:
        raise ValueError(f"m1 must have shape (n, {dz}); got {m1.shape}")
    m2 = _check_means(m2, "m2", m1.shape[0], dz)
    S2_inv = np.linalg.inv(S2)
    diff = m2 - m1
    logdet1 = 2.0 * np.sum(np.log(np.diag(L1)))
    logdet2 = 2.0 * np.sum(np.log(np.diag(L2)))
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
        self.W = as_float_array(W, "W", ndim=2)
        self.b = as_float_array(b, "b", ndim=1)
        if self.b.shape != (self.W.shape[0],):
            raise ValueError(f"W must be (D, dz) and b (D,); got {self.W.shape} and {self.b.shape}")
        self.noise_var = check_real(noise_var, "noise_var", low=0.0, low_open=True)

    def _check_x(self, x):
        x = as_float_array(x, "x")
        if x.ndim not in (1, 2):
            raise ValueError(f"x must be one point (D,) or rows of points (n, D); got shape {x.shape}")
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.W.shape[0]:
            raise ValueError(f"x must have {self.W.shape[0]} columns; got {x.shape[1]}")
        return x

    def sample(self, n, random_state=None):
        """Draw ``(x, z)`` pairs: ``n`` rows each."""
        n = check_int(n, "n", 1)
        rng = check_random_state(random_state)
        z = rng.standard_normal((n, self.W.shape[1]))
        x = z @ self.W.T + self.b + np.sqrt(self.noise_var) * rng.standard_normal((n, self.W.shape[0]))
        return x, z

    def log_evidence(self, x):
        r""":math:`\log p(x) = \log \mathcal{N}(x \mid b, W W^\top + \mathtt{noise\_var}\, I)` per row."""
        x = self._check_x(x)
        D = x.shape[1]
        C = self.W @ self.W.T + self.noise_var * np.eye(D)
        _, logdet = np.linalg.slogdet(C)
        maha = _mahalanobis(x - self.b, np.linalg.cholesky(C))
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
        D, dz = self.W.shape
        q_mean = _check_means(q_mean, "q_mean", x.shape[0], dz)
        q_cov, L = _check_covariance(q_cov, "q_cov", dz)
        resid = x - q_mean @ self.W.T - self.b
        expected_sq = np.sum(resid ** 2, axis=1) + np.trace(self.W @ q_cov @ self.W.T)
        log_lik = -0.5 * (D * np.log(2 * np.pi * self.noise_var) + expected_sq / self.noise_var)
        log_prior = -0.5 * (dz * _LOG_2PI + np.sum(q_mean ** 2, axis=1) + np.trace(q_cov))
        logdet = 2.0 * np.sum(np.log(np.diag(L)))
        entropy = 0.5 * (dz * (1 + _LOG_2PI) + logdet)
        return log_lik + log_prior + entropy

    def elbo_monte_carlo(self, x, q_mean, q_cov, n_samples, random_state=None):
        r"""The same ELBO estimated by sampling :math:`z \sim q`: mean of :math:`\log p(x, z) - \log q(z)`."""
        x = self._check_x(x)
        n_samples = check_int(n_samples, "n_samples", 1)
        rng = check_random_state(random_state)
        D, dz = self.W.shape
        q_mean = _check_means(q_mean, "q_mean", x.shape[0], dz)
        q_cov, L = _check_covariance(q_cov, "q_cov", dz)
        eps = rng.standard_normal((n_samples, x.shape[0], dz))
        z = q_mean + eps @ L.T
        resid = x - z @ self.W.T - self.b
        log_lik = -0.5 * (D * np.log(2 * np.pi * self.noise_var) + np.sum(resid ** 2, -1) / self.noise_var)
        log_prior = -0.5 * (dz * _LOG_2PI + np.sum(z ** 2, -1))
        logdet = 2.0 * np.sum(np.log(np.diag(L)))
        log_q = -0.5 * (dz * _LOG_2PI + logdet + np.sum(eps ** 2, -1))
        return np.mean(log_lik + log_prior - log_q, axis=0)
