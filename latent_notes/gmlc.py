"""The Gaussian mixture linear classifier (chapter :doc:`/book/gmlc`).

The report's model (section 2.2.1, corrected by errata 1, 4, 5, 6, 7)::

    Z ~ Categorical(pi) on {1, ..., K}
    X | Z = k ~ N(mu_k, sigma_k^2 I)
    P(Y = 1 | X, Z = k) = sigmoid(b_k + w_k . X)

In the literature it is a *cluster-weighted model*, or a mixture of logistic
experts whose gates are Gaussian. It is fitted by EM on the shared driver: the
Gaussian part of the M-step is closed form (as for a Gaussian mixture), the
logistic part is a weighted logistic regression per component, solved by one of
four interchangeable solvers (:func:`fit_weighted_logistic`).
"""

from __future__ import annotations

import numbers
import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from ._validation import (as_float_array, check_array, check_binary_target, check_choice,
                          check_int, check_is_fitted, check_probability_vector, check_real)
from .em import EMMixin, check_random_state, e_step_from_log_joint, logsumexp
from .mixture import GaussianComponentsMixin

__all__ = [
    "GaussianMixtureLinearClassifier",
    "ClusterThenClassify",
    "fit_weighted_logistic",
    "weighted_logistic_objective",
    "SOLVERS",
    "solver_trace",
    "time_to_reach",
]

SOLVERS = ("irls", "gd", "sgd", "cmaes")


# --------------------------------------------------------------------------
# The logistic part of Q for one component, and its solvers
# --------------------------------------------------------------------------
def _log_sigmoid(eta):
    """``log sigmoid(eta)`` without overflow."""
    return -np.logaddexp(0.0, -eta)


def _sigmoid(eta):
    return np.exp(_log_sigmoid(eta))


def _with_intercept(X):
    """``X`` with a leading column of ones, so that ``theta[0]`` is the intercept."""
    return np.hstack([np.ones((X.shape[0], 1)), X])


def _penalty_diag(n_params, C):
    """The L2 penalty's diagonal: 0 for the intercept, 1/C for each weight."""
    pen = np.full(n_params, 0.0 if np.isinf(C) else 1.0 / C)
    pen[0] = 0.0
    return pen


def _linear(X, coef, intercept):
    """``X @ coef.T + intercept`` without NaN for far points (``inf - inf`` in the product).

    Each row is divided by its largest magnitude before the product and
    multiplied back after it, so a sum that overflows becomes ``+-inf``.
    """
    scale = np.maximum(np.max(np.abs(X), axis=1, initial=0.0), 1.0)[:, None]
    with np.errstate(over="ignore"):
        return scale * ((X / scale) @ coef.T) + intercept


def _log_gates(X, weights, means, variances):
    r"""``log P(z = k | x)`` of a mixture of spherical or diagonal Gaussians, for any finite ``x``.

    Near the components the usual form
    :math:`\log \pi_k - \tfrac12 \log|\Sigma_k| - \tfrac12 \sum_j (x_j - \mu_{kj})^2 / \sigma^2_{kj}`
    is used. For rows that are far from every component (squared distances
    above 1e8, which overflow or swamp the differences between components in
    rounding error) the quadratic forms are taken relative to component 0,
    :math:`\sum_j [(x_j - \mu_{kj})^2 / \sigma^2_{kj} - (x_j - \mu_{0j})^2 / \sigma^2_{0j}]`, written as
    :math:`s^2 A_k + s B_k + G_k` with ``s`` the row's scale: the terms that cancel
    exactly (equal variances) are never formed, and an overflow is ``+-inf``
    (a component that is infinitely less likely), not NaN.
    """
    K, d = means.shape
    var = variances if variances.ndim == 2 else np.broadcast_to(variances[:, None], (K, d))
    prec = 1.0 / var
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    const = log_w - 0.5 * np.sum(np.log(var), axis=1)  # the (2 pi)^d factor cancels
    centre = weights @ means
    with np.errstate(over="ignore", invalid="ignore"):
        Xc = X - centre
    if not np.all(np.isfinite(Xc)):
        raise ValueError("X holds values too large to compare with the components' means "
                         f"(largest magnitude {np.max(np.abs(X)):.3g}); rescale X")
    Mc = means - centre
    maha = np.empty((X.shape[0], K))
    with np.errstate(over="ignore"):
        for k in range(K):
            diff = Xc - Mc[k]
            maha[:, k] = (diff * diff) @ prec[k]
    log_joint = const - 0.5 * maha
    far = ~(np.min(maha, axis=1) <= 1e8)  # also rows where every distance overflowed
    if far.any():
        Xf = Xc[far]
        s = np.maximum(np.max(np.abs(Xf), axis=1), 1.0)[:, None]
        u = Xf / s
        # T_k = s^2 A_k + s B_k + G_k, relative to the row's leading component r (smallest A):
        # then every T_k - T_r is >= 0 to leading order and can only overflow to +inf.
        A = (u * u) @ prec.T
        B = u @ (-2.0 * Mc * prec).T
        G = np.sum(Mc * Mc * prec, axis=1)[None, :]
        rows = np.arange(Xf.shape[0])
        r = np.argmin(A, axis=1)
        with np.errstate(over="ignore", invalid="ignore"):
            rel = s * (s * (A - A[rows, r][:, None]) + (B - B[rows, r][:, None])) \
                + (G - G[0, r][:, None])
            log_joint[far] = const - 0.5 * rel
    log_joint[:, weights == 0] = -np.inf
    top = np.max(log_joint, axis=1, keepdims=True)
    # A component infinitely more likely than the reference takes all the mass.
    log_joint = np.where(np.isposinf(top), np.where(np.isposinf(log_joint), 0.0, -np.inf),
                         log_joint)
    return log_joint - logsumexp(log_joint, axis=1)[:, None]


def weighted_logistic_objective(theta, X1, y, weights, C=np.inf):
    r"""The logistic part of ``Q`` for one component, and its gradient.

    :math:`Q_k(b, w) = \sum_i \tau_i [y_i \eta_i - \log(1 + e^{\eta_i})] - \|w\|^2 / (2C)`
    with :math:`\eta_i = b + w \cdot x_i` (eq. :math:numref:`gmlc-q-logistic`); the
    gradient is :math:`\sum_i \tau_i (y_i - \operatorname{sigmoid}(\eta_i)) (1, x_i) - (0, w / C)`
    (eq. :math:numref:`gmlc-gradient`).

    Parameters
    ----------
    theta : ndarray of shape (1 + n_features,)
        ``(b, w)``: the intercept first.
    X1 : ndarray of shape (n_samples, 1 + n_features)
        The features with a leading column of ones.
    y : ndarray of shape (n_samples,)
        Labels in {0, 1}.
    weights : ndarray of shape (n_samples,)
        The responsibilities :math:`\tau_{ik}` of the component.
    C : float
        Inverse strength of the L2 penalty on ``w`` (``inf``: none).

    Returns
    -------
    value : float
    gradient : ndarray of shape (1 + n_features,)
    """
    theta = as_float_array(theta, "theta", ndim=1)
    X1 = check_array(X1, name="X1", n_features=theta.shape[0])
    if not np.all(X1[:, 0] == 1.0):
        raise ValueError("X1 must start with a column of ones (the intercept's feature)")
    y = as_float_array(y, "y", shape=(X1.shape[0],))
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y must hold the labels 0 and 1 only")
    weights = as_float_array(weights, "weights", shape=(X1.shape[0],))
    if np.any(weights < 0):
        raise ValueError("weights must be non-negative")
    return _objective(theta, X1, y, weights, _check_C(C))


def _objective(theta, X1, y, weights, C=np.inf):
    """:func:`weighted_logistic_objective` on checked arguments (the solvers' inner loop)."""
    eta = X1 @ theta
    value = weights @ (y * eta + _log_sigmoid(-eta))  # log(1 - s) = log sigmoid(-eta)
    pen = _penalty_diag(theta.size, C)
    value -= 0.5 * np.sum(pen * theta * theta)
    gradient = X1.T @ (weights * (y - _sigmoid(eta))) - pen * theta
    return float(value), gradient


def _irls(X1, y, w, theta, C, max_iter, tol, rng, callback):
    """Newton's method on Q_k (iteratively reweighted least squares), with step halving."""
    pen = _penalty_diag(theta.size, C)
    f, g = _objective(theta, X1, y, w, C)
    for _ in range(max_iter):
        s = _sigmoid(X1 @ theta)
        hessian = (X1 * (w * s * (1.0 - s))[:, None]).T @ X1 + np.diag(pen)
        hessian[np.diag_indices_from(hessian)] += 1e-10 * (1.0 + np.abs(np.diag(hessian)))
        step = np.linalg.solve(hessian, g)
        t = 1.0
        for _ in range(40):  # halve the step until Q does not decrease
            f_new, g_new = _objective(theta + t * step, X1, y, w, C)
            if f_new >= f:
                break
            t *= 0.5
        else:
            return theta
        theta, f_old, f, g = theta + t * step, f, f_new, g_new
        if callback is not None:
            callback(theta, f)
        if f - f_old <= tol * (1.0 + abs(f)):
            break
    return theta


def _gd(X1, y, w, theta, C, max_iter, tol, rng, callback, learning_rate=1.0):
    """The report's full-batch gradient ascent with monotone acceptance.

    A step that would lower Q is rejected (the best iterate is kept) and the
    learning rate is halved, so that the next proposal differs; an accepted
    step lengthens the next one by 20% (the "bold driver" rule), so that a
    too-small starting rate does not cripple it.
    """
    total = max(w.sum(), 1e-12)
    f, g = _objective(theta, X1, y, w, C)
    lr = learning_rate
    for _ in range(max_iter):
        candidate = theta + lr * g / total
        f_new, g_new = _objective(candidate, X1, y, w, C)
        if f_new >= f:
            improvement = f_new - f
            theta, f, g = candidate, f_new, g_new
            lr *= 1.2  # "bold driver": lengthen the step while steps succeed
            if callback is not None:
                callback(theta, f)
            if improvement <= tol * (1.0 + abs(f)):
                break
        else:
            lr *= 0.5
            if lr < 1e-12:
                break
    return theta


def _sgd(X1, y, w, theta, C, max_iter, tol, rng, callback, learning_rate=0.5, batch_size=64):
    """Minibatch stochastic gradient ascent; ``max_iter`` counts epochs.

    The step size decays as ``learning_rate / sqrt(epoch)``. Each minibatch
    gradient is an unbiased estimate of ``grad Q_k / sum(tau)``.
    """
    n = X1.shape[0]
    total = max(w.sum(), 1e-12)
    pen = _penalty_diag(theta.size, C)
    theta = theta.copy()
    for epoch in range(1, max_iter + 1):
        lr = learning_rate / np.sqrt(epoch)
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            Xb = X1[idx]
            resid = w[idx] * (y[idx] - _sigmoid(Xb @ theta))
            grad = (Xb.T @ resid) * (n / idx.size) - pen * theta
            theta += lr * grad / total
        if callback is not None:
            callback(theta, _objective(theta, X1, y, w, C)[0])
    return theta


def _cmaes(X1, y, w, theta, C, max_iter, tol, rng, callback, sigma0=0.5):
    """CMA-ES (the ``cma`` package) on -Q_k; ``max_iter`` counts generations."""
    try:
        import cma
    except ImportError as exc:  # pragma: no cover - cma is in the book and test extras
        raise ImportError(
            'solver="cmaes" needs the cma package: pip install "latent-notes[cmaes]"'
        ) from exc
    options = {
        "seed": int(rng.integers(1, 2**31 - 1)),
        "maxiter": max_iter,
        "verbose": -9,
        "tolfun": 0.0,
        "tolx": 1e-11,
        "tolfunrel": tol,
    }
    # cma seeds and draws from NumPy's *global* generator: keep the caller's state intact.
    global_state = np.random.get_state()
    try:
        es = cma.CMAEvolutionStrategy(theta, sigma0, options)
        while not es.stop():
            candidates = es.ask()
            es.tell(candidates, [-_objective(np.asarray(c), X1, y, w, C)[0]
                                 for c in candidates])
            if callback is not None:
                best = np.asarray(es.result.xbest)
                callback(best, _objective(best, X1, y, w, C)[0])
        return np.asarray(es.result.xbest, dtype=float)
    finally:
        np.random.set_state(global_state)


_SOLVER_FUNCTIONS = {"irls": _irls, "gd": _gd, "sgd": _sgd, "cmaes": _cmaes}
_DEFAULT_MAX_ITER = {"irls": 30, "gd": 300, "sgd": 10, "cmaes": 60}


def fit_weighted_logistic(X, y, sample_weight, solver="irls", C=np.inf, init=None,
                          max_iter=None, tol=1e-10, random_state=None, callback=None):
    r"""Maximise one component's logistic part of ``Q`` (a weighted logistic regression).

    Whatever the solver, the result never has a lower objective than ``init``:
    a solver's answer that would lower ``Q`` is discarded. This keeps EM
    monotone (a *generalised* EM step, errata 8) even with the stochastic
    solvers.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Labels in {0, 1}.
    sample_weight : ndarray of shape (n_samples,)
        Non-negative weights: the responsibilities :math:`\tau_{ik}`.
    solver : {"irls", "gd", "sgd", "cmaes"}
        ``"irls"``: Newton's method (iteratively reweighted least squares) with
        step halving; ``"gd"``: the report's full-batch gradient ascent, a step
        that lowers Q rejected and the learning rate halved; ``"sgd"``:
        minibatch stochastic gradient ascent; ``"cmaes"``: the CMA evolution
        strategy of the ``cma`` package. ``cma`` draws from NumPy's global
        generator; its state is saved before and restored after the solve,
        so callers' global random streams are unchanged (but another thread
        drawing from that global generator during the solve would interleave).
    C : float
        Inverse strength of the L2 penalty :math:`\|w\|^2 / (2C)` on the weights
        (not the intercept), as in scikit-learn's ``LogisticRegression``.
    init : ndarray of shape (1 + n_features,), optional
        Starting ``(b, w)``; zeros by default.
    max_iter : int, optional
        Newton steps, gradient steps, epochs or generations; a per-solver default.
    tol : float
        Stop when an iteration improves the objective by at most
        ``tol * (1 + |Q_k|)`` (``irls``, ``gd``, ``cmaes``).
    random_state : None, int or numpy.random.Generator
        For ``sgd`` and ``cmaes``.
    callback : callable, optional
        Called as ``callback(theta, value)`` after every iteration.

    Returns
    -------
    ndarray of shape (1 + n_features,)
        ``(b, w)``, the intercept first.
    """
    X, y, w, theta0, C, max_iter, tol, rng = _check_logistic_args(
        X, y, sample_weight, solver, C, init, max_iter, tol, random_state, callback)
    return _fit_weighted_logistic(X, y, w, solver, C, theta0, max_iter, tol, rng, callback)


def _check_logistic_args(X, y, sample_weight, solver, C, init, max_iter, tol, random_state,
                         callback):
    """Validate :func:`fit_weighted_logistic`'s arguments (once per call, before any work)."""
    check_choice(solver, "solver", SOLVERS)
    X = check_array(X)
    n, d = X.shape
    y = as_float_array(y, "y", shape=(n,))
    if not np.all((y == 0) | (y == 1)):
        bad = np.unique(y[(y != 0) & (y != 1)])[:5].tolist()
        raise ValueError(f"y must hold the labels 0 and 1 only; got also {bad}")
    w = as_float_array(sample_weight, "sample_weight", shape=(n,))
    if np.any(w < 0):
        raise ValueError(f"sample_weight must be non-negative; got {w.min()!r}")
    if np.sum(w) == np.inf:
        raise ValueError("sample_weight sums to inf; rescale it")
    C = check_real(C, "C", low=0.0, low_open=True, allow_inf=True)
    theta0 = np.zeros(d + 1) if init is None else as_float_array(init, "init", shape=(d + 1,)).copy()
    max_iter = _DEFAULT_MAX_ITER[solver] if max_iter is None else check_int(max_iter, "max_iter", 1)
    tol = check_real(tol, "tol", low=0.0)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None; got {type(callback).__name__}")
    return X, y, w, theta0, C, max_iter, tol, check_random_state(random_state)


def _fit_weighted_logistic(X, y, w, solver, C, theta0, max_iter, tol, rng, callback=None):
    """:func:`fit_weighted_logistic` on validated arguments (the EM loop's entry point)."""
    X1 = _with_intercept(X)
    theta = _SOLVER_FUNCTIONS[solver](X1, y, w, theta0.copy(), C, max_iter, tol, rng, callback)
    f0 = _objective(theta0, X1, y, w, C)[0]
    f1 = _objective(theta, X1, y, w, C)[0]
    return theta if np.isfinite(f1) and f1 >= f0 else theta0


def solver_trace(X, y, sample_weight, solver, C=np.inf, init=None, max_iter=None, tol=0.0,
                 random_state=None):
    """Run one solver on one component's M-step and record its progress.

    Parameters are those of :func:`fit_weighted_logistic` (with ``tol=0`` by
    default, so that the solver runs its full ``max_iter``).

    Returns
    -------
    seconds : ndarray
        Wall time since the start after each iteration (0 for the start).
    values : ndarray
        The objective :math:`Q_k` at the start and after each iteration.
    theta : ndarray
        The solver's answer.
    """
    X, y, sample_weight, theta0, C, max_iter, tol, _ = _check_logistic_args(
        X, y, sample_weight, solver, C, init, max_iter, tol, None, None)
    X1 = _with_intercept(X)
    seconds = [0.0]
    values = [_objective(theta0, X1, y, sample_weight, C)[0]]
    start = time.perf_counter()

    def record(theta, value):
        seconds.append(time.perf_counter() - start)
        values.append(value)

    theta = fit_weighted_logistic(X, y, sample_weight, solver=solver, C=C, init=theta0,
                                  max_iter=max_iter, tol=tol, random_state=random_state,
                                  callback=record)
    return np.array(seconds), np.array(values), theta


def time_to_reach(seconds, values, target, rtol=1e-6):
    """First time at which a trace is within ``rtol`` (relative) of ``target``; inf if never."""
    seconds = as_float_array(seconds, "seconds", ndim=1)
    values = as_float_array(values, "values", shape=(seconds.shape[0],), finite=False)
    if np.any(np.isnan(values)):
        raise ValueError("values contains NaN")
    target = check_real(target, "target")
    rtol = check_real(rtol, "rtol", low=0.0)
    reached = values >= target - rtol * abs(target)
    return float(seconds[reached][0]) if reached.any() else np.inf


# --------------------------------------------------------------------------
# The classifier
# --------------------------------------------------------------------------
def _check_C(C):
    if isinstance(C, bool) or not isinstance(C, (numbers.Real, np.floating, np.integer)) \
            or np.isnan(C) or not C > 0:
        raise ValueError(f"C must be a positive float (np.inf for no penalty); got {C!r}")
    return float(C)


def _check_representable(X):
    """Refuse data whose squared spread overflows float64: no Gaussian density fits it."""
    with np.errstate(over="ignore"):
        spread = np.ptp(X, axis=0).max() if X.shape[0] else 0.0
        square = spread * spread
    if not np.isfinite(square):
        raise ValueError(f"X spans {spread:.3g} along one feature: its squared distances overflow "
                         "float64, so no Gaussian density can be evaluated; rescale X "
                         "(e.g. with sklearn.preprocessing.StandardScaler)")

class GaussianMixtureLinearClassifier(GaussianComponentsMixin, EMMixin, ClassifierMixin, BaseEstimator):
    r"""Gaussian mixture linear classifier: logistic experts gated by Gaussian clusters.

    Fitted by EM on ``(X, y)``. A new point is classified without knowing its
    cluster: :math:`P(y = 1 \mid x) = \sum_k P(z = k \mid x) \operatorname{sigmoid}(b_k + w_k \cdot x)`, where
    :math:`P(z = k \mid x)` uses ``x`` alone (eq. :math:numref:`gmlc-predict`).

    Parameters
    ----------
    n_components : int, default=2
        Number of latent clusters ``K``.
    solver : {"irls", "gd", "sgd", "cmaes"}, default="irls"
        How the logistic part of each M-step is solved; see
        :func:`fit_weighted_logistic`.
    C : float, default=100.0
        Inverse strength of the L2 penalty :math:`\|w_k\|^2 / (2C)` on each
        component's weights. Without a penalty a component whose points are
        linearly separable has no finite maximum; ``C=100`` is weak enough not
        to bias well-posed fits noticeably. With a finite ``C`` EM maximises
        the penalised log-likelihood, and that is what the history records.
        ``C=np.inf`` removes the penalty.
    covariance_type : {"spherical", "diag"}, default="spherical"
        :math:`\sigma_k^2 I` (the report's model) or a diagonal covariance.
    tol : float, default=1e-6
        Relative change of the (penalised) log-likelihood that stops EM.
    max_iter : int, default=200
        EM iterations at most.
    n_init : int, default=1
        EM runs from different starts; the best is kept.
    init_params : {"kmeans", "random", "random_from_data"}, default="kmeans"
        Start of the Gaussian part (as in
        :class:`latent_notes.mixture.GaussianMixture`); the experts start flat
        (:math:`b_k = 0`, :math:`w_k = 0`), the same for every solver.
    solver_max_iter : int, optional
        Iterations of the solver within one M-step (per-solver default).
    weights_init, means_init, variances_init : array-like, optional
        Starting values of the Gaussian part.
    var_floor : float, default=1e-6
        Lower bound on every variance. Like ``C``, it is in the units of ``X``:
        on features of scale 1e-10 every variance hits the floor and the
        penalty flattens the experts (training accuracy 0.51 instead of 0.84
        on ``make_gmlc(100, random_state=0)`` with 3 components), so
        standardise ``X`` first.
    random_state : None, int or numpy.random.Generator

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two labels; ``classes_[1]`` is the "positive" one (:math:`y = 1`).
    weights_ : ndarray of shape (K,)
    means_ : ndarray of shape (K, d)
    variances_ : ndarray of shape (K,) or (K, d)
    coef_ : ndarray of shape (K, d)
        :math:`w_k` of each expert.
    intercept_ : ndarray of shape (K,)
        :math:`b_k` of each expert (errata 7: the report's :math:`W_{e,k}^\top e_k`).
    log_likelihood_history_ : ndarray
        Penalised observed-data log-likelihood
        :math:`\log p(X, y \mid \theta) - \sum_k \|w_k\|^2 / (2C)` per EM iteration,
        starting at the initial parameters; non-decreasing.
    converged_ : bool
    n_iter_ : int
    """

    def __init__(
        self,
        n_components=2,
        *,
        solver="irls",
        C=100.0,
        covariance_type="spherical",
        tol=1e-6,
        max_iter=200,
        n_init=1,
        init_params="kmeans",
        solver_max_iter=None,
        weights_init=None,
        means_init=None,
        variances_init=None,
        var_floor=1e-6,
        random_state=None,
    ):
        self.n_components = n_components
        self.solver = solver
        self.C = C
        self.covariance_type = covariance_type
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.solver_max_iter = solver_max_iter
        self.weights_init = weights_init
        self.means_init = means_init
        self.variances_init = variances_init
        self.var_floor = var_floor
        self.random_state = random_state

    # -------------------------------------------------------------- checks
    def _check_params(self, X):
        self._check_gaussian_params(X)
        check_choice(self.solver, "solver", SOLVERS)
        _check_C(self.C)
        _check_representable(X)
        if self.solver_max_iter is not None and (
                isinstance(self.solver_max_iter, bool)
                or not isinstance(self.solver_max_iter, (numbers.Integral, np.integer))
                or self.solver_max_iter < 1):
            raise ValueError(f"solver_max_iter must be a positive int; got {self.solver_max_iter!r}")

    # ----------------------------------------------------- the model pieces
    def _expert_log_lik(self, X, y01):
        """``y log s_k(x) + (1 - y) log(1 - s_k(x))`` for every sample and expert."""
        eta = X @ self.coef_.T + self.intercept_
        return y01[:, None] * _log_sigmoid(eta) + (1.0 - y01[:, None]) * _log_sigmoid(-eta)

    def _penalty(self):
        if np.isinf(self.C):
            return 0.0
        return float(np.sum(self.coef_ ** 2) / (2.0 * self.C))

    def _log_joint(self, X, y01):
        # log p(x, y, z=k) = log pi_k + log N(x | mu_k, .) + log p(y | x, z=k)  (eq. gmlc-joint).
        # The penalty is a constant over k: spread evenly so that the driver's
        # log-sum-exp returns the penalised log-likelihood.
        return (self._gaussian_log_joint(X) + self._expert_log_lik(X, y01)
                - self._penalty() / X.shape[0])

    def _logistic_m_step(self, resp, X, y01, rng):
        for k in range(self.n_components):
            theta0 = np.concatenate([[self.intercept_[k]], self.coef_[k]])
            theta = _fit_weighted_logistic(
                X, y01, resp[:, k], self.solver, float(self.C), theta0,
                _DEFAULT_MAX_ITER[self.solver] if self.solver_max_iter is None
                else int(self.solver_max_iter), 1e-10, rng)
            self.intercept_[k], self.coef_[k] = theta[0], theta[1:]

    def _m_step(self, resp, X, y01):
        self._gaussian_m_step(resp, X)  # eqs. gmlc-m-weights .. gmlc-m-var
        self._logistic_m_step(resp, X, y01, self._rng)

    def _initialize(self, data, rng):
        X, y01 = data
        self._rng = rng
        self._gaussian_initialize(X, rng)
        d = X.shape[1]
        # Experts start flat (b_k = 0, w_k = 0: every expert says 1/2), so that
        # every solver starts from the same point; the first M-step moves them.
        self.coef_ = np.zeros((self.n_components, d))
        self.intercept_ = np.zeros(self.n_components)

    def _get_state(self):
        return self._gaussian_state() + (self.coef_.copy(), self.intercept_.copy())

    def _set_state(self, state):
        self._set_gaussian_state(state[:3])
        self.coef_, self.intercept_ = state[3].copy(), state[4].copy()

    # ------------------------------------------------------------ public API
    @classmethod
    def from_params(cls, params, classes=(0, 1)):
        """A classifier with given parameters, as if fitted (e.g. the true model).

        Parameters
        ----------
        params : latent_notes.datasets.GMLCParams or tuple
            ``(weights, means, variances, coef, intercept)`` with spherical
            variances.
        classes : sequence of two labels
            ``classes_``; the second is the label the experts predict.

        Returns
        -------
        GaussianMixtureLinearClassifier
        """
        try:
            weights, means, variances, coef, intercept = params
        except (TypeError, ValueError):
            raise TypeError("params must be a GMLCParams or a tuple (weights, means, variances, "
                            f"coef, intercept); got {type(params).__name__}") from None
        means = as_float_array(means, "means", ndim=2).copy()
        K, d = means.shape
        weights = check_probability_vector(weights, "weights", size=K).copy()
        variances = as_float_array(variances, "variances", shape=(K,)).copy()
        if np.any(variances <= 0):
            raise ValueError(f"variances must be positive; got {float(variances.min())!r}")
        coef = as_float_array(coef, "coef", shape=(K, d)).copy()
        intercept = as_float_array(intercept, "intercept", shape=(K,)).copy()
        classes = np.asarray(classes)
        if classes.shape != (2,) or classes[0] == classes[1]:
            raise ValueError(f"classes must hold two distinct labels; got {classes.tolist()!r}")
        model = cls(n_components=K)
        model.weights_, model.means_, model.variances_ = weights, means, variances
        model.coef_, model.intercept_ = coef, intercept
        model.classes_ = np.asarray(classes)
        model.n_features_in_ = d
        return model

    def fit(self, X, y):
        """Fit by EM.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Exactly two distinct labels (numbers, strings or booleans).

        Returns
        -------
        self
        """
        X = check_array(X)
        classes, y01 = check_binary_target(y, X.shape[0])
        self._check_params(X)
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        try:
            self._fit_em(X, y01)
        finally:
            self.__dict__.pop("_rng", None)
        return self

    def _labels_to_01(self, y, n_samples):
        y = np.asarray(y)
        if y.shape != (n_samples,):
            raise ValueError(f"y must have shape ({n_samples},); got {y.shape}")
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise ValueError(f"y contains labels not seen in fit: {np.unique(y[unknown])[:5].tolist()}")
        return (y == self.classes_[1]).astype(float)

    def _check_X(self, X):
        check_is_fitted(self, "coef_")
        return check_array(X, n_features=self.means_.shape[1], estimator=self)

    def _log_gates(self, X):
        """``log P(z = k | x)``, finite for every finite ``x`` (see :func:`_log_gates`)."""
        return _log_gates(X, self.weights_, self.means_, self.variances_)

    def gate_proba(self, X):
        r""":math:`P(z = k \mid x)` from ``x`` alone: the gates, shape ``(n_samples, K)``."""
        X = self._check_X(X)
        return np.exp(self._log_gates(X))

    def predict_cluster(self, X):
        """The most probable cluster of each sample given ``x`` alone."""
        X = self._check_X(X)
        return np.argmax(self._log_gates(X), axis=1)

    def responsibilities(self, X, y):
        r""":math:`\tau_{ik} = P(z = k \mid x_i, y_i)`, the E-step (eq. :math:numref:`gmlc-e-step`)."""
        X = self._check_X(X)
        y01 = self._labels_to_01(y, X.shape[0])
        # tau_k is proportional to P(z = k | x) p(y | x, z = k): the far-point-safe gates times
        # the experts' likelihoods (the same E-step as fit's, whose joint overflows far away).
        eta = _linear(X, self.coef_, self.intercept_)
        expert = np.where(y01[:, None] == 1, _log_sigmoid(eta), _log_sigmoid(-eta))
        log_joint = self._log_gates(X) + expert
        total = logsumexp(log_joint, axis=1)
        if not np.all(np.isfinite(total)):
            raise ValueError("for some samples every cluster gives the observed label probability 0 "
                             "in float64 (points too far away); the responsibilities are undefined")
        return np.exp(log_joint - total[:, None])

    def expert_proba(self, X):
        r""":math:`\operatorname{sigmoid}(b_k + w_k \cdot x)` of every expert, shape ``(n_samples, K)``."""
        X = self._check_X(X)
        return _sigmoid(_linear(X, self.coef_, self.intercept_))

    def predict_proba(self, X):
        r"""Class probabilities ``[P(y = classes_[0] | x), P(y = classes_[1] | x)]``.

        :math:`P(y = 1 \mid x) = \sum_k P(z = k \mid x) \operatorname{sigmoid}(b_k + w_k \cdot x)`.
        """
        X = self._check_X(X)
        log_gate = self._log_gates(X)
        eta = _linear(X, self.coef_, self.intercept_)
        # log P(y=1|x) = logsumexp_k (log gate_k + log sigmoid(eta_k)), likewise for y=0.
        log_p1 = logsumexp(log_gate + _log_sigmoid(eta), axis=1)
        log_p0 = logsumexp(log_gate + _log_sigmoid(-eta), axis=1)
        return np.column_stack([np.exp(log_p0), np.exp(log_p1)])

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The more probable class of each sample."""
        proba = self.predict_proba(X)
        return self.classes_[(proba[:, 1] > proba[:, 0]).astype(int)]

    def log_likelihood(self, X, y):
        r"""Penalised :math:`\log p(X, y \mid \theta)`, the quantity EM does not decrease."""
        X = self._check_X(X)
        y01 = self._labels_to_01(y, X.shape[0])
        with np.errstate(over="ignore", invalid="ignore"):
            value = float(np.sum(logsumexp(self._log_joint(X, y01), axis=1)))
        if not np.isfinite(value):
            raise ValueError("the log-likelihood of (X, y) overflows float64: X holds points too "
                             f"far from every cluster (largest magnitude {np.max(np.abs(X)):.3g})")
        return value

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags



class ClusterThenClassify(ClassifierMixin, BaseEstimator):
    r"""Two-stage baseline: cluster ``X`` with a Gaussian mixture, then one
    logistic regression per cluster.

    Unlike :class:`GaussianMixtureLinearClassifier`, the clusters are chosen
    from ``X`` alone and never revised in the light of ``y``. Prediction mixes
    the per-cluster regressions with the mixture's :math:`P(z = k \mid x)`.

    Parameters
    ----------
    n_components : int, default=2
    C : float, default=100.0
        Inverse L2 strength of each logistic regression (as in
        :class:`GaussianMixtureLinearClassifier`).
    n_init : int, default=1
    random_state : None, int or numpy.random.Generator
    """

    def __init__(self, n_components=2, *, C=100.0, n_init=1, random_state=None):
        self.n_components = n_components
        self.C = C
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, X, y):
        """Fit the mixture on ``X``, then a weighted logistic regression per cluster."""
        from .mixture import GaussianMixture

        X = check_array(X)
        classes, y01 = check_binary_target(y, X.shape[0])
        check_int(self.n_components, "n_components", 1)
        check_int(self.n_init, "n_init", 1)
        C = _check_C(self.C)
        _check_representable(X)
        if X.shape[0] < self.n_components:
            raise ValueError(f"n_components={self.n_components} must be at most the number of "
                             f"samples, {X.shape[0]}")
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        self.mixture_ = GaussianMixture(self.n_components, n_init=self.n_init,
                                        random_state=self.random_state).fit(X)
        labels = self.mixture_.predict(X)
        thetas = []
        for k in range(self.n_components):
            hard = (labels == k).astype(float)  # the points assigned to cluster k
            thetas.append(_fit_weighted_logistic(X, y01, hard, "irls", C, np.zeros(X.shape[1] + 1),
                                                 _DEFAULT_MAX_ITER["irls"], 1e-10, None))
        thetas = np.array(thetas)
        self.intercept_, self.coef_ = thetas[:, 0], thetas[:, 1:]
        return self

    def predict_proba(self, X):
        r""":math:`\sum_k P(z = k \mid x) \operatorname{sigmoid}(b_k + w_k \cdot x)` for both classes."""
        check_is_fitted(self, "coef_")
        X = check_array(X, n_features=self.n_features_in_, estimator=self)
        mix = self.mixture_
        log_gate = _log_gates(X, mix.weights_, mix.means_, mix.variances_)
        eta = _linear(X, self.coef_, self.intercept_)
        log_p1 = logsumexp(log_gate + _log_sigmoid(eta), axis=1)
        log_p0 = logsumexp(log_gate + _log_sigmoid(-eta), axis=1)
        return np.column_stack([np.exp(log_p0), np.exp(log_p1)])

    def predict(self, X):
        """The more probable class of each sample."""
        proba = self.predict_proba(X)
        return self.classes_[(proba[:, 1] > proba[:, 0]).astype(int)]

    def predict_cluster(self, X):
        """The mixture's most probable cluster of each sample."""
        check_is_fitted(self, "coef_")
        X = check_array(X, n_features=self.n_features_in_, estimator=self)
        mix = self.mixture_
        return np.argmax(_log_gates(X, mix.weights_, mix.means_, mix.variances_), axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags
