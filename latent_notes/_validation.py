"""Input checks shared by the estimators: clear errors instead of NaNs."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_array as _sklearn_check_array
from sklearn.exceptions import NotFittedError
from sklearn.utils import column_or_1d
from sklearn.utils.multiclass import type_of_target


def check_array(X, name="X", n_features=None, estimator=None):
    """Return ``X`` as a finite 2-D float64 array or raise a clear error.

    The checks are scikit-learn's (so that error messages match what users of
    scikit-learn expect), plus the number of features of a fitted model.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    name : str
        The argument's name, used in error messages.
    n_features : int, optional
        The number of features the array must have (a fitted model's).
    estimator : object, optional
        The fitted model, named in the error message.

    Raises
    ------
    ValueError
        If ``X`` is not numeric, not 2-D, empty, holds NaN or inf, or has the
        wrong number of features.
    TypeError
        If ``X`` is a sparse matrix (dense data are required).
    """
    ndim = getattr(X, "ndim", None)
    if isinstance(X, (list, tuple)):
        try:
            ndim = np.ndim(X)
        except ValueError:  # ragged nested lists: scikit-learn's check explains
            ndim = None
    if ndim == 1:
        # scikit-learn's message would print the whole array
        raise ValueError(
            f"Expected 2D array, got 1D array instead: {name} has shape ({len(X)},). "
            f"Reshape your data either using {name}.reshape(-1, 1) if it has a single "
            f"feature or {name}.reshape(1, -1) if it contains a single sample."
        )
    arr = _sklearn_check_array(X, dtype=np.float64, input_name=name)
    if n_features is not None and arr.shape[1] != n_features:
        who = type(estimator).__name__ if estimator is not None else "the model"
        raise ValueError(
            f"{name} has {arr.shape[1]} features, but {who} is expecting {n_features} "
            "features as input (the number it was fitted with)"
        )
    return np.ascontiguousarray(arr)


def check_binary_target(y, n_samples):
    """Return the two classes of ``y`` and ``y`` recoded to 0.0 / 1.0.

    Raises
    ------
    ValueError
        If ``y`` is not 1-D, has the wrong length, holds NaN, is continuous, or
        does not have exactly two classes.
    """
    if y is None:
        raise ValueError("this estimator requires y to be passed, but the target y is None")
    y = column_or_1d(y, warn=True)
    if y.shape[0] != n_samples:
        raise ValueError(
            f"X and y have inconsistent numbers of samples: {n_samples} in X, {y.shape[0]} in y"
        )
    if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinite values")
    y_type = type_of_target(y, input_name="y", raise_unknown=True)
    if y_type == "continuous":
        raise ValueError(
            "Unknown label type: continuous. y must hold class labels, not a regression target"
        )
    classes = np.unique(y)
    if classes.size == 1:
        raise ValueError(
            f"y holds one class only ({np.asarray(classes[0]).item()!r}); a binary "
            "classifier needs samples of both classes"
        )
    if y_type != "binary" or classes.size != 2:
        shown = ", ".join(repr(c) for c in classes[:10].tolist())
        raise ValueError(
            f"Only binary classification is supported; y has {classes.size} classes "
            f"({shown}{', ...' if classes.size > 10 else ''})"
        )
    return classes, (y == classes[1]).astype(np.float64)


def check_is_fitted(estimator, attribute="means_"):
    """Raise scikit-learn's ``NotFittedError`` when a model is used before ``fit``."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(
            f"this {type(estimator).__name__} is not fitted yet; call fit(X) first"
        )
