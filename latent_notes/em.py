r"""The expectation-maximisation driver shared by every mixture model.

A mixture model only has to say three things (chapter :doc:`/book/em`):

* ``_initialize(data, rng)``: a starting value of the parameters;
* ``_log_joint(*data)``: the matrix :math:`\log p(x_i, z_i = k \mid \theta)`;
* ``_m_step(resp, *data)``: the maximiser of :math:`Q(\hat\theta, \cdot)` given the
  responsibilities ``resp[i, k]`` :math:`= p(z_i = k \mid x_i, \hat\theta)`.

From the joint alone the driver gets the observed-data log-likelihood
(a log-sum-exp over :math:`k`, eq. :math:numref:`em-marginal`) and the E-step (the joint
minus its log-sum-exp, eq. :math:numref:`em-posterior`), so the two can never disagree.
:class:`EMMixin` then owns everything else: the loop, the history of the
log-likelihood, the relative-tolerance stop, ``n_init`` restarts that keep the
best run, and a :class:`ConvergenceWarning` when the best run did not converge.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning

__all__ = [
    "ConvergenceWarning",
    "EMMixin",
    "MixtureMixin",
    "logsumexp",
    "e_step_from_log_joint",
    "q_function",
    "posterior_cross_entropy",
    "check_random_state",
]


class ConvergenceWarning(_SklearnConvergenceWarning):
    """Raised as a warning when EM stops at ``max_iter`` before converging.

    A subclass of ``sklearn.exceptions.ConvergenceWarning``, so that a filter on
    scikit-learn's warning (``warnings.simplefilter("ignore", ConvergenceWarning)``
    with scikit-learn's class) also catches ours.
    """


def check_random_state(seed):
    """Turn ``seed`` into a :class:`numpy.random.Generator`.

    Parameters
    ----------
    seed : None, int or numpy.random.Generator
        ``None`` gives fresh OS entropy, an int a reproducible generator, and a
        generator is returned as it is.
    """
    if seed is None or isinstance(seed, (numbers.Integral, np.integer)):
        if seed is not None and isinstance(seed, bool):
            raise TypeError("random_state must be None, an int or a numpy Generator; got a bool")
        return np.random.default_rng(seed)
    if isinstance(seed, np.random.Generator):
        return seed
    raise TypeError(
        "random_state must be None, an int or a numpy.random.Generator; "
        f"got {type(seed).__name__}"
    )


def logsumexp(a, axis=-1):
    """Stable ``log(sum(exp(a), axis))`` that tolerates rows of ``-inf``.

    Parameters
    ----------
    a : ndarray
    axis : int

    Returns
    -------
    ndarray
        ``a`` reduced along ``axis``.
    """
    a = np.asarray(a)
    amax = np.max(a, axis=axis, keepdims=True)
    amax = np.where(np.isfinite(amax), amax, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a - amax), axis=axis, keepdims=True)) + amax
    return np.squeeze(out, axis=axis)


def e_step_from_log_joint(log_joint):
    r"""The E-step: posterior responsibilities from the log joint.

    Parameters
    ----------
    log_joint : ndarray of shape (n_samples, n_components)
        :math:`\log p(x_i, z_i = k \mid \theta)`.

    Returns
    -------
    log_resp : ndarray of shape (n_samples, n_components)
        :math:`\log p(z_i = k \mid x_i, \theta)` (eq. :math:numref:`em-posterior`); each row of
        ``exp(log_resp)`` sums to one.
    log_px : ndarray of shape (n_samples,)
        :math:`\log p(x_i \mid \theta)` (eq. :math:numref:`em-marginal`).
    """
    log_joint = np.asarray(log_joint)
    top = np.max(log_joint, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    # Normalise in the shifted space: with log_joint near the largest float,
    # log_joint - (log_px) would lose the log of the row sum to rounding
    # (rows of [1e308, 1e308] would get responsibilities 1 and 1).
    shifted = log_joint - top
    with np.errstate(divide="ignore"):
        log_norm = np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    log_px = np.squeeze(log_norm + top, axis=1)
    return shifted - log_norm, log_px


def _row_max(a):
    """``a.max(axis=1)`` for a tall, narrow 2-D array.

    NumPy reduces a short trailing axis slowly; a maximum over the K column
    views is about ten times faster when n >> K, the usual shape of a mixture.
    """
    if a.shape[1] > 64:
        return a.max(axis=1)
    return np.maximum.reduce([a[:, k] for k in range(a.shape[1])])


def _responsibilities(log_joint, overwrite=False):
    """E-step returning ``(resp, log_px)`` with a single exponential (the fast path).

    With ``overwrite=True`` the responsibilities are computed in the memory of
    ``log_joint`` (for a temporary the caller owns: one ``(n, K)`` array, not three).
    """
    top = _row_max(log_joint)
    top[~np.isfinite(top)] = 0.0
    if overwrite:
        unnormalised = np.subtract(log_joint, top[:, None], out=log_joint)
        np.exp(unnormalised, out=unnormalised)
    else:
        unnormalised = np.exp(log_joint - top[:, None])
    total = unnormalised @ np.ones(log_joint.shape[1])  # row sums, as one BLAS call
    with np.errstate(divide="ignore"):
        log_px = np.log(total) + top
    if overwrite:
        unnormalised /= total[:, None]
        return unnormalised, log_px
    return unnormalised / total[:, None], log_px


def _check_joint_and_resp(log_joint, resp):
    """Both as 2-D float arrays of one shape; ``log_joint`` may hold -inf (probability 0)."""
    log_joint = np.asarray(log_joint, dtype=float)
    resp = np.asarray(resp, dtype=float)
    if log_joint.ndim != 2 or resp.shape != log_joint.shape:
        raise ValueError("log_joint and resp must be 2-D arrays of one shape (n_samples, "
                         f"n_components); got {log_joint.shape} and {resp.shape}")
    if np.isnan(log_joint).any() or (log_joint == np.inf).any():
        raise ValueError("log_joint contains NaN or +inf")
    if not np.all(np.isfinite(resp)) or resp.min(initial=0.0) < 0:
        raise ValueError("resp must hold finite, non-negative responsibilities")
    return log_joint, resp


def q_function(log_joint, resp):
    r""":math:`Q(\hat\theta, \theta) = \sum_{i,k} \mathrm{resp}_{ik} \log p(x_i, z_i = k \mid \theta)`.

    Parameters
    ----------
    log_joint : ndarray of shape (n_samples, n_components)
        The log joint under the *candidate* parameters :math:`\theta`.
    resp : ndarray of shape (n_samples, n_components)
        Responsibilities under the *current* parameters :math:`\hat\theta`.

    Returns
    -------
    float
        The expected complete-data log-likelihood, eq. :math:numref:`em-q`.
    """
    log_joint, resp = _check_joint_and_resp(log_joint, resp)
    # 0 * (-inf) must count as 0: a component with zero responsibility adds nothing.
    mask = resp > 0
    return float(np.sum(resp[mask] * log_joint[mask]))


def posterior_cross_entropy(log_joint, resp):
    r""":math:`H(\hat\theta, \theta) = -\sum_{i,k} \mathrm{resp}_{ik} \log p(z_i = k \mid x_i, \theta)`.

    With ``resp`` from :math:`\hat\theta` and ``log_joint`` from :math:`\theta`, the
    identity :math:`\log p(X \mid \theta) = Q(\hat\theta, \theta) + H(\hat\theta, \theta)`
    holds for *every* pair (eq. :math:numref:`em-decomposition`), and Gibbs' inequality
    gives :math:`H(\hat\theta, \theta) \ge H(\hat\theta, \hat\theta)`.
    """
    log_joint, resp = _check_joint_and_resp(log_joint, resp)
    log_post, _ = e_step_from_log_joint(log_joint)
    return -q_function(log_post, resp)


def _check_positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an int >= {minimum}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value}")


class EMMixin:
    r"""The EM loop, written once for every mixture model.

    Subclasses set ``n_components``, ``tol``, ``max_iter``, ``n_init`` and
    ``random_state`` in their constructor and implement

    ``_initialize(data, rng)``
        set the starting parameters (``data`` is the tuple passed to
        ``_fit_em``, e.g. ``(X,)`` or ``(X, y)``);
    ``_log_joint(*data)``
        return :math:`\log p(x_i, z_i = k \mid \theta)` as an ``(n, K)`` array;
    ``_m_step(resp, *data)``
        set the parameters to the maximiser of :math:`Q(\hat\theta, \cdot)`;
    ``_get_state()`` / ``_set_state(state)``
        copy the learned parameters out and back (for restarts);

    and may implement ``_log_prior()``, the log-density of a prior on the
    parameters (0 by default). With a prior, the M-step maximises
    :math:`Q + \log p(\theta)` (MAP-EM) and the quantity that cannot decrease is the
    *penalised* log-likelihood :math:`\log p(X \mid \theta) + \log p(\theta)`; that is what
    ``log_likelihood_history_`` then records.

    The driver stops when the relative change of the observed-data
    log-likelihood :math:`|\ell_t - \ell_{t-1}| / |\ell_{t-1}|` falls to ``tol`` or below.
    The relative rule is the report's (section 2.2.1); it is applied to the
    log-likelihood rather than to :math:`Q` because the log-likelihood is the
    quantity EM is guaranteed not to decrease (errata 8).
    """

    def _log_prior(self):
        return 0.0

    def _check_em_params(self):
        _check_positive_int(self.n_components, "n_components")
        _check_positive_int(self.max_iter, "max_iter")
        _check_positive_int(self.n_init, "n_init")
        if isinstance(self.tol, bool) or not isinstance(self.tol, numbers.Real):
            raise TypeError(f"tol must be a non-negative float; got {self.tol!r}")
        if not np.isfinite(self.tol) or self.tol < 0:
            raise ValueError(f"tol must be a non-negative finite float; got {self.tol}")

    def _fit_em(self, *data):
        """Run EM ``n_init`` times on ``data`` and keep the best run."""
        self._check_em_params()
        rng = check_random_state(self.random_state)
        best = None
        # Numerical trouble shows up as a non-finite log-likelihood, which
        # _e_step turns into one clear error instead of a stream
        # of warnings followed by NaN parameters.
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for _ in range(self.n_init):
                self._initialize(data, rng)
                history, converged = self._run_em(data)
                if best is None or history[-1] > best[0][-1]:
                    best = (history, converged, self._get_state())
        history, converged, state = best
        self._set_state(state)
        self.log_likelihood_history_ = np.asarray(history)
        self.log_likelihood_ = float(history[-1])
        self.n_iter_ = len(history) - 1
        drops = _decreases(self.log_likelihood_history_)
        if drops.size:
            # EM cannot lower the log-likelihood (eq. em-monotone); a fall beyond
            # rounding means the arithmetic lost precision, so nothing converged.
            worst = int(drops[np.argmin(np.diff(self.log_likelihood_history_)[drops])])
            fall = history[worst] - history[worst + 1]
            converged = False
            warnings.warn(
                f"the log-likelihood decreased by {fall:.3g} at EM iteration {worst + 1}, which "
                "exact EM cannot do: float64 lost precision on these data (for example values "
                "spanning many orders of magnitude); the fit is not converged and its "
                "parameters may be wrong. Rescale the data or remove the extreme values.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self.converged_ = converged
        if not converged and not drops.size:
            warnings.warn(
                f"EM did not converge in max_iter={self.max_iter} iterations "
                f"(tol={self.tol}); raise max_iter or tol, or check the data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    def _run_em(self, data):
        """One EM run from the current parameters; returns (history, converged).

        ``_expectation`` returns what ``_maximization`` needs (by default the
        ``(n, K)`` responsibilities; a model may return sufficient statistics
        accumulated chunk by chunk instead) and the log-likelihood.
        """
        summary, log_lik = self._expectation(data)
        history = [log_lik]
        for _ in range(self.max_iter):
            self._maximization(summary, data)  # M-step
            summary, log_lik = self._expectation(data)  # E-step
            history.append(log_lik)
            previous, current = history[-2], history[-1]
            if abs(current - previous) <= self.tol * abs(previous):
                return history, True
        return history, False

    def _expectation(self, data):
        """E-step of the loop: ``(resp, log_lik)`` by default (see ``_run_em``)."""
        return self._e_step(data)

    def _maximization(self, summary, data):
        """M-step of the loop, from what ``_expectation`` returned."""
        self._m_step(summary, *data)

    def _nonfinite_hint(self):
        """Why the log-likelihood may have left float64's range; models may say more."""
        return (
            "the model may have collapsed on the data (for example a component on "
            "duplicated points with a zero variance floor), or the data may be so large "
            "that their squares overflow float64"
        )

    def _check_log_likelihood(self, log_lik):
        if not np.isfinite(log_lik):
            raise FloatingPointError(f"the log-likelihood is {log_lik}: {self._nonfinite_hint()}")
        return log_lik

    def _e_step(self, data):
        """E-step: the responsibilities and ``log p(X | theta)``, which must be finite."""
        resp, log_px = _responsibilities(self._log_joint(*data))
        log_lik = float(np.sum(log_px)) + self._log_prior()
        return resp, self._check_log_likelihood(log_lik)


def _decreases(history):
    """Iterations (indices into ``np.diff(history)``) where the log-likelihood fell beyond rounding."""
    history = np.asarray(history, dtype=float)
    if history.size < 2:
        return np.zeros(0, dtype=int)
    slack = 1e-9 * np.maximum(1.0, np.abs(history[:-1]))
    return np.flatnonzero(np.diff(history) < -slack)


class MixtureMixin(EMMixin):
    """The public methods every density mixture shares, written from ``log_joint``.

    A subclass provides ``log_joint(X)`` (checked input, ``(n, K)`` array) and
    ``n_parameters()``.
    """

    def fit_predict(self, X, y=None):
        """Fit, then return the most probable component of each sample."""
        return self.fit(X).predict(X)

    def e_step(self, X):
        r"""Responsibilities :math:`\tau_{ik} = p(z_i = k \mid x_i, \theta)` (eq. :math:numref:`em-posterior`)."""
        log_resp, _ = e_step_from_log_joint(self.log_joint(X))
        return np.exp(log_resp)

    def predict_proba(self, X):
        """Posterior probability of each component, shape ``(n_samples, K)``."""
        return self.e_step(X)

    def predict(self, X):
        """Most probable component of each sample (the MAP of :math:`z_i`)."""
        return np.argmax(self.log_joint(X), axis=1)

    def score_samples(self, X):
        r""":math:`\log p(x_i \mid \theta)` for each sample."""
        return logsumexp(self.log_joint(X), axis=1)

    def score(self, X, y=None):
        """Mean log-likelihood per sample (scikit-learn's convention)."""
        return float(np.mean(self.score_samples(X)))

    def bic(self, X):
        r"""Bayesian information criterion :math:`-2 \log p(X) + p \log n`; lower is better."""
        log_px = self.score_samples(X)
        return float(-2 * log_px.sum() + self.n_parameters() * np.log(log_px.shape[0]))

    def aic(self, X):
        r"""Akaike information criterion :math:`-2 \log p(X) + 2p`; lower is better."""
        return float(-2 * self.score_samples(X).sum() + 2 * self.n_parameters())
