"""The VQ-VAE's lower bound on log p(x) (vqvae.vqvae_bound)."""

import math

import pytest
import torch

from latent_notes.pixelcnn import GatedPixelCNN
from latent_notes.vqvae import VQVAE, vqvae_bound, vqvae_loss


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


# ------------------------------------------------- 28 x 28 images (the appendix's VQ-VAE)
def test_28_by_28_model_maps_images_to_7_by_7_grids_and_back():
    torch.manual_seed(0)
    model = VQVAE(num_codes=8, code_dim=4, hidden=8, image_size=28, downsample=2).eval()
    x = (torch.rand(5, 784) > 0.7).float()  # (eval: the EMA codebook stays put between calls)
    out = model(x)
    assert out.logits.shape == (5, 784) and out.z_e.shape == (5, 7, 7, 4)
    grids = model.encode(x)
    assert grids.shape == (5, 7, 7)
    assert model.decode_indices(grids).shape == (5, 784)
    assert torch.allclose(model.reconstruct(x.view(5, 1, 28, 28)), model.decode_indices(grids))
    bound = vqvae_bound(model, x)
    assert torch.allclose(bound.kl, torch.full((5,), 49 * math.log(8)))
    loss = vqvae_loss(model, x)
    assert torch.isclose(loss.reconstruction, -bound.reconstruction.mean(), rtol=1e-5)
    with pytest.raises(ValueError, match="784"):
        model(torch.rand(2, 64))
    with pytest.raises(ValueError, match="indices"):
        model.decode_indices(torch.zeros(1, 4, 4, dtype=torch.long))


def test_default_model_keeps_the_8_by_8_layers_in_their_order():
    """The 8 x 8 chapters' VQ-VAE: the same layers, created in the same order as before
    image_size and downsample existed (so the same seed gives the same weights)."""
    model = VQVAE(num_codes=32, code_dim=8, hidden=32)
    assert [type(m).__name__ for m in model.encoder] == ["Conv2d", "ReLU", "Conv2d", "ReLU",
                                                         "Conv2d"]
    assert [type(m).__name__ for m in model.decoder] == ["Conv2d", "ReLU", "ConvTranspose2d",
                                                         "ReLU", "Conv2d"]
    assert model.grid_size == 4
    names = [name for name, _ in model.named_parameters()]
    assert names[:4] == ["encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias"]
    # created in execution order: the first layer's weights come first from the seed
    torch.manual_seed(0)
    first = torch.nn.Conv2d(1, 32, 3, padding=1)
    torch.manual_seed(0)
    assert torch.equal(VQVAE(num_codes=32, code_dim=8, hidden=32).encoder[0].weight, first.weight)


def test_image_size_must_be_divisible_by_the_halvings():
    with pytest.raises(ValueError, match="image_size"):
        VQVAE(image_size=30, downsample=2)
    with pytest.raises(ValueError, match="downsample"):
        VQVAE(downsample=0)
