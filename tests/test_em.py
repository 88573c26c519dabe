"""The shared EM driver: E-step, decomposition, monotonicity, stopping, restarts."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import checks
from checks import assert_monotone_fit, random_mixture
from latent_notes import ConvergenceWarning, GaussianMixture
from latent_notes.datasets import make_gaussian_mixture
from latent_notes.em import (
    check_random_state,
    e_step_from_log_joint,
    logsumexp,
    posterior_cross_entropy,
    q_function,
)


def test_logsumexp_matches_direct_sum_and_handles_minus_inf():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 4))
    assert np.allclose(logsumexp(a, axis=1), np.log(np.exp(a).sum(axis=1)))
    big = a + 1000.0  # overflows a naive implementation
    assert np.allclose(logsumexp(big, axis=1), logsumexp(a, axis=1) + 1000.0)
    with_inf = np.array([[-np.inf, 0.0], [-np.inf, -np.inf]])
    out = logsumexp(with_inf, axis=1)
    assert out[0] == 0.0 and out[1] == -np.inf


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 30),
    k=st.integers(1, 6),
    scale=st.floats(0.1, 500.0),
)
def test_e_step_rows_sum_to_one(seed, n, k, scale):
    log_joint = np.random.default_rng(seed).normal(scale=scale, size=(n, k)) - 300.0
    log_resp, log_px = e_step_from_log_joint(log_joint)
    resp = np.exp(log_resp)
    assert np.all(np.isfinite(resp)) and np.all(resp >= 0)
    assert np.allclose(resp.sum(axis=1), 1.0)
    assert np.allclose(log_px, logsumexp(log_joint, axis=1))


@pytest.mark.parametrize("covariance_type", ["spherical", "diag"])
def test_decomposition_holds_for_any_pair_of_parameters(covariance_type):
    # Errata 2: log p(X | theta) = Q(theta_hat, theta) + H(theta_hat, theta) for ANY theta_hat.
    rng = np.random.default_rng(1)
    X, _ = make_gaussian_mixture(200, random_state=1)
    for _ in range(20):
        old = random_mixture(rng, 3, 2, covariance_type)
        new = random_mixture(rng, 3, 2, covariance_type)
        tau = old.e_step(X)
        lj = new.log_joint(X)
        log_lik = new.score_samples(X).sum()
        assert np.isclose(q_function(lj, tau) + posterior_cross_entropy(lj, tau), log_lik, rtol=1e-12)
        # Gibbs' inequality: H(theta_hat, theta) >= H(theta_hat, theta_hat).
        assert posterior_cross_entropy(lj, tau) >= posterior_cross_entropy(old.log_joint(X), tau)


def test_q_function_ignores_components_with_zero_responsibility():
    log_joint = np.array([[0.0, -np.inf]])
    resp = np.array([[1.0, 0.0]])
    assert q_function(log_joint, resp) == 0.0


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(5, 80),
    d=st.integers(1, 4),
    k=st.integers(1, 5),
    covariance_type=st.sampled_from(["spherical", "diag"]),
    init=st.sampled_from(["kmeans", "random", "random_from_data"]),
)
def test_log_likelihood_never_decreases(seed, n, d, k, covariance_type, init):
    """EM's defining property, on arbitrary (not mixture-shaped) data."""
    assert_monotone_fit(seed, n, d, min(k, n), covariance_type, init)


def test_log_likelihood_never_decreases_on_data_far_from_the_origin():
    """The same property, deterministic, also on data centred far from 0 (the M-step shifts the data)."""
    checks.check_em_is_monotone()


def test_driver_e_step_is_the_normalised_posterior():
    """Eq. em-posterior: the E-step fit uses (the driver's fast path) and the public one, by hand."""
    checks.check_e_step()


def test_relative_tolerance_stop():
    X, _ = make_gaussian_mixture(400, random_state=2)
    tol = 1e-4
    gm = GaussianMixture(3, tol=tol, random_state=0, init_params="random").fit(X)
    h = gm.log_likelihood_history_
    assert gm.converged_ and gm.n_iter_ == len(h) - 1
    assert abs(h[-1] - h[-2]) <= tol * abs(h[-2])
    # It stopped at the first round that met the criterion, not later.
    rel = np.abs(np.diff(h)) / np.abs(h[:-1])
    assert np.all(rel[:-1] > tol)


def test_convergence_warning_when_max_iter_is_reached():
    X, _ = make_gaussian_mixture(300, random_state=0)
    gm = GaussianMixture(3, tol=0, max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning, match="did not converge in max_iter=3"):
        gm.fit(X)
    assert not gm.converged_ and gm.n_iter_ == 3 and gm.log_likelihood_history_.shape == (4,)


def test_no_warning_when_converged():
    X, _ = make_gaussian_mixture(300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        gm = GaussianMixture(3, random_state=0).fit(X)
    assert gm.converged_


class RecordingMixture(GaussianMixture):
    """Records the final log-likelihood of every restart."""

    def _run_em(self, data):
        history, converged = super()._run_em(data)
        self.finals = getattr(self, "finals", []) + [history[-1]]
        return history, converged


def test_n_init_keeps_the_best_run():
    X, _ = make_gaussian_mixture(300, random_state=0)
    gm = RecordingMixture(3, n_init=8, init_params="random_from_data", random_state=4).fit(X)
    assert len(gm.finals) == 8
    assert len(set(np.round(gm.finals, 6))) > 1, "restarts should differ for this test to mean anything"
    assert gm.log_likelihood_ == max(gm.finals)
    # The kept parameters are the best run's, not the last run's.
    assert np.isclose(gm.score(X) * len(X), max(gm.finals))


def test_same_seed_same_fit_and_different_seed_different_start():
    X, _ = make_gaussian_mixture(300, random_state=0)
    a = GaussianMixture(3, init_params="random", random_state=7).fit(X)
    b = GaussianMixture(3, init_params="random", random_state=7).fit(X)
    np.testing.assert_array_equal(a.log_likelihood_history_, b.log_likelihood_history_)
    c = GaussianMixture(3, init_params="random", random_state=8).fit(X)
    assert a.log_likelihood_history_[0] != c.log_likelihood_history_[0]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_components": 0}, ValueError, "n_components"),
        ({"n_components": 2.5}, TypeError, "n_components"),
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"n_init": 0}, ValueError, "n_init"),
        ({"tol": -1.0}, ValueError, "tol"),
        ({"tol": float("nan")}, ValueError, "tol"),
        ({"tol": "small"}, TypeError, "tol"),
        ({"random_state": "seed"}, TypeError, "random_state"),
    ],
)
def test_bad_driver_parameters_raise_clear_errors(kwargs, error, match):
    X, _ = make_gaussian_mixture(50, random_state=0)
    params = {"n_components": 2, **kwargs}
    with pytest.raises(error, match=match):
        GaussianMixture(**params).fit(X)


def test_check_random_state():
    assert check_random_state(3).integers(1000) == check_random_state(3).integers(1000)
    g = np.random.default_rng(0)
    assert check_random_state(g) is g
    with pytest.raises(TypeError, match="random_state"):
        check_random_state(True)
    with pytest.raises(TypeError, match="random_state"):
        check_random_state(1.5)


def test_numerical_overflow_raises_a_clear_error_instead_of_nan():
    # Finite data whose squares overflow float64: the fit cannot be computed.
    X = np.random.default_rng(0).normal(size=(50, 2)) * 1e160
    with pytest.raises(FloatingPointError, match="log-likelihood is"):
        GaussianMixture(2, random_state=0).fit(X)


@pytest.mark.parametrize("seed, n, d, k, covariance_type, init", [
    (69, 9, 3, 4, "diag", "kmeans"),
    (1284, 15, 1, 2, "spherical", "kmeans"),
    (1394, 9, 3, 5, "spherical", "random_from_data"),
    (1467, 50, 2, 4, "diag", "kmeans"),
    (1765, 5, 4, 3, "diag", "random"),
])
def test_monotone_when_a_component_collapses_to_the_variance_floor(seed, n, d, k, covariance_type, init):
    """Cases where rounding in the squared-distance expansion once made EM's
    log-likelihood fall by ~1e-8 (components collapsing onto a few points)."""
    assert_monotone_fit(seed, n, d, k, covariance_type, init)
