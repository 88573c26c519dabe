"""Mixtures of discrete data: categorical (latent class) and Dirichlet-multinomial."""

import numpy as np
import pytest
from scipy.stats import dirichlet_multinomial

import checks
from latent_notes.discrete_mixture import (
    _Counts,
    CategoricalMixture,
    DirichletMultinomialMixture,
    dirichlet_multinomial_logpmf,
)
from latent_notes.em import ConvergenceWarning, q_function


_categorical_data, _count_data = checks.categorical_data, checks.count_data


# ---------------------------------------------------------------- categorical
def test_categorical_em_is_monotone_and_responsibilities_sum_to_one():
    X, _ = _categorical_data()
    for seed in range(3):
        model = CategoricalMixture(3, random_state=seed).fit(X)
        steps = np.diff(model.log_likelihood_history_)
        assert steps.min() >= -1e-9 * abs(model.log_likelihood_)
        assert np.allclose(model.predict_proba(X).sum(axis=1), 1.0)


def test_categorical_history_is_the_penalised_log_likelihood():
    checks.check_categorical_history_is_penalised()


def test_categorical_m_step_is_the_map_formula():
    """theta_kjl = (sum_i r_ik [x_ij = l] + alpha) / (N_k + L alpha) by hand, and no other table is better."""
    checks.check_categorical_m_step()


@pytest.mark.filterwarnings("ignore::latent_notes.em.ConvergenceWarning")
def test_categorical_m_step_maximises_the_penalised_q():
    """Any other probability table gives a lower Q + log prior."""
    X, _ = _categorical_data()
    model = CategoricalMixture(3, alpha=1.0, random_state=0, max_iter=3).fit(X)
    resp = model.predict_proba(X)
    model._m_step(resp, X)
    best = q_function(model._log_joint(X), resp) + model._log_prior()
    rng = np.random.default_rng(1)
    for _ in range(20):
        other = CategoricalMixture(3, alpha=1.0)
        other.n_levels_, other.alpha_ = model.n_levels_, 1.0
        noise = np.exp(model.log_probs_) * np.exp(0.05 * rng.standard_normal(model.log_probs_.shape))
        other.log_probs_ = np.log(noise / noise.sum(axis=2, keepdims=True))
        other.weights_ = model.weights_
        assert q_function(other._log_joint(X), resp) + other._log_prior() < best


def test_categorical_log_joint_matches_direct_formula():
    X, _ = _categorical_data(n=50)
    model = CategoricalMixture(2, random_state=0).fit(X)
    expected = np.log(model.weights_)[None, :] + np.array([
        [sum(model.log_probs_[k, j, int(x[j])] for j in range(X.shape[1])) for k in range(2)]
        for x in X])
    assert np.allclose(model.log_joint(X), expected)


@pytest.mark.parametrize("model,data,n,min_ari", [
    (CategoricalMixture(3, n_init=3, random_state=0), _categorical_data, 1500, 0.8),
    (DirichletMultinomialMixture(3, n_init=2, random_state=0), _count_data, 600, 0.9),
], ids=["categorical", "dirichlet-multinomial"])
def test_mixture_recovers_planted_classes(model, data, n, min_ari):
    from sklearn.metrics import adjusted_rand_score

    X, z = data(n=n)
    assert adjusted_rand_score(z, model.fit(X).predict(X)) > min_ari


def test_categorical_sample_shapes_and_frequencies():
    X, _ = _categorical_data()
    model = CategoricalMixture(3, random_state=0).fit(X)
    S, z = model.sample(20000, random_state=1)
    assert S.shape == (20000, 6) and set(np.unique(S)) <= {0, 1, 2, 3}
    assert np.allclose(np.bincount(z, minlength=3) / 20000, model.weights_, atol=0.015)
    k = 0
    freq = np.mean(S[z == k, 0][:, None] == np.arange(4), axis=0)
    assert np.allclose(freq, np.exp(model.log_probs_[k, 0]), atol=0.03)


@pytest.mark.parametrize("X,match", [
    ([[0.5, 1.0]], "non-negative integers"),
    ([[-1.0, 1.0]], "Negative values"),
    ([[np.nan, 1.0]], "NaN"),
])
def test_categorical_bad_data(X, match):
    with pytest.raises(ValueError, match=match):
        CategoricalMixture(1).fit(X)


def test_categorical_bad_parameters_and_levels():
    X, _ = _categorical_data(n=50)
    with pytest.raises(ValueError, match="alpha"):
        CategoricalMixture(2, alpha=-1.0).fit(X)
    with pytest.raises(ValueError, match="n_levels=3"):
        CategoricalMixture(2, n_levels=3).fit(X)
    model = CategoricalMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="levels 0..3"):
        model.predict(np.full((1, 6), 4.0))
    with pytest.raises(ValueError, match="features"):
        model.predict(np.zeros((1, 5)))


# ----------------------------------------------------- Dirichlet-multinomial
def test_dm_log_likelihood_is_comparable_with_a_multinomial():
    """The multinomial coefficient is in: against scipy's Dirichlet-multinomial and, as the
    precision grows, against scipy's multinomial, for the function and the mixture."""
    checks.check_dm_log_likelihood()


def test_dm_logpmf_matches_scipy():
    X, _ = _count_data(n=20)
    alpha = np.random.default_rng(0).uniform(0.05, 5.0, size=X.shape[1])
    ours = dirichlet_multinomial_logpmf(X, alpha)
    theirs = dirichlet_multinomial.logpmf(X, alpha, X.sum(axis=1))
    assert np.allclose(ours, theirs, atol=1e-8, rtol=0)


def test_dm_pmf_sums_to_one_over_all_small_count_vectors():
    alpha = np.array([0.3, 1.2, 2.5])
    n = 4
    X = np.array([[a, b, n - a - b] for a in range(n + 1) for b in range(n + 1 - a)], dtype=float)
    assert np.isclose(np.exp(dirichlet_multinomial_logpmf(X, alpha)).sum(), 1.0)


def test_dm_mixture_log_joint_matches_the_pmf():
    X, _ = _count_data()
    model = DirichletMultinomialMixture(3, random_state=0).fit(X)
    expected = np.column_stack([np.log(w) + dirichlet_multinomial_logpmf(X, a)
                                for w, a in zip(model.weights_, model.alphas_)])
    assert np.allclose(model.log_joint(X), expected)


@pytest.mark.parametrize("seed", range(4))
def test_dm_em_is_monotone_and_responsibilities_sum_to_one(seed):
    X, _ = _count_data(seed=seed)
    model = DirichletMultinomialMixture(3, m_step_iter=1, n_init=1, random_state=seed).fit(X)
    steps = np.diff(model.log_likelihood_history_)
    assert steps.min() >= -1e-9 * abs(model.log_likelihood_)
    assert np.allclose(model.predict_proba(X).sum(axis=1), 1.0)
    assert np.isclose(model.log_likelihood_, model.score_samples(X).sum())


def test_dm_m_step_increases_weighted_likelihood():
    """One M-step never lowers sum_i r_i log DM(x_i | alpha_k) for any weights r."""
    X, _ = _count_data()
    rng = np.random.default_rng(3)
    model = DirichletMultinomialMixture(2, m_step_iter=1, alpha_floor=1e-6)
    model._check_params()
    counts = _Counts(X)
    model.alphas_ = rng.uniform(0.01, 3.0, size=(2, X.shape[1]))
    for _ in range(10):
        resp = rng.dirichlet([1.0, 1.0], size=X.shape[0])
        before = [resp[:, k] @ dirichlet_multinomial_logpmf(X, model.alphas_[k]) for k in range(2)]
        model._m_step(resp, counts)
        after = [resp[:, k] @ dirichlet_multinomial_logpmf(X, model.alphas_[k]) for k in range(2)]
        assert all(a >= b - 1e-9 for a, b in zip(after, before))


def test_dm_fixed_point_converges_to_the_weighted_maximiser():
    """Many updates reach a stationary point of sum_i r_i log DM(x_i | alpha) (autograd gradient 0)."""
    checks.check_dm_fixed_point()


def test_dm_absent_taxon_hits_the_floor_not_zero():
    X, _ = _count_data()
    X[:, 0] = 0
    model = DirichletMultinomialMixture(2, alpha_floor=1e-5, random_state=0).fit(X)
    assert np.all(model.alphas_[:, 0] == 1e-5)
    assert np.all(np.isfinite(model.score_samples(X)))


def test_dm_sample():
    X, _ = _count_data()
    model = DirichletMultinomialMixture(3, random_state=0).fit(X)
    S, z = model.sample(50, total_counts=200, random_state=0)
    assert S.shape == (50, X.shape[1]) and np.all(S.sum(axis=1) == 200)
    S2, _ = model.sample(50, total_counts=200, random_state=0)
    assert np.array_equal(S, S2)


def test_dm_bic_and_parameters():
    X, _ = _count_data()
    model = DirichletMultinomialMixture(3, random_state=0).fit(X)
    assert model.n_parameters() == 2 + 3 * X.shape[1]
    assert np.isclose(model.bic(X), -2 * model.score_samples(X).sum()
                      + model.n_parameters() * np.log(X.shape[0]))


def test_dm_bad_input():
    with pytest.raises(ValueError, match="init must be"):
        DirichletMultinomialMixture(1, init="pam").fit(np.array([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="non-negative integers"):
        DirichletMultinomialMixture(1).fit(np.array([[1.5, 2.0]]))
    with pytest.raises(ValueError, match="m_step_iter"):
        DirichletMultinomialMixture(1, m_step_iter=0).fit(np.array([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="alpha_floor"):
        DirichletMultinomialMixture(1, alpha_floor=0.0).fit(np.array([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="n_components=3"):
        DirichletMultinomialMixture(3).fit(np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="alpha must be"):
        dirichlet_multinomial_logpmf(np.array([[1.0, 2.0]]), [1.0, -1.0])


def test_dm_warns_when_not_converged():
    X, _ = _count_data()
    with pytest.warns(ConvergenceWarning):
        DirichletMultinomialMixture(3, max_iter=1, n_init=1, init="random", tol=0.0,
                                    random_state=0).fit(X)


def test_multinomial_coefficient_is_included():
    x = np.array([[2.0, 1.0]])
    alpha = np.array([1.0, 1.0])
    # DM with alpha = (1, 1) is uniform over the n + 1 = 4 compositions of 3
    assert np.isclose(dirichlet_multinomial_logpmf(x, alpha)[0], -np.log(4))


def test_dm_soft_kmeans_start_same_on_sparse_and_dense():
    """dmn's kind of start (soft k-means, then EM under its prior) gives one fit whatever the storage."""
    import scipy.sparse as sp

    X, _ = _count_data()
    fits = [DirichletMultinomialMixture(3, init="soft-kmeans", n_init=1, random_state=0).fit(data)
            for data in (X, sp.csr_matrix(X))]
    assert np.isclose(fits[0].log_likelihood_, fits[1].log_likelihood_, rtol=1e-9)
    steps = np.diff(fits[0].log_likelihood_history_)
    assert steps.min() >= -1e-9 * abs(fits[0].log_likelihood_)
