"""Devices: every torch model and helper on the CPU and, where one is present, on a CUDA GPU.

Tests take a ``device`` parameter: ``"cpu"`` always runs; ``"cuda"`` carries the ``gpu``
marker and is skipped cleanly without a CUDA GPU (``make test-gpu`` runs only those). The
code paths that move labels, inputs and generators between devices are also exercised on
the CPU alone: through PyTorch's ``meta`` device (shapes and devices, no data), and by
making a model report a CUDA device before any CUDA work is done.
"""

import sys

import pytest
import torch

from latent_notes.pixelcnn import GatedPixelCNN, PixelCNN, input_dependence, pixelcnn_nll
from latent_notes.training import train
from latent_notes.vae import VAE, elbo, iwae_bound
from latent_notes.vqvae import VQVAE, vqvae_loss

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
        not torch.cuda.is_available(), reason="no CUDA GPU here")]),
]
PIXELCNNS = [PixelCNN, GatedPixelCNN]


def _conditional(cls, device, seed=0):
    torch.manual_seed(seed)
    return cls(4, hidden=8, n_layers=3, num_classes=3).to(device)


# ---------------------------------------------------------------- PixelCNN
@pytest.mark.parametrize("cls", PIXELCNNS)
@pytest.mark.parametrize("device", DEVICES)
def test_sample_takes_labels_on_the_cpu(cls, device):
    model = _conditional(cls, device)
    y_cpu = torch.tensor([0, 1, 2, 0])
    grids = model.sample(4, (5, 6), generator=3, y=y_cpu)
    assert grids.device.type == device and grids.shape == (4, 5, 6)
    same = model.sample(4, (5, 6), generator=3, y=y_cpu.to(device))
    assert torch.equal(grids, same)
    naive = model.sample(4, (5, 6), generator=3, y=y_cpu, naive=True)
    assert (naive == grids).double().mean() >= 0.999


@pytest.mark.parametrize("cls", PIXELCNNS)
@pytest.mark.parametrize("device", DEVICES)
def test_log_prob_takes_grids_and_labels_on_the_cpu(cls, device):
    model = _conditional(cls, device)
    x = torch.randint(0, 4, (3, 4, 4), generator=torch.Generator().manual_seed(0))
    y = torch.tensor([2, 0, 1])
    lp = model.log_prob(x, y)
    assert lp.device.type == device and lp.shape == (3,) and bool((lp < 0).all())
    reference = _conditional(cls, "cpu").log_prob(x, y)
    assert torch.allclose(lp.cpu(), reference, atol=1e-4)
    assert torch.allclose(pixelcnn_nll(model, x, y).cpu(), -reference.mean(), atol=1e-4)


@pytest.mark.parametrize("cls", PIXELCNNS)
@pytest.mark.parametrize("device", DEVICES)
def test_input_dependence_of_a_class_conditional_model(cls, device):
    dep = input_dependence(_conditional(cls, device), (4, 4))
    assert dep.device.type == "cpu" and dep.shape == (16, 16)
    assert not torch.triu(dep).any() and dep.any()
    assert torch.equal(dep, input_dependence(_conditional(cls, "cpu"), (4, 4)))


@pytest.mark.parametrize("device", DEVICES)
def test_a_seed_gives_the_same_grids_on_the_device(device):
    model = GatedPixelCNN(3, hidden=8, n_layers=2).to(device)
    a = model.sample(3, (4, 4), generator=7)
    b = model.sample(3, (4, 4), generator=torch.Generator(device=device).manual_seed(7))
    assert a.device.type == device and torch.equal(a, b)


@pytest.mark.parametrize("cls", PIXELCNNS)
def test_a_generator_on_another_device_is_refused_with_the_fix(cls, monkeypatch):
    """A CPU generator for a CUDA model: ValueError naming torch.Generator(device='cuda').

    Without a GPU the model is made to report a CUDA device; the check happens before
    any tensor is created, so nothing runs on CUDA.
    """
    model = cls(3, hidden=4, n_layers=1)
    monkeypatch.setattr(model, "_device", lambda: torch.device("cuda"))
    for naive in (False, True):
        with pytest.raises(ValueError, match=r"generator is on cpu.*torch\.Generator\(device='cuda'\)"):
            model.sample(2, (2, 2), generator=torch.Generator().manual_seed(0), naive=naive)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
def test_a_cpu_generator_for_a_cuda_model_is_refused_on_a_real_gpu():
    model = GatedPixelCNN(3, hidden=4, n_layers=1).cuda()
    # The message names the model's device exactly ('cuda:0' on a real GPU).
    with pytest.raises(ValueError, match=r"torch\.Generator\(device='cuda(:\d+)?'\)"):
        model.sample(2, (2, 2), generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("cls", PIXELCNNS)
def test_labels_are_moved_to_the_models_device(cls):
    """On the meta device (no data): CPU labels come out as a conditioning term on meta."""
    model = cls(4, hidden=8, n_layers=1, num_classes=3).to("meta")
    cond = model._condition(torch.tensor([0, 2]), 2, model.embedding)
    assert cond.device.type == "meta" and cond.shape[0] == 2


# ---------------------------------------------------------------- VAE, VQ-VAE
@pytest.mark.parametrize("device", DEVICES)
def test_vae_bounds_and_sampling_take_cpu_inputs(device):
    torch.manual_seed(0)
    model = VAE(6, latent_dim=2, hidden=(8,)).to(device)
    x = torch.rand(5, 6, generator=torch.Generator().manual_seed(0)).round()
    terms = elbo(model, x, generator=0)
    assert terms.elbo.device.type == device
    assert iwae_bound(model, x, 4, generator=1).device.type == device
    assert model.sample(3, generator=2).device.type == device
    assert model.reconstruct(x).device.type == device


@pytest.mark.parametrize("device", DEVICES)
def test_vqvae_loss_takes_cpu_inputs(device):
    torch.manual_seed(0)
    model = VQVAE(num_codes=8, code_dim=4, hidden=8).to(device)
    x = torch.rand(4, 64, generator=torch.Generator().manual_seed(0))
    loss = vqvae_loss(model, x).total
    assert loss.device.type == device and torch.isfinite(loss)
    assert model.encode(x).device.type == device


# ---------------------------------------------------------------- train
def _tiny_regression(device, seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 1)
    data = torch.randn(50, 4, generator=torch.Generator().manual_seed(seed))

    def loss(m, batch, g):
        return (m(batch[:, :3]).squeeze(1) - batch[:, 3]).pow(2).mean()

    return model, loss, data


@pytest.mark.parametrize("device", DEVICES)
def test_train_history_is_the_example_weighted_mean_of_the_batch_losses(device):
    """The loss summed on the device and read once per epoch equals the per-step reading."""
    model, loss, data = _tiny_regression(device)
    seen = []

    def recording(m, batch, g):
        value = loss(m, batch, g)
        seen.append((value.item(), len(batch)))
        return value

    history = train(model, recording, data, epochs=3, batch_size=16, lr=1e-2, device=device,
                    progress=False)
    assert len(seen) == 3 * 4  # batches of 16, 16, 16, 2
    for epoch in range(3):
        steps = seen[4 * epoch:4 * epoch + 4]
        expected = sum(v * n for v, n in steps) / sum(n for _, n in steps)
        assert history.train_loss[epoch] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert history.train_loss[-1] < history.train_loss[0]


@pytest.mark.parametrize("device", DEVICES)
def test_a_nan_loss_still_raises_naming_its_epoch(device):
    model, loss, data = _tiny_regression(device)
    calls = []

    def nan_in_epoch_one(m, batch, g):
        calls.append(None)
        value = loss(m, batch, g)
        return value * float("nan") if len(calls) == 6 else value  # epoch 1, step 1

    with pytest.raises(FloatingPointError, match=r"epoch 1 \(step 1\)"):
        train(model, nan_in_epoch_one, data, epochs=3, batch_size=16, device=device,
              progress=False)
    assert len(calls) == 8  # the epoch is finished, the next one never starts


@pytest.mark.parametrize("device", DEVICES)
def test_an_infinite_loss_raises_too(device):
    model, loss, data = _tiny_regression(device)
    with pytest.raises(FloatingPointError, match="epoch 0"):
        train(model, lambda m, b, g: loss(m, b, g) + float("inf"), data, epochs=1,
              device=device, progress=False)


def test_train_reads_the_device_once_per_epoch_not_per_step(monkeypatch):
    """Count the host reads (item, bool, float, int) that training.py itself makes.

    The old loop made two per step (``isfinite`` as a bool, ``loss.item()``); the loop now
    makes a fixed number per epoch, whatever the number of steps.
    """
    import latent_notes.training as training

    reads = []
    for method in ("item", "__bool__", "__float__", "__int__"):
        original = getattr(torch.Tensor, method)

        def counted(self, *args, _original=original, _method=method):
            if sys._getframe(1).f_code.co_filename == training.__file__:
                reads.append(_method)
            return _original(self, *args)

        monkeypatch.setattr(torch.Tensor, method, counted)
    model, loss, data = _tiny_regression("cpu")
    train(model, loss, data, epochs=2, batch_size=2, progress=False)  # 25 steps per epoch
    assert 0 < len(reads) <= 2 * 2, reads


def test_loss_fn_must_return_a_scalar_tensor():
    model, _, data = _tiny_regression("cpu")
    with pytest.raises(TypeError, match="loss_fn must return a scalar"):
        train(model, lambda m, b, g: m(b[:, :3]), data, epochs=1, progress=False)
    with pytest.raises(TypeError, match="loss_fn must return a scalar"):
        train(model, lambda m, b, g: 1.0, data, epochs=1, progress=False)
