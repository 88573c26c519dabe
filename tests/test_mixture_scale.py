"""GaussianMixture at scale and at the edges of float64 (issues 17 and 18).

The chunked E/M pass, its memory bound, the torch backend, far but finite points,
and the driver's honesty about precision loss.
"""

import tracemalloc
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.utils.estimator_checks import check_estimator

import checks
import latent_notes
from latent_notes import ConvergenceWarning, GaussianMixture
from latent_notes.em import e_step_from_log_joint
from latent_notes.mixture import CHUNK_ROWS, kmeans


def test_chunked_pass_equals_the_e_step_by_hand():
    checks.check_chunked_pass()


@pytest.mark.parametrize("covariance_type", ["spherical", "diag"])
def test_fit_does_not_depend_on_the_chunking(covariance_type):
    """A fit over several chunks equals the one-chunk fit of the whole E-step (m_step by hand)."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(CHUNK_ROWS, 2)) + c for c in ([0, 0], [3, 1], [-2, 4])])
    kw = dict(covariance_type=covariance_type, init_params="random_from_data", random_state=1)
    manual = GaussianMixture(3, **kw).initialize(X)
    for _ in range(5):
        manual.m_step(X, manual.e_step(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = GaussianMixture(3, tol=0, max_iter=5, **kw).fit(X)
    np.testing.assert_allclose(fitted.means_, manual.means_, rtol=1e-10)
    np.testing.assert_allclose(fitted.variances_, manual.variances_, rtol=1e-10)
    np.testing.assert_allclose(fitted.weights_, manual.weights_, rtol=1e-10)


def _fit_peak_bytes(n, d=10, k=5):
    """Peak bytes numpy allocates during ``fit`` above the data (tracemalloc)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    start = GaussianMixture(k, covariance_type="diag", init_params="random_from_data",
                            random_state=0).initialize(X)
    model = GaussianMixture(k, covariance_type="diag", tol=0, max_iter=2, weights_init=start.weights_,
                            means_init=start.means_, variances_init=start.variances_)
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def test_memory_above_the_data_is_bounded_and_does_not_grow_with_n():
    """The documented bound 8 * CHUNK_ROWS * (2 d + 3 K) bytes, at two sizes of the data."""
    d, k = 10, 5
    bound = 8 * CHUNK_ROWS * (2 * d + 3 * k)
    small, large = _fit_peak_bytes(4 * CHUNK_ROWS), _fit_peak_bytes(16 * CHUNK_ROWS)
    assert large <= bound, (large, bound)
    assert large <= 1.05 * small + 4096  # not a function of n
    assert 16 * CHUNK_ROWS * d * 8 > 3 * large  # a third of these data; the same at any n


def test_a_far_component_is_fitted_exactly():
    checks.check_far_component_is_exact()


def test_far_points_have_finite_and_correct_posteriors():
    checks.check_far_points()


def test_issue_18_far_points_on_a_fitted_model():
    X = np.random.default_rng(0).normal(size=(300, 2)) * [1.0, 3.0]
    gm = GaussianMixture(3, random_state=0).fit(X)
    proba = gm.predict_proba([[1e160, 0.0]])
    assert np.all(np.isfinite(proba)) and np.isclose(proba.sum(), 1.0)
    widest = np.argmax(gm.variances_)
    assert gm.predict([[1e300, 1e300]])[0] == widest == gm.predict([[1e100, 1e100]])[0]
    with pytest.raises(FloatingPointError, match="too far from every component"):
        gm.score_samples([[1e160, 0.0]])


def test_e_step_rows_sum_to_one_near_the_largest_float():
    log_resp, log_px = e_step_from_log_joint(np.array([[1e308, 1e308], [-1e308, 0.0]]))
    np.testing.assert_allclose(np.exp(log_resp).sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(log_resp[0]), [0.5, 0.5])
    assert log_px[0] == 1e308 and log_px[1] == 0.0


def test_kmeans_rejects_max_iter_below_one():
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="max_iter must be an int >= 1.*got 0"):
        kmeans(X, 2, max_iter=0)
    with pytest.raises(TypeError, match="max_iter"):
        kmeans(X, 2, max_iter=1.5)
    assert kmeans(X, 2, max_iter=1, random_state=0)[1].shape == (20,)


def test_convergence_warning_is_scikit_learns():
    assert issubclass(ConvergenceWarning, SklearnConvergenceWarning)
    assert latent_notes.ConvergenceWarning is ConvergenceWarning
    X = np.random.default_rng(0).normal(size=(100, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", SklearnConvergenceWarning)  # a user's filter
        GaussianMixture(2, tol=0, max_iter=2, random_state=0).fit(X)


def test_overflow_and_collapse_have_their_own_messages():
    X = np.random.default_rng(0).normal(size=(50, 2)) * 1e160
    with pytest.raises(FloatingPointError, match="overflowed") as info:
        GaussianMixture(2, random_state=0).fit(X)
    assert "var_floor" not in str(info.value) and "collapsed" not in str(info.value)
    # a component on duplicated points with no variance floor
    dup = np.vstack([np.zeros((5, 2)), np.random.default_rng(1).normal(size=(20, 2)) + 8])
    with pytest.raises(FloatingPointError, match="collapsed.*var_floor"):
        GaussianMixture(2, var_floor=0.0, means_init=[[0, 0], [8, 0]], weights_init=[0.2, 0.8],
                        variances_init=[1.0, 1.0], max_iter=20).fit(dup)


class _Saboteur(GaussianMixture):
    """Moves a mean away after the second M-step: the log-likelihood then falls."""

    def _maximization(self, stats, data):
        super()._maximization(stats, data)
        self._rounds = getattr(self, "_rounds", 0) + 1
        if self._rounds == 2:
            self.means_ = self.means_ + 5.0


def test_a_falling_log_likelihood_is_not_called_converged():
    X = np.random.default_rng(0).normal(size=(200, 2))
    with pytest.warns(ConvergenceWarning, match="decreased by .* at EM iteration 2"):
        gm = _Saboteur(2, random_state=0).fit(X)
    assert not gm.converged_


def test_torch_backend_equals_numpy_on_the_cpu():
    checks.check_torch_backend_equals_numpy()


@pytest.mark.parametrize("device, match", [
    ("foo", "device must be 'auto', 'cpu', 'cuda'"),
    ("mps", "CPU or CUDA"),
    (3, "device must be"),
])
def test_bad_device_is_a_value_error(device, match):
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2, backend="torch", device=device).fit(X)


def test_backend_errors():
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="backend must be 'numpy' or 'torch'; got 'jax'"):
        GaussianMixture(2, backend="jax").fit(X)
    with pytest.raises(ValueError, match="needs backend='torch'"):
        GaussianMixture(2, device="cuda").fit(X)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_a_clear_value_error():
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="finds no CUDA device"):
        GaussianMixture(2, backend="torch", device="cuda").fit(X)
    gm = GaussianMixture(2, backend="torch", device="auto", random_state=0).fit(X)  # falls back to CPU
    assert gm.converged_


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_torch_backend_on_cuda_equals_numpy():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50_000, 4)) + rng.integers(0, 3, size=(50_000, 1)) * 3.0
    kw = dict(covariance_type="diag", init_params="random", tol=0, max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = GaussianMixture(3, **kw).fit(X)
        b = GaussianMixture(3, backend="torch", device="cuda", **kw).fit(X)
    np.testing.assert_allclose(b.means_, a.means_, atol=1e-6)
    np.testing.assert_allclose(b.variances_, a.variances_, atol=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_passes_scikit_learns_estimator_checks(backend):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check_estimator(GaussianMixture(backend=backend, device="cpu" if backend == "torch" else "auto"))
