"""The VAE, its bounds, the training loop, gradient estimators, the exact model, baselines."""

import math

import numpy as np
import pytest
import torch

from latent_notes.baselines import IndependentPixels, nats_to_bits_per_dim
from latent_notes.datasets import load_digits
from latent_notes.gradients import gradient_samples
from latent_notes.linear_gaussian import LinearGaussianModel, gaussian_kl_full
from latent_notes.training import History, resolve_device, seed_everything, train
from latent_notes.vae import VAE, elbo, gaussian_kl, iwae_bound, reparameterize


@pytest.fixture(scope="module")
def digits():
    return load_digits("binary", random_state=0)


def small_vae(likelihood="bernoulli", **kw):
    seed_everything(0)
    return VAE(input_dim=6, latent_dim=2, hidden=(8,), likelihood=likelihood, **kw)


def test_analytic_kl_matches_monte_carlo():
    gen = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, generator=gen), torch.randn(5, 3, generator=gen)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    z = q.sample((100_000,))
    mc = (q.log_prob(z) - torch.distributions.Normal(0.0, 1.0).log_prob(z)).sum(-1)
    se = mc.std(0) / math.sqrt(len(z))
    assert torch.all((gaussian_kl(mu, logvar) - mc.mean(0)).abs() < 5 * se)
    assert torch.allclose(gaussian_kl(torch.zeros(2, 4), torch.zeros(2, 4)), torch.zeros(2))


def test_reparameterised_samples_have_the_right_moments():
    mu, logvar = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, math.log(4.0)]])
    z = reparameterize(mu, logvar, n_samples=200_000, generator=torch.Generator().manual_seed(0))
    assert z.shape == (200_000, 1, 2)
    assert torch.allclose(z.mean(0), mu, atol=0.02)
    assert torch.allclose(z.var(0), logvar.exp(), rtol=0.02)


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
    """Errata 9: p(z) is the prior N(0, I), p(x | z) the decoder's likelihood."""
    model = small_vae()
    x = torch.randint(0, 2, (4, 6)).float()
    gen = torch.Generator().manual_seed(3)
    mu, logvar = model.encode(x)
    z = reparameterize(mu, logvar, n_samples=1, generator=gen)
    log_px_z = torch.distributions.Bernoulli(logits=model.decode(z)).log_prob(x).sum(-1)
    log_pz = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    log_qz = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)
    expected = (log_px_z + log_pz - log_qz)[0]
    got = iwae_bound(model, x, 1, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(got, expected, atol=1e-5)


def test_iwae_k1_equals_elbo_in_expectation_and_grows_with_k():
    model = small_vae()
    x = torch.randint(0, 2, (3, 6)).float()
    gen = torch.Generator().manual_seed(0)
    repeats = 20_000
    with torch.no_grad():
        e = elbo(model, x, n_samples=repeats, generator=gen).elbo
        # Many independent k=1 bounds at once: the same rows repeated.
        i1 = iwae_bound(model, x.repeat(repeats, 1), 1, generator=gen).view(repeats, 3)
        assert torch.allclose(i1.mean(0), e, atol=0.05)
        means = [iwae_bound(model, x.repeat(500, 1), k, generator=gen).mean()
                 for k in (1, 4, 16, 64)]
    assert all(a <= b + 0.01 for a, b in zip(means, means[1:]))
    assert means[-1] > means[0]


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
    rng = np.random.default_rng(0)
    model = LinearGaussianModel(rng.normal(size=(4, 2)), rng.normal(size=4), 0.3)
    x, _ = model.sample(3, random_state=1)
    mean, cov = model.posterior(x)
    np.testing.assert_allclose(model.elbo(x, mean, cov), model.log_evidence(x))
    for _ in range(50):
        q_mean = mean + rng.normal(size=mean.shape)
        A = rng.normal(size=(2, 2))
        q_cov = A @ A.T + 0.1 * np.eye(2)
        gap = model.log_evidence(x) - model.elbo(x, q_mean, q_cov)
        assert np.all(gap > 0)
        np.testing.assert_allclose(gap, gaussian_kl_full(q_mean, q_cov, mean, cov), rtol=1e-9)
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
