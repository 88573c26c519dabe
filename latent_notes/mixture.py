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
import warnings
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning

from ._validation import check_array, check_is_fitted
from .em import MixtureMixin, _responsibilities, check_random_state, e_step_from_log_joint

__all__ = ["GaussianMixture", "GaussianComponentsMixin", "kmeans"]

_LOG_2PI = np.log(2.0 * np.pi)
_COVARIANCE_TYPES = ("spherical", "diag")
_INIT_METHODS = ("kmeans", "random", "random_from_data")


def kmeans(X, n_clusters, random_state=None, max_iter=100):
    """Lloyd's k-means with k-means++ seeding.

    The chapters' own k-means, used to start the discrete mixtures. The Gaussian
    mixtures start from scikit-learn's ``sklearn.cluster.KMeans`` instead
    (compiled, and as fast as scikit-learn's own mixtures at every ``n``).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_clusters : int
    random_state : None, int or numpy.random.Generator
    max_iter : int, default=100
        Lloyd iterations at most (at least 1); the loop stops earlier when no label changes.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
    labels : ndarray of shape (n_samples,)
    """
    X = check_array(X)
    if isinstance(max_iter, bool) or not isinstance(max_iter, (numbers.Integral, np.integer)):
        raise TypeError(f"max_iter must be an int >= 1; got {max_iter!r}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be an int >= 1 (at least one Lloyd iteration); got {max_iter}")
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


# Rows per chunk of the E- and M-steps, at most: 2**14 rows of 10 float64 features are
# 1.3 MB, so a chunk's temporaries stay in cache. Measured on the benchmark machine (one
# E-step over 4e5 x 10 points): 2**12 .. 2**14 rows per chunk all take ~85 ms, 2**15 rows
# 495 ms, 2**17 rows 720-770 ms. Wider data get fewer rows (2**17 / d values per row).
CHUNK_ROWS = 1 << 14
_EPS = np.finfo(float).eps


def _chunk_rows(d):
    """Rows per chunk for ``d`` features: ``CHUNK_ROWS``, fewer for wide data."""
    return min(CHUNK_ROWS, max(1024, (1 << 17) // max(d, 1)))


def _row_chunks(n, size=None):
    """Consecutive slices of at most ``size`` (default ``CHUNK_ROWS``) rows covering ``range(n)``."""
    size = CHUNK_ROWS if size is None else size
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


class _Prepared(NamedTuple):
    """The parameters in the form the chunked E-step uses (computed once per pass)."""

    means: np.ndarray  # (K, d), the parameters of this pass (never modified in place)
    prec: np.ndarray  # (K,) spherical or (K, d) diag: 1 / variances
    prec_kd: np.ndarray  # (K, d)
    prec_t: np.ndarray  # (d, K) diag, C-contiguous (a transposed view is 20x slower in matmul)
    shift: np.ndarray  # (d,): the data are centred here, near the components
    cross: np.ndarray  # (d, K): -2 (mu_k - shift) / var_k
    m2: np.ndarray  # (K,): sum_j (mu_kj - shift_j)^2 / var_kj
    const: np.ndarray  # (K,): log pi_k - (d log 2 pi + log det Sigma_k) / 2


class _Statistics(NamedTuple):
    """Sufficient statistics of one E-step, accumulated chunk by chunk.

    With ``c = shift``: ``nk[k] = sum_i r_ik``, ``s1[k] = sum_i r_ik x_i`` and ``s2[k] =
    sum_i r_ik (x_i - c)^2`` (per feature for diag, summed over features for spherical).
    ``resp_of(rows)`` recomputes the responsibilities of a slice of rows (for the
    M-step's exact fallback).
    """

    nk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    shift: np.ndarray
    resp_of: object


def _chunk_log_joint(p, Xb):
    """``log pi_k + log N(x_i | mu_k, Sigma_k)`` of one chunk; also returns the centred
    chunk's squares (``(c, d)`` diag) or squared norms (``(c,)`` spherical)."""
    Xc = Xb - p.shift
    if p.prec.ndim == 1:
        sq = np.einsum("ij,ij->i", Xc, Xc)
        x2 = sq[:, None] * p.prec
    else:
        sq = Xc * Xc
        x2 = sq @ p.prec_t
    # Mahalanobis terms by the expansion sum_j (x_j^2 - 2 x_j mu_j + mu_j^2) / var_j: one
    # matrix product, on data centred near the components so that the terms stay small.
    maha = Xc @ p.cross
    maha += x2
    maha += p.m2
    np.maximum(maha, 0.0, out=maha)
    # The expansion's rounding error is about eps * (x2 + m2). Where it could exceed 1e-10
    # (a variance tiny against the distances, a far point, an overflow), recompute that
    # component from the uncentred differences: otherwise EM's log-likelihood can wobble
    # downwards by rounding error, and far points get meaningless distances.
    # (The maximum over the whole chunk first: a reduction down the short axis is slow.)
    if 8 * _EPS * (x2.max() + p.m2.max()) <= 1e-10:
        flagged = ()
    else:
        flagged = np.flatnonzero(~(8 * _EPS * (x2.max(axis=0) + p.m2) <= 1e-10))
    for k in flagged:
        diff = Xb - p.means[k]
        maha[:, k] = (diff * diff) @ p.prec_kd[k]
    maha *= -0.5
    maha += p.const
    return maha, sq


class GaussianComponentsMixin:
    r"""The Gaussian part shared by every model whose latent label picks a Gaussian.

    Holds the parameter checks, :math:`\log \pi_k + \log \mathcal{N}(x \mid \mu_k, \Sigma_k)`, the
    closed-form M-step for :math:`(\pi, \mu, \Sigma)` and the initialisation, for the
    attributes ``n_components``, ``covariance_type``, ``init_params``,
    ``weights_init``, ``means_init``, ``variances_init`` and ``var_floor``.
    Used by :class:`GaussianMixture` and
    :class:`latent_notes.gmlc.GaussianMixtureLinearClassifier`.

    Every computation over the samples runs over chunks of ``CHUNK_ROWS`` rows,
    so its cost is linear in ``n`` and its temporaries are bounded (see
    :class:`GaussianMixture` for the memory bound).
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
    def _gaussian_prepared(self):
        d = self.means_.shape[1]
        prec = 1.0 / self.variances_
        prec_kd = np.broadcast_to(prec[:, None], self.means_.shape) if prec.ndim == 1 else prec
        shift = self.weights_ @ self.means_
        Mc = self.means_ - shift
        if self.covariance_type == "spherical":
            log_det = d * np.log(self.variances_)
        else:
            log_det = np.sum(np.log(self.variances_), axis=1)
        return _Prepared(
            means=self.means_, prec=prec, prec_kd=prec_kd, shift=shift,
            prec_t=np.ascontiguousarray(prec_kd.T),
            cross=np.ascontiguousarray(-2.0 * (Mc * prec_kd).T),
            m2=np.einsum("kj,kj->k", Mc * Mc, prec_kd),
            const=np.log(self.weights_) - 0.5 * (d * _LOG_2PI + log_det),
        )

    def _gaussian_log_joint(self, X):
        """``log pi_k + log N(x_i | mu_k, Sigma_k)``, unvalidated, shape ``(n, K)``."""
        p = self._gaussian_prepared()
        out = np.empty((X.shape[0], self.weights_.shape[0]))  # the fitted K
        with np.errstate(over="ignore", invalid="ignore"):
            for rows in _row_chunks(X.shape[0], _chunk_rows(X.shape[1])):
                out[rows] = _chunk_log_joint(p, X[rows])[0]
        return out

    def _gaussian_log_posterior(self, X):
        r""":math:`\log p(z_i = k \mid x_i)` from the Gaussian part, finite for every finite ``x``.

        Rows far from every component (squared distances beyond :math:`10^{12}` variances,
        up to overflowing float64) are computed by ``_far_log_posterior``, from
        differences between components, instead of from each log density.
        """
        log_joint = self._gaussian_log_joint(X)
        with np.errstate(over="ignore", invalid="ignore"):
            far = ~(np.max(log_joint, axis=1) > -1e11) | np.any(np.isnan(log_joint), axis=1)
            log_resp, _ = e_step_from_log_joint(log_joint)
        if far.any():
            log_resp[far] = _far_log_posterior(self, X[far])
        return log_resp

    def _gaussian_statistics(self, X, resp_of, shift):
        """Accumulate ``_Statistics`` chunk by chunk from ``resp_of(rows)``."""
        K, d = self.n_components, X.shape[1]
        spherical = self.covariance_type == "spherical"
        nk, s1 = np.zeros(K), np.zeros((K, d))
        s2 = np.zeros(K) if spherical else np.zeros((K, d))
        for rows in _row_chunks(X.shape[0], _chunk_rows(X.shape[1])):
            Xb = X[rows]
            r = resp_of(rows)
            Xc = Xb - shift
            nk += r.sum(axis=0)
            s1 += r.T @ Xb
            s2 += r.T @ (np.einsum("ij,ij->i", Xc, Xc) if spherical else Xc * Xc)
        return _Statistics(nk, s1, s2, shift, resp_of)

    def _gaussian_e_pass(self, X):
        """One fused pass: the E-step's sufficient statistics and ``log p(X | theta)``.

        Never holds more than one chunk's responsibilities: see :class:`GaussianMixture`.
        """
        p = self._gaussian_prepared()
        K, d = p.const.shape[0], X.shape[1]
        spherical = self.covariance_type == "spherical"
        nk, s1 = np.zeros(K), np.zeros((K, d))
        s2 = np.zeros(K) if spherical else np.zeros((K, d))
        log_lik = 0.0
        for rows in _row_chunks(X.shape[0], _chunk_rows(X.shape[1])):
            Xb = X[rows]
            log_joint, sq = _chunk_log_joint(p, Xb)
            r, log_px = _responsibilities(log_joint, overwrite=True)
            log_lik += float(np.sum(log_px))
            nk += np.ones(len(r)) @ r  # column sums as one BLAS call (an axis-0 sum is slow)
            s1 += r.T @ Xb
            s2 += r.T @ sq
            del log_joint, sq, r, log_px  # free this chunk before the next one is computed

        def resp_of(rows):
            return _responsibilities(_chunk_log_joint(p, X[rows])[0], overwrite=True)[0]

        return _Statistics(nk, s1, s2, p.shift, resp_of), log_lik

    def _gaussian_m_step(self, resp, X):
        """Closed-form maximiser of Q (eqs. :math:numref:`em-m-weights`-:math:numref:`em-m-var`)."""
        # Work with data shifted by its mean: variances do not change, and the
        # expansion E[x^2] - mu^2 loses no precision to a far-away origin.
        shift = _column_mean(X)
        self._gaussian_m_step_from(self._gaussian_statistics(X, lambda rows: resp[rows], shift), X)

    def _gaussian_m_step_from(self, stats, X):
        """The M-step from sufficient statistics (eqs. :math:numref:`em-m-weights`-:math:numref:`em-m-var`)."""
        d = X.shape[1]
        nk = stats.nk + 10 * _EPS  # an empty component keeps a finite log weight
        # Means and variances divide by N_k itself (1 for an empty component), not by
        # N_k + 10 eps: that bias is eps |mu_k|, which is not small for a far component.
        nk_exact = np.where(stats.nk > 0, stats.nk, 1.0)
        means = stats.s1 / nk_exact[:, None]
        centred = means - stats.shift
        if self.covariance_type == "spherical":
            # sum_i tau_ik ||x_i - mu_k||^2 / N_k = E||x - c||^2 - ||mu_k - c||^2 ...
            mean_sq = stats.s2 / nk_exact
            per = np.maximum(mean_sq - np.einsum("kj,kj->k", centred, centred), 0.0)
            lost = mean_sq * 1e-8 > per
        else:
            mean_sq = stats.s2 / nk_exact[:, None]
            per = np.maximum(mean_sq - centred ** 2, 0.0)
            lost = np.any(mean_sq * 1e-8 > per, axis=1)
        # ... except where that difference has lost more than 8 of its 16 digits: there,
        # from the differences themselves (one more pass over the data, for those components).
        redo = np.flatnonzero(lost)
        if redo.size:
            acc = np.zeros((redo.size, d))
            for rows in _row_chunks(X.shape[0], _chunk_rows(X.shape[1])):
                Xb, r = X[rows], stats.resp_of(rows)
                for j, k in enumerate(redo):
                    diff = Xb - means[k]
                    acc[j] += r[:, k] @ (diff * diff)
            for j, k in enumerate(redo):
                per[k] = (acc[j].sum() if self.covariance_type == "spherical" else acc[j]) / nk_exact[k]
        if self.covariance_type == "spherical":
            var = per / d  # errata 6: divide by d * sum_i tau_ik
        else:
            var = per
        self.weights_ = nk / nk.sum()
        self.means_ = means
        self.variances_ = np.maximum(var, self.var_floor)

    def _gaussian_initialize(self, X, rng):
        """Starting weights, means and variances from ``init_params`` and the ``*_init`` values."""
        n, d = X.shape
        K = self.n_components
        given = (self.weights_init, self.means_init, self.variances_init)
        if all(value is not None for value in given):
            pass  # every starting value is given: init_params would be overridden entirely
        elif self.init_params == "kmeans":
            # scikit-learn's k-means (k-means++ seeding, Lloyd in compiled code), as
            # scikit-learn's own mixtures start; its seed is drawn from ``rng``.
            seed = int(rng.integers(np.iinfo(np.int32).max))
            with warnings.catch_warnings():
                # duplicated points: fewer distinct clusters than K is fine for a start
                warnings.simplefilter("ignore", SklearnConvergenceWarning)
                labels = KMeans(K, n_init=1, random_state=seed).fit(X).labels_
            eye = np.eye(K)
            self._gaussian_m_step_from(
                self._gaussian_statistics(X, lambda rows: eye[labels[rows]], _column_mean(X)), X)
        elif self.init_params == "random":
            resp = rng.uniform(size=(n, K))
            self._gaussian_m_step(resp / resp.sum(axis=1, keepdims=True), X)
        else:
            self.means_ = X[rng.choice(n, size=K, replace=False)].copy()
            var = np.maximum(_column_var(X), self.var_floor)
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


def _column_mean(X):
    """Column means, chunk by chunk (no ``(n, d)`` temporary)."""
    total = np.zeros(X.shape[1])
    for rows in _row_chunks(X.shape[0], _chunk_rows(X.shape[1])):
        total += X[rows].sum(axis=0)
    return total / X.shape[0]


def _column_var(X):
    """Column variances about the mean, chunk by chunk."""
    mean = _column_mean(X)
    total = np.zeros(X.shape[1])
    for rows in _row_chunks(X.shape[0], _chunk_rows(X.shape[1])):
        diff = X[rows] - mean
        total += np.einsum("ij,ij->j", diff, diff)
    return total / X.shape[0]


def _far_log_posterior(model, X):
    r"""Log posterior of rows far from every component, from differences between components.

    With :math:`s = \max_j |x_j|` and :math:`u = x / s`, the squared distance to component
    :math:`k` is :math:`s^2 A_k - 2 s B_k + C_k` with :math:`A_k = \sum_j u_j^2 / \sigma^2_{kj}`,
    :math:`B_k = \sum_j u_j \mu_{kj} / \sigma^2_{kj}`, :math:`C_k = \sum_j \mu_{kj}^2 / \sigma^2_{kj}`.
    Against a reference component :math:`r`, the log joint differs by
    :math:`c_k - c_r - \tfrac12 [s (s \Delta A - 2 \Delta B) + \Delta C]`, where
    :math:`\Delta A = \sum_j u_j^2 (1/\sigma^2_{kj} - 1/\sigma^2_{rj})` is exactly 0 between
    components of equal variances (their order is then set by the means, as it should).
    Those differences overflow at worst to :math:`\pm\infty`, never to NaN, so the
    posterior is finite: the reference is moved to the best component until no
    difference is :math:`+\infty`.
    """
    K, d = model.means_.shape
    prec = 1.0 / model.variances_
    P = np.broadcast_to(prec[:, None], (K, d)) if prec.ndim == 1 else prec
    if model.covariance_type == "spherical":
        log_det = d * np.log(model.variances_)
    else:
        log_det = np.sum(np.log(model.variances_), axis=1)
    c = np.log(model.weights_) - 0.5 * log_det
    MP = model.means_ * P
    C = np.einsum("kj,kj->k", model.means_, MP)
    s = np.max(np.abs(X), axis=1)
    s = np.where(s > 0, s, 1.0)
    u = X / s[:, None]
    u2 = u * u
    ref = np.zeros(X.shape[0], dtype=int)
    out = np.empty((X.shape[0], K))
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(K + 1):
            for r in np.unique(ref):
                rows = ref == r
                dA = u2[rows] @ (P - P[r]).T
                dB = u[rows] @ (MP - MP[r]).T
                sr = s[rows, None]
                out[rows] = (c - c[r]) - 0.5 * (sr * (sr * dA - 2.0 * dB) + (C - C[r]))
                out[rows, r] = 0.0
            best = np.argmax(out, axis=1)
            if not np.any(np.isposinf(out[np.arange(len(out)), best])):
                break
            ref = np.where(np.isposinf(out.max(axis=1)), best, ref)
        log_resp, _ = e_step_from_log_joint(out)
    return log_resp


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
    backend : {"numpy", "torch"}, default="numpy"
        Where :meth:`fit` runs its E- and M-step passes. ``"torch"`` runs the same
        chunked computation in PyTorch (float64, equal to the NumPy path to rounding)
        on ``device``; initialisation and prediction stay in NumPy.
    device : {"auto", "cpu", "cuda"} or str, default="auto"
        PyTorch device of the ``"torch"`` backend (``"cuda:1"`` and the like work);
        ``"auto"`` picks CUDA when it is available. The NumPy backend accepts only
        ``"auto"`` and ``"cpu"``.

    Notes
    -----
    *Cost and memory.* Each EM iteration is one pass over the data in chunks of
    ``CHUNK_ROWS`` rows (2**14): per chunk, the log joint by two matrix
    products, the responsibilities, and the sufficient statistics
    :math:`\sum_i \tau_{ik}`, :math:`\sum_i \tau_{ik} x_i`, :math:`\sum_i \tau_{ik} (x_i - c)^2`
    (three more), so the time is linear in ``n``, and no ``(n, K)`` responsibility
    matrix is ever held. Memory above the data during the EM iterations of :meth:`fit`
    is bounded by the chunk's temporaries, at most ``8 * CHUNK_ROWS * (2 d + 3 K)``
    bytes (4.6 MB for ``d = 10``, ``K = 5``; 4.0 MB measured with ``tracemalloc``,
    the same for ``n = 2**16`` and ``2**18``), plus ``8 * CHUNK_ROWS * 2 d`` in a chunk
    where the exact fallback below runs, whatever ``n``. The exceptions are the start:
    ``init_params="kmeans"`` runs scikit-learn's ``KMeans``, which copies the data
    once (as scikit-learn's own mixture does), and ``init_params="random"`` draws an
    ``(n, K)`` matrix. Measured peaks are in ``benchmarks/README.md``. Prediction
    methods return ``(n, K)`` or ``(n,)`` arrays and hold ``(n, K)`` temporaries.

    *Exactness.* The squared distances use the expansion
    :math:`\|x\|^2 - 2 x \cdot \mu + \|\mu\|^2` on data centred near the components.
    Where its rounding error could exceed :math:`10^{-10}` (a variance tiny against the
    distances, a far point), that component is recomputed in that chunk from the
    differences :math:`x - \mu_k` themselves; the M-step's variances likewise, for a
    component whose :math:`E[x^2] - \mu^2` lost more than 8 digits, at the price of one
    more pass over the data in that iteration. On well-scaled data neither fires.
    If the log-likelihood still falls by more than rounding (``1e-9`` relative), the
    fit is reported as not converged, with a :class:`~latent_notes.em.ConvergenceWarning`.

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
        backend="numpy",
        device="auto",
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
        self.backend = backend
        self.device = device

    # ------------------------------------------------------------- the model
    def log_joint(self, X):
        r""":math:`\log p(x_i, z_i = k \mid \theta) = \log \pi_k + \log \mathcal{N}(x_i \mid \mu_k, \Sigma_k)`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_components)

        Raises
        ------
        FloatingPointError
            If a sample is so far from every component that its log density is below
            float64's range (about :math:`-1.8 \times 10^{308}`); :meth:`predict` and
            :meth:`predict_proba` still answer for such samples.
        """
        check_is_fitted(self)
        X = check_array(X, n_features=self.means_.shape[1], estimator=self)
        log_joint = self._log_joint(X)
        with np.errstate(invalid="ignore"):
            bad = np.any(np.isnan(log_joint), axis=1) | ~np.any(log_joint > -np.inf, axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise FloatingPointError(
                f"the log density of sample {i} (and {int(bad.sum()) - 1} more) is below float64's "
                f"range: the sample (largest |x| = {np.max(np.abs(X[i])):.3g}) is too far from "
                "every component for its log density to be represented; predict and "
                "predict_proba still work for it"
            )
        return log_joint

    def e_step(self, X):
        r"""Responsibilities :math:`\tau_{ik} = p(z_i = k \mid x_i, \theta)` (eq. :math:numref:`em-posterior`).

        Finite for every finite sample, however far: see :meth:`predict_proba`.
        """
        check_is_fitted(self)
        X = check_array(X, n_features=self.means_.shape[1], estimator=self)
        return np.exp(self._gaussian_log_posterior(X))

    def predict_proba(self, X):
        """Posterior probability of each component, shape ``(n_samples, K)``.

        Rows sum to one for every finite sample. Far from every component the
        posterior is computed from differences between components, so a far point
        goes to the widest component (or, between equal variances, to the one whose
        mean lies furthest towards it), as the exact posterior does.
        """
        return self.e_step(X)

    def predict(self, X):
        """Most probable component of each sample (the MAP of :math:`z_i`)."""
        return np.argmax(self.e_step(X), axis=1)

    # The pieces the EM driver needs (see latent_notes.em.EMMixin).
    def _log_joint(self, X):
        return self._gaussian_log_joint(X)

    def _m_step(self, resp, X):
        """Closed-form maximiser of Q (eqs. :math:numref:`em-m-weights`-:math:numref:`em-m-var`)."""
        self._gaussian_m_step(resp, X)

    def _expectation(self, data):
        """The fused chunked pass: sufficient statistics and the log-likelihood."""
        (X,) = data
        if self._torch_data is not None:
            stats, log_lik = self._torch_data.e_pass(self)
        else:
            stats, log_lik = self._gaussian_e_pass(X)
        if not np.isfinite(log_lik):
            raise FloatingPointError(f"the log-likelihood is {log_lik}: {self._diagnosis(X)}")
        return stats, log_lik

    def _maximization(self, stats, data):
        (X,) = data
        self._gaussian_m_step_from(stats, X)

    def _diagnosis(self, X):
        if np.any(self.variances_ <= 0):
            return ("the model collapsed on the data: a component's variance reached 0 "
                    "(duplicated points with var_floor=0); use a positive var_floor or "
                    "fewer components")
        extent = max(float(X.max()), -float(X.min()))
        return (f"float64 overflowed: the data reach |x| = {extent:.3g}, and a squared "
                "distance between a sample and a component, or a variance, does not fit "
                "in float64 (about 1.8e308); rescale the data (for example with "
                "sklearn.preprocessing.StandardScaler)")

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
            than components, or invalid parameters (including ``backend`` and
            ``device``, and ``device="cuda"`` where CUDA is not available).
        FloatingPointError
            If the log-likelihood stops being finite (data whose squared distances
            overflow float64, or a component collapsing on duplicated points with
            ``var_floor=0``); the message says which.
        """
        X = check_array(X)
        self._check_gaussian_params(X)
        self._torch_data = self._backend_data(X)
        try:
            self._fit_em(X)
        finally:
            self._torch_data = None  # do not keep a device copy of the data
        self.n_features_in_ = X.shape[1]
        return self

    _torch_data = None

    def _backend_data(self, X):
        """Check ``backend`` and ``device``; for ``"torch"``, the data on the device."""
        if self.backend not in ("numpy", "torch"):
            raise ValueError(f"backend must be 'numpy' or 'torch'; got {self.backend!r}")
        if self.backend == "numpy":
            if self.device not in ("auto", "cpu"):
                raise ValueError(
                    f"device={self.device!r} needs backend='torch'; the NumPy backend runs on "
                    "the CPU (device='auto' or 'cpu')"
                )
            return None
        from .mixture_torch import TorchData

        return TorchData(X, self.device, self.covariance_type)

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
        z = rng.choice(self.weights_.shape[0], size=n_samples, p=self.weights_)
        std = np.sqrt(self.variances_[z])
        if self.covariance_type == "spherical":
            std = std[:, None]
        X = self.means_[z] + std * rng.standard_normal((n_samples, self.means_.shape[1]))
        return X, z
