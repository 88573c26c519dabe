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
    safeguarded Newton steps on :math:`\log \alpha_k`, each of which increases ``Q``
    (a generalised EM: the likelihood still never decreases).

Both follow the scikit-learn API of :class:`latent_notes.mixture.GaussianMixture`,
accept pandas DataFrames (column names are kept in ``feature_names_in_``, and
``predict_proba``, ``predict`` and ``score_samples`` return pandas objects indexed
by the samples' names when given a DataFrame) and, for the Dirichlet-multinomial
mixture, ``scipy.sparse`` count tables, which are never made dense.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import digamma, gammaln
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_array as _sklearn_check_array
from sklearn.utils.validation import _check_feature_names

from ._validation import check_int, check_is_fitted
from .em import MixtureMixin, check_random_state, logsumexp
from .mixture import kmeans

__all__ = ["CategoricalMixture", "DirichletMultinomialMixture", "dirichlet_multinomial_logpmf"]

#: Counts above this are not all representable as float64 integers (2**53): refused.
MAX_COUNT = 2.0 ** 53
# Above this count, log Gamma differences lose digits to cancellation; the
# difference is computed from Stirling's series instead (_lgamma_difference).
_LARGE = 2.0 ** 16
# Responsibilities below this are left out of the M-step (see _fit_alphas).
_R_MIN = 1e-12
# Entries per block of the passes over (entry, component) pairs (see _Counts).
_BLOCK = 2 ** 16
# Upper bound on every alpha: where the likelihood keeps rising with the precision (no
# overdispersion), alpha would grow without end; at 1e12 the Dirichlet-multinomial is a
# multinomial to within sum_j x_j^2 / (2 alpha_j) nats.
_ALPHA_MAX = 1e12


# ---------------------------------------------------------------- validation
def _reject_strings(X, name):
    """Strings are not numbers: ``[["1", "2"]]`` is a TypeError, not counts 1 and 2."""
    if isinstance(X, pd.DataFrame):
        bad = [str(c) for c, t in X.dtypes.items() if not pd.api.types.is_numeric_dtype(t)]
        if bad:
            raise TypeError(f"{name} must hold numbers; the columns {bad[:5]} have a "
                            "non-numeric dtype (strings?): convert them with pd.to_numeric")
        return
    if sp.issparse(X) or isinstance(X, np.ndarray) and X.dtype.kind in "biuf":
        return
    try:
        arr = np.asarray(X)
    except ValueError:  # ragged: scikit-learn's check explains
        return
    if arr.dtype.kind in "USO" and any(isinstance(v, (str, bytes)) for v in arr.ravel()):
        raise TypeError(f"{name} must hold numbers, not strings; got {arr.dtype} values "
                        f"such as {next(v for v in arr.ravel() if isinstance(v, (str, bytes)))!r}")


def _check_counts(X, name="X", *, n_features=None, estimator=None, sparse=True, kind="counts"):
    """``X`` as a float64 array (or CSR matrix) of non-negative integers up to 2**53.

    Raises TypeError for strings (or sparse input where ``sparse`` is false) and
    ValueError for anything else that is not a table of counts.
    """
    _reject_strings(X, name)
    if getattr(X, "ndim", None) == 1 or isinstance(X, (list, tuple)) and np.ndim(X) == 1:
        raise ValueError(f"Expected 2D array, got 1D array instead: {name} has shape "
                         f"({len(X)},). Reshape your data with {name}.reshape(1, -1) if it is a "
                         f"single sample or {name}.reshape(-1, 1) if it has a single feature")
    if sp.issparse(X) and not sparse:
        raise TypeError(f"{name} is a sparse matrix; this estimator needs a dense array "
                        "(call X.toarray())")
    arr = _sklearn_check_array(X, accept_sparse="csr" if sparse else False, dtype=np.float64,
                               input_name=name)
    if n_features is not None and arr.shape[1] != n_features:
        who = type(estimator).__name__ if estimator is not None else "the model"
        raise ValueError(f"{name} has {arr.shape[1]} features, but {who} is expecting "
                         f"{n_features} features as input (the number it was fitted with)")
    values = arr.data if sp.issparse(arr) else arr
    if values.size:
        low, high = values.min(), values.max()
        if low < 0 or np.any(values != np.floor(values)):
            if low < 0:
                raise ValueError(f"Negative values in data passed to {name}: it must hold "
                                 f"non-negative integers ({kind}); it holds {low:g}")
            example = values[values != np.floor(values)][0]
            raise ValueError(f"{name} must hold non-negative integers ({kind}); it holds {example:g}")
        if high > MAX_COUNT:
            raise ValueError(f"{name} holds the count {high:.3g}, above 2**53 = {MAX_COUNT:.3g}: "
                             "such counts are not exact in float64 (rescale or rarefy the table)")
    if sp.issparse(arr):
        arr.sum_duplicates()
        arr.eliminate_zeros()
    return arr


def _check_nonnegative_float(value, name, positive=False):
    kind = "positive" if positive else "non-negative"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a {kind} finite float; got {value!r}")
    if not np.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a {kind} finite float; got {value!r}")
    return float(value)




def _log_weights(weights):
    # a component EM has emptied has weight 0 and log-weight -inf: it is never chosen
    with np.errstate(divide="ignore"):
        return np.log(weights)


# ------------------------------------------------- Dirichlet-multinomial terms
def _trigamma(x):
    r""":math:`\psi'(x)` for ``x > 0``, to about 1e-12 relative (5 times faster than scipy's zeta).

    Six steps of :math:`\psi'(x) = \psi'(x + 1) + 1/x^2` where ``x < 6``, then the
    asymptotic series :math:`1/x + 1/(2x^2) + \sum_k B_{2k} / x^{2k+1}`.
    """
    x = np.array(x, dtype=float)
    out = np.zeros_like(x)
    small = x < 6.0
    if np.any(small):
        y = x[small]
        acc = np.zeros_like(y)
        for m in range(6):
            acc += 1.0 / (y + m) ** 2
        out[small] = acc
        x[small] = y + 6.0
    inv = 1.0 / x
    inv2 = inv * inv
    return out + inv + 0.5 * inv2 + inv * inv2 * (
        1 / 6 + inv2 * (-1 / 30 + inv2 * (1 / 42 + inv2 * (-1 / 30 + inv2 * 5 / 66))))


def _lgamma_difference(x, a, b):
    r""":math:`\log\Gamma(x + a) - \log\Gamma(x + b)` for large ``x`` (above :math:`2^{16}`), ``a, b >= 0``.

    Stirling's series for both, with the leading terms combined so that nothing cancels:
    :math:`(x + b - \tfrac12) \log(1 + \tfrac{a - b}{x + b}) + (a - b)(\log(x + a) - 1)`
    plus the difference of the :math:`1/(12y) - 1/(360y^3) + 1/(1260y^5)` corrections.
    """
    ya, yb = x + a, x + b

    def series(y):
        inv2 = 1.0 / (y * y)
        return (1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 / 1260.0)) / y

    return (yb - 0.5) * np.log1p((a - b) / yb) + (a - b) * (np.log(ya) - 1.0) + series(ya) - series(yb)


def _entry_term(x, a, lg_a, lg_x1):
    r""":math:`\log\Gamma(x + a) - \log\Gamma(a) - \log\Gamma(x + 1)` for counts ``x >= 1``.

    ``lg_a`` and ``lg_x1`` are :math:`\log\Gamma(a)` and :math:`\log\Gamma(x + 1)`,
    precomputed. Where ``x`` or ``a`` is above :math:`2^{16}` the difference of the two
    large Gamma functions is computed without cancellation (:func:`_lgamma_difference`).
    """
    x, a, lg_a, lg_x1 = np.broadcast_arrays(x, a, lg_a, lg_x1)
    out = gammaln(x + a) - lg_a - lg_x1
    large = x > _LARGE
    if np.any(large):
        out[large] = _lgamma_difference(x[large], a[large], 1.0) - lg_a[large]
    large = (a > _LARGE) & ~large
    if np.any(large):
        out[large] = _lgamma_difference(a[large], x[large], 0.0) - lg_x1[large]
    return out


def _sample_term(n, A):
    r""":math:`\log\Gamma(n + 1) + \log\Gamma(A) - \log\Gamma(n + A)`, accurately for large ``n`` or ``A``."""
    n, A = np.broadcast_arrays(np.asarray(n, dtype=float), A)
    out = gammaln(n + 1.0) + gammaln(A) - gammaln(n + A)
    large = n > _LARGE
    if np.any(large):
        out[large] = gammaln(A[large]) - _lgamma_difference(n[large], A[large], 1.0)
    large = (A > _LARGE) & ~large
    if np.any(large):
        out[large] = gammaln(n[large] + 1.0) - _lgamma_difference(A[large], n[large], 0.0)
    return out


class _Counts:
    """A count table as its non-zero entries (COO, row-major) and row totals; never dense.

    The entries are cut into blocks of about ``_BLOCK`` entries at row boundaries: every
    pass over (entry, component) pairs works one block at a time, so the memory it needs
    beyond the table itself is bounded by ``_BLOCK * K`` numbers, whatever ``n``.
    """

    __slots__ = ("rows", "cols", "vals", "lg_vals", "totals", "shape", "blocks")

    def __init__(self, X):
        if sp.issparse(X):
            coo = X.tocoo()
            order = np.lexsort((coo.col, coo.row))
            self.rows, self.cols, self.vals = coo.row[order], coo.col[order], coo.data[order]
        else:
            self.rows, self.cols = np.nonzero(X)
            self.vals = X[self.rows, self.cols]
        self.rows = self.rows.astype(np.intp)
        self.cols = self.cols.astype(np.intp)
        self.lg_vals = gammaln(self.vals + 1.0)
        self.shape = X.shape
        self.totals = np.bincount(self.rows, self.vals, minlength=X.shape[0])
        nnz = self.rows.size
        row_ptr = np.searchsorted(self.rows, np.arange(X.shape[0] + 1))
        cuts = row_ptr[np.searchsorted(row_ptr, np.arange(_BLOCK, nnz, _BLOCK), side="right") - 1]
        cuts = np.unique(np.concatenate([[0], cuts, [nnz]]))
        self.blocks = []
        for e0, e1 in zip(cuts[:-1], cuts[1:]):
            rows, first = np.unique(self.rows[e0:e1], return_index=True)
            self.blocks.append((int(e0), int(e1), rows, first))

    def dm_logliks(self, alphas):
        """``log DM(x_i | alphas[k])`` for every row and every ``k``, shape ``(n, K)``."""
        out = _sample_term(self.totals[:, None], alphas.sum(axis=1)[None, :])
        a_t, lg_t = alphas.T, gammaln(alphas).T  # (p, K)
        for e0, e1, rows, first in self.blocks:
            c = self.cols[e0:e1]
            terms = _entry_term(self.vals[e0:e1, None], a_t[c], lg_t[c], self.lg_vals[e0:e1, None])
            out[rows] += np.add.reduceat(terms, first, axis=0)
        return out

    def dm_loglik(self, alpha):
        """``log DM(x_i | alpha)`` for every row (eq. mb-dm)."""
        return self.dm_logliks(alpha[None, :])[:, 0]


def _fit_alphas(counts, resp, alphas, floor, max_steps, tol=1e-10, prior=None):
    r"""Raise :math:`f_k(\alpha_k) = \sum_i r_{ik} \log \mathrm{DM}(x_i \mid \alpha_k)` for every ``k``.

    Safeguarded Newton steps on :math:`\lambda = \log \alpha_k`, all components at once: the
    Hessian is a diagonal plus a rank-one matrix, so a step costs one pass over the
    non-zero counts (the Sherman-Morrison formula). A step is kept only if it raises
    :math:`f_k` (halving it up to 8 times); where the Hessian is not negative definite, or
    no halving helps, Minka's fixed-point update, which never lowers :math:`f_k`
    (eq. :math:numref:`mb-fixed-point`), is taken instead. Taxa without any count where
    :math:`r_{ik} > 0` have :math:`\partial f_k / \partial\alpha_{kj} < 0` everywhere and go
    straight to ``floor``. Samples with :math:`r_{ik}` below ``1e-12`` change :math:`f_k` by
    less than 1e-12 of their log-likelihood and are left out, which makes the M-step
    about ``K`` times cheaper. ``prior=(eta, nu)`` adds :math:`\sum_j (\eta \log\alpha_{kj}
    - \nu \alpha_{kj})` (a Gamma(eta, nu) prior on :math:`\alpha_{kj}`, in :math:`\log\alpha`),
    as ``dmn`` does. Stops after ``max_steps`` steps or when a step raises :math:`f_k` by
    less than ``tol`` times its size. Returns the new ``alphas`` and :math:`f` (one per ``k``).
    """
    eta, nu = prior if prior is not None else (0.0, 0.0)
    n, p = counts.shape
    K = resp.shape[1]
    keep = resp > _R_MIN
    s_i, s_k = np.nonzero(keep)
    r_s, totals = resp[s_i, s_k], counts.totals[s_i]

    def pairs(e0, e1):
        """The (entry, component) pairs of entries e0:e1 that count: k, flat (k, j), x, log x!, r."""
        e_idx, e_k = np.nonzero(keep[counts.rows[e0:e1]])
        e_idx += e0
        return (e_k, e_k * p + counts.cols[e_idx], counts.vals[e_idx], counts.lg_vals[e_idx],
                resp[counts.rows[e_idx], e_k])

    cached = [pairs(e0, e1) for e0, e1, _, _ in counts.blocks] if len(counts.blocks) == 1 else None

    def each_block():
        if cached is not None:
            yield from cached
        else:
            for e0, e1, _, _ in counts.blocks:
                yield pairs(e0, e1)

    def by_entry(value):
        """sum over pairs of value(x, alpha_e, pair data) into a (K, p) array."""
        out = np.zeros(K * p)
        for _, g, vals, lg_vals, r_e in each_block():
            out += np.bincount(g, r_e * value(vals, g, lg_vals), minlength=K * p)
        return out.reshape(K, p)

    P = by_entry(lambda vals, g, lg: np.ones_like(vals)) > 0
    alphas = alphas.copy()
    if prior is None:
        alphas[~P] = floor
    else:
        P[:] = True

    def objective(a):
        flat = a.ravel()
        lg = gammaln(flat)
        value = by_entry(lambda vals, g, lg_vals: _entry_term(vals, flat[g], lg[g], lg_vals)).sum(axis=1)
        return (value + np.bincount(s_k, r_s * _sample_term(totals, a.sum(axis=1)[s_k]), minlength=K)
                + np.sum(eta * np.log(a) - nu * a, axis=1))

    f = objective(alphas)
    todo = P.any(axis=1) & (resp.sum(axis=0) > 0)
    for _ in range(max_steps):
        if not todo.any():
            break
        A = alphas.sum(axis=1)
        flat = alphas.ravel()
        dg, tg = digamma(flat), _trigamma(flat)
        b = by_entry(lambda vals, g, lg: digamma(vals + flat[g]) - dg[g])
        q = by_entry(lambda vals, g, lg: _trigamma(vals + flat[g]) - tg[g])
        c = np.bincount(s_k, r_s * (digamma(A)[s_k] - digamma(totals + A[s_k])), minlength=K)  # < 0
        z = np.bincount(s_k, r_s * (_trigamma(A)[s_k] - _trigamma(totals + A[s_k])), minlength=K)
        grad = np.where(P, alphas * (b + c[:, None] - nu) + eta, 0.0)  # df / dlambda
        u = np.where(P, alphas, 0.0)
        D = np.where(P, grad - eta + u * u * q, -1.0)  # Hessian = diag(D) + z u u^T
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            s = 1.0 + z * np.sum(u * u / D, axis=1)
            ok = todo & np.all(D < 0, axis=1) & (s > 0)
            hg = grad / D - (z * np.sum(u * grad / D, axis=1) / s)[:, None] * (u / D)
            step = np.where(ok[:, None], np.clip(-np.nan_to_num(hg), -20.0, 20.0), 0.0)
        new, f_new = alphas.copy(), f.copy()
        moved = np.zeros(K, dtype=bool)
        pending = ok.copy()
        for _ in range(8):
            if not pending.any():
                break
            trial = np.where(P & pending[:, None],
                             np.clip(alphas * np.exp(step), floor, _ALPHA_MAX), alphas)
            f_trial = objective(trial)
            good = pending & (f_trial >= f)
            new[good], f_new[good] = trial[good], f_trial[good]
            moved |= good
            pending &= ~good
            step = step / 2
        fallback = todo & ~moved
        if fallback.any():  # Minka's fixed point (an MM step: it never lowers f)
            with np.errstate(divide="ignore", invalid="ignore"):
                fixed = np.clip((alphas * b + eta) / (nu - c)[:, None], floor, _ALPHA_MAX)
            trial = np.where(P & fallback[:, None], fixed, alphas)
            f_trial = objective(trial)
            good = fallback & (f_trial >= f)
            new[good], f_new[good] = trial[good], f_trial[good]
            todo &= ~(fallback & ~good)  # no step raises f: at the maximum to rounding
        gain = f_new - f
        alphas, f = new, f_new
        todo &= gain > tol * np.abs(f)
    return alphas, f


class _DiscreteMixture(MixtureMixin, DensityMixin, BaseEstimator):
    """What both discrete mixtures share: input checks, names, restarts state, tags."""

    _params = ()  # names of the learned parameter arrays, besides weights_
    _fitted_attribute = "weights_"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Non-negative integers: scikit-learn's checks then feed rounded, shifted data.
        tags.input_tags.positive_only = True
        tags.input_tags.categorical = True
        tags.input_tags.sparse = True
        return tags

    def _get_state(self):
        return {name: getattr(self, name).copy() for name in ("weights_",) + self._params}

    def _set_state(self, state):
        for name, value in state.items():
            setattr(self, name, value)

    def _check_n_samples(self, n_samples):
        check_int(n_samples, "n_samples", 1)

    def _check_fit_input(self, X):
        self._check_em_params()  # n_components & co. before they are compared with X
        X = self._validate(X, reset=True)
        if X.shape[0] < self.n_components:
            raise ValueError(
                f"n_samples={X.shape[0]} should be >= n_components={self.n_components}")
        return X

    def _validate(self, X, reset):
        _check_feature_names(self, X, reset=reset)
        if reset:
            X = self._check_input(X)
            self.n_features_in_ = X.shape[1]
            return X
        check_is_fitted(self, self._fitted_attribute)
        return self._check_input(X, n_features=self.n_features_in_, estimator=self)

    # pandas in, pandas out: rows keep the samples' names
    @staticmethod
    def _wrap(X, values, name=None):
        if not isinstance(X, pd.DataFrame):
            return values
        if values.ndim == 2:
            return pd.DataFrame(values, index=X.index,
                                columns=pd.RangeIndex(values.shape[1], name="component"))
        return pd.Series(values, index=X.index, name=name)

    def predict_proba(self, X):
        """Posterior probability of each component, shape ``(n_samples, K)``.

        A DataFrame (rows named as ``X``'s) when ``X`` is a DataFrame.
        """
        log_joint = self.log_joint(X)
        return self._wrap(X, np.exp(log_joint - logsumexp(log_joint, axis=1)[:, None]))

    def e_step(self, X):
        r"""Responsibilities :math:`\tau_{ik} = p(z_i = k \mid x_i, \theta)`, as ``predict_proba``."""
        return self.predict_proba(X)

    def predict(self, X):
        """Most probable component of each sample (a Series when ``X`` is a DataFrame)."""
        return self._wrap(X, np.argmax(self.log_joint(X), axis=1), "component")

    def score_samples(self, X):
        r""":math:`\log p(x_i \mid \theta)` for each sample (a Series when ``X`` is a DataFrame)."""
        return self._wrap(X, logsumexp(self.log_joint(X), axis=1), "log_likelihood")

    def score(self, X, y=None):
        """Mean log-likelihood per sample (scikit-learn's convention)."""
        return float(np.mean(np.asarray(self.score_samples(X))))

    def bic(self, X):
        r"""Bayesian information criterion :math:`-2 \log p(X) + p \log n`; lower is better."""
        log_px = np.asarray(self.score_samples(X))
        return float(-2 * log_px.sum() + self.n_parameters() * np.log(log_px.shape[0]))

    def aic(self, X):
        r"""Akaike information criterion :math:`-2 \log p(X) + 2p`; lower is better."""
        return float(-2 * np.asarray(self.score_samples(X)).sum() + 2 * self.n_parameters())


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
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        The columns' names, when ``fit`` was given a DataFrame.

    Notes
    -----
    ``X`` may be a scipy sparse matrix (zeros are level 0); it is made dense,
    since the one-hot coding this model works on is dense anyway.
    """

    _params = ("log_probs_",)
    _fitted_attribute = "log_probs_"

    def __init__(self, n_components=1, *, n_levels=None, alpha=1.0, tol=1e-6, max_iter=200,
                 n_init=1, random_state=None):
        self.n_components = n_components
        self.n_levels = n_levels
        self.alpha = alpha
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.random_state = random_state

    @staticmethod
    def _check_input(X, **kw):
        X = _check_counts(X, kind="levels", **kw)
        return X.toarray() if sp.issparse(X) else X

    def _initialize(self, data, rng):
        (X,) = data
        # k-means on the one-hot profiles gives hard responsibilities; one M-step
        # turns them into parameters.
        _, labels = kmeans(self._one_hot(X), self.n_components, random_state=rng)
        resp = np.full((X.shape[0], self.n_components), 1e-3 / self.n_components)
        resp[np.arange(X.shape[0]), labels] += 1.0 - 1e-3
        self._m_step(resp, X)

    def _one_hot(self, X):
        levels = X.astype(np.int64)
        out = np.zeros((X.shape[0], X.shape[1] * self.n_levels_))
        out[np.arange(X.shape[0])[:, None], np.arange(X.shape[1]) * self.n_levels_ + levels] = 1.0
        return out

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
            self.n_levels_ = check_int(self.n_levels, "n_levels", 2)
        if top > self.n_levels_:
            raise ValueError(f"X holds the value {top - 1}, but n_levels={self.n_levels_} "
                             f"allows 0..{self.n_levels_ - 1}")

    def fit(self, X, y=None):
        """Estimate the parameters by EM; ``X`` holds integer levels ``0..n_levels-1``."""
        X = self._check_fit_input(X)
        self._check_params(X)
        return self._fit_em(X)

    def log_joint(self, X):
        r""":math:`\log \pi_k + \sum_j \log \theta_{k, j, x_{ij}}`, shape ``(n_samples, K)``."""
        X = self._validate(X, reset=False)
        if X.max(initial=0) >= self.n_levels_:
            raise ValueError(f"X must hold levels 0..{self.n_levels_ - 1}; it holds {X.max():g}")
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

    with :math:`n = \sum_j x_j` and :math:`A = \sum_j \alpha_j`. Where counts are large
    (above :math:`2^{16}`), each difference of two Gamma functions of huge arguments is
    computed from Stirling's series without cancellation: for
    ``X = [[1e15, 1e15]]`` and ``alpha = [1, 1]`` the result is :math:`-\log(2 \cdot 10^{15} + 1)`
    to machine precision. A row of zeros has probability one (log 0.0).

    Parameters
    ----------
    X : array-like or scipy sparse matrix of shape (n_samples, n_features)
        Non-negative integer counts, at most :math:`2^{53}` (larger ones are not exact
        in float64 and raise ``ValueError``).
    alpha : array-like of shape (n_features,)
        Positive Dirichlet parameters.

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    X = _check_counts(X)
    _reject_strings(alpha, "alpha")
    alpha = np.asarray(alpha, dtype=float)
    if alpha.shape != (X.shape[1],) or not np.all(np.isfinite(alpha)) or np.any(alpha <= 0):
        raise ValueError(f"alpha must be {X.shape[1]} positive finite numbers (one per column "
                         f"of X); got shape {alpha.shape}")
    return _Counts(X).dm_loglik(alpha)


_INIT_CYCLE = ("soft-kmeans", "kmeans", "random")  # the kinds of start init="mixed" takes in turn
_DMN_WARMUP = 30  # EM iterations under dmn's prior after a soft k-means start


def _soft_kmeans(counts, K, rng, stiffness=50.0, tol=1e-6, max_iter=1000):
    """Soft k-means on the samples' proportions, as ``dmn`` starts (Holmes et al. 2012).

    Each sample starts in a class drawn at random; then, in turn, every class mean is the
    responsibility-weighted mean of the proportions, and the responsibilities are
    ``softmax(-stiffness * ||y_i - mu_k||)`` (Euclidean distance), until no mean moves by
    more than ``tol``. The proportions stay sparse when the counts are. Returns the
    ``(n, K)`` responsibilities.
    """
    n, d = counts.shape
    share = counts.vals / counts.totals[counts.rows]
    Y = sp.csr_matrix((share, (counts.rows, counts.cols)), shape=(n, d))
    yy = np.asarray(Y.multiply(Y).sum(axis=1)).ravel()
    resp = np.zeros((n, K))
    resp[np.arange(n), rng.integers(K, size=n)] = 1.0
    means = np.zeros((K, d))
    for _ in range(max_iter):
        new = np.asarray(Y.T @ resp).T / np.maximum(resp.sum(axis=0), 1e-300)[:, None]
        change = np.sqrt(((new - means) ** 2).sum(axis=1)).max()
        means = new
        dist = np.sqrt(np.maximum(yy[:, None] - 2.0 * np.asarray(Y @ means.T) + (means ** 2).sum(axis=1), 0.0))
        logit = -stiffness * dist
        resp = np.exp(logit - logit.max(axis=1, keepdims=True))
        resp /= resp.sum(axis=1, keepdims=True)
        if change < tol:
            break
    return resp


class DirichletMultinomialMixture(_DiscreteMixture):
    r"""Dirichlet-multinomial mixture ("community types"), fitted by generalised EM.

    :math:`p(x) = \sum_k \pi_k \, \mathrm{DM}(x \mid \alpha_k)` for a vector of counts ``x``.

    What the defaults do, and why (measured on the microbiota chapter's table, 921 samples x
    235 taxa, against Bioconductor's ``dmn``; ``benchmarks/README.md`` has the figures):

    * **Six starts of three kinds in turn** (``n_init=6``, ``init="mixed"``): ``dmn``'s own
      start (soft k-means on the proportions, then 30 EM iterations for the posterior mode
      under its Gamma(0.1, 0.1) prior on every alpha, before EM for the likelihood), k-means
      on the square-root proportions, and random responsibilities, the seed choosing which
      comes first. EM's local optima differ by up to 0.6 nats per sample at K >= 4, and
      which kind of start finds the best differs with K. Single ``dmn``-like starts ended
      at or above the best of three ``dmn`` seeds at K = 2, 3, 4, 7 and 8 and, in one of
      two, at K = 6, but 0.31 nats per sample below it at K = 5; eight starts of the
      other two kinds (the previous default) ended 0.054 nats per sample below ``dmn`` at
      K = 6 and 7 but reached higher optima than ``dmn`` at K = 3, 4, 5 and 8. With the
      three kinds, six starts met ``dmn`` at every K where eight of two kinds did not;
      eight of three kinds did too, for 1.3 to 1.7 times the CPU time.
    * **Newton steps on** :math:`\log \alpha_k` (``m_step_iter=2`` per M-step, the first
      M-step of a start up to 10): the Hessian is diagonal plus rank one, so a step costs
      a few passes over the non-zero counts, like a fixed-point update, and converges
      quadratically near the maximiser where Minka's fixed point (kept as the safeguard)
      converges linearly (slowly when the precision is far off; the planted-bug test
      with the Newton step broken fails because 200 fixed-point steps do not reach it).
    * **Tighter stopping** (``tol=1e-8``, relative: about 0.002 nats on that table) than
      the driver's usual 1e-6 (0.2 nats), which stopped slow runs early.
    * The M-step skips samples whose responsibility is below 1e-12 (they change ``Q`` by
      less than 1e-12 of their log-likelihood), which makes it about K times cheaper.

    Outcome there, K = 1..8, with ``random_state`` 0, 1, 2 and 3: a likelihood at least
    as high as the best of three ``dmn`` seeds at every K (equal at K = 1 and 2, higher by
    0.005 to 0.23 nats per sample at K = 3 to 8, never lower), for 29 to 36 CPU seconds in
    all against ``dmn``'s 435 per seed (ratios of 12 to 15 in five runs, in one session
    on a shared two-core machine).

    Parameters
    ----------
    n_components : int, default=1
    n_init : int, default=6
        EM runs from different starts; the one with the highest likelihood is kept.
    init : {"mixed", "soft-kmeans", "kmeans", "random"}, default="mixed"
        ``"soft-kmeans"``: soft k-means on the samples' proportions (Euclidean distance,
        stiffness 50, from a random hard assignment), followed by 30 EM iterations for
        the posterior mode under a Gamma(0.1, 0.1) prior on every alpha, as ``dmn`` fits;
        ``"kmeans"``: scikit-learn's k-means (k-means++ seeding, one run) on the samples'
        square-root proportions (Hellinger profiles, sparse when ``X`` is), hardened into
        responsibilities; ``"random"``: responsibilities drawn from a flat Dirichlet;
        ``"mixed"``: the three in turn, in that order, the seed choosing which comes first.
    m_step_iter : int, default=2
        Most Newton steps on :math:`\log \alpha_k` per M-step (fewer when the M-step has
        converged). Each kept step raises ``Q`` (a step that would lower it is halved,
        or replaced by Minka's fixed-point update, which cannot), so EM stays monotone.
    alpha_floor : float, default=1e-6
        Lower bound on every :math:`\alpha_{kj}`. A taxon absent from every sample of
        a component would otherwise drive its :math:`\alpha` to zero; the floored
        update is still the maximiser of the bound, so EM stays monotone.
    tol : float, default=1e-8
        EM stops when the log-likelihood rises by less than ``tol`` times its size.
    max_iter, random_state
        As in :class:`latent_notes.mixture.GaussianMixture`.

    Attributes
    ----------
    weights_ : ndarray of shape (K,)
    alphas_ : ndarray of shape (K, n_features)
        Dirichlet parameters; ``alphas_[k] / alphas_[k].sum()`` is the mean
        composition of class ``k`` and ``alphas_[k].sum()`` its precision
        (large: samples of the class are alike).
    log_likelihood_history_ : ndarray
        :math:`\sum_i \log p(x_i)` after every iteration of the kept run; non-decreasing.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        The taxa's names, when ``fit`` was given a DataFrame; :meth:`type_means` and
        :meth:`driving_taxa` use them.

    Notes
    -----
    ``X`` may be a DataFrame, an array or a scipy sparse matrix (CSR, CSC, COO...): only
    its non-zero counts are stored and visited, so a sparse table is never made dense.
    A sample without any count has probability one under every type
    (:math:`\log p = 0`), so it leaves the likelihood, and hence the fit, unchanged, and its
    responsibilities are the weights: ``fit``, ``predict``, ``predict_proba`` and
    ``score_samples`` all accept it and treat it the same way (drop empty samples first
    if a type is wanted for every sample; scikit-learn's estimator checks feed such rows).
    """

    _params = ("alphas_",)
    _fitted_attribute = "alphas_"

    def __init__(self, n_components=1, *, n_init=6, init="mixed",
                 m_step_iter=2, alpha_floor=1e-6, tol=1e-8,
                 max_iter=1000, random_state=None):
        self.n_components = n_components
        self.n_init = n_init
        self.init = init
        self.m_step_iter = m_step_iter
        self.alpha_floor = alpha_floor
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state

    @staticmethod
    def _check_input(X, **kw):
        return _check_counts(X, **kw)

    def _check_params(self):
        self.alpha_floor_ = _check_nonnegative_float(self.alpha_floor, "alpha_floor", positive=True)
        check_int(self.m_step_iter, "m_step_iter", 1)
        if self.init not in ("mixed",) + _INIT_CYCLE:
            raise ValueError(f"init must be 'mixed', 'soft-kmeans', 'kmeans' or 'random'; got {self.init!r}")

    def _initialize(self, data, rng):
        (counts,) = data
        n, K = counts.shape[0], self.n_components
        if self._n_starts is None:  # the first start of this fit: which kind comes first
            self._n_starts = int(rng.integers(len(_INIT_CYCLE)))
        init = self.init
        if init == "mixed":  # the three kinds in turn, the first chosen by the seed
            init = _INIT_CYCLE[self._n_starts % len(_INIT_CYCLE)]
        self._n_starts += 1
        if init == "random" or K == 1:
            resp = rng.dirichlet(np.ones(K), size=n)
        elif init == "soft-kmeans":
            resp = _soft_kmeans(counts, K, rng)
        else:
            from sklearn.cluster import KMeans

            scale = counts.vals / counts.totals[counts.rows]
            profiles = sp.csr_matrix((np.sqrt(scale), (counts.rows, counts.cols)), shape=counts.shape)
            labels = KMeans(K, n_init=1, random_state=int(rng.integers(2**31 - 1))).fit_predict(profiles)
            resp = np.full((n, K), 1e-3 / K)
            resp[np.arange(n), labels] += 1.0 - 1e-3
        # start each alpha at the class's mean composition times a precision of one per
        # taxon, then let the first M-step's Newton steps find its maximiser
        share = counts.vals / counts.totals[counts.rows]
        mean = np.stack([np.bincount(counts.cols, resp[counts.rows, k] * share, minlength=counts.shape[1])
                         for k in range(K)]) / resp.sum(axis=0)[:, None]
        self.alphas_ = np.maximum(mean * counts.shape[1], self.alpha_floor_)
        if init == "soft-kmeans" and K > 1:
            # then, as dmn does, EM for the posterior mode under a Gamma(0.1, 0.1) prior on
            # every alpha (a path to a different, often higher, optimum); EM for the
            # likelihood takes over from there
            for _ in range(_DMN_WARMUP):
                self.weights_ = resp.sum(axis=0) / n
                self.alphas_, _ = _fit_alphas(counts, resp, self.alphas_, self.alpha_floor_, 20,
                                              prior=(0.1, 0.1))
                resp, _ = self._e_step(data)
        self._m_step(resp, counts, iterations=10)

    def _log_joint(self, counts):
        return counts.dm_logliks(self.alphas_) + _log_weights(self.weights_)

    def _m_step(self, resp, counts, iterations=None):
        """``pi_k = N_k / n``; ``alpha_k`` by safeguarded Newton steps (see :func:`_fit_alphas`)."""
        self.weights_ = resp.sum(axis=0) / resp.shape[0]
        self.alphas_, _ = _fit_alphas(counts, resp, self.alphas_, self.alpha_floor_,
                                      iterations or self.m_step_iter)

    def fit(self, X, y=None):
        """Estimate the parameters by generalised EM; ``X`` holds counts (samples x taxa)."""
        X = self._check_fit_input(X)
        self._check_params()
        self._n_starts = None
        try:
            return self._fit_em(_Counts(X))
        finally:
            del self._n_starts

    def log_joint(self, X):
        r""":math:`\log \pi_k + \log \mathrm{DM}(x_i \mid \alpha_k)`, shape ``(n_samples, K)``."""
        return self._log_joint(_Counts(self._validate(X, reset=False)))

    def laplace(self, X, prior_shape=0.1, prior_rate=0.1):
        r"""Laplace approximation to :math:`-2 \log p(X)`, the evidence, as ``dmn`` defines it.

        Holmes, Harris & Quince (2012), as implemented in Bioconductor's
        DirichletMultinomial (``laplace()`` there reports half of this number: it is on
        the scale of ``-log p(X)``; this one is on the scale of :meth:`bic`, lower is better):

        1. a Gamma(``prior_shape``, ``prior_rate``) prior on every :math:`\alpha_{kj}`
           (0.1 and 0.1 in ``dmn``); the :math:`\alpha_k` are moved from the fitted
           maximum-likelihood values to the posterior mode given the responsibilities
           on ``X`` (safeguarded Newton steps on :math:`\log\alpha`, as in the M-step);
        2. :math:`-\log p(X \mid \hat\theta) - \log p(\hat\theta)
           + \tfrac12 \log\det H - \tfrac{P}{2} \log 2\pi`, with :math:`P = K d + K - 1`
           and :math:`\log\det H` the sum over components of the log-determinant of the
           responsibility-weighted Hessian of the negative log-posterior in
           :math:`\log\alpha_k`, plus :math:`2 \log n - \log N_k` for each weight but the
           first (``dmn``'s approximation of the weights' block).

        ``dmn``'s C code sums the digamma and trigamma terms of the Hessian's diagonal over
        all samples without weighting them by the responsibilities; here they are weighted,
        as the derivative of the weighted objective requires. With one component the two
        agree; with several they differ (``benchmarks/README.md`` shows by how much).
        """
        counts = _Counts(self._validate(X, reset=False))
        eta = _check_nonnegative_float(prior_shape, "prior_shape", positive=True)
        nu = _check_nonnegative_float(prior_rate, "prior_rate", positive=True)
        log_joint = self._log_joint(counts)
        resp = np.exp(log_joint - logsumexp(log_joint, axis=1)[:, None])
        n, d = counts.shape
        N = resp.sum(axis=0)
        alphas, _ = _fit_alphas(counts, resp, self.alphas_, self.alpha_floor_, 200, tol=1e-15,
                                prior=(eta, nu))
        weights = N / n
        lj = counts.dm_logliks(alphas) + _log_weights(weights)
        log_prior = float(np.sum(eta * np.log(alphas) - nu * alphas)) + alphas.size * (
            eta * np.log(nu) - gammaln(eta))
        nle = -(float(logsumexp(lj, axis=1).sum()) + log_prior)
        log_det = 0.0
        for k in range(self.n_components):
            r = resp[:, k]
            alpha = alphas[k]
            A = alpha.sum()
            a_e = alpha[counts.cols]
            r_e = r[counts.rows]
            b = np.bincount(counts.cols, r_e * (digamma(counts.vals + a_e) - digamma(alpha)[counts.cols]),
                            minlength=d)
            q = np.bincount(counts.cols, r_e * (_trigamma(counts.vals + a_e) - _trigamma(alpha)[counts.cols]),
                            minlength=d)
            c = float(r @ (digamma(A) - digamma(counts.totals + A)))
            z = float(r @ (_trigamma(A) - _trigamma(counts.totals + A)))
            D = alpha * (b + c - nu) + alpha ** 2 * q  # Hessian of log-posterior: diag(D) + z a a^T
            log_det += float(np.sum(np.log(np.abs(D))) + np.log(abs(1.0 + z * np.sum(alpha ** 2 / D))))
            if k > 0:
                log_det += 2.0 * np.log(n) - np.log(N[k])
        P = self.n_parameters()
        return 2.0 * (nle + 0.5 * log_det - 0.5 * P * np.log(2.0 * np.pi))

    def type_means(self):
        """Expected composition of each type, ``alphas_[k] / alphas_[k].sum()`` (R's ``fitted(fit, scale=TRUE)``).

        Returns
        -------
        pandas.DataFrame of shape (n_features, K)
            Rows named by taxon (``feature_names_in_`` when ``fit`` saw a DataFrame),
            columns by component; each column sums to one.
        """
        check_is_fitted(self, "alphas_")
        means = self.alphas_ / self.alphas_.sum(axis=1, keepdims=True)
        taxa = getattr(self, "feature_names_in_", None)
        return pd.DataFrame(means.T, index=pd.Index(taxa if taxa is not None else range(means.shape[1]),
                                                       name="taxon"),
                            columns=pd.RangeIndex(self.n_components, name="component"))

    def driving_taxa(self, n_top=10, reference=None):
        """The taxa whose expected proportion sets each type apart from a reference.

        For every type ``k``, the ``n_top`` taxa with the largest
        ``|type_means()[k] - reference|``, as the DirichletMultinomial vignette ranks them.

        Parameters
        ----------
        n_top : int, default=10
        reference : array-like of shape (n_features,), optional
            Proportions to compare with, e.g. ``type_means()[0]`` of a one-component fit
            (as the vignette does); by default the mixture's overall mean composition
            ``sum_k weights_[k] * type_means()[k]``.

        Returns
        -------
        pandas.DataFrame
            One row per (type, taxon): ``component``, ``taxon``, ``mean`` (in the type),
            ``reference``, ``difference`` and ``share`` (of the type's total absolute
            difference from the reference).
        """
        check_int(n_top, "n_top", 1)
        means = self.type_means()
        if reference is None:
            reference = means.to_numpy() @ self.weights_
        else:
            _reject_strings(reference, "reference")
            reference = np.asarray(reference, dtype=float)
            if reference.shape != (means.shape[0],) or not np.all(np.isfinite(reference)):
                raise ValueError(f"reference must be {means.shape[0]} finite proportions; "
                                 f"got shape {reference.shape}")
        rows = []
        for k in means.columns:
            diff = means[k].to_numpy() - reference
            total = np.abs(diff).sum()
            for j in np.argsort(-np.abs(diff), kind="stable")[:n_top]:
                rows.append({"component": k, "taxon": means.index[j], "mean": means[k].iloc[j],
                             "reference": reference[j], "difference": diff[j],
                             "share": abs(diff[j]) / total if total > 0 else 0.0})
        return pd.DataFrame(rows)

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
        totals = np.asarray(total_counts)
        if totals.ndim > 1 or totals.ndim == 1 and totals.shape != (n_samples,):
            raise ValueError(f"total_counts must be an int or {n_samples} ints; got shape {totals.shape}")
        totals = np.broadcast_to(totals, (n_samples,))
        if totals.dtype.kind not in "iuf" or np.any(totals < 1) or np.any(totals != np.round(totals)):
            raise ValueError("total_counts must be positive integers")
        rng = check_random_state(self.random_state if random_state is None else random_state)
        z = rng.choice(self.n_components, size=n_samples, p=self.weights_)
        X = np.array([rng.multinomial(int(t), rng.dirichlet(self.alphas_[k]))
                      for t, k in zip(totals, z)], dtype=float)
        return X, z
