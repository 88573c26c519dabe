r"""Mixtures for discrete data on the shared EM driver.

:class:`CategoricalMixture`
    every feature of a sample (a pixel's grey level, say) is a categorical
    variable, independent of the others given the component: a "latent class
    model". Its M-step is closed-form (chapter :doc:`/book/pixelcnn`).
:class:`DirichletMultinomialMixture`
    every sample is a vector of counts (reads per taxon); given its component
    ``k``, the sample's composition is drawn from a Dirichlet with parameters
    :math:`\alpha_k` and the counts from a multinomial with that composition.
    Integrating the composition out gives the Dirichlet-multinomial
    distribution (eq. :math:numref:`mb-dm`), which allows more variation
    between samples of one class than a multinomial would. This is the
    "community types" model of Holmes, Harris & Quince (2012) (chapter
    :doc:`/book/microbiota`). Its M-step has no closed form; each M-step runs
    a few of Minka's fixed-point updates, each of which increases ``Q``
    (a generalised EM: the likelihood still never decreases).

Both follow the scikit-learn API of :class:`latent_notes.mixture.GaussianMixture`.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.special import digamma, gammaln
from sklearn.base import BaseEstimator, DensityMixin

from ._validation import check_array, check_is_fitted
from .em import MixtureMixin, check_random_state
from .mixture import kmeans

__all__ = ["CategoricalMixture", "DirichletMultinomialMixture", "dirichlet_multinomial_logpmf"]


def _check_integer_array(X, name="X"):
    X = check_array(X, name=name)
    if np.any(X < 0) or np.any(X != np.round(X)):
        raise ValueError(f"{name} must hold non-negative integers")
    return X


def _check_nonnegative_float(value, name, positive=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) \
            or value < 0 or (positive and value == 0):
        kind = "positive" if positive else "non-negative"
        raise ValueError(f"{name} must be a {kind} finite float; got {value!r}")
    return float(value)


def _log_weights(weights):
    # a component EM has emptied has weight 0 and log-weight -inf: it is never chosen
    with np.errstate(divide="ignore"):
        return np.log(weights)


class _DiscreteMixture(MixtureMixin, DensityMixin, BaseEstimator):
    """What both discrete mixtures share: k-means start, restarts state, fit, sampling checks."""

    _params = ()  # names of the learned parameter arrays, besides weights_

    def _initialize(self, data, rng):
        (X,) = data
        # k-means on the profiles (rows scaled to sum to one) gives hard
        # responsibilities; one M-step turns them into parameters.
        totals = X.sum(axis=1, keepdims=True)
        profiles = self._profiles(X)
        _, labels = kmeans(profiles, self.n_components, random_state=rng)
        resp = np.full((X.shape[0], self.n_components), 1e-3 / self.n_components)
        resp[np.arange(X.shape[0]), labels] += 1.0 - 1e-3
        self._start(resp, X, totals)

    def _get_state(self):
        return {name: getattr(self, name).copy() for name in ("weights_",) + self._params}

    def _set_state(self, state):
        for name, value in state.items():
            setattr(self, name, value)

    def _check_n_samples(self, n_samples):
        if isinstance(n_samples, bool) or not isinstance(n_samples, (numbers.Integral, np.integer)) \
                or n_samples < 1:
            raise ValueError(f"n_samples must be a positive int; got {n_samples!r}")

    def _fit(self, X):
        if X.shape[0] < self.n_components:
            raise ValueError(
                f"n_samples={X.shape[0]} should be >= n_components={self.n_components}")
        self.n_features_in_ = X.shape[1]
        return self._fit_em(X)


class CategoricalMixture(_DiscreteMixture):
    r"""Mixture of independent categorical features (a latent class model), fitted by EM.

    :math:`p(x) = \sum_k \pi_k \prod_j \theta_{k, j, x_j}`: given the component ``k``,
    feature ``j`` takes the value ``l`` with probability :math:`\theta_{kjl}`.

    Parameters
    ----------
    n_components : int, default=1
    n_levels : int, optional
        Values ``0..n_levels-1`` each feature can take; by default the largest
        value seen in ``fit`` plus one.
    alpha : float, default=1.0
        Pseudo-count added to every (component, feature, value) count in the
        M-step: a symmetric Dirichlet(1 + alpha) prior on each feature's
        probabilities, so that a value unseen in a component keeps a positive
        probability. EM then maximises the penalised log-likelihood, which is
        what ``log_likelihood_history_`` records (and what cannot decrease).
    tol, max_iter, n_init, random_state
        As in :class:`latent_notes.mixture.GaussianMixture`.

    Attributes
    ----------
    weights_ : ndarray of shape (K,)
    log_probs_ : ndarray of shape (K, n_features, n_levels)
        :math:`\log \theta_{kjl}`.
    log_likelihood_history_ : ndarray
        Penalised log-likelihood :math:`\log p(X \mid \theta) + \log p(\theta)` after
        every iteration; non-decreasing.
    """

    _params = ("log_probs_",)

    def __init__(self, n_components=1, *, n_levels=None, alpha=1.0, tol=1e-6, max_iter=200,
                 n_init=1, random_state=None):
        self.n_components = n_components
        self.n_levels = n_levels
        self.alpha = alpha
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.random_state = random_state

    def _profiles(self, X):
        return self._one_hot(X)

    def _one_hot(self, X):
        levels = X.astype(np.int64)
        out = np.zeros((X.shape[0], X.shape[1] * self.n_levels_))
        out[np.arange(X.shape[0])[:, None], np.arange(X.shape[1]) * self.n_levels_ + levels] = 1.0
        return out

    def _start(self, resp, X, totals):
        self._m_step(resp, X)

    def _log_joint(self, X):
        flat = self.log_probs_.reshape(self.n_components, -1)
        return self._one_hot(X) @ flat.T + _log_weights(self.weights_)

    def _m_step(self, resp, X):
        """``pi_k = N_k / n`` and ``theta_kjl = (sum_i resp_ik [x_ij = l] + alpha) / (N_k + L alpha)``."""
        counts = resp.T @ self._one_hot(X)  # (K, d * L)
        counts = counts.reshape(self.n_components, X.shape[1], self.n_levels_) + self.alpha_
        self.log_probs_ = np.log(counts / counts.sum(axis=2, keepdims=True))
        self.weights_ = resp.sum(axis=0) / resp.shape[0]

    def _log_prior(self):
        return self.alpha_ * float(np.sum(self.log_probs_))

    def _check_params(self, X):
        self.alpha_ = _check_nonnegative_float(self.alpha, "alpha")
        top = int(X.max()) + 1 if X.size else 1
        if self.n_levels is None:
            self.n_levels_ = max(top, 2)
        else:
            if isinstance(self.n_levels, bool) or not isinstance(self.n_levels, numbers.Integral) \
                    or self.n_levels < 2:
                raise ValueError(f"n_levels must be an int >= 2; got {self.n_levels!r}")
            self.n_levels_ = int(self.n_levels)
        if top > self.n_levels_:
            raise ValueError(f"X holds the value {top - 1}, but n_levels={self.n_levels_} "
                             f"allows 0..{self.n_levels_ - 1}")

    def fit(self, X, y=None):
        """Estimate the parameters by EM; ``X`` holds integer levels ``0..n_levels-1``."""
        X = _check_integer_array(X)
        self._check_params(X)
        return self._fit(X)

    def log_joint(self, X):
        r""":math:`\log \pi_k + \sum_j \log \theta_{k, j, x_{ij}}`, shape ``(n_samples, K)``."""
        check_is_fitted(self, "log_probs_")
        X = _check_integer_array(check_array(X, n_features=self.n_features_in_, estimator=self))
        if X.max(initial=0) >= self.n_levels_:
            raise ValueError(f"X must hold levels 0..{self.n_levels_ - 1}")
        return self._log_joint(X)

    def n_parameters(self):
        """``K - 1`` weights and ``K d (L - 1)`` probabilities."""
        check_is_fitted(self, "log_probs_")
        K, d, L = self.log_probs_.shape
        return K - 1 + K * d * (L - 1)

    def sample(self, n_samples=1, random_state=None):
        """Draw ``(X, z)`` from the fitted mixture."""
        check_is_fitted(self, "log_probs_")
        self._check_n_samples(n_samples)
        rng = check_random_state(self.random_state if random_state is None else random_state)
        z = rng.choice(self.n_components, size=n_samples, p=self.weights_)
        cumulative = np.cumsum(np.exp(self.log_probs_[z]), axis=2)  # (n, d, L)
        u = rng.uniform(size=cumulative.shape[:2] + (1,))
        X = np.minimum((u * cumulative[:, :, -1:] > cumulative).sum(axis=2), self.n_levels_ - 1)
        return X.astype(float), z


def dirichlet_multinomial_logpmf(X, alpha):
    r""":math:`\log \mathrm{DM}(x_i \mid \alpha)` for every row of counts ``X`` (eq. :math:numref:`mb-dm`).

    .. math::

        \log n! - \sum_j \log x_j! + \log \Gamma(A) - \log \Gamma(n + A)
        + \sum_j [\log \Gamma(x_j + \alpha_j) - \log \Gamma(\alpha_j)]

    with :math:`n = \sum_j x_j` and :math:`A = \sum_j \alpha_j`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Non-negative integer counts.
    alpha : array-like of shape (n_features,)
        Positive Dirichlet parameters.

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    X = _check_integer_array(X)
    alpha = np.asarray(alpha, dtype=float)
    if alpha.shape != (X.shape[1],) or not np.all(np.isfinite(alpha)) or np.any(alpha <= 0):
        raise ValueError(f"alpha must be {X.shape[1]} positive finite numbers")
    n = X.sum(axis=1)
    A = alpha.sum()
    return (gammaln(n + 1) - gammaln(X + 1).sum(axis=1) + gammaln(A) - gammaln(n + A)
            + (gammaln(X + alpha) - gammaln(alpha)).sum(axis=1))


class DirichletMultinomialMixture(_DiscreteMixture):
    r"""Dirichlet-multinomial mixture ("community types"), fitted by generalised EM.

    :math:`p(x) = \sum_k \pi_k \, \mathrm{DM}(x \mid \alpha_k)` for a vector of counts ``x``.

    Parameters
    ----------
    n_components : int, default=1
    m_step_iter : int, default=5
        Fixed-point updates of :math:`\alpha` per M-step. Each one increases ``Q``
        (Minka, 2000), so any number keeps EM monotone; more make each
        iteration longer and the run shorter.
    alpha_floor : float, default=1e-6
        Lower bound on every :math:`\alpha_{kj}`. A taxon absent from every sample of
        a component would otherwise drive its :math:`\alpha` to zero; the floored
        update is still the maximiser of the bound, so EM stays monotone.
    tol, max_iter, n_init, random_state
        As in :class:`latent_notes.mixture.GaussianMixture`.

    Attributes
    ----------
    weights_ : ndarray of shape (K,)
    alphas_ : ndarray of shape (K, n_features)
        Dirichlet parameters; ``alphas_[k] / alphas_[k].sum()`` is the mean
        composition of class ``k`` and ``alphas_[k].sum()`` its precision
        (large: samples of the class are alike).
    log_likelihood_history_ : ndarray
        :math:`\sum_i \log p(x_i)` after every iteration; non-decreasing.
    """

    _params = ("alphas_",)

    def __init__(self, n_components=1, *, m_step_iter=5, alpha_floor=1e-6, tol=1e-6,
                 max_iter=500, n_init=1, random_state=None):
        self.n_components = n_components
        self.m_step_iter = m_step_iter
        self.alpha_floor = alpha_floor
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.random_state = random_state

    @staticmethod
    def _profiles(X):
        # Hellinger (square-root) profiles: k-means on them is less dominated by
        # the few most abundant taxa than on raw proportions.
        return np.sqrt(X / np.maximum(X.sum(axis=1, keepdims=True), 1))

    def _prepare(self, X):
        rows, cols = np.nonzero(X)
        self._nz = (rows, cols, X[rows, cols])
        self._totals = X.sum(axis=1)
        self._constant = gammaln(self._totals + 1) - gammaln(X + 1).sum(axis=1)

    def _start(self, resp, X, totals):
        # Method-of-moments-like start: each class's mean profile with a modest
        # precision, then the fixed-point updates of a first M-step.
        mean = resp.T @ (X / np.maximum(totals, 1)) / resp.sum(axis=0)[:, None]
        self.alphas_ = np.maximum(mean * X.shape[1] * 0.5 + 1e-3, self.alpha_floor_)
        self._m_step(resp, X, iterations=50)

    def _log_joint(self, X):
        rows, cols, vals = self._nz
        out = np.empty((X.shape[0], self.n_components))
        for k, alpha in enumerate(self.alphas_):
            A = alpha.sum()
            sparse = np.bincount(rows, gammaln(vals + alpha[cols]) - gammaln(alpha[cols]),
                                 minlength=X.shape[0])
            out[:, k] = gammaln(A) - gammaln(self._totals + A) + sparse
        return out + self._constant[:, None] + _log_weights(self.weights_)

    def _m_step(self, resp, X, iterations=None):
        """``pi_k = N_k / n``; ``alpha_k`` by weighted fixed-point updates (eq. :math:numref:`mb-fixed-point`)."""
        rows, cols, vals = self._nz
        self.weights_ = resp.sum(axis=0) / resp.shape[0]
        for k in range(self.n_components):
            r = resp[:, k]
            alpha = self.alphas_[k]
            for _ in range(iterations or self.m_step_iter):
                A = alpha.sum()
                numer = np.bincount(cols, r[rows] * (digamma(vals + alpha[cols]) - digamma(alpha[cols])),
                                    minlength=X.shape[1])
                denom = float(r @ (digamma(self._totals + A) - digamma(A)))
                if denom <= 0:  # a component without responsibility: leave it
                    break
                alpha = np.maximum(alpha * numer / denom, self.alpha_floor_)
            self.alphas_[k] = alpha

    def _check_params(self):
        self.alpha_floor_ = _check_nonnegative_float(self.alpha_floor, "alpha_floor", positive=True)
        if isinstance(self.m_step_iter, bool) or not isinstance(self.m_step_iter, numbers.Integral) \
                or self.m_step_iter < 1:
            raise ValueError(f"m_step_iter must be an int >= 1; got {self.m_step_iter!r}")

    def fit(self, X, y=None):
        """Estimate the parameters by generalised EM; ``X`` holds counts (samples x taxa)."""
        X = _check_integer_array(X)
        if np.any(X.sum(axis=1) == 0):
            raise ValueError("every sample (row of X) needs at least one count")
        self._check_params()
        self._prepare(X)
        try:
            return self._fit(X)
        finally:
            del self._nz, self._totals, self._constant

    def log_joint(self, X):
        r""":math:`\log \pi_k + \log \mathrm{DM}(x_i \mid \alpha_k)`, shape ``(n_samples, K)``."""
        check_is_fitted(self, "alphas_")
        X = _check_integer_array(check_array(X, n_features=self.n_features_in_, estimator=self))
        self._prepare(X)
        try:
            return self._log_joint(X)
        finally:
            del self._nz, self._totals, self._constant

    def n_parameters(self):
        """``K - 1`` weights and ``K d`` Dirichlet parameters."""
        check_is_fitted(self, "alphas_")
        return self.n_components - 1 + self.alphas_.size

    def sample(self, n_samples=1, total_counts=1000, random_state=None):
        """Draw ``(X, z)``: a class, a composition from its Dirichlet, counts from a multinomial.

        Parameters
        ----------
        n_samples : int
        total_counts : int or array-like of shape (n_samples,)
            Library size of each sample.
        random_state : None, int or numpy.random.Generator
        """
        check_is_fitted(self, "alphas_")
        self._check_n_samples(n_samples)
        totals = np.broadcast_to(np.asarray(total_counts), (n_samples,))
        if np.any(totals < 1) or np.any(totals != np.round(totals)):
            raise ValueError("total_counts must be positive integers")
        rng = check_random_state(self.random_state if random_state is None else random_state)
        z = rng.choice(self.n_components, size=n_samples, p=self.weights_)
        X = np.array([rng.multinomial(int(t), rng.dirichlet(self.alphas_[k]))
                      for t, k in zip(totals, z)], dtype=float)
        return X, z
