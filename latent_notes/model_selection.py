"""Choosing the number of components as an analyst does: criteria over several EM starts.

EM finds a local maximum, and which one depends on the start; a criterion computed
from one start per ``K`` can choose a different ``K`` from another start. The helper
below fits every ``(K, start)`` pair separately (what ``n_init`` does, without throwing
the other starts away) and tabulates the criteria and their spread across starts.
"""

from __future__ import annotations

import time
import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import clone

from ._validation import check_int
from .em import ConvergenceWarning, check_random_state

__all__ = ["ComponentSelection", "select_n_components"]

_CRITERIA = ("bic", "aic", "laplace")


class ComponentSelection(NamedTuple):
    """What :func:`select_n_components` returns."""

    starts: "pandas.DataFrame"
    """One row per (``n_components``, ``start``): ``seed``, ``log_likelihood``, ``bic``,
    ``aic``, ``laplace`` (when the estimator has it), ``n_iter``, ``converged``, ``cpu_s``."""
    summary: "pandas.DataFrame"
    """One row per ``n_components``: ``best_start``, the start with the highest
    log-likelihood (the one ``n_init`` would keep), its log-likelihood and criteria, and for
    each criterion its ``_spread`` over the starts (worst minus best)."""
    chosen: dict
    """The ``n_components`` each criterion picks from the kept starts."""
    models: dict
    """The fitted model of the kept start, per ``n_components``."""
    fits: dict
    """Every fitted model, per ``(n_components, start)``."""


def select_n_components(estimator, X, n_components=range(1, 9), n_starts=5, random_state=0,
                        criteria=("bic", "aic", "laplace")):
    """Fit ``estimator`` for every number of components and start; tabulate the criteria.

    Parameters
    ----------
    estimator : mixture estimator
        Unfitted template (e.g. ``DirichletMultinomialMixture()``); it is cloned with
        ``n_components=K``, ``n_init=1`` and a seed per start.
    X : array-like, DataFrame or sparse matrix
    n_components : iterable of int
    n_starts : int, default=5
        Starts per ``K``; start ``s`` of every ``K`` uses the same seed.
    random_state : int or numpy.random.Generator
        Draws the starts' seeds.
    criteria : tuple of str
        Among ``"bic"``, ``"aic"`` and ``"laplace"``: methods of the fitted estimator
        called with ``X`` (lower is better); one the estimator lacks (``laplace`` for a
        Gaussian mixture) is skipped.

    Returns
    -------
    ComponentSelection
        ``starts`` (every fit), ``summary`` (kept start and spread per ``K``), ``chosen``
        (the ``K`` each criterion picks from the kept starts), ``models`` (the kept fit per
        ``K``) and ``fits`` (every fit).
    """
    if not hasattr(estimator, "get_params") or not hasattr(estimator, "set_params"):
        raise TypeError("estimator must be an unfitted scikit-learn-style mixture (with "
                        f"get_params/set_params); got {type(estimator).__name__}")
    if isinstance(n_components, (str, bytes)) or not np.iterable(n_components):
        raise TypeError("n_components must be an iterable of ints (e.g. range(1, 9)); got "
                        f"{n_components!r}")
    Ks = [check_int(K, "n_components", minimum=1) for K in n_components]
    if not Ks:
        raise ValueError("n_components is empty; give at least one number of components")
    n_starts = check_int(n_starts, "n_starts", minimum=1)
    if isinstance(criteria, (str, bytes)) or not np.iterable(criteria):
        raise TypeError(f"criteria must be a tuple of names such as ('bic', 'aic'); got {criteria!r}")
    criteria = list(criteria)
    unknown = [c for c in criteria if c not in _CRITERIA]
    if unknown:
        raise ValueError(f"criteria must be among {_CRITERIA}; got {unknown!r}")
    seeds = check_random_state(random_state).integers(2**31 - 1, size=n_starts)
    criteria = [c for c in criteria if hasattr(estimator, c)]
    rows, fits = [], {}
    for K in Ks:
        for start, seed in enumerate(seeds):
            model = clone(estimator).set_params(n_components=K, n_init=1, random_state=int(seed))
            t0 = time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X)
            cpu = time.process_time() - t0
            row = {"n_components": K, "start": start, "seed": int(seed),
                   "log_likelihood": float(np.sum(np.asarray(model.score_samples(X))))}
            row.update({c: float(getattr(model, c)(X)) for c in criteria})
            row.update(n_iter=model.n_iter_, converged=model.converged_, cpu_s=cpu)
            rows.append(row)
            fits[K, start] = model
    starts = pd.DataFrame(rows).set_index(["n_components", "start"])
    kept = starts.groupby(level=0)["log_likelihood"].idxmax()
    summary = pd.DataFrame(index=pd.Index(Ks, name="n_components"))
    summary["best_start"] = [kept[K][1] for K in Ks]
    summary["log_likelihood"] = [starts.loc[kept[K], "log_likelihood"] for K in Ks]
    for c in criteria:
        summary[c] = [starts.loc[kept[K], c] for K in Ks]
        per_K = starts[c].groupby(level=0)
        summary[f"{c}_spread"] = per_K.max() - per_K.min()
    chosen = {c: int(summary[c].idxmin()) for c in criteria}
    models = {K: fits[kept[K]] for K in Ks}
    return ComponentSelection(starts, summary, chosen, models, fits)
