"""Comparing fitted models with the truth and with each other."""

from __future__ import annotations

import numbers
import time
from typing import NamedTuple

import numpy as np
from scipy.optimize import brentq, linear_sum_assignment
from scipy.stats import norm
from sklearn.base import clone
from sklearn.metrics import accuracy_score, adjusted_rand_score, log_loss

from ._validation import as_float_array, check_int
from .em import check_random_state

__all__ = ["match_components", "gmlc_parameter_error", "benchmark_classifiers", "markdown_table",
           "grouped_cv_predict", "GroupedBootstrap", "grouped_bootstrap", "ari_ceiling",
           "detectable_auc"]


def match_components(true_means, estimated_means):
    """Undo label switching: the estimated component that plays each true one.

    A mixture's components can come out in any order. This pairs them with the
    true ones by minimising the total squared distance between means (the
    Hungarian algorithm).

    Parameters
    ----------
    true_means, estimated_means : ndarray of shape (K, d)

    Returns
    -------
    ndarray of shape (K,)
        ``perm`` such that ``estimated_means[perm[k]]`` matches ``true_means[k]``.
    """
    true_means = as_float_array(true_means, "true_means", ndim=2)
    estimated_means = as_float_array(estimated_means, "estimated_means", ndim=2)
    if true_means.shape != estimated_means.shape:
        raise ValueError(
            f"true_means and estimated_means must have the same shape; got "
            f"{true_means.shape} and {estimated_means.shape}"
        )
    # One common scale for both (the assignment does not change), so squares cannot overflow.
    scale = max(np.max(np.abs(true_means)), np.max(np.abs(estimated_means)), 1.0)
    diff = true_means[:, None, :] / scale - estimated_means[None, :, :] / scale
    cost = (diff ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(len(rows), dtype=int)
    perm[rows] = cols
    return perm


def gmlc_parameter_error(model, params):
    """Root-mean-square errors of a fitted GMLC's parameters, after matching.

    Parameters
    ----------
    model : GaussianMixtureLinearClassifier
        Fitted on labels 0/1 (so that its expert ``k`` predicts :math:`y = 1`).
    params : latent_notes.datasets.GMLCParams
        The truth.

    Returns
    -------
    dict
        ``"means"``, ``"experts"`` (the :math:`(b_k, w_k)` vectors), ``"weights"``:
        RMS errors over the matched components.
    """
    from .datasets import _check_gmlc_params

    for attribute in ("means_", "weights_", "coef_", "intercept_"):
        if not hasattr(model, attribute):
            raise TypeError(f"model must be a fitted GaussianMixtureLinearClassifier; "
                            f"{type(model).__name__} has no {attribute}")
    params = _check_gmlc_params(params)
    perm = match_components(params.means, model.means_)
    theta_hat = np.column_stack([model.intercept_, model.coef_])[perm]
    theta = np.column_stack([params.intercept, params.coef])
    return {
        "means": float(np.sqrt(np.mean((model.means_[perm] - params.means) ** 2))),
        "experts": float(np.sqrt(np.mean((theta_hat - theta) ** 2))),
        "weights": float(np.sqrt(np.mean((model.weights_[perm] - params.weights) ** 2))),
    }


def benchmark_classifiers(models, make_split, seeds, n_train_values):
    r"""Fit and score several classifiers on fresh data for every seed and size.

    Parameters
    ----------
    models : dict
        Name -> function ``(seed) -> unfitted classifier`` with ``fit`` and
        ``predict_proba``.
    make_split : callable
        ``(n_train, seed) -> dict`` with ``X_train``, ``y_train``, ``X_test``,
        ``y_test`` and optionally ``z_test`` (true clusters) and ``reference``
        (a dict name -> :math:`P(y = 1 \mid X_\mathrm{test})` of classifiers that need no fit).
    seeds : iterable of int
    n_train_values : iterable of int

    Returns
    -------
    list of dict
        One row per (n_train, seed, model): ``accuracy``, ``log_loss``,
        ``ari`` (adjusted Rand index of ``predict_cluster`` against
        ``z_test``, NaN if the model has no clusters) and ``fit_seconds``.
    """
    if not isinstance(models, dict) or not all(callable(f) for f in models.values()):
        raise TypeError("models must be a dict of name -> function (seed) -> classifier")
    if not callable(make_split):
        raise TypeError(f"make_split must be callable; got {type(make_split).__name__}")
    seeds = [check_int(seed, "each seed", 0) for seed in seeds]
    n_train_values = [check_int(n, "each n_train", 1) for n in n_train_values]
    rows = []
    for n_train in n_train_values:
        for seed in seeds:
            split = make_split(n_train, seed)
            y_test = split["y_test"]
            for name, proba in split.get("reference", {}).items():
                rows.append(_score_row(name, n_train, seed, y_test, proba, np.nan, 0.0))
            for name, factory in models.items():
                model = factory(seed)
                start = time.perf_counter()
                model.fit(split["X_train"], split["y_train"])
                seconds = time.perf_counter() - start
                proba = model.predict_proba(split["X_test"])[:, 1]
                ari = np.nan
                if hasattr(model, "predict_cluster") and "z_test" in split:
                    ari = adjusted_rand_score(split["z_test"], model.predict_cluster(split["X_test"]))
                rows.append(_score_row(name, n_train, seed, y_test, proba, ari, seconds))
    return rows


def _score_row(name, n_train, seed, y_test, proba, ari, seconds):
    proba = np.clip(proba, 1e-15, 1 - 1e-15)
    return {
        "model": name,
        "n_train": n_train,
        "seed": seed,
        "accuracy": accuracy_score(y_test, proba > 0.5),
        "log_loss": log_loss(y_test, proba, labels=[0, 1]),
        "ari": float(ari),
        "fit_seconds": seconds,
    }


def markdown_table(rows, columns, group_by=("n_train", "model"), digits=3):
    """Average ``rows`` over seeds and format them as a Markdown table.

    Each cell shows the mean over seeds and, when there are several seeds, the
    standard deviation after a ``±``.

    Parameters
    ----------
    rows : list of dict
        As returned by :func:`benchmark_classifiers`.
    columns : list of str
        The metrics to show.
    group_by : tuple of str
        Keys identifying a table row; the first appearance order is kept.
    digits : int

    Returns
    -------
    str
    """
    digits = check_int(digits, "digits", 0)
    for name, keys in (("columns", columns), ("group_by", group_by)):
        if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
            raise TypeError(f"{name} must be a sequence of key names; got {keys!r}")
    groups = {}
    for i, row in enumerate(rows):
        missing = [k for k in list(group_by) + list(columns) if k not in row]
        if missing:
            raise ValueError(f"rows[{i}] has no {missing}; its keys are {sorted(row)}")
        groups.setdefault(tuple(row[g] for g in group_by), []).append(row)
    lines = ["| " + " | ".join(list(group_by) + list(columns)) + " |",
             "|" + "---|" * (len(group_by) + len(columns))]
    for key, members in groups.items():
        cells = [str(k) for k in key]
        for col in columns:
            values = np.array([m[col] for m in members], dtype=float)
            if np.all(np.isnan(values)):
                cells.append("")
            elif values.size > 1:
                cells.append(f"{np.nanmean(values):.{digits}f} ± {np.nanstd(values):.{digits}f}")
            else:
                cells.append(f"{values[0]:.{digits}f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------ grouped uncertainty
def grouped_cv_predict(model, X, y, groups, n_splits=5, seeds=(0, 1, 2)):
    """Out-of-fold :math:`P(y = 1)` from grouped, stratified cross-validation repeated over seeds.

    For each seed, scikit-learn's ``StratifiedGroupKFold``
    (shuffled with that seed) splits the samples so that all the samples of a
    group fall in the same fold, and each fold is predicted by a copy of
    ``model`` fitted on the other folds, with every parameter whose name ends
    in ``random_state`` (a pipeline's steps included) set to the seed. The
    folds depend on ``y`` (they are stratified on it), so two targets get
    different folds even with the same seeds.

    Parameters
    ----------
    model : classifier
        An unfitted scikit-learn classifier or pipeline with ``predict_proba``.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Binary labels; the larger value is the positive class.
    groups : array-like of shape (n_samples,)
        Group of each sample (kept together).
    n_splits : int, default=5
    seeds : sequence of int, default=(0, 1, 2)

    Returns
    -------
    scores : ndarray of shape (len(seeds), n_samples)
        Out-of-fold probability of the positive class, one row per seed.
    folds : ndarray of shape (len(seeds), n_samples)
        Test fold (0 to ``n_splits - 1``) of each sample, per seed; pass both
        to :func:`grouped_bootstrap`.

    Raises
    ------
    ValueError
        On mismatched lengths, a ``y`` without exactly two classes, fewer
        than ``n_splits`` groups, or an empty ``seeds``.
    TypeError
        If ``model`` has no ``predict_proba`` or a seed is not an int.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    if not hasattr(model, "predict_proba") or not hasattr(model, "get_params"):
        raise TypeError("model must be a scikit-learn classifier with predict_proba")
    X = np.asarray(X)
    y = _check_1d(y, "y", X.shape[0])
    groups = _check_1d(groups, "groups", X.shape[0])
    classes = np.unique(y)
    if classes.size != 2:
        raise ValueError(f"y must hold exactly two classes; got {classes.size}")
    n_splits = check_int(n_splits, "n_splits", 2)
    if np.unique(groups).size < n_splits:
        raise ValueError(f"{np.unique(groups).size} groups cannot fill n_splits={n_splits} folds")
    seeds = [check_int(seed, "each seed", 0) for seed in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    positive = (y == classes[1]).astype(int)
    scores = np.empty((len(seeds), X.shape[0]))
    folds = np.empty((len(seeds), X.shape[0]), dtype=int)
    for r, seed in enumerate(seeds):
        fresh = clone(model)
        fresh.set_params(**{k: seed for k in fresh.get_params() if k.endswith("random_state")})
        cv = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
        for f, (train, test) in enumerate(cv.split(X, positive, groups)):
            fitted = clone(fresh).fit(X[train], positive[train])
            scores[r, test] = fitted.predict_proba(X[test])[:, 1]
            folds[r, test] = f
    return scores, folds


class GroupedBootstrap(NamedTuple):
    """Result of :func:`grouped_bootstrap`."""

    estimate: float
    """The statistic on the data as they are."""
    low: float
    """Lower end of the percentile interval."""
    high: float
    """Upper end of the percentile interval."""
    replicates: np.ndarray
    """The statistic on every usable resample."""


def _check_1d(values, name, n=None):
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {values.shape}")
    if n is not None and values.shape[0] != n:
        raise ValueError(f"{name} has {values.shape[0]} entries; expected {n} (one per sample)")
    return values




def _check_fraction(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float in (0, 1); got {type(value).__name__}")
    if not 0 < value < 1:
        raise ValueError(f"{name} must be in (0, 1); got {value}")
    return float(value)


def _weighted_auc(weights, positive, score):
    """ROC AUC of ``score`` for every row of sample ``weights`` (ties count one half).

    With integer weights (how many times each sample was drawn) this is the
    Mann-Whitney AUC of the resampled data; with weights 1 it equals
    ``roc_auc_score``. Rows without weight on both classes give NaN.
    """
    levels, level_of = np.unique(score, return_inverse=True)
    onehot = np.zeros((score.size, levels.size))
    onehot[np.arange(score.size), level_of] = 1.0
    pos = (weights * positive) @ onehot          # positive weight at each score level
    neg = (weights * ~positive) @ onehot
    below = np.cumsum(neg, axis=1) - neg         # negative weight strictly below
    numerator = np.sum(pos * (below + 0.5 * neg), axis=1)
    denominator = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def _nanmean_rows(values, axis):
    """Mean over ``axis`` ignoring NaN; NaN where everything is NaN (no warning)."""
    finite = np.isfinite(values)
    total = np.where(finite, values, 0.0).sum(axis=axis)
    count = finite.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _rows(values, n, name, dtype=None):
    """``values`` as a 2-D array of shape (n_repeats, n)."""
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != n:
        raise ValueError(f"{name} must have shape ({n},) or (n_repeats, {n}); "
                         f"got {np.shape(values)}")
    return arr


def grouped_bootstrap(y_true, y_score, groups, *, folds=None, metric=None, n_boot=1000,
                      level=0.95, random_state=None):
    """Percentile bootstrap interval of a score, resampling whole groups.

    When a group (a cow, a patient) gave several samples, its samples are not
    independent, and resampling samples makes the interval too narrow. Here
    each replicate draws as many groups as there are, with replacement, and
    keeps *all* the samples of every drawn group (a group drawn twice counts
    twice). The statistic is recomputed on the resampled samples; the
    interval is the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of
    the replicates.

    Typical use: ``y_score`` holds the out-of-fold predictions of a grouped
    cross-validation, repeated with several seeds, and ``folds`` the test fold
    of every sample in every repeat. The statistic is then the usual
    cross-validation estimate, the metric within each test fold averaged over
    folds and repeats (pooling scores across folds instead would compare
    scores of differently fitted models). The fitted models are held fixed:
    the interval covers the variation due to which groups are tested, not the
    variation of the fits.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels. For the default metric, two classes; the larger value is the
        positive one (as in scikit-learn's ``roc_auc_score``).
    y_score : array-like of shape (n_samples,) or (n_repeats, n_samples)
        Scores, one row per repeat.
    groups : array-like of shape (n_samples,)
        Group of each sample; the unit that is resampled.
    folds : array-like of shape (n_samples,) or (n_repeats, n_samples), optional
        Test fold of each sample (per repeat). By default all samples form one
        fold.
    metric : callable, optional
        ``metric(y_true, y_score) -> float``. By default the ROC AUC, computed
        by a fast rank formula equal to ``roc_auc_score``.
    n_boot : int, default=1000
        Number of replicates.
    level : float, default=0.95
        Coverage of the interval, in (0, 1).
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    GroupedBootstrap
        ``(estimate, low, high, replicates)``. Within a replicate, a fold in
        which ``y_true`` has a single value (the AUC is then undefined) is left
        out of the average; a replicate with no usable fold is left out of
        ``replicates``.

    Raises
    ------
    ValueError
        On mismatched shapes, fewer than two groups, a ``y_true`` without two
        classes, a fold without both classes in the data as they are,
        ``level`` outside (0, 1), or when fewer than half of the replicates
        are usable.
    TypeError
        If ``metric`` is neither None nor callable, or ``n_boot`` not an int.
    """
    y_true = _check_1d(y_true, "y_true")
    n = y_true.shape[0]
    scores = _rows(y_score, n, "y_score", dtype=float)
    if not np.all(np.isfinite(scores)):
        raise ValueError("y_score contains NaN or infinite values")
    groups = _check_1d(groups, "groups", n)
    folds = np.zeros((1, n), dtype=int) if folds is None else _rows(folds, n, "folds")
    if folds.shape[0] not in (1, scores.shape[0]):
        raise ValueError(f"folds has {folds.shape[0]} rows but y_score has {scores.shape[0]}")
    folds = np.broadcast_to(folds, scores.shape)
    if metric is not None and not callable(metric):
        raise TypeError(f"metric must be None or callable; got {type(metric).__name__}")
    n_boot = check_int(n_boot, "n_boot", 1)
    level = _check_fraction(level, "level")
    classes = np.unique(y_true)
    if classes.size < 2 or (metric is None and classes.size != 2):
        raise ValueError(f"y_true must hold two classes for the AUC, at least two for a "
                         f"metric; got {classes.size}")
    y_used = y_true == classes[-1] if metric is None else y_true
    names, codes = np.unique(groups, return_inverse=True)
    if names.size < 2:
        raise ValueError("groups must hold at least two groups")

    # fold codes 0..m-1 per repeat; every fold must be scorable on the data as they are
    fold_codes = [np.unique(fold, return_inverse=True) for fold in folds]
    for labels, code in fold_codes:
        for f, label in enumerate(labels):
            if np.unique(y_used[code == f]).size < 2:
                raise ValueError(f"fold {label!r} holds a single class of y_true")

    rng = check_random_state(random_state)
    drawn = rng.integers(0, names.size, size=(n_boot, names.size))
    # how often each group is drawn, per replicate; row 0 is the data as they are
    counts = np.bincount((drawn + names.size * np.arange(n_boot)[:, None]).ravel(),
                         minlength=n_boot * names.size).reshape(n_boot, names.size)
    counts = np.vstack([np.ones(names.size, dtype=int), counts])

    per_fold = np.full((counts.shape[0], scores.shape[0], max(l.size for l, _ in fold_codes)),
                       np.nan)
    for r, (row, (labels, code)) in enumerate(zip(scores, fold_codes)):
        for f in range(labels.size):
            members = np.flatnonzero(code == f)
            weights = counts[:, codes[members]].astype(float)
            if metric is None:
                per_fold[:, r, f] = _weighted_auc(weights, y_used[members], row[members])
                continue
            for b, w in enumerate(weights.astype(int)):
                index = np.repeat(members, w)
                if np.unique(y_used[index]).size > 1:
                    per_fold[b, r, f] = metric(y_true[index], row[index])
    statistic = _nanmean_rows(_nanmean_rows(per_fold, axis=2), axis=1)
    replicates = statistic[1:][np.isfinite(statistic[1:])]
    if 2 * replicates.size < n_boot:
        raise ValueError(
            f"only {replicates.size} of {n_boot} resamples held both classes; "
            "too few groups of one class for a grouped bootstrap")
    low, high = np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2])
    return GroupedBootstrap(float(statistic[0]), float(low), float(high), replicates)


def _pairs(sizes):
    sizes = np.asarray(sizes, dtype=float)
    return float(np.sum(sizes * (sizes - 1) / 2))


def ari_ceiling(labels_a, labels_b):
    r"""The largest adjusted Rand index two partitions with these group sizes can reach.

    The ARI is ``(I - E) / (M - E)`` with :math:`I = \sum_{ij} \binom{n_{ij}}{2}` over the
    contingency table, :math:`E = S_a S_b / \binom{n}{2}` and :math:`M = (S_a + S_b) / 2`,
    where :math:`S_a = \sum_i \binom{a_i}{2}` and :math:`S_b = \sum_j \binom{b_j}{2}` depend only
    on the group sizes :math:`a_i`, :math:`b_j`. Since pairs together in both
    partitions are together in each, :math:`I \le \min(S_a, S_b)`, with equality
    exactly when one partition nests in the other (each group of one lies
    inside a group of the other: a perfect refinement or merge). Replacing
    ``I`` by :math:`\min(S_a, S_b)` gives the ceiling. It is 1 only when the two
    partitions have the same group sizes; a partition into ``K`` classes
    compared with one into :math:`G \ne K` groups cannot reach 1.

    Parameters
    ----------
    labels_a, labels_b : array-like of shape (n_samples,)
        Two partitions of the same samples (only their group sizes matter).

    Returns
    -------
    float
        The ceiling; ``1.0`` when both partitions are trivial (one group, or
        all singletons, on both sides), following scikit-learn's convention.

    Raises
    ------
    ValueError
        If the labels are not 1-D, have different lengths, or are empty.
    """
    labels_a = _check_1d(labels_a, "labels_a")
    labels_b = _check_1d(labels_b, "labels_b", labels_a.shape[0])
    n = labels_a.shape[0]
    if n == 0:
        raise ValueError("the partitions are empty")
    s_a = _pairs(np.unique(labels_a, return_counts=True)[1])
    s_b = _pairs(np.unique(labels_b, return_counts=True)[1])
    expected = s_a * s_b / (n * (n - 1) / 2) if n > 1 else 0.0
    maximum = (s_a + s_b) / 2
    if maximum == expected:   # both trivial: scikit-learn calls this a perfect match
        return 1.0
    return float((min(s_a, s_b) - expected) / (maximum - expected))


def _auc_variance(auc, n_positive, n_negative):
    q1 = auc / (2 - auc)
    q2 = 2 * auc ** 2 / (1 + auc)
    return (auc * (1 - auc) + (n_positive - 1) * (q1 - auc ** 2)
            + (n_negative - 1) * (q2 - auc ** 2)) / (n_positive * n_negative)


def detectable_auc(n_positive, n_negative, alpha=0.05, power=0.8):
    r"""The smallest AUC a two-sided test of :math:`\mathrm{AUC} = 0.5` detects with the given power.

    Uses the normal approximation and the variance of the Mann-Whitney AUC of
    Hanley & McNeil (1982),

    .. math::

        \mathrm{Var} = \frac{A(1-A) + (n_1-1)(Q_1-A^2) + (n_0-1)(Q_2-A^2)}{n_1 n_0}

    with :math:`Q_1 = A / (2 - A)` and :math:`Q_2 = 2A^2 / (1 + A)`: it solves
    :math:`\Phi\bigl((A - \tfrac12 - z_{1-\alpha/2} \, \mathrm{SE}_{1/2}) / \mathrm{SE}_A\bigr) = \mathrm{power}` for :math:`A`.
    The observations must be independent: with repeated samples per
    subject, pass the numbers of *subjects*, which gives the best case
    (as if each subject contributed one perfectly measured score).

    Parameters
    ----------
    n_positive, n_negative : int
        Independent units in each class (at least 2 each).
    alpha : float, default=0.05
        Two-sided level of the test.
    power : float, default=0.8
        Probability of rejecting at the returned AUC; must exceed
        :math:`\alpha / 2`.

    Returns
    -------
    float
        The AUC in (0.5, 1) at which the power is reached.

    Raises
    ------
    ValueError
        On counts below 2, or ``alpha``/``power`` outside (0, 1), or
        :math:`\mathrm{power} \le \alpha / 2`, or a power not reachable below AUC = 1.
    TypeError
        If a count is not an int.
    """
    n_positive = check_int(n_positive, "n_positive", 2)
    n_negative = check_int(n_negative, "n_negative", 2)
    alpha = _check_fraction(alpha, "alpha")
    power = _check_fraction(power, "power")
    if power <= alpha / 2:
        raise ValueError(f"power must exceed alpha / 2 = {alpha / 2}; got {power}")
    threshold = norm.ppf(1 - alpha / 2) * np.sqrt(_auc_variance(0.5, n_positive, n_negative))

    def shortfall(auc):
        return norm.cdf((auc - 0.5 - threshold) / np.sqrt(_auc_variance(auc, n_positive,
                                                                          n_negative))) - power

    top = 1 - 1e-9
    if shortfall(top) < 0:
        raise ValueError(f"no AUC below 1 reaches power {power} with {n_positive} and "
                         f"{n_negative} units")
    return float(brentq(shortfall, 0.5, top, xtol=1e-10))
