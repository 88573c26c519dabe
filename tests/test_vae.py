"""The VAE, its bounds, the training loop, gradient estimators, the exact model, baselines."""

import math

import numpy as np
import pytest
import torch

import checks
from latent_notes.baselines import IndependentPixels, nats_to_bits_per_dim
from latent_notes.datasets import load_digits
from latent_notes.gradients import gradient_samples
from latent_notes.linear_gaussian import LinearGaussianModel
from latent_notes.training import History, resolve_device, seed_everything, train
from latent_notes.vae import VAE, elbo, iwae_bound


@pytest.fixture(scope="module")
def digits():
    return load_digits("binary", random_state=0)


def small_vae(likelihood="bernoulli", **kw):
    seed_everything(0)
    return VAE(input_dim=6, latent_dim=2, hidden=(8,), likelihood=likelihood, **kw)


def test_analytic_kl_matches_monte_carlo():
    checks.check_gaussian_kl()


def test_reparameterised_samples_have_the_right_moments():
    checks.check_reparameterize()


@pytest.mark.parametrize("likelihood", ["bernoulli", "categorical", "gaussian"])
def test_elbo_terms_and_gradients_reach_encoder_and_decoder(likelihood):
    model = small_vae(likelihood, n_levels=5)
    x = torch.randint(0, 2 if likelihood == "bernoulli" else 5, (7, 6)).float()
    terms = elbo(model, x, generator=torch.Generator().manual_seed(0))
    assert terms.elbo.shape == (7,)
    assert torch.allclose(terms.elbo, terms.reconstruction - terms.kl)
    assert torch.all(terms.kl >= 0)
    (-terms.elbo.mean()).backward()
    for part in (model.encoder, model.decoder):
        grads = [p.grad for p in part.parameters()]
        assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_iwae_and_elbo_use_prior_and_likelihood():
    """Errata 9: p(z) is the prior N(0, I), p(x | z) the decoder's likelihood.

    ``elbo`` and ``iwae_bound`` are recomputed from the distributions' definitions
    for the same draws (for every draw, IWAE_k >= the mean log weight, by Jensen);
    then what holds in expectation: ELBO = E[IWAE_1] <= E[IWAE_10] <= E[IWAE_100]
    <= log p(x), the evidence computed by quadrature over the 2-D latent space.
    """
    checks.check_elbo_and_iwae_definitions()
    checks.check_bounds_below_the_evidence()


def test_tiny_model_trains_with_decreasing_loss(digits):
    seed_everything(0)
    model = VAE(64, latent_dim=2, hidden=(16,))

    def loss(m, x, g):
        return -elbo(m, x, generator=g).elbo.mean()

    history = train(model, loss, digits.X_train[:256], epochs=8, batch_size=64, lr=5e-3,
                    val_data=digits.X_test[:64], seed=0, progress=False)
    assert isinstance(history, History) and len(history.train_loss) == len(history.val_loss) == 8
    assert history.train_loss[-1] < history.train_loss[0]
    # Same seeds, same result.
    seed_everything(0)
    again = VAE(64, latent_dim=2, hidden=(16,))
    history2 = train(again, loss, digits.X_train[:256], epochs=8, batch_size=64, lr=5e-3,
                     val_data=digits.X_test[:64], seed=0, progress=False)
    assert history2.train_loss == history.train_loss


def test_bad_inputs_raise_clear_errors():
    model = small_vae()
    with pytest.raises(TypeError, match="torch.Tensor"):
        elbo(model, np.zeros((2, 6)))
    with pytest.raises(TypeError, match="floating-point"):
        elbo(model, torch.zeros((2, 6), dtype=torch.long))
    with pytest.raises(ValueError, match=r"shape \(batch, 6\)"):
        elbo(model, torch.zeros((2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        elbo(model, torch.full((2, 6), float("nan")))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        elbo(model, torch.full((2, 6), 2.0))
    with pytest.raises(ValueError, match="integer levels"):
        elbo(small_vae("categorical", n_levels=3), torch.full((2, 6), 0.5))
    with pytest.raises(ValueError, match="k must be"):
        iwae_bound(model, torch.zeros((2, 6)), 0)
    with pytest.raises(ValueError, match="likelihood"):
        VAE(6, likelihood="poisson")
    with pytest.raises(ValueError, match="train_data"):
        train(model, lambda m, x, g: x.sum(), torch.zeros(0), epochs=1)
    with pytest.raises(ValueError, match="epochs"):
        train(model, lambda m, x, g: x.sum(), torch.zeros((4, 6)), epochs=0)


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")


@pytest.mark.parametrize("estimator", ["pathwise", "score"])
def test_gradient_estimators_are_unbiased(estimator):
    mu, sigma = 0.7, 1.3
    exact = np.array([2 * mu, 2 * sigma])  # d/d(mu, sigma) E[z^2] = d/d(.) (mu^2 + sigma^2)
    d = gradient_samples(lambda z: z ** 2, mu, sigma, 400_000, estimator,
                         generator=torch.Generator().manual_seed(0)).numpy()
    se = d.std(axis=0) / np.sqrt(len(d))
    assert np.all(np.abs(d.mean(axis=0) - exact) < 4 * se)


def test_score_estimator_weights_f_by_the_autograd_score():
    # With f = 1 the score-function estimator returns the score of each draw itself.
    m, s, n = 0.4, 1.7, 7
    scores = gradient_samples(lambda t: torch.ones_like(t), m, s, n, "score",
                              generator=torch.Generator().manual_seed(5))
    eps = torch.randn(n, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    for i in range(n):
        mu = torch.tensor(m, dtype=torch.float64, requires_grad=True)
        sigma = torch.tensor(s, dtype=torch.float64, requires_grad=True)
        log_q = torch.distributions.Normal(mu, sigma).log_prob(m + s * eps[i])
        expected = torch.stack(torch.autograd.grad(log_q, (mu, sigma)))
        assert torch.allclose(scores[i], expected)
    with pytest.raises(ValueError, match="estimator"):
        gradient_samples(torch.sin, 0.0, 1.0, 10, "reinforce")
    with pytest.raises(ValueError, match="sigma"):
        gradient_samples(torch.sin, 0.0, 0.0, 10)


def test_linear_gaussian_elbo_bound_gap_and_equality():
    checks.check_linear_gaussian_elbo()
    rng = np.random.default_rng(0)
    model = LinearGaussianModel(rng.normal(size=(4, 2)), rng.normal(size=4), 0.3)
    # The evidence is the Gaussian N(b, W W^T + s2 I), checked by sampling.
    xs, _ = model.sample(200_000, random_state=2)
    np.testing.assert_allclose(np.cov(xs.T), model.W @ model.W.T + 0.3 * np.eye(4), atol=0.05)
    with pytest.raises(ValueError, match="noise_var"):
        LinearGaussianModel(model.W, model.b, 0.0)


def test_independent_pixels_baseline():
    X = torch.tensor([[0.0, 1.0], [0.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    model = IndependentPixels("bernoulli", alpha=0.0).fit(X)
    expected = math.log(0.75) + math.log(0.75)  # pixel 0 is 0 w.p. 3/4, pixel 1 is 1 w.p. 3/4
    assert math.isclose(model.log_prob(X[:1]).item(), expected, rel_tol=1e-12)
    cat = IndependentPixels("categorical", n_levels=3).fit(torch.tensor([[0.0], [2.0]]))
    assert torch.allclose(cat.log_prob(torch.tensor([[0.0], [1.0], [2.0]])).exp().sum(), torch.tensor(1.0, dtype=torch.float64))
    with pytest.raises(ValueError, match="integer values"):
        model.log_prob(torch.tensor([[0.5, 1.0]]))
    assert math.isclose(nats_to_bits_per_dim(64 * math.log(2), 64), 1.0)


def test_load_digits_kinds_and_split():
    a = load_digits("binary", random_state=0)
    b = load_digits("binary", random_state=0)
    assert torch.equal(a.X_train, b.X_train)
    assert a.X_train.shape == (1437, 64) and a.X_test.shape == (360, 64)
    assert set(a.X_train.unique().tolist()) == {0.0, 1.0}
    levels = load_digits("levels")
    assert levels.X_train.max() == 16 and torch.equal(levels.X_train, levels.X_train.round())
    assert load_digits("float").X_train.max() == 1.0
    assert torch.bincount(a.y_test).min() >= 35  # stratified: every digit in the test set
    with pytest.raises(ValueError, match="kind"):
        load_digits("colour")


def test_iwae_bound_in_batches_scores_every_example():
    torch.manual_seed(0)
    model = VAE(6, latent_dim=2, hidden=(8,))
    x = torch.bernoulli(torch.full((7, 6), 0.5))
    whole = iwae_bound(model, x, 50, generator=torch.Generator().manual_seed(0))
    parts = iwae_bound(model, x, 50, generator=torch.Generator().manual_seed(0), batch_size=3)
    assert parts.shape == (7,)
    # different random draws, same bound up to Monte Carlo noise
    assert torch.allclose(parts, whole, atol=0.5)
    # one example per batch equals scoring that example alone with the same stream
    one = iwae_bound(model, x[:1], 50, generator=torch.Generator().manual_seed(0))
    first = iwae_bound(model, x, 50, generator=torch.Generator().manual_seed(0), batch_size=1)[:1]
    assert torch.equal(one, first)
    with pytest.raises(ValueError, match="batch_size"):
        iwae_bound(model, x, 5, batch_size=0)
