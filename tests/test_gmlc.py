"""The Gaussian mixture linear classifier: gradient, solvers, EM, API, errors."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

import checks
from latent_notes import ConvergenceWarning, GaussianMixture
from latent_notes.datasets import bayes_optimal_proba, make_gmlc
from latent_notes.evaluation import (
    benchmark_classifiers,
    gmlc_parameter_error,
    markdown_table,
    match_components,
)
from latent_notes.gmlc import (
    SOLVERS,
    ClusterThenClassify,
    GaussianMixtureLinearClassifier,
    fit_weighted_logistic,
    solver_trace,
    time_to_reach,
    weighted_logistic_objective,
)


@pytest.fixture(scope="module")
def data():
    return make_gmlc(1500, n_components=3, n_features=2, random_state=0)


@pytest.fixture(scope="module")
def fitted(data):
    return GaussianMixtureLinearClassifier(3, random_state=0).fit(data.X, data.y)


@pytest.mark.parametrize("C", [0.5, 10.0, np.inf])
def test_gradient_matches_autograd(C):
    """Eq. gmlc-gradient (errata 7: the intercept's gradient is a number)."""
    checks.check_logistic_gradient(C)


@pytest.mark.parametrize("C", [0.5, 10.0, np.inf])
def test_irls_hessian_matches_autograd(C):
    """The Hessian every IRLS step solves with is autograd's Hessian of -Q_k, penalty included.

    Agreement with scikit-learn's optimum (below) cannot see a wrong Hessian: Newton's
    method with step halving still converges, only more slowly.
    """
    checks.check_irls_hessian(C)


@pytest.mark.parametrize("C", [0.1, 1.0, 100.0])
def test_irls_equals_scikit_learn_weighted_logistic_regression(C):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 3)) * [1.0, 2.0, 0.5]
    y = (rng.uniform(size=400) < 1 / (1 + np.exp(-(X @ [1.0, -0.5, 2.0] + 0.3)))).astype(int)
    tau = rng.uniform(size=400)
    theta = fit_weighted_logistic(X, y, tau, solver="irls", C=C)
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y, sample_weight=tau)
    np.testing.assert_allclose(theta[0], reference.intercept_[0], atol=1e-5)
    np.testing.assert_allclose(theta[1:], reference.coef_[0], atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 60),
    d=st.integers(1, 3),
    solver=st.sampled_from(SOLVERS),
    C=st.sampled_from([0.1, 10.0, np.inf]),
)
def test_every_solver_never_decreases_q(seed, n, d, solver, C):
    """A generalised M-step: Q_k at the answer is never below Q_k at the start.

    IRLS (step halving) and gradient ascent (rejected steps) guarantee it by
    themselves, so every iterate they report is checked: the safeguard in
    ``fit_weighted_logistic`` (return the start when the answer is worse) cannot
    hide a solver going downhill. SGD and CMA-ES make no such promise; for them
    the guarantee is the safeguard's, checked on the answer.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 5.0)
    y = rng.integers(0, 2, n)
    w = rng.uniform(size=n) * (rng.uniform(size=n) < 0.8)
    init = rng.normal(size=d + 1) * 3
    X1 = np.column_stack([np.ones(n), X])
    before = weighted_logistic_objective(init, X1, y, w, C)[0]
    values = [before]
    theta = fit_weighted_logistic(X, y, w, solver=solver, C=C, init=init, max_iter=5,
                                  random_state=seed, callback=lambda t, value: values.append(value))
    after = weighted_logistic_objective(theta, X1, y, w, C)[0]
    assert np.isfinite(after) and after >= before
    if solver in ("irls", "gd"):
        assert np.all(np.diff(values) >= -1e-12 * np.abs(values[:-1]))


@pytest.mark.parametrize("solver", ["irls", "gd"])
def test_irls_and_gradient_ascent_iterates_never_decrease_q(solver):
    """The same, deterministic, on problems where an undamped step does go downhill."""
    checks.check_solver_iterates_never_decrease_q(solver)


@pytest.mark.parametrize("C", [1.0, 10.0])
@pytest.mark.parametrize("solver", SOLVERS)
def test_every_solver_reaches_the_weighted_optimum(solver, C):
    """Each solver, from the default start, reaches scikit-learn's weighted optimum (sample_weight=tau)."""
    checks.check_solver_reaches_the_weighted_optimum(solver, C)


@pytest.mark.parametrize("solver", SOLVERS)
def test_em_log_likelihood_is_non_decreasing_for_every_solver(data, solver):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = GaussianMixtureLinearClassifier(3, solver=solver, max_iter=15,
                                                random_state=0).fit(data.X, data.y)
    h = model.log_likelihood_history_
    assert h.shape == (model.n_iter_ + 1,)
    assert np.all(np.diff(h) >= -1e-9 * np.abs(h[:-1]))
    assert np.isclose(h[-1], model.log_likelihood(data.X, data.y), rtol=1e-10)


def test_history_is_the_penalised_log_likelihood(data):
    model = GaussianMixtureLinearClassifier(3, C=2.0, random_state=0).fit(data.X, data.y)
    unpenalised = GaussianMixtureLinearClassifier.from_params(
        (model.weights_, model.means_, model.variances_, model.coef_, model.intercept_))
    unpenalised.C = np.inf
    penalty = np.sum(model.coef_ ** 2) / (2 * 2.0)
    assert np.isclose(model.log_likelihood_, unpenalised.log_likelihood(data.X, data.y) - penalty)


def test_likelihood_and_posteriors_sum_over_exactly_k_components(data, fitted):
    """Errata 4: K components numbered 1..K (here 0..K-1), never K + 1.

    The log-likelihood, responsibilities, gates and predictions equal their formulas
    summed by hand over the K components, for random parameters and for the fit; and
    each of the fit's K components is one of the K true clusters (none is spare).
    """
    checks.check_gmlc_posterior_and_likelihood()
    checks.check_gmlc_posterior_and_likelihood([(fitted, data.X, data.y)])
    order = match_components(data.params.means, fitted.means_)
    np.testing.assert_allclose(fitted.means_[order], data.params.means, atol=0.3)
    np.testing.assert_allclose(fitted.weights_[order], data.params.weights, atol=0.05)


def test_weights_sum_to_one_over_components(data, fitted):
    """Errata 5: sum_k pi_k = 1, and pi_k = N_k / n at the M-step."""
    assert np.isclose(fitted.weights_.sum(), 1.0)
    tau = fitted.responsibilities(data.X, data.y)
    np.testing.assert_allclose(tau.sum(axis=1), 1.0)
    m = GaussianMixtureLinearClassifier(3)
    m._gaussian_m_step(tau, data.X)
    np.testing.assert_allclose(m.weights_, tau.mean(axis=0), atol=1e-12)


def test_e_step_matches_direct_formula(data, fitted):
    """Eq. gmlc-e-step: tau_ik is proportional to pi_k N(x_i | k) s_k^y_i (1 - s_k)^(1 - y_i)."""
    checks.check_gmlc_posterior_and_likelihood([(fitted, data.X, data.y)])


def test_prediction_marginalises_the_cluster_with_x_alone(data, fitted):
    X = data.X
    gate = fitted.gate_proba(X)
    np.testing.assert_allclose(gate.sum(axis=1), 1.0)
    # The gates are the Gaussian mixture's posterior with the same parameters.
    gm = GaussianMixture(3)
    gm.weights_, gm.means_, gm.variances_ = fitted.weights_, fitted.means_, fitted.variances_
    np.testing.assert_allclose(gate, gm.predict_proba(X), atol=1e-12)
    proba = fitted.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[:, 1], (gate * fitted.expert_proba(X)).sum(axis=1))
    np.testing.assert_array_equal(fitted.predict(X), (proba[:, 1] > 0.5).astype(int))
    np.testing.assert_array_equal(fitted.predict_cluster(X), gate.argmax(axis=1))


def test_close_to_bayes_optimal_and_better_than_logistic_regression():
    train = make_gmlc(5000, random_state=3)
    test = make_gmlc(20_000, params=train.params, random_state=4)
    model = GaussianMixtureLinearClassifier(3, n_init=3, random_state=0).fit(train.X, train.y)
    bayes = np.mean((bayes_optimal_proba(test.X, train.params) > 0.5) == test.y)
    assert model.score(test.X, test.y) >= bayes - 0.015
    assert model.score(test.X, test.y) > LogisticRegression().fit(train.X, train.y).score(test.X, test.y) + 0.1
    errors = gmlc_parameter_error(model, train.params)
    assert errors["means"] < 0.1 and errors["weights"] < 0.03
    # Experts: far-away clusters make b_k large and tied to w_k; judge the relative error.
    theta = np.column_stack([train.params.intercept, train.params.coef])
    assert errors["experts"] < 0.15 * np.sqrt(np.mean(theta ** 2))


def test_from_params_is_the_bayes_classifier(data):
    true_model = GaussianMixtureLinearClassifier.from_params(data.params)
    np.testing.assert_allclose(true_model.predict_proba(data.X)[:, 1],
                               bayes_optimal_proba(data.X, data.params))
    with pytest.raises(ValueError, match="coef must have shape"):
        GaussianMixtureLinearClassifier.from_params(
            (data.params.weights, data.params.means, data.params.variances,
             data.params.coef[:, :1], data.params.intercept))


def test_string_labels_and_label_order(data):
    labels = np.where(data.y == 1, "sick", "healthy")
    model = GaussianMixtureLinearClassifier(3, random_state=0).fit(data.X, labels)
    np.testing.assert_array_equal(model.classes_, ["healthy", "sick"])
    assert set(model.predict(data.X)) <= {"healthy", "sick"}
    reference = GaussianMixtureLinearClassifier(3, random_state=0).fit(data.X, data.y)
    np.testing.assert_allclose(model.predict_proba(data.X), reference.predict_proba(data.X))


@pytest.mark.parametrize(
    "y_change, match",
    [
        (lambda y: y % 3 + (y == 0) * np.arange(y.size) % 3, "Only binary classification"),
        (lambda y: y + 0.5, "continuous"),
        (lambda y: y[:-1], "inconsistent numbers of samples"),
        (lambda y: np.where(np.arange(y.size) == 3, np.nan, y), "NaN"),
        (lambda y: np.zeros_like(y), "one class only"),
        (lambda y: None, "requires y"),
    ],
)
def test_bad_y_raises_clear_value_error(data, y_change, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixtureLinearClassifier(2).fit(data.X, y_change(data.y.astype(float)))


def test_bad_x_and_parameters(data):
    X = data.X.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GaussianMixtureLinearClassifier(2).fit(X, data.y)
    with pytest.raises(ValueError, match="solver"):
        GaussianMixtureLinearClassifier(2, solver="adam").fit(data.X, data.y)
    with pytest.raises(ValueError, match="C must be"):
        GaussianMixtureLinearClassifier(2, C=0).fit(data.X, data.y)
    with pytest.raises(ValueError, match="solver_max_iter"):
        GaussianMixtureLinearClassifier(2, solver_max_iter=0).fit(data.X, data.y)
    with pytest.raises(ValueError, match="labels not seen"):
        GaussianMixtureLinearClassifier(2, random_state=0).fit(data.X, data.y).responsibilities(
            data.X, data.y + 5)
    with pytest.raises(ValueError, match="solver must be"):
        fit_weighted_logistic(data.X, data.y, np.ones(len(data.y)), solver="newton")


def test_cluster_then_classify_baseline(data):
    model = ClusterThenClassify(3, random_state=0).fit(data.X, data.y)
    proba = model.predict_proba(data.X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert model.coef_.shape == (3, 2) and model.predict_cluster(data.X).shape == (len(data.X),)
    assert model.score(data.X, data.y) > 0.6


def test_match_components_undoes_a_permutation():
    rng = np.random.default_rng(0)
    true = rng.normal(size=(5, 3)) * 5
    perm = rng.permutation(5)
    estimated = np.empty_like(true)
    estimated[perm] = true + rng.normal(scale=0.01, size=true.shape)
    np.testing.assert_array_equal(match_components(true, estimated), perm)
    with pytest.raises(ValueError, match="same shape"):
        match_components(true, estimated[:4])


def test_benchmark_and_table():
    def split(n, seed):
        tr = make_gmlc(n, random_state=seed)
        te = make_gmlc(300, params=tr.params, random_state=seed + 1)
        return {"X_train": tr.X, "y_train": tr.y, "X_test": te.X, "y_test": te.y, "z_test": te.z,
                "reference": {"truth": bayes_optimal_proba(te.X, tr.params)}}

    rows = benchmark_classifiers({"lr": lambda s: LogisticRegression()}, split, [0, 1], [100])
    assert [r["model"] for r in rows] == ["truth", "lr", "truth", "lr"]
    assert all(0 <= r["accuracy"] <= 1 and r["log_loss"] > 0 for r in rows)
    table = markdown_table(rows, ["accuracy", "ari"])
    lines = table.splitlines()
    assert lines[0] == "| n_train | model | accuracy | ari |" and len(lines) == 4
    assert "±" in lines[2] and lines[3].endswith("|  |")  # no clusters: empty ARI cell


def test_solver_trace_and_time_to_reach(data, fitted):
    tau = fitted.responsibilities(data.X, data.y)[:, 0]
    seconds, values, theta = solver_trace(data.X, data.y, tau, "irls", C=100.0)
    assert seconds[0] == 0 and np.all(np.diff(seconds) >= 0) and np.all(np.diff(values) >= 0)
    assert time_to_reach(seconds, values, values[-1]) <= seconds[-1]
    assert time_to_reach(seconds, values, values[-1] + 1.0) == np.inf


def test_make_gmlc_samples_the_model():
    """Errata 16: the generator samples the model and returns its truth, reproducibly."""
    a = make_gmlc(40_000, n_components=3, n_features=2, random_state=5)
    b = make_gmlc(40_000, n_components=3, n_features=2, random_state=5)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    p = a.params
    np.testing.assert_allclose(np.bincount(a.z) / a.z.size, p.weights, atol=0.01)
    means = np.array([a.X[a.z == k].mean(axis=0) for k in range(3)])
    np.testing.assert_allclose(means, p.means, atol=0.05)
    gaps = np.linalg.norm(p.means[:, None] - p.means[None], axis=-1)[~np.eye(3, dtype=bool)]
    assert gaps.min() >= 4.0
    # Calibration: among points with P(y=1|x) near q, a fraction q has y = 1.
    proba = bayes_optimal_proba(a.X, p)
    for lo in (0.1, 0.4, 0.7):
        band = (proba > lo) & (proba < lo + 0.2)
        assert abs(a.y[band].mean() - proba[band].mean()) < 0.03
    with pytest.raises(ValueError, match="n_components"):
        make_gmlc(10, n_components=0)


# scikit-learn skips two of its own checks here, for reasons of the environment, not of
# the estimators: check_classifier_data_not_an_array needs pandas (not a dependency)
# and check_array_api_input needs SCIPY_ARRAY_API=1 (no array-API support is claimed).
@parametrize_with_checks([GaussianMixtureLinearClassifier(random_state=0),
                          GaussianMixture(2, random_state=0)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


# --------------------------------------------------------------------------
# Far points: the gates stay finite and pick the right component (issue 18)
# --------------------------------------------------------------------------
def test_far_points_give_finite_gates_and_the_right_cluster():
    checks.check_gmlc_far_points()


def _exact_log_joints(x, weights, means, variances):
    """``log p(x, z=k)`` up to a shared constant, the quadratic forms in exact rationals."""
    from fractions import Fraction

    quad = [sum((Fraction(xi) - Fraction(m)) ** 2 / Fraction(v) for xi, m in zip(x, mu))
            for mu, v in zip(means, variances)]
    const = [np.log(w) - 0.5 * len(x) * np.log(v) for w, v in zip(weights, variances)]
    return [Fraction(c) - q / 2 for c, q in zip(const, quad)], quad


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 10_000), exponent=st.integers(-3, 307), equal_variances=st.booleans())
def test_gates_are_finite_and_right_at_any_distance(seed, exponent, equal_variances):
    from fractions import Fraction

    from latent_notes.gmlc import _log_gates

    rng = np.random.default_rng(seed)
    K, d = 3, 2
    weights = rng.dirichlet(np.ones(K))
    means = rng.normal(0.0, 3.0, size=(K, d))
    variances = np.full(K, 1.3) if equal_variances else rng.uniform(0.5, 2.0, size=K)
    x = rng.normal(size=d) * 10.0 ** exponent
    gates = np.exp(_log_gates(x[None, :], weights, means, variances))[0]
    assert np.all(np.isfinite(gates)) and np.all(gates >= 0)
    assert np.isclose(gates.sum(), 1.0)
    exact, quad = _exact_log_joints(x, weights, means, variances)
    best = max(exact)
    # float64 resolves a log-joint only to a few ulps of the quadratic forms' size
    resolution = Fraction(1, 10**12) * max(quad) + Fraction(1, 10**9)
    if resolution < Fraction(1, 10**6):
        gaps = np.array([float(e - best) for e in exact])
        np.testing.assert_allclose(gates, np.exp(gaps) / np.exp(gaps).sum(), atol=1e-8)
    else:  # a component decisively worse than the best must get (almost) no mass
        for k in range(K):
            if best - exact[k] > resolution + 40:
                assert gates[k] < 1e-12, (k, gates)
