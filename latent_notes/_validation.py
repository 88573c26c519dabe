"""Input checks shared by the estimators: clear errors instead of NaNs."""

from __future__ import annotations

import numpy as np


def check_array(X, name="X", n_features=None):
    """Return ``X`` as a finite 2-D float64 array or raise a clear error.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    name : str
        The argument's name, used in error messages.
    n_features : int, optional
        The number of features the array must have (a fitted model's).

    Raises
    ------
    ValueError
        If ``X`` is not numeric, not 2-D, empty, holds NaN or inf, or has the
        wrong number of features.
    """
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged nested lists and the like
        raise ValueError(f"{name} must be a numeric 2-D array; could not convert it: {exc}") from exc
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == object
    ):
        raise ValueError(
            f"{name} must hold numbers (int or float); got dtype {arr.dtype}"
        )
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must be real-valued; got dtype {arr.dtype}")
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must hold numbers; found a non-numeric entry ({exc})") from exc
    if arr.ndim != 2:
        hint = " (use X.reshape(-1, 1) for a single feature)" if arr.ndim == 1 else ""
        raise ValueError(
            f"{name} must be 2-D of shape (n_samples, n_features); got {arr.ndim}-D "
            f"with shape {arr.shape}{hint}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one sample and one feature; got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        bad = int(np.sum(~np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); remove or impute them")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[1]} features but the model was fitted with {n_features}"
        )
    return arr


class NotFittedError(ValueError, AttributeError):
    """Raised when a model is used before it has been fitted."""


def check_is_fitted(estimator, attribute="means_"):
    """Raise :class:`NotFittedError` when a model is used before ``fit``."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(
            f"this {type(estimator).__name__} is not fitted yet; call fit(X) first"
        )
