"""A small convolutional VQ-VAE for the 8 x 8 digits (chapter :doc:`/book/vqvae`).

The encoder maps a 1 x 8 x 8 image to a 4 x 4 grid of ``code_dim``-dimensional
vectors (one stride-2 convolution halves each side); the quantiser replaces
each by one of ``num_codes`` codes, so an image becomes 16 discrete indices;
the decoder maps the grid of codes back to 8 x 8 Bernoulli logits. With
``image_size=28, downsample=2`` the same design maps a 28 x 28 MNIST digit to
a 7 x 7 grid (appendix :doc:`/book/scaling`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from ._validation import check_bool, check_int, check_tensor, module_dtype_device
from .vq import VectorQuantizer, VectorQuantizerEMA, VQOutput

__all__ = ["VQVAE", "VQVAEOutput", "VQVAELoss", "vqvae_loss", "code_usage",
           "VQVAEBound", "vqvae_bound",
           "ProfileVQVAE", "ProfileVQVAEOutput", "profile_vqvae_loss"]


class VQVAEOutput(NamedTuple):
    """What ``VQVAE.forward`` returns: decoder logits, the encoder output and the quantiser's output."""

    logits: torch.Tensor
    """Bernoulli logits of the pixels, shape ``(batch, image_size ** 2)``."""
    z_e: torch.Tensor
    """Encoder output, one vector per code position, shape ``(batch, G, G, code_dim)`` (G = ``grid_size``)."""
    vq: VQOutput
    """What the quantiser returned for ``z_e``."""


class VQVAELoss(NamedTuple):
    """The loss to minimise and its parts (eq. :math:numref:`vq-loss`), batch means."""

    total: torch.Tensor
    """The loss to minimise, the sum of the three terms below."""
    reconstruction: torch.Tensor
    r"""The reconstruction's negative log-likelihood :math:`-\log p(x \mid z_q)`."""
    codebook: torch.Tensor
    r"""The codebook term :math:`\|\mathrm{sg}[z_e] - e\|^2`."""
    commitment: torch.Tensor
    r"""The commitment term :math:`\beta \|z_e - \mathrm{sg}[e]\|^2`."""


class VQVAE(nn.Module):
    """Convolutional VQ-VAE for square binary images (8 x 8 digits by default).

    The encoder halves the image ``downsample`` times with stride-2
    convolutions, so an ``image_size`` x ``image_size`` image becomes a grid of
    ``image_size / 2**downsample`` code positions on each side: 8 x 8 digits a
    4 x 4 grid (the defaults), 28 x 28 MNIST digits a 7 x 7 grid with
    ``image_size=28, downsample=2``. The decoder mirrors it with transposed
    convolutions.

    Parameters
    ----------
    num_codes : int, default=32
        Codebook size :math:`K`.
    code_dim : int, default=16
        Dimension ``D`` of each code.
    hidden : int, default=64
        Channels of the hidden convolutions.
    beta : float, default=0.25
        Commitment weight.
    ema : bool, default=True
        Learn the codebook by moving averages (:class:`latent_notes.vq.VectorQuantizerEMA`)
        instead of by its loss (:class:`latent_notes.vq.VectorQuantizer`).
    decay : float, default=0.99
        EMA decay (with ``ema=True``).
    image_size : int, default=8
        Height and width of the images.
    downsample : int, default=1
        How many times the encoder halves the image; ``image_size`` must be
        divisible by ``2**downsample``.
    """

    def __init__(self, num_codes=32, code_dim=16, hidden=64, beta=0.25, ema=True, decay=0.99,
                 image_size=8, downsample=1):
        super().__init__()
        num_codes = check_int(num_codes, "num_codes", 1)
        code_dim = check_int(code_dim, "code_dim", 1)
        hidden = check_int(hidden, "hidden", 1)
        ema = check_bool(ema, "ema")
        self.image_size = check_int(image_size, "image_size", 2)
        downsample = check_int(downsample, "downsample", 1, 8)
        if self.image_size % 2 ** downsample:
            raise ValueError(f"image_size must be divisible by 2**downsample = {2 ** downsample}; "
                             f"got image_size={self.image_size}, downsample={downsample}")
        self.downsample = downsample
        self.grid_size = self.image_size // 2 ** downsample
        # Layers are created in the order they run (the seeded initialisation depends on it).
        self.encoder = nn.Sequential(
            nn.Conv2d(1, hidden, 3, padding=1), nn.ReLU(),
            *[m for _ in range(downsample)  # each halves the side
              for m in (nn.Conv2d(hidden, hidden, 4, stride=2, padding=1), nn.ReLU())],
            nn.Conv2d(hidden, code_dim, 1))
        self.quantizer = (VectorQuantizerEMA(num_codes, code_dim, beta=beta, decay=decay) if ema
                          else VectorQuantizer(num_codes, code_dim, beta=beta))
        self.decoder = nn.Sequential(
            nn.Conv2d(code_dim, hidden, 3, padding=1), nn.ReLU(),
            *[m for _ in range(downsample)  # each doubles the side
              for m in (nn.ConvTranspose2d(hidden, hidden, 4, stride=2, padding=1), nn.ReLU())],
            nn.Conv2d(hidden, 1, 3, padding=1))

    def _as_images(self, x, dtype=None, device=None, binary=False):
        """``x`` as a checked ``(batch, 1, S, S)`` tensor (S = ``image_size``), cast to ``dtype``
        and moved to ``device``.

        ``binary=True`` also requires values in [0, 1] (the Bernoulli decoder's targets).
        """
        size = self.image_size
        if isinstance(x, torch.Tensor) and x.dim() == 2 and x.shape[1] == size * size:
            x = x.reshape(-1, 1, size, size)
        # With binary=True one reduction checks both the range and finiteness (NaN fails it).
        x = check_tensor(x, "x", dtype=dtype, device=device, finite=not binary)
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, size, size):
            raise ValueError(f"x must have shape (batch, {size * size}) or (batch, 1, {size}, {size}); "
                             f"got {tuple(x.shape)}")
        if binary and not bool(((x >= 0) & (x <= 1)).all()):
            if not bool(torch.isfinite(x).all()):
                raise ValueError("x contains NaN or infinite values")
            raise ValueError("x must hold pixel values in [0, 1] (the decoder is Bernoulli); got "
                             f"values in [{float(x.min()):.3g}, {float(x.max()):.3g}]")
        return x

    def _images(self, x, binary=False):
        dtype, device = module_dtype_device(self)
        return self._as_images(x, dtype, device, binary)

    def encode_continuous(self, x):
        """The encoder output ``z_e``, channels last: shape (batch, G, G, code_dim), G = ``grid_size``."""
        return self.encoder(self._images(x)).permute(0, 2, 3, 1)

    def forward(self, x):
        """Encode, quantise (straight-through), decode."""
        return self._forward_images(self._images(x))

    def _forward_images(self, images):
        """:meth:`forward` on checked ``(batch, 1, S, S)`` images of the model's dtype."""
        z_e = self.encoder(images).permute(0, 2, 3, 1)
        vq = self.quantizer(z_e)
        logits = self.decoder(vq.quantized.permute(0, 3, 1, 2))
        return VQVAEOutput(logits.flatten(1), z_e, vq)

    @torch.no_grad()
    def encode(self, x):
        """The code indices of each image: a (batch, G, G) integer grid, G = ``grid_size``."""
        return self.quantizer.nearest(self.encode_continuous(x).reshape(-1, self.quantizer.dim)) \
            .view(-1, self.grid_size, self.grid_size)

    @torch.no_grad()
    def decode_indices(self, indices):
        """Pixel probabilities (batch, S * S) of the images whose code grids are ``indices``."""
        indices = _check_indices(indices, "indices", (None, self.grid_size, self.grid_size),
                                 self.quantizer)
        codes = self.quantizer.codebook[indices]  # (batch, G, G, D)
        return torch.sigmoid(self.decoder(codes.permute(0, 3, 1, 2)).flatten(1))

    @torch.no_grad()
    def reconstruct(self, x):
        """Pixel probabilities of the reconstruction of ``x``, shape (batch, S * S)."""
        return self.decode_indices(self.encode(x))


def _check_indices(indices, name, shape, quantizer):
    """Integer code indices of the given shape, on the codebook's device, within 0..K-1."""
    if isinstance(indices, torch.Tensor) and not torch.is_floating_point(indices) \
            and indices.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"{name} must be an int64 or int32 tensor; got dtype {indices.dtype}")
    indices = check_tensor(indices, name, kind="int", shape=shape,
                           device=quantizer.codebook.device)
    if bool(((indices < 0) | (indices >= quantizer.num_codes)).any()):
        raise ValueError(f"{name} must lie in 0..{quantizer.num_codes - 1}; got values in "
                         f"[{int(indices.min())}, {int(indices.max())}]")
    return indices.long()


def _check_model(model, cls):
    if not isinstance(model, cls):
        names = " or ".join(c.__name__ for c in (cls if isinstance(cls, tuple) else (cls,)))
        raise TypeError(f"model must be a latent_notes.vqvae {names}; got {type(model).__name__}")
    return model


def vqvae_loss(model, x):
    r"""Loss of a batch: Bernoulli reconstruction NLL per image plus the two VQ terms.

    :math:`-\log p(x \mid z_q) + \|\mathrm{sg}[z_e] - e\|^2 + \beta \|z_e - \mathrm{sg}[e]\|^2`, to be
    *minimised* (eq. :math:numref:`vq-loss`; errata 13). Every term is per
    image: the reconstruction is summed over the pixels (64 for 8 x 8 digits),
    the two squared norms over the code positions (16); all are averaged over
    the batch.
    """
    target = _check_model(model, VQVAE)._images(x, binary=True)
    out = model._forward_images(target)
    target = target.flatten(1)
    reconstruction = F.binary_cross_entropy_with_logits(out.logits, target, reduction="sum") / len(target)
    # The quantiser's losses are means over code positions (16 for an 8 x 8 digit).
    positions = out.vq.indices[0].numel()
    codebook = positions * out.vq.codebook_loss
    commitment = positions * out.vq.commitment_loss
    return VQVAELoss(reconstruction + codebook + commitment, reconstruction, codebook, commitment)


class VQVAEBound(NamedTuple):
    """Per-image evidence lower bound of a VQ-VAE and its two parts, in nats (see :func:`vqvae_bound`)."""

    elbo: torch.Tensor
    """``reconstruction - kl``, shape ``(batch,)``."""
    reconstruction: torch.Tensor
    r""":math:`\log p(x \mid z_q(x))`, shape ``(batch,)``."""
    kl: torch.Tensor
    r""":math:`-\log p(z(x))` under the prior, shape ``(batch,)``."""


@torch.no_grad()
def vqvae_bound(model, x, log_prior=None):
    r"""The VQ-VAE's lower bound on :math:`\log p(x)`, per image.

    The posterior :math:`q(z \mid x)` puts all its mass on the nearest-code grid
    :math:`z(x)` (eq. :math:numref:`vq-nearest`), so :math:`\mathbb{E}_q[\log q] = 0` and

    :math:`\mathrm{ELBO}(x) = \log p(x \mid z_q(x)) - \mathrm{KL}(q(z \mid x) \,\|\, p(z))`,
    :math:`\mathrm{KL} = -\log p(z(x))`.

    With the uniform prior over :math:`K` codes at each of the :math:`G^2` positions
    (16 for 8 x 8 digits) the KL is :math:`G^2 \log K` for every image (eq. :math:numref:`vq-kl`, per position
    :math:`\log K`); a learned prior replaces it by the prior's negative
    log-probability of the code grid.

    Parameters
    ----------
    model : VQVAE
    x : torch.Tensor of shape (batch, S * S) or (batch, 1, S, S), S = ``model.image_size``
        Binary images (the decoder is Bernoulli).
    log_prior : callable, optional
        ``log_prior(indices)`` with ``indices`` of shape (batch, G, G) returns
        :math:`\log p(z)` per grid, shape (batch,) (for example a PixelCNN's
        ``log_prob``). Uniform over the codes by default.

    Returns
    -------
    VQVAEBound
        ``elbo``, ``reconstruction`` (:math:`\log p(x \mid z_q)`) and ``kl``, each of
        shape (batch,).
    """
    images = _check_model(model, VQVAE)._images(x, binary=True)
    if log_prior is not None and not callable(log_prior):
        raise TypeError(f"log_prior must be callable or None; got {type(log_prior).__name__}")
    indices = model.encode(images)
    logits = model.decoder(model.quantizer.codebook[indices].permute(0, 3, 1, 2)).flatten(1)
    reconstruction = -F.binary_cross_entropy_with_logits(
        logits, images.flatten(1), reduction="none").sum(1)
    if log_prior is None:
        positions = indices[0].numel()
        kl = torch.full_like(reconstruction, positions * math.log(model.quantizer.num_codes))
    else:
        log_p = log_prior(indices)
        if not isinstance(log_p, torch.Tensor) or log_p.shape != reconstruction.shape:
            raise ValueError("log_prior(indices) must return a tensor of shape "
                             f"{tuple(reconstruction.shape)}; got "
                             f"{getattr(log_p, 'shape', type(log_p).__name__)}")
        if not bool((log_p <= 0).all()):  # also False for NaN
            raise ValueError("log_prior(indices) must return log-probabilities (<= 0, not NaN); "
                             f"got values up to {float(log_p.max()):.3g}")
        kl = -log_p.to(reconstruction)
    return VQVAEBound(reconstruction - kl, reconstruction, kl)


@torch.no_grad()
def code_usage(model, x):
    """How many times each code is chosen when encoding ``x``: a tensor of :math:`K` counts."""
    _check_model(model, (VQVAE, ProfileVQVAE))
    return torch.bincount(model.encode(x).flatten(), minlength=model.quantizer.num_codes)


class ProfileVQVAEOutput(NamedTuple):
    """What ``ProfileVQVAE.forward`` returns: the decoded mean, the encoder output, the quantiser's output."""

    mean: torch.Tensor
    """Decoded mean of each profile, shape ``(batch, input_dim)``."""
    z_e: torch.Tensor
    """Encoder output, one vector per sample, shape ``(batch, code_dim)``."""
    vq: VQOutput
    """What the quantiser returned for ``z_e``."""


class ProfileVQVAE(nn.Module):
    """A VQ-VAE for feature vectors: an MLP encoder, **one** code per sample, an MLP decoder.

    Used on microbiome profiles (CLR-transformed abundances, chapter
    :doc:`/book/microbiota`): the code a sample is assigned to is a discrete
    latent class, like a mixture component, but chosen through a learned
    non-linear encoder. The decoder outputs the mean of a Gaussian with unit
    variance, so the reconstruction term is half the squared error.

    Parameters
    ----------
    input_dim : int
    num_codes : int, default=8
        Number of latent classes :math:`K`.
    code_dim : int, default=4
    hidden : int, default=64
    beta : float, default=0.25
    ema : bool, default=True
    decay : float, default=0.99
    """

    def __init__(self, input_dim, num_codes=8, code_dim=4, hidden=64, beta=0.25, ema=True,
                 decay=0.99):
        super().__init__()
        input_dim = check_int(input_dim, "input_dim", 1)
        num_codes = check_int(num_codes, "num_codes", 1)
        code_dim = check_int(code_dim, "code_dim", 1)
        hidden = check_int(hidden, "hidden", 1)
        ema = check_bool(ema, "ema")
        self.input_dim = input_dim
        self.encoder = nn.Sequential(nn.Linear(input_dim, hidden), nn.ReLU(),
                                     nn.Linear(hidden, code_dim))
        self.quantizer = (VectorQuantizerEMA(num_codes, code_dim, beta=beta, decay=decay) if ema
                          else VectorQuantizer(num_codes, code_dim, beta=beta))
        self.decoder = nn.Sequential(nn.Linear(code_dim, hidden), nn.ReLU(),
                                     nn.Linear(hidden, input_dim))

    def _check(self, x):
        dtype, device = module_dtype_device(self)
        return check_tensor(x, "x", shape=(None, self.input_dim), dtype=dtype, device=device)

    def forward(self, x):
        """Encode, quantise (straight-through), decode: ``(mean, z_e, vq)``."""
        z_e = self.encoder(self._check(x))
        vq = self.quantizer(z_e)
        return ProfileVQVAEOutput(self.decoder(vq.quantized), z_e, vq)

    @torch.no_grad()
    def encode(self, x):
        """The code (latent class) of each sample: int64 tensor of shape (batch,)."""
        return self.quantizer.nearest(self.encoder(self._check(x)))

    @torch.no_grad()
    def decode_indices(self, indices):
        """The profile each code stands for: shape (len(indices), input_dim)."""
        indices = _check_indices(indices, "indices", (None,), self.quantizer)
        return self.decoder(self.quantizer.codebook[indices])


def profile_vqvae_loss(model, x):
    r""":math:`\|x - \mathtt{mean}\|^2 / 2 + \|\mathrm{sg}[z_e] - e\|^2 + \beta \|z_e - \mathrm{sg}[e]\|^2`, batch means.

    The reconstruction is the Gaussian negative log-likelihood with unit
    variance, up to a constant (eq. :math:numref:`vq-loss` with one code per
    sample).
    """
    x = _check_model(model, ProfileVQVAE)._check(x)
    out = model(x)
    reconstruction = 0.5 * (out.mean - x).pow(2).sum(1).mean()
    codebook, commitment = out.vq.codebook_loss, out.vq.commitment_loss
    return VQVAELoss(reconstruction + codebook + commitment, reconstruction, codebook, commitment)
