"""Checks for the report's slips that the chapters correct without a note (errata 17-25).

Each test computes the book's version with the package and, beside it, the report's
version, and asserts that the two give different numbers: if the package (or the book)
used the report's version, the assertion on the book's version would fail. The numbers
in the names of the tests refer to the entries of ``book/errata.md``.
"""

import copy

import numpy as np
import pytest
import torch
from scipy.special import log_expit, logsumexp
from scipy.stats import multivariate_normal
from torch.nn import functional as F

from latent_notes import GaussianMixture, GaussianMixtureLinearClassifier
from latent_notes.datasets import load_digits, make_gaussian_mixture, make_gmlc
from latent_notes.em import q_function
from latent_notes.linear_gaussian import LinearGaussianModel
from latent_notes.pixelcnn import GatedPixelCNN, PixelCNN, input_dependence, mask_offsets
from latent_notes.training import seed_everything, train
from latent_notes.vae import VAE, elbo, reparameterize
from latent_notes.vq import VectorQuantizer
from latent_notes.vqvae import VQVAE


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mixture_data():
    X, _ = make_gaussian_mixture(500, random_state=0)
    return X


# ---------------------------------------------------------------- report 2.1, 2.2.1


def test_18_theta_holds_k_components_not_k_plus_one(mixture_data):
    """theta = (pi, gamma_1..gamma_K): K components, not gamma(0..K)."""
    K, d = 3, mixture_data.shape[1]
    gm = GaussianMixture(K, random_state=0).fit(mixture_data)
    for name in ("weights_", "means_", "variances_"):
        assert len(getattr(gm, name)) == K, name
    _, labels = gm.sample(2000, random_state=0)
    assert set(np.unique(labels)) == set(range(K))  # K label values
    # free parameters: K - 1 weights, K means in R^d, K variances
    assert gm.n_parameters() == (K - 1) + K * d + K
    report = K + (K + 1) * d + (K + 1)  # pi and gamma(0), ..., gamma(K)
    assert report != gm.n_parameters()
    # an extra component gamma(0) with any positive weight is a different density
    extra = copy.deepcopy(gm)
    extra.weights_ = np.append(0.9 * gm.weights_, 0.1)
    extra.means_ = np.vstack([gm.means_, mixture_data.mean(0)])
    extra.variances_ = np.append(gm.variances_, 1.0)
    assert not np.allclose(extra.score_samples(mixture_data), gm.score_samples(mixture_data))


def _gmlc_log_joint(model, X, y):
    """log p(x_i, y_i, z_i = k) of the report's Q, written out from the model's parameters."""
    d = X.shape[1]
    sq = ((X[:, None, :] - model.means_) ** 2).sum(-1)
    var = model.variances_
    eta = X @ model.coef_.T + model.intercept_
    return (np.log(model.weights_) - 0.5 * d * np.log(2 * np.pi * var) - sq / (2 * var)
            + np.where(y[:, None] == 1, log_expit(eta), log_expit(-eta)))


def test_19_gmlc_q_takes_its_expectation_given_x_and_y():
    """Q's weights are p(z | x, y), the E-step's tau; p(z | x) leaves a gap."""
    data = make_gmlc(600, n_components=3, n_features=2, random_state=0)
    X, y = data.X, data.y
    model = GaussianMixtureLinearClassifier.from_params(data.params)
    log_joint = _gmlc_log_joint(model, X, y)
    penalty = np.sum(model.coef_ ** 2) / (2 * model.C)
    log_lik = logsumexp(log_joint, axis=1).sum()
    assert np.isclose(model.log_likelihood(X, y), log_lik - penalty)  # the same joint

    def bound(weights):  # Q(theta_hat, theta_hat) plus the entropy of the weights
        return np.sum(weights * (log_joint - np.log(weights)))

    given_xy = model.responsibilities(X, y)  # the package's E-step
    given_x = model.gate_proba(X)            # the report's p(Z | X)
    # The E-step conditions on the label: it closes the gap to log p(X, Y) exactly ...
    assert np.allclose(given_xy, np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True)))
    assert np.isclose(bound(given_xy), log_lik, rtol=1e-12)
    # ... and the report's weights do not: they ignore y, and the bound falls short.
    assert np.abs(given_xy - given_x).max() > 0.1
    assert bound(given_x) < log_lik - 1.0


@pytest.fixture(scope="module")
def em_iterates(mixture_data):
    """The parameters after every round of a real EM fit (the em chapter's start)."""
    model = GaussianMixture(3, init_params="random_from_data", random_state=0)
    model.initialize(mixture_data)
    iterates = [copy.deepcopy(model)]
    for _ in range(30):
        model.m_step(mixture_data, model.e_step(mixture_data))
        iterates.append(copy.deepcopy(model))
    return iterates


def test_20_the_iterate_is_the_second_argument_of_q(mixture_data, em_iterates):
    """Q(theta_hat, theta^{l+1}) >= Q(theta_hat, theta^l); the report's Q(theta^{l+1}, theta)
    >= Q(theta^l, theta) fails on the same fit."""
    X = mixture_data
    taus = [m.e_step(X) for m in em_iterates]
    joints = [m.log_joint(X) for m in em_iterates]
    # the book: tau (the first argument) fixed during the M-step, the new parameters improve Q
    gains = [q_function(joints[h + 1], taus[h]) - q_function(joints[h], taus[h])
             for h in range(len(em_iterates) - 1)]
    assert min(gains) >= -1e-9
    # the report: the iterate in the first argument, for a fixed theta (the final one, the
    # first one): the sequence goes down at some rounds
    for fixed in (joints[-1], joints[0]):
        report = np.array([q_function(fixed, tau) for tau in taus])
        assert np.diff(report).min() < -1e-3


def test_20_stopping_rule_depends_on_the_iterates_only(mixture_data, em_iterates):
    """The book stops on the log-likelihood of the iterates; the report's relative change of
    Q(theta^h, theta) depends on a theta the rule leaves free."""
    X = mixture_data
    history = np.array([m.score_samples(X).sum() for m in em_iterates])
    fitted = GaussianMixture(3, init_params="random_from_data", random_state=0, tol=0.0,
                             max_iter=30)
    with pytest.warns(Warning):  # 30 rounds on purpose, not converged
        fitted.fit(X)
    assert np.allclose(fitted.log_likelihood_history_, history)  # what the package monitors
    assert np.all(np.diff(history) >= -1e-9 * np.abs(history[:-1]))
    h = 3
    taus = [m.e_step(X) for m in em_iterates[h:h + 2]]

    def report_change(theta):
        lj = theta.log_joint(X)
        old, new = q_function(lj, taus[0]), q_function(lj, taus[1])
        return abs(new - old) / abs(old)

    changes = [report_change(em_iterates[j]) for j in (0, h, -1)]
    assert max(changes) > 2 * min(changes)  # the same round, three different "changes"


# ---------------------------------------------------------------- report 3.1, 3.3


def test_21_categorical_prior_gaussian_likelihood(mixture_data):
    """p(z) categorical on K values, p(x | z = k) Gaussian: the marginal is the package's
    mixture density; a two-valued (Bernoulli) prior cannot give the three-cluster fit."""
    X = mixture_data
    gm = GaussianMixture(3, random_state=0).fit(X)
    likelihood = np.column_stack([
        multivariate_normal(gm.means_[k], gm.variances_[k] * np.eye(X.shape[1])).pdf(X)
        for k in range(3)])
    joint = gm.weights_ * likelihood
    assert np.allclose(np.log(joint.sum(1)), gm.score_samples(X))
    # the posterior p(z | x) is a categorical distribution over the K labels
    assert np.allclose(gm.predict_proba(X), joint / joint.sum(1, keepdims=True))
    bernoulli = GaussianMixture(2, n_init=3, random_state=0).fit(X)  # best two-valued prior
    assert bernoulli.score(X) < gm.score(X) - 0.1


def test_17_joint_in_the_numerator_from_line_two():
    """log p(x) = E_q[log (p(x, z) / q) (q / p(z | x))]; with p(x) in the numerator (the
    report's second line) the right side is log p(x) - E_q[log p(z | x)]."""
    rng = np.random.default_rng(0)
    model = LinearGaussianModel(W=rng.normal(size=(5, 2)), b=rng.normal(size=5), noise_var=0.5)
    x, _ = model.sample(1, random_state=1)
    log_px = model.log_evidence(x)[0]
    post_mean, post_cov = model.posterior(x)
    q = multivariate_normal(post_mean[0] + 1.0, np.diag([0.3, 2.0]))
    z = q.rvs(4000, random_state=2)
    log_q, log_post = q.logpdf(z), multivariate_normal(post_mean[0], post_cov).logpdf(z)
    log_joint = (multivariate_normal(np.zeros(2), np.eye(2)).logpdf(z)
                 + multivariate_normal.logpdf(x[0] - z @ model.W.T - model.b,
                                              np.zeros(5), model.noise_var * np.eye(5)))
    book = (log_joint - log_q) + (log_q - log_post)
    assert np.allclose(book, log_px, rtol=1e-10)  # exact for every z
    report = (log_px - log_q) + (log_q - log_post)
    assert abs(report.mean() - log_px) > 1.0
    # and the third line: the report's first term plus the KL is not log p(x) either
    assert abs((log_px - log_q).mean() + (log_q - log_post).mean() - log_px) > 1.0


@pytest.fixture(scope="module")
def trained_vae():
    digits = load_digits("binary", random_state=0)
    seed_everything(0)
    vae = VAE(64, latent_dim=2, hidden=(64,))
    train(vae, lambda m, x, g: -elbo(m, x, generator=g).elbo.mean(), digits.X_train,
          epochs=10, batch_size=64, lr=3e-3, seed=0, progress=False)
    return vae, digits.X_test[:200]


def test_22_samples_from_prior_q_reconstructs(trained_vae):
    """Decoding z ~ q(z | x) gives back x (a reconstruction, and it needs an x); the
    package generates new images from z ~ p(z) = N(0, I)."""
    vae, x = trained_vae
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        mu, logvar = vae.encode(x)
        from_q = reparameterize(mu, logvar, generator=generator)
        from_prior = torch.randn(from_q.shape, generator=generator)
        fit_q = vae.log_likelihood(x, vae.decode(from_q))
        fit_prior = vae.log_likelihood(x, vae.decode(from_prior))
    # the report's "new sample" from q(z | x) is close to the x it was encoded from
    assert fit_q.mean() > fit_prior.mean() + 5.0
    assert (fit_q > fit_prior).float().mean() > 0.8
    # VAE.sample draws the codes from the prior
    drawn = vae.sample(7, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        by_hand = vae.mean(vae.decode(torch.randn((7, 2), generator=torch.Generator().manual_seed(3))))
    assert torch.equal(drawn, by_hand)


# ---------------------------------------------------------------- report 4.2


def test_23_commitment_sees_scale_not_dimension():
    """beta ||z_e - sg[e]||^2 grows with the scale of z_e and pulls z_e back to its code;
    it cannot see the dimension (zero-padding both sides leaves it unchanged) and does not
    move the codebook."""
    torch.manual_seed(0)
    vq = VectorQuantizer(num_codes=8, dim=4, beta=0.25)
    direction = torch.randn(100, 4)
    losses = []
    for scale in (1.0, 10.0):
        z_e = (scale * direction).requires_grad_()
        out = vq(z_e)
        out.commitment_loss.backward()
        losses.append(out.commitment_loss.item())
        assert vq.codebook.grad is None or not vq.codebook.grad.any()  # the codes: untouched
        codes = vq.codebook.detach()[out.indices]
        # the gradient is 2 beta (z_e - e) / N: a descent step moves z_e towards its code
        assert torch.allclose(z_e.grad, 2 * 0.25 * (z_e.detach() - codes) / len(z_e), atol=1e-6)
        stepped = z_e.detach() - 50.0 * z_e.grad
        assert (stepped - codes).norm() < (z_e.detach() - codes).norm()
    assert losses[1] > 50 * losses[0]  # the loss sees the scale ...
    padded = VectorQuantizer(num_codes=8, dim=6, beta=0.25)
    with torch.no_grad():
        padded.codebook.copy_(F.pad(vq.codebook, (0, 2)))
    same = padded(F.pad(direction, (0, 2))).commitment_loss.item()
    assert same == pytest.approx(losses[0], rel=1e-6)  # ... and not the dimension


def test_24_straight_through_gradient_is_the_decoders():
    """The gradient at z_e is the decoder's gradient at its input z_q, copied; not a
    gradient computed at z_e, and not the quantiser's true derivative (zero)."""
    torch.manual_seed(0)
    model = VQVAE(num_codes=8, code_dim=4, hidden=16, ema=False)
    x = (torch.rand(6, 64) > 0.5).float()

    def reconstruction_nll(decoder_input):
        logits = model.decoder(decoder_input.permute(0, 3, 1, 2)).flatten(1)
        return F.binary_cross_entropy_with_logits(logits, x, reduction="sum")

    z_e = model.encode_continuous(x).detach().requires_grad_()
    out = model.quantizer(z_e)
    reconstruction_nll(out.quantized).backward()
    z_q = model.quantizer.codebook.detach()[out.indices].requires_grad_()
    reconstruction_nll(z_q).backward()
    assert torch.allclose(z_e.grad, z_q.grad, atol=1e-7)  # the decoder's gradient at z_q
    assert z_e.grad.abs().sum() > 0
    # what else it could have been: the decoder's gradient at z_e, or the true derivative
    at_z_e = z_e.detach().clone().requires_grad_()
    reconstruction_nll(at_z_e).backward()
    assert (at_z_e.grad - z_q.grad).norm() > 0.1 * z_q.grad.norm()
    looked_up = model.quantizer.codebook[model.quantizer.nearest(z_e.reshape(-1, 4))]
    assert not looked_up.requires_grad or torch.autograd.grad(
        looked_up.sum(), z_e, allow_unused=True)[0] is None


# ---------------------------------------------------------------- report 5.1


@pytest.mark.parametrize("cls", [PixelCNN, GatedPixelCNN])
def test_25_all_conditionals_in_one_pass(cls):
    """log_prob evaluates all H W conditionals with one forward pass; computing them one at a
    time (as sampling must) takes H W passes, with the same receptive field."""
    torch.manual_seed(0)
    model = cls(4, hidden=8, n_layers=3)
    height, width = 5, 6
    grids = torch.randint(0, 4, (3, height, width))
    calls = []
    hook = model.register_forward_hook(lambda *args: calls.append(1))
    try:
        with torch.no_grad():
            one_pass = model.log_prob(grids)
        assert len(calls) == 1
        # each conditional on its own: hide the position and everything after it
        calls.clear()
        one_at_a_time = torch.zeros(len(grids))
        flat = grids.view(len(grids), -1)
        with torch.no_grad():
            for i in range(height * width):
                visible = flat.clone()
                visible[:, i:] = 0
                logits = model(visible.view_as(grids))
                log_cond = torch.log_softmax(logits.view(len(grids), 4, -1)[:, :, i], dim=1)
                one_at_a_time += log_cond.gather(1, flat[:, i:i + 1]).squeeze(1)
        assert len(calls) == height * width
        calls.clear()
        body = model._body  # the full network, which sample(naive=True) calls directly
        passes = []
        model._body = lambda *args: (passes.append(1), body(*args))[1]
        naive = model.sample(1, (height, width), generator=0, naive=True)
        assert len(passes) == height * width  # sampling as written: one pass per position
        del model._body
        fast = model.sample(1, (height, width), generator=0)  # only what each position sees
        assert torch.equal(fast, naive)
    finally:
        hook.remove()
    assert torch.allclose(one_pass, one_at_a_time, atol=1e-5)
    # the receptive field is not bounded by one kernel: three layers see beyond it
    dependence = input_dependence(model, (height, width))
    last = height * width - 1
    assert dependence[last].sum() > len(mask_offsets(3, "A"))
