r"""Gaussian mixtures fitted by EM (chapter :doc:`/book/em`).

The model is the report's (section 2.1, corrected by errata 1 and 6)::

    Z ~ Categorical(pi) on {1, ..., K}
    X | Z = k ~ N(mu_k, Sigma_k)

with :math:`\Sigma_k = \sigma_k^2 I` (``covariance_type="spherical"``, one variance
per component) or :math:`\Sigma_k = \mathrm{diag}(\sigma_{k1}^2, \dots, \sigma_{kd}^2)`
(``covariance_type="diag"``). Everything is computed in log space.
"""

from __future__ import annotations

import numbers

import numpy as np

from sklearn.base import BaseEstimator, DensityMixin

from ._validation import check_array, check_is_fitted
from .em import MixtureMixin, check_random_state

__all__ = ["GaussianMixture", "GaussianComponentsMixin", "kmeans"]

_LOG_2PI = np.log(2.0 * np.pi)
_COVARIANCE_TYPES = ("spherical", "diag")
_INIT_METHODS = ("kmeans", "random", "random_from_data")


def kmeans(X, n_clusters, random_state=None, max_iter=100):
    """Lloyd's k-means with k-means++ seeding.

    Used to initialise mixtures (``init_params="kmeans"``).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_clusters : int
    random_state : None, int or numpy.random.Generator
    max_iter : int
        Lloyd iterations at most; the loop stops earlier when no label changes.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
    labels : ndarray of shape (n_samples,)
    """
    X = check_array(X)
    rng = check_random_state(random_state)
    n = X.shape[0]
    if not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters must be between 1 and n_samples={n}; got {n_clusters}")
    sq_norms = np.einsum("ij,ij->i", X, X)
    # k-means++: each new centre drawn with probability proportional to D(x)^2.
    centers = np.empty((n_clusters, X.shape[1]))
    centers[0] = X[rng.integers(n)]
    d2 = np.maximum(sq_norms - 2 * X @ centers[0] + centers[0] @ centers[0], 0.0)
    for c in range(1, n_clusters):
        total = d2.sum()
        idx = rng.choice(n, p=d2 / total) if total > 0 else rng.integers(n)
        centers[c] = X[idx]
        d2 = np.minimum(d2, np.maximum(sq_norms - 2 * X @ centers[c] + centers[c] @ centers[c], 0.0))
    labels = None
    for _ in range(max_iter):
        dist = sq_norms[:, None] - 2 * X @ centers.T + np.einsum("ij,ij->i", centers, centers)
        new_labels = np.argmin(dist, axis=1)
        if labels is not None and np.array_equal(new_labels, labels):
            break
        labels = new_labels
        for c in range(n_clusters):
            members = labels == c
            if members.any():  # an empty cluster keeps its old centre
                centers[c] = X[members].mean(axis=0)
    return centers, labels


class GaussianComponentsMixin:
    r"""The Gaussian part shared by every model whose latent label picks a Gaussian.

    Holds the parameter checks, :math:`\log \pi_k + \log \mathcal{N}(x \mid \mu_k, \Sigma_k)`, the
    closed-form M-step for :math:`(\pi, \mu, \Sigma)` and the initialisation, for the
    attributes ``n_components``, ``covariance_type``, ``init_params``,
    ``weights_init``, ``means_init``, ``variances_init`` and ``var_floor``.
    Used by :class:`GaussianMixture` and
    :class:`latent_notes.gmlc.GaussianMixtureLinearClassifier`.
    """

    # ------------------------------------------------------------------ checks
    def _check_gaussian_params(self, X):
        self._check_em_params()
        if self.covariance_type not in _COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {_COVARIANCE_TYPES}; got {self.covariance_type!r}"
            )
        if self.init_params not in _INIT_METHODS:
            raise ValueError(f"init_params must be one of {_INIT_METHODS}; got {self.init_params!r}")
        if isinstance(self.var_floor, bool) or not isinstance(self.var_floor, numbers.Real) \
                or not (np.isfinite(self.var_floor) and self.var_floor >= 0):
            raise ValueError(f"var_floor must be a finite float >= 0; got {self.var_floor!r}")
        n, d = X.shape
        if self.n_components > n:
            raise ValueError(
                f"n_components={self.n_components} is larger than n_samples={n}: "
                "a mixture needs at least one sample per component"
            )
        K = self.n_components
        var_shape = (K,) if self.covariance_type == "spherical" else (K, d)
        for name, shape in (("weights_init", (K,)), ("means_init", (K, d)), ("variances_init", var_shape)):
            value = getattr(self, name)
            if value is None:
                continue
            arr = np.asarray(value, dtype=float)
            if arr.shape != shape:
                raise ValueError(f"{name} must have shape {shape}; got {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} contains NaN or infinite values")
        if self.weights_init is not None:
            w = np.asarray(self.weights_init, dtype=float)
            if np.any(w < 0) or not np.isclose(w.sum(), 1.0):
                raise ValueError("weights_init must be non-negative and sum to 1")
        if self.variances_init is not None and np.any(np.asarray(self.variances_init) <= 0):
            raise ValueError("variances_init must be strictly positive")

    # ------------------------------------------------------------- the model
    def _gaussian_log_joint(self, X):
        """``log pi_k + log N(x_i | mu_k, Sigma_k)``, unvalidated."""
        d = X.shape[1]
        prec = 1.0 / self.variances_
        prec_kd = np.broadcast_to(prec[:, None], self.means_.shape) if prec.ndim == 1 else prec
        # Mahalanobis terms by the expansion sum_j (x_j^2 - 2 x_j mu_j + mu_j^2) / var_j: one
        # matrix product, on data centred near the components so that the terms stay small.
        shift = self.weights_ @ self.means_
        Xc, Mc = X - shift, self.means_ - shift
        if self.covariance_type == "spherical":
            row_sq = np.einsum("ij,ij->i", Xc, Xc)
            x2 = row_sq[:, None] * prec[None, :]
        else:
            Xc2 = Xc * Xc
            x2 = Xc2 @ prec.T
            row_sq = Xc2 @ np.ones(d)  # row sums as one BLAS call
        m2 = np.einsum("kj,kj->k", Mc * Mc, prec_kd)
        maha = np.maximum(x2 - 2.0 * Xc @ (Mc * prec_kd).T + m2, 0.0)
        # The expansion's rounding error is about eps * (x2 + m2). Where a variance is so
        # small that this could exceed 1e-10, recompute from the differences themselves:
        # otherwise EM's log-likelihood can wobble downwards by rounding error.
        rounding = 8 * np.finfo(float).eps * (row_sq.max() * prec_kd.max(axis=1) + m2)
        for k in np.flatnonzero(rounding > 1e-10):
            diff = Xc - Mc[k]
            maha[:, k] = (diff * diff) @ prec_kd[k]
        if self.covariance_type == "spherical":
            log_det = d * np.log(self.variances_)
        else:
            log_det = np.sum(np.log(self.variances_), axis=1)
        return np.log(self.weights_) - 0.5 * (d * _LOG_2PI + log_det + maha)

    def _gaussian_m_step(self, resp, X):
        """Closed-form maximiser of Q (eqs. :math:numref:`em-m-weights`-:math:numref:`em-m-var`)."""
        d = X.shape[1]
        nk = resp.sum(axis=0) + 10 * np.finfo(float).eps  # an empty component stays finite
        self.weights_ = nk / nk.sum()
        # Work with data shifted by its mean: variances do not change, and the
        # expansion E[x^2] - mu^2 below then loses no precision to a far-away origin.
        shift = X.mean(axis=0)
        Xc = X - shift
        centred_means = (resp.T @ Xc) / nk[:, None]
        self.means_ = centred_means + shift
        # (1/N_k) sum_i tau_ik (x_ij - mu_kj)^2 = weighted mean of x^2 minus mu^2 ...
        mean_sq = (resp.T @ (Xc * Xc)) / nk[:, None]
        per_coord = np.maximum(mean_sq - centred_means ** 2, 0.0)
        # ... except where that difference has lost more than 8 of its 16 digits:
        # there, from the centred differences themselves.
        for k in np.flatnonzero(np.any(mean_sq * 1e-8 > per_coord, axis=1)):
            diff = Xc - centred_means[k]
            per_coord[k] = resp[:, k] @ (diff * diff) / nk[k]
        if self.covariance_type == "spherical":
            var = per_coord.sum(axis=1) / d  # errata 6: divide by d * sum_i tau_ik
        else:
            var = per_coord
        self.variances_ = np.maximum(var, self.var_floor)

    def _gaussian_initialize(self, X, rng):
        """Starting weights, means and variances from ``init_params`` and the ``*_init`` values."""
        n, d = X.shape
        K = self.n_components
        if self.init_params == "kmeans":
            _, labels = kmeans(X, K, random_state=rng)
            resp = np.zeros((n, K))
            resp[np.arange(n), labels] = 1.0
            self._gaussian_m_step(resp, X)
        elif self.init_params == "random":
            resp = rng.uniform(size=(n, K))
            self._gaussian_m_step(resp / resp.sum(axis=1, keepdims=True), X)
        else:
            self.means_ = X[rng.choice(n, size=K, replace=False)].copy()
            var = np.maximum(X.var(axis=0), self.var_floor)
            self.variances_ = np.full(K, var.mean()) if self.covariance_type == "spherical" \
                else np.tile(var, (K, 1))
            self.weights_ = np.full(K, 1.0 / K)
        if self.weights_init is not None:
            self.weights_ = np.asarray(self.weights_init, dtype=float).copy()
        if self.means_init is not None:
            self.means_ = np.asarray(self.means_init, dtype=float).copy()
        if self.variances_init is not None:
            self.variances_ = np.asarray(self.variances_init, dtype=float).copy()

    def _gaussian_state(self):
        return (self.weights_.copy(), self.means_.copy(), self.variances_.copy())

    def _set_gaussian_state(self, state):
        self.weights_, self.means_, self.variances_ = (a.copy() for a in state)

    def _gaussian_n_parameters(self):
        K, d = self.means_.shape
        n_var = K if self.covariance_type == "spherical" else K * d
        return (K - 1) + K * d + n_var

class GaussianMixture(GaussianComponentsMixin, MixtureMixin, DensityMixin, BaseEstimator):
    r"""Gaussian mixture with spherical or diagonal covariances, fitted by EM.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components ``K``.
    covariance_type : {"spherical", "diag"}, default="spherical"
        ``"spherical"``: :math:`\Sigma_k = \sigma_k^2 I` (the report's model);
        ``"diag"``: one variance per component and feature.
    tol : float, default=1e-6
        Stop when the relative change of the log-likelihood is at most ``tol``.
    max_iter : int, default=200
        EM iterations at most per run.
    n_init : int, default=1
        Independent runs from different starting points; the one with the
        highest final log-likelihood is kept.
    init_params : {"kmeans", "random", "random_from_data"}, default="kmeans"
        ``"kmeans"``: an M-step on k-means labels; ``"random"``: an M-step on
        random responsibilities; ``"random_from_data"``: means at ``K``
        distinct data points, every variance equal to the data's, equal weights.
    weights_init, means_init, variances_init : array-like, optional
        Starting values that override ``init_params``: shapes ``(K,)``,
        ``(K, d)`` and ``(K,)`` (spherical) or ``(K, d)`` (diag).
    var_floor : float, default=1e-6
        Lower bound on every variance. A component that collapses on one point
        would otherwise drive the likelihood to infinity. The floored value is
        still the constrained maximiser of ``Q``, so EM stays monotone.
    random_state : None, int or numpy.random.Generator
        Seed of the initialisation (and the default seed of :meth:`sample`).

    Attributes
    ----------
    weights_ : ndarray of shape (K,)
        Mixing proportions :math:`\pi_k`.
    means_ : ndarray of shape (K, d)
    variances_ : ndarray of shape (K,) or (K, d)
        :math:`\sigma_k^2` (spherical) or :math:`\sigma_{kj}^2` (diag): variances, not
        standard deviations (errata 6).
    converged_ : bool
    n_iter_ : int
        EM iterations of the kept run.
    log_likelihood_history_ : ndarray
        Total observed-data log-likelihood :math:`\sum_i \log p(x_i \mid \theta^{(t)})`
        at the start parameters and after every iteration (``n_iter_ + 1``
        values); non-decreasing.
    log_likelihood_ : float
        Its last value.

    Examples
    --------
    >>> from latent_notes.datasets import make_gaussian_mixture
    >>> X, z = make_gaussian_mixture(300, random_state=0)
    >>> gm = GaussianMixture(n_components=3, random_state=0).fit(X)
    >>> gm.predict_proba(X[:2]).sum(axis=1)
    array([1., 1.])
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="spherical",
        tol=1e-6,
        max_iter=200,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        variances_init=None,
        var_floor=1e-6,
        random_state=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.variances_init = variances_init
        self.var_floor = var_floor
        self.random_state = random_state

    # ------------------------------------------------------------- the model
    def log_joint(self, X):
        r""":math:`\log p(x_i, z_i = k \mid \theta) = \log \pi_k + \log \mathcal{N}(x_i \mid \mu_k, \Sigma_k)`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_components)
        """
        check_is_fitted(self)
        X = check_array(X, n_features=self.means_.shape[1], estimator=self)
        return self._log_joint(X)

    # The three pieces the EM driver needs (see latent_notes.em.EMMixin).
    def _log_joint(self, X):
        return self._gaussian_log_joint(X)

    def _m_step(self, resp, X):
        """Closed-form maximiser of Q (eqs. :math:numref:`em-m-weights`-:math:numref:`em-m-var`)."""
        self._gaussian_m_step(resp, X)

    def _initialize(self, data, rng):
        (X,) = data
        self._gaussian_initialize(X, rng)

    def _get_state(self):
        return self._gaussian_state()

    def _set_state(self, state):
        self._set_gaussian_state(state)

    # ------------------------------------------------------------ public API
    def fit(self, X, y=None):
        """Estimate the parameters by EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored
            Present for scikit-learn API compatibility.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For data that are not a finite numeric 2-D array, fewer samples
            than components, or invalid parameters.
        FloatingPointError
            If the log-likelihood stops being finite (overflowing data, or a
            component collapsing on duplicated points with ``var_floor=0``).
        """
        X = check_array(X)
        self._check_gaussian_params(X)
        self.n_features_in_ = X.shape[1]
        return self._fit_em(X)

    def initialize(self, X):
        """Set the starting parameters as :meth:`fit` would, without iterating.

        With :meth:`e_step` and :meth:`m_step` this lets a reader run EM one
        step at a time. Returns ``self``.
        """
        X = check_array(X)
        self._check_gaussian_params(X)
        self._gaussian_initialize(X, check_random_state(self.random_state))
        return self

    def m_step(self, X, resp):
        r"""Set the parameters to :math:`\arg\max_\theta Q` for responsibilities ``resp``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        resp : array-like of shape (n_samples, n_components)
            Non-negative rows summing to one.

        Returns
        -------
        self
        """
        X = check_array(X)
        resp = check_array(resp, name="resp")
        if resp.shape != (X.shape[0], self.n_components):
            raise ValueError(
                f"resp must have shape (n_samples, n_components)={(X.shape[0], self.n_components)}; "
                f"got {resp.shape}"
            )
        if np.any(resp < 0) or not np.allclose(resp.sum(axis=1), 1.0):
            raise ValueError("resp must be non-negative with rows summing to 1")
        self._m_step(resp, X)
        return self

    def n_parameters(self):
        """Number of free parameters: ``K - 1`` weights, ``K d`` means, the variances."""
        check_is_fitted(self)
        return self._gaussian_n_parameters()

    def sample(self, n_samples=1, random_state=None):
        """Draw from the fitted mixture.

        Parameters
        ----------
        n_samples : int
        random_state : None, int or numpy.random.Generator
            Defaults to the estimator's ``random_state``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        z : ndarray of shape (n_samples,)
            The component each sample was drawn from.
        """
        check_is_fitted(self)
        if isinstance(n_samples, bool) or not isinstance(n_samples, (numbers.Integral, np.integer)) \
                or n_samples < 1:
            raise ValueError(f"n_samples must be a positive int; got {n_samples!r}")
        rng = check_random_state(self.random_state if random_state is None else random_state)
        z = rng.choice(self.n_components, size=n_samples, p=self.weights_)
        std = np.sqrt(self.variances_[z])
        if self.covariance_type == "spherical":
            std = std[:, None]
        X = self.means_[z] + std * rng.standard_normal((n_samples, self.means_.shape[1]))
        return X, z
