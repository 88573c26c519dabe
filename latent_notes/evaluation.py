"""Comparing fitted models with the truth and with each other."""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import accuracy_score, adjusted_rand_score, log_loss

__all__ = ["match_components", "gmlc_parameter_error", "benchmark_classifiers", "markdown_table"]


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
    true_means = np.asarray(true_means, dtype=float)
    estimated_means = np.asarray(estimated_means, dtype=float)
    if true_means.shape != estimated_means.shape:
        raise ValueError(
            f"true_means and estimated_means must have the same shape; got "
            f"{true_means.shape} and {estimated_means.shape}"
        )
    cost = ((true_means[:, None, :] - estimated_means[None, :, :]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(len(rows), dtype=int)
    perm[rows] = cols
    return perm


def gmlc_parameter_error(model, params):
    """Root-mean-square errors of a fitted GMLC's parameters, after matching.

    Parameters
    ----------
    model : GaussianMixtureLinearClassifier
        Fitted on labels 0/1 (so that its expert ``k`` predicts ``y = 1``).
    params : latent_notes.datasets.GMLCParams
        The truth.

    Returns
    -------
    dict
        ``"means"``, ``"experts"`` (the ``(b_k, w_k)`` vectors), ``"weights"``:
        RMS errors over the matched components.
    """
    perm = match_components(params.means, model.means_)
    theta_hat = np.column_stack([model.intercept_, model.coef_])[perm]
    theta = np.column_stack([params.intercept, params.coef])
    return {
        "means": float(np.sqrt(np.mean((model.means_[perm] - params.means) ** 2))),
        "experts": float(np.sqrt(np.mean((theta_hat - theta) ** 2))),
        "weights": float(np.sqrt(np.mean((model.weights_[perm] - params.weights) ** 2))),
    }


def benchmark_classifiers(models, make_split, seeds, n_train_values):
    """Fit and score several classifiers on fresh data for every seed and size.

    Parameters
    ----------
    models : dict
        Name -> function ``(seed) -> unfitted classifier`` with ``fit`` and
        ``predict_proba``.
    make_split : callable
        ``(n_train, seed) -> dict`` with ``X_train``, ``y_train``, ``X_test``,
        ``y_test`` and optionally ``z_test`` (true clusters) and ``reference``
        (a dict name -> ``P(y=1 | X_test)`` of classifiers that need no fit).
    seeds : iterable of int
    n_train_values : iterable of int

    Returns
    -------
    list of dict
        One row per (n_train, seed, model): ``accuracy``, ``log_loss``,
        ``ari`` (adjusted Rand index of ``predict_cluster`` against
        ``z_test``, NaN if the model has no clusters) and ``fit_seconds``.
    """
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
    groups = {}
    for row in rows:
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
