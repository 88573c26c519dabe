"""Gaussian mixtures: the M-step is the argmax of Q, agreement with scikit-learn, API and errors."""

import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

import checks
from latent_notes import ConvergenceWarning, GaussianMixture
from sklearn.exceptions import NotFittedError
from latent_notes.datasets import make_gaussian_mixture
from latent_notes.mixture import kmeans

COVARIANCE_TYPES = ["spherical", "diag"]


@pytest.fixture(scope="module")
def data():
    X, z = make_gaussian_mixture(600, random_state=0)
    return X, z


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_m_step_is_stationary_point_of_q(covariance_type):
    """Autograd gradient of Q at the M-step solution is zero (errata 3: the M-step is an argmax).

    Q is written independently in torch (eq. em-gmm-q); random perturbations all lower it,
    and the weights are N_k / n.
    """
    checks.check_m_step_is_the_argmax_of_q(covariance_type)


def test_spherical_variance_divides_by_d():
    """Errata 6: sigma_k^2 = sum_i tau_ik ||x_i - mu_k||^2 / (d sum_i tau_ik)."""
    checks.check_spherical_variance_divides_by_d()


def test_log_joint_is_log_weight_plus_scipy_log_density():
    checks.check_gaussian_log_joint()


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_matches_scikit_learn_from_the_same_start(data, covariance_type):
    X, _ = data
    start = GaussianMixture(3, covariance_type=covariance_type, init_params="random_from_data",
                            random_state=5).initialize(X)
    common = dict(n_components=3, covariance_type=covariance_type, tol=0, max_iter=25,
                  weights_init=start.weights_, means_init=start.means_)
    ours = GaussianMixture(**common, variances_init=start.variances_, var_floor=0.0)
    theirs = SklearnGaussianMixture(**common, precisions_init=1.0 / start.variances_,
                                    reg_covar=0.0, init_params="random", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both warn: tol=0 never converges
        ours.fit(X)
        theirs.fit(X)
    assert abs(ours.score(X) - theirs.score(X)) < 1e-6
    np.testing.assert_allclose(ours.score_samples(X), theirs.score_samples(X), atol=1e-6)
    np.testing.assert_allclose(ours.weights_, theirs.weights_, atol=1e-8)
    np.testing.assert_allclose(ours.means_, theirs.means_, atol=1e-8)
    np.testing.assert_allclose(ours.variances_, theirs.covariances_, atol=1e-8)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-8)


def test_recovers_the_generating_parameters():
    X, z = make_gaussian_mixture(20_000, random_state=1)
    gm = GaussianMixture(3, n_init=2, random_state=0).fit(X)
    order = np.argsort(gm.weights_)[::-1]
    np.testing.assert_allclose(gm.weights_[order], [0.5, 0.3, 0.2], atol=0.02)
    np.testing.assert_allclose(gm.means_[order], [[0, 0], [3, 2], [-1, 3]], atol=0.06)
    np.testing.assert_allclose(gm.variances_[order], [1.0, 0.5, 0.3], rtol=0.06)
    assert adjusted_rand_score(z, gm.predict(X)) > 0.8


def test_sample_labels_are_categorical(data):
    """Errata 1: the latent label is categorical on K values with probabilities pi."""
    X, _ = data
    gm = GaussianMixture(3, random_state=0).fit(X)
    Xs, zs = gm.sample(30_000, random_state=1)
    assert Xs.shape == (30_000, 2) and set(np.unique(zs)) <= {0, 1, 2}
    np.testing.assert_allclose(np.bincount(zs, minlength=3) / zs.size, gm.weights_, atol=0.01)
    for k in range(3):
        np.testing.assert_allclose(Xs[zs == k].mean(axis=0), gm.means_[k], atol=0.05)
        assert np.isclose(Xs[zs == k].var(axis=0).mean(), gm.variances_[k], rtol=0.05)
    a, _ = gm.sample(5, random_state=2)
    b, _ = gm.sample(5, random_state=2)
    np.testing.assert_array_equal(a, b)


def test_predict_proba_predict_and_scores_are_consistent(data):
    X, _ = data
    gm = GaussianMixture(3, covariance_type="diag", random_state=0).fit(X)
    proba = gm.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(gm.predict(X), proba.argmax(axis=1))
    assert np.isclose(gm.score(X), gm.score_samples(X).mean())
    assert np.isclose(gm.score(X) * len(X), gm.log_likelihood_, rtol=1e-9)
    np.testing.assert_array_equal(gm.fit_predict(X), gm.predict(X))


def test_bic_formula_and_choice_of_k(data):
    X, _ = data
    gm = GaussianMixture(3, random_state=0).fit(X)
    p = 2 + 3 * 2 + 3  # weights, means, spherical variances
    assert gm.n_parameters() == p
    assert np.isclose(gm.bic(X), -2 * gm.score(X) * len(X) + p * np.log(len(X)))
    assert np.isclose(gm.aic(X), -2 * gm.score(X) * len(X) + 2 * p)
    assert GaussianMixture(3, covariance_type="diag").m_step(X, gm.predict_proba(X)).n_parameters() \
        == 2 + 6 + 6
    bics = [GaussianMixture(k, n_init=2, random_state=0).fit(X).bic(X) for k in range(1, 6)]
    assert int(np.argmin(bics)) + 1 == 3


def test_variance_floor_keeps_collapsed_component_finite():
    rng = np.random.default_rng(0)
    X = np.vstack([np.zeros((10, 2)), rng.normal(size=(50, 2)) + 5])  # ten identical points
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = GaussianMixture(2, var_floor=1e-3, random_state=0, max_iter=50).fit(X)
    assert np.all(np.isfinite(gm.log_likelihood_history_))
    assert np.all(gm.variances_ >= 1e-3)
    assert np.all(np.diff(gm.log_likelihood_history_) >= -1e-9 * np.abs(gm.log_likelihood_history_[:-1]))


def test_kmeans_finds_the_clusters_and_is_reproducible(data):
    X, z = data
    centers, labels = kmeans(X, 3, random_state=0)
    assert centers.shape == (3, 2) and labels.shape == (len(X),)
    assert adjusted_rand_score(z, labels) > 0.7
    np.testing.assert_array_equal(labels, kmeans(X, 3, random_state=0)[1])
    checks.check_kmeans_is_a_lloyd_fixed_point()
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans(X, 0)


def test_step_by_step_api_equals_fit(data):
    X, _ = data
    kw = dict(init_params="random_from_data", random_state=3)
    manual = GaussianMixture(3, **kw).initialize(X)
    for _ in range(10):
        manual.m_step(X, manual.e_step(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = GaussianMixture(3, tol=0, max_iter=10, **kw).fit(X)
    np.testing.assert_allclose(manual.means_, fitted.means_)
    np.testing.assert_allclose(manual.variances_, fitted.variances_)


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 1.0]]), "X contains NaN"),
        (np.array([[0.0, 1.0], [np.inf, 2.0], [1.0, 1.0]]), "X contains infinity"),
        (np.arange(6.0), "(?s)Expected 2D array.*[Rr]eshape"),
        (np.zeros((2, 3, 4)), "dim 3"),
        (np.zeros((0, 2)), "0 sample"),
        (np.array([["a", "b"], ["c", "d"]]), "could not convert string to float"),
        (np.array([[1.0, None], [2.0, 3.0]], dtype=object), "X contains NaN"),
        ([[1.0, 2.0], [3.0]], "inhomogeneous"),
        (np.array([[1 + 2j, 0], [0, 1]]), "Complex data not supported"),
    ],
)
def test_bad_X_raises_value_error_naming_the_problem(X, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(1).fit(X)


def test_sparse_input_is_refused_with_a_type_error():
    import scipy.sparse

    with pytest.raises(TypeError, match="dense data is required"):
        GaussianMixture(1).fit(scipy.sparse.csr_matrix(np.eye(3)))


def test_more_components_than_samples():
    with pytest.raises(ValueError, match="n_components=5 is larger than n_samples=3"):
        GaussianMixture(5).fit(np.random.default_rng(0).normal(size=(3, 2)))


def test_wrong_number_of_features_at_predict(data):
    X, _ = data
    gm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="3 features, but GaussianMixture is expecting 2 features"):
        gm.predict(np.zeros((4, 3)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"covariance_type": "full"}, "covariance_type"),
        ({"init_params": "kmeans++"}, "init_params"),
        ({"var_floor": -1.0}, "var_floor"),
        ({"means_init": np.zeros((3, 2))}, "means_init must have shape"),
        ({"weights_init": [0.5, 0.6]}, "sum to 1"),
        ({"variances_init": [1.0, 0.0]}, "strictly positive"),
        ({"variances_init": [1.0, 1.0, 1.0]}, "variances_init must have shape"),
    ],
)
def test_bad_model_parameters(data, kwargs, match):
    X, _ = data
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2, **kwargs).fit(X)


def test_unfitted_model_and_bad_responsibilities(data):
    X, _ = data
    with pytest.raises(NotFittedError, match="not fitted"):
        GaussianMixture(2).predict(X)
    with pytest.raises(ValueError, match="resp must have shape"):
        GaussianMixture(2).m_step(X, np.ones((len(X), 3)) / 3)
    with pytest.raises(ValueError, match="rows summing to 1"):
        GaussianMixture(2).m_step(X, np.ones((len(X), 2)))
    gm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="n_samples"):
        gm.sample(0)


def test_one_dimensional_input_error_is_short_and_says_how_to_reshape():
    """scikit-learn's own message prints the whole array; ours names its shape."""
    with pytest.raises(ValueError) as info:
        GaussianMixture(2).fit(np.arange(10_000.0))
    message = str(info.value)
    assert "(10000,)" in message and "reshape(-1, 1)" in message and len(message) < 300
