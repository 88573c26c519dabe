"""The VQ-VAE's lower bound on log p(x) (vqvae.vqvae_bound)."""

import math

import pytest
import torch

from latent_notes.pixelcnn import GatedPixelCNN
from latent_notes.vqvae import VQVAE, vqvae_bound


@pytest.fixture
def model_and_images():
    torch.manual_seed(0)
    model = VQVAE(num_codes=8, code_dim=4, hidden=8)
    x = (torch.rand(6, 64) < 0.3).float()
    return model, x


def test_uniform_prior_costs_log_k_per_position(model_and_images):
    model, x = model_and_images
    bound = vqvae_bound(model, x)
    assert torch.allclose(bound.kl, torch.full((6,), 16 * math.log(8)))
    # reconstruction: the Bernoulli log-likelihood of the decoded nearest-code grid
    p = model.reconstruct(x)
    expected = (x * p.log() + (1 - x) * (1 - p).log()).sum(1)
    assert torch.allclose(bound.reconstruction, expected, atol=1e-4)
    assert torch.allclose(bound.elbo, bound.reconstruction - bound.kl)


def test_learned_prior_replaces_the_kl_by_its_negative_log_probability(model_and_images):
    model, x = model_and_images
    torch.manual_seed(1)
    prior = GatedPixelCNN(n_levels=8, hidden=8, n_layers=2)
    bound = vqvae_bound(model, x, log_prior=prior.log_prob)
    with torch.no_grad():
        expected_kl = -prior.log_prob(model.encode(x))
    assert torch.allclose(bound.kl, expected_kl)
    # a prior that puts all its mass on the observed grids has zero KL
    grids = model.encode(x)
    def point_mass(indices):
        return torch.where((indices == grids).flatten(1).all(1), 0.0, -math.inf)
    assert torch.equal(vqvae_bound(model, x, log_prior=point_mass).kl, torch.zeros(6))


def test_bad_prior_output_and_inputs_raise(model_and_images):
    model, x = model_and_images
    with pytest.raises(ValueError, match="log_prior"):
        vqvae_bound(model, x, log_prior=lambda idx: torch.zeros(3))
    with pytest.raises(TypeError, match="floating-point"):
        vqvae_bound(model, x.long())
    with pytest.raises(ValueError, match="shape"):
        vqvae_bound(model, x[:, :10])
