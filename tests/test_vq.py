"""Vector quantisers and the VQ-VAE: every gradient route, the EMA update, usage statistics."""

import math

import pytest
import torch

import checks
from latent_notes.datasets import load_digits
from latent_notes.training import seed_everything, train
from latent_notes.vq import VectorQuantizer, VectorQuantizerEMA, perplexity
from latent_notes.vqvae import VQVAE, code_usage, vqvae_loss


def make_vq(beta=0.25, K=16, D=4, seed=0):
    torch.manual_seed(seed)
    vq = VectorQuantizer(K, D, beta=beta)
    vq.codebook.data = torch.randn(K, D)  # spread the codes so that many are chosen
    return vq


def test_straight_through_gradient_equals_upstream_gradient():
    """Eq. vq-straight-through; also in a whole VQ-VAE, the reconstruction loss reaches the encoder."""
    checks.check_straight_through()


def test_reconstruction_loss_gives_the_codebook_zero_gradient():
    vq = make_vq()
    out = vq(torch.randn(50, 4, requires_grad=True))
    (out.quantized.sin().sum()).backward()
    assert vq.codebook.grad is None or not vq.codebook.grad.any()


def test_codebook_loss_gives_the_encoder_zero_gradient():
    """Its gradient in a chosen code e_k is 2 (e_k - mean of its vectors) * (share of the vectors)."""
    checks.check_codebook_loss()


def test_beta_scales_only_the_encoders_commitment_gradient():
    grads = {}
    for beta in (0.25, 1.0):
        vq = make_vq(beta=beta)
        z_e = torch.randn(50, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
        vq(z_e).commitment_loss.backward()
        assert vq.codebook.grad is None or not vq.codebook.grad.any()
        grads[beta] = z_e.grad
    assert torch.allclose(grads[1.0], 4 * grads[0.25])
    assert grads[1.0].abs().sum() > 0
    # value, sign and size: 2 beta (z_e - e) / N, a pull of each z_e towards its code
    checks.check_commitment_loss()


def test_nearest_code_equals_brute_force_argmin():
    checks.check_nearest_code()


def test_ema_with_decay_zero_is_one_lloyd_step():
    torch.manual_seed(0)
    ema = VectorQuantizerEMA(5, 3, decay=0.0, epsilon=1e-9)
    points = torch.randn(500, 3) * 3
    ema._set_codebook(points[:5].clone())
    assignment = ema.nearest(points)
    lloyd = torch.stack([points[assignment == k].mean(0) for k in range(5)])
    ema.train()
    ema(points)
    assert torch.allclose(ema.codebook, lloyd, atol=1e-5)


@pytest.mark.parametrize("decay,epsilon", [(0.8, 0.1), (0.99, 1e-5), (0.5, 1.0)])
def test_ema_with_decay_follows_the_moving_averages(decay, epsilon):
    """decay > 0: moving counts and sums, Laplace-smoothed counts, checked by hand over several batches."""
    checks.check_ema_moving_average(decay=decay, epsilon=epsilon)


def test_ema_state_is_in_buffers_not_parameters_and_frozen_in_eval():
    ema = VectorQuantizerEMA(8, 2)
    assert list(ema.parameters()) == []
    assert {name for name, _ in ema.named_buffers()} == {"codebook", "cluster_size", "embed_sum"}
    before = ema.codebook.clone()
    ema.eval()
    ema(torch.randn(20, 2))
    assert torch.equal(ema.codebook, before)
    assert set(VectorQuantizerEMA(8, 2).state_dict()) == {"codebook", "cluster_size", "embed_sum"}


def test_perplexity_is_k_for_uniform_use_and_one_for_a_single_code():
    assert math.isclose(perplexity(torch.tensor([5, 5, 5, 5])).item(), 4.0, rel_tol=1e-6)
    assert math.isclose(perplexity(torch.tensor([0, 9, 0, 0])).item(), 1.0, rel_tol=1e-6)
    vq = make_vq(K=4, D=2)
    vq.codebook.data = torch.tensor([[0.0, 0], [10, 0], [0, 10], [10, 10]])
    out = vq(vq.codebook.detach().repeat(3, 1))
    assert math.isclose(out.perplexity.item(), 4.0, rel_tol=1e-6)
    assert out.usage.item() == 1.0 and out.dead_codes.item() == 0
    out = vq(torch.zeros(6, 2))
    assert math.isclose(out.perplexity.item(), 1.0) and out.dead_codes.item() == 3


def test_quantises_in_float32_for_any_input_dtype_and_shape():
    vq = make_vq()
    out = vq(torch.randn(2, 2, 2, 4, dtype=torch.float64))
    assert out.quantized.dtype == torch.float64 and out.indices.shape == (2, 2, 2)
    assert out.codebook_loss.dtype == torch.float32


def test_opt_in_extras_kmeans_init_and_dead_code_restart():
    vq = make_vq(K=4, D=2)
    blobs = torch.cat([torch.randn(50, 2) * 0.1 + c for c in
                       (torch.tensor([0.0, 0]), torch.tensor([5.0, 0]),
                        torch.tensor([0.0, 5]), torch.tensor([5.0, 5]))])
    vq.init_from_data(blobs, random_state=0)
    assert vq(blobs).dead_codes.item() == 0
    vq.codebook.data[0] = torch.tensor([100.0, 100.0])  # a code nobody chooses
    out = vq(blobs)
    assert out.dead_codes.item() == 1
    assert vq.restart_dead_codes(blobs, out.indices, generator=torch.Generator().manual_seed(0)) == 1
    assert vq(blobs).dead_codes.item() == 0


def test_bad_inputs():
    vq = make_vq()
    with pytest.raises(ValueError, match="last axis"):
        vq(torch.randn(3, 5))
    with pytest.raises(TypeError, match="floating-point"):
        vq(torch.ones(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="NaN"):
        vq(torch.full((3, 4), float("nan")))
    with pytest.raises(ValueError, match="beta"):
        VectorQuantizer(4, 2, beta=-1)
    with pytest.raises(ValueError, match="decay"):
        VectorQuantizerEMA(4, 2, decay=1.0)
    model = VQVAE(num_codes=8, code_dim=4, hidden=8)
    with pytest.raises(ValueError, match="shape"):
        model(torch.zeros(2, 63))
    with pytest.raises(ValueError, match="0..7"):
        model.decode_indices(torch.full((1, 4, 4), 9))


def test_vqvae_trains_and_its_loss_parts_add_up():
    digits = load_digits("binary")
    seed_everything(0)
    model = VQVAE(num_codes=8, code_dim=4, hidden=8, ema=False)
    parts = vqvae_loss(model, digits.X_train[:64])
    assert torch.allclose(parts.total, parts.reconstruction + parts.codebook + parts.commitment)
    history = train(model, lambda m, x, g: vqvae_loss(m, x).total, digits.X_train[:256],
                    epochs=5, batch_size=64, lr=3e-3, seed=0, progress=False)
    assert history.train_loss[-1] < history.train_loss[0]
    idx = model.encode(digits.X_test[:10])
    assert idx.shape == (10, 4, 4) and idx.dtype == torch.int64
    assert model.decode_indices(idx).shape == (10, 64)
    assert torch.allclose(model.reconstruct(digits.X_test[:10]), model.decode_indices(idx))
    assert code_usage(model, digits.X_test).sum() == 16 * len(digits.X_test)
