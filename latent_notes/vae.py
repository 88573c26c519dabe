r"""The variational auto-encoder (chapters :doc:`/book/elbo` and :doc:`/book/reparameterization`).

A Gaussian encoder :math:`q_\phi(z \mid x) = \mathcal{N}(\mu(x), \mathrm{diag}\, \sigma^2(x))`, a standard
normal prior :math:`p(z) = \mathcal{N}(0, I)` and a decoder :math:`p_\theta(x \mid z)` whose
likelihood is chosen by a parameter:

``"bernoulli"``
    binary pixels (or values in [0, 1] read as probabilities);
``"categorical"``
    integer grey levels ``0..n_levels-1`` (the digits' 17 levels);
``"gaussian"``
    continuous data, with one learned noise scale per feature.

The losses are plain functions of a model and a batch: :func:`elbo` returns
the reconstruction term and the analytic KL separately, :func:`iwae_bound`
the importance-weighted bound that tightens towards :math:`\log p(x)`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from ._validation import (check_choice, check_generator, check_int, check_tensor,
                          module_dtype_device)

__all__ = [
    "VAE",
    "VAEOutput",
    "ELBOTerms",
    "gaussian_kl",
    "reparameterize",
    "elbo",
    "iwae_bound",
    "LIKELIHOODS",
]

LIKELIHOODS = ("bernoulli", "categorical", "gaussian")
_LOG_2PI = math.log(2.0 * math.pi)


class VAEOutput(NamedTuple):
    """What ``VAE.forward`` returns: the encoder's ``mu`` and ``logvar``, the drawn ``z``, the decoder's output."""

    mu: torch.Tensor
    r"""Mean :math:`\mu(x)` of the encoder's Gaussian, shape ``(batch, latent_dim)``."""
    logvar: torch.Tensor
    r"""Its log-variance :math:`\log \sigma^2(x)`, same shape."""
    z: torch.Tensor
    r"""One draw :math:`z = \mu + \sigma \odot \epsilon`, same shape."""
    decoded: torch.Tensor
    r"""Parameters of :math:`p_\theta(x \mid z)` (see :meth:`VAE.decode`)."""


class ELBOTerms(NamedTuple):
    """Per-example terms of the ELBO, eq. :math:numref:`elbo-vae`."""

    elbo: torch.Tensor
    """``reconstruction - kl``, shape ``(batch,)``."""
    reconstruction: torch.Tensor
    r"""Monte Carlo estimate of :math:`\mathbb{E}_q[\log p_\theta(x \mid z)]`, shape ``(batch,)``."""
    kl: torch.Tensor
    r""":math:`\mathrm{KL}(q_\phi(z \mid x) \,\|\, p(z))` in closed form, shape ``(batch,)``."""


def gaussian_kl(mu, logvar):
    r""":math:`\mathrm{KL}(\mathcal{N}(\mu, \mathrm{diag}\, e^{\mathtt{logvar}}) \,\|\, \mathcal{N}(0, I))` per example (eq. :math:numref:`elbo-kl`).

    :math:`\tfrac12 \sum_j (\mu_j^2 + \sigma_j^2 - \log \sigma_j^2 - 1)`.

    Parameters
    ----------
    mu, logvar : torch.Tensor of shape (..., latent_dim)

    Returns
    -------
    torch.Tensor of shape (...)
    """
    mu = check_tensor(mu, "mu")
    logvar = check_tensor(logvar, "logvar", shape=tuple(mu.shape), dtype=mu.dtype)
    kl = _gaussian_kl(mu, logvar)
    if not bool(torch.isfinite(kl).all()):
        raise ValueError("the KL overflows: mu or exp(logvar) is too large for "
                         f"{mu.dtype} (largest |mu| {float(mu.abs().max()):.3g}, largest logvar "
                         f"{float(logvar.max()):.3g})")
    return kl


def _gaussian_kl(mu, logvar):
    """:func:`gaussian_kl` on checked tensors (the losses' entry point: no host sync)."""
    return 0.5 * torch.sum(mu.pow(2) + logvar.exp() - logvar - 1.0, dim=-1)


def reparameterize(mu, logvar, n_samples=None, generator=None):
    r"""Draw :math:`z = \mu + \sigma \odot \epsilon` with :math:`\epsilon \sim \mathcal{N}(0, I)` (eq. :math:numref:`rep-trick`).

    The randomness is in ``eps`` alone, so gradients flow to ``mu`` and
    ``logvar`` through a deterministic function.

    Parameters
    ----------
    mu, logvar : torch.Tensor of shape (batch, latent_dim)
    n_samples : int, optional
        Draw this many samples per example; the result then has shape
        ``(n_samples, batch, latent_dim)``.
    generator : None, int or torch.Generator
        An int seeds a new generator.

    Returns
    -------
    torch.Tensor
    """
    mu = check_tensor(mu, "mu")
    logvar = check_tensor(logvar, "logvar", shape=tuple(mu.shape), dtype=mu.dtype,
                          device=mu.device)
    if n_samples is not None:
        n_samples = check_int(n_samples, "n_samples", 1)
    generator = check_generator(generator, device=mu.device)
    if not bool(torch.isfinite(torch.exp(0.5 * logvar)).all()):
        raise ValueError(f"exp(logvar / 2) overflows {mu.dtype}: largest logvar "
                         f"{float(logvar.max()):.3g}")
    return _reparameterize(mu, logvar, n_samples, generator)


def _reparameterize(mu, logvar, n_samples=None, generator=None):
    """:func:`reparameterize` on checked arguments (the models' entry point: no host sync)."""
    shape = mu.shape if n_samples is None else (n_samples,) + tuple(mu.shape)
    eps = torch.randn(shape, generator=generator, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def _mlp(sizes):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """A variational auto-encoder with MLP encoder and decoder.

    Parameters
    ----------
    input_dim : int
        Number of features (pixels) of an example.
    latent_dim : int, default=2
    hidden : tuple of int, default=(128, 64)
        Hidden layer widths of the encoder; the decoder mirrors them.
    likelihood : {"bernoulli", "categorical", "gaussian"}, default="bernoulli"
    n_levels : int, default=17
        Number of values of each feature for ``"categorical"``.
    """

    def __init__(self, input_dim, latent_dim=2, hidden=(128, 64), likelihood="bernoulli",
                 n_levels=17):
        super().__init__()
        input_dim = check_int(input_dim, "input_dim", 1)
        latent_dim = check_int(latent_dim, "latent_dim", 1)
        n_levels = check_int(n_levels, "n_levels", 1)
        check_choice(likelihood, "likelihood", LIKELIHOODS)
        if likelihood == "categorical" and n_levels < 2:
            raise ValueError("n_levels must be at least 2 for a categorical likelihood")
        self.input_dim, self.latent_dim = input_dim, latent_dim
        self.likelihood, self.n_levels = likelihood, n_levels
        if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
            raise TypeError(f"hidden must be a tuple of layer widths; got {hidden!r}")
        hidden = tuple(check_int(h, "hidden[i]", 1) for h in hidden)
        self.encoder = _mlp((input_dim,) + hidden + (2 * latent_dim,))
        out = input_dim * n_levels if likelihood == "categorical" else input_dim
        self.decoder = _mlp((latent_dim,) + hidden[::-1] + (out,))
        if likelihood == "gaussian":
            self.log_scale = nn.Parameter(torch.zeros(input_dim))

    # -------------------------------------------------------------- checks
    def check_input(self, x):
        """Return ``x`` in the model's dtype and device, or raise a clear error.

        ``x`` must be a non-empty ``(batch, input_dim)`` floating-point tensor of
        finite values valid for the likelihood; float64 data for a float32
        model (or the reverse) is cast.
        """
        dtype, device = module_dtype_device(self)
        x = check_tensor(x, "x", shape=(None, self.input_dim), dtype=dtype, device=device)
        if self.likelihood == "bernoulli" and ((x < 0).any() or (x > 1).any()):
            raise ValueError("a Bernoulli likelihood needs x in [0, 1]")
        if self.likelihood == "categorical" and (
                (x < 0).any() or (x > self.n_levels - 1).any() or (x != x.round()).any()):
            raise ValueError(f"a categorical likelihood needs integer levels 0..{self.n_levels - 1} in x")
        return x

    # --------------------------------------------------------------- model
    def encode(self, x):
        r"""``(mu, logvar)`` of :math:`q_\phi(z \mid x)`."""
        return self._encode(self.check_input(x))

    def _encode(self, x):
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z):
        r"""Parameters of :math:`p_\theta(x \mid z)`: logits (Bernoulli), logits of shape
        ``(..., input_dim, n_levels)`` (categorical) or means (Gaussian)."""
        dtype, device = module_dtype_device(self)
        if isinstance(z, torch.Tensor) and (z.dim() < 1 or z.shape[-1] != self.latent_dim):
            raise ValueError(f"z's last axis must have size latent_dim={self.latent_dim}; got "
                             f"shape {tuple(z.shape)}")
        return self._decode(check_tensor(z, "z", dtype=dtype, device=device))

    def _decode(self, z):
        out = self.decoder(z)
        if self.likelihood == "categorical":
            out = out.unflatten(-1, (self.input_dim, self.n_levels))
        return out

    def log_likelihood(self, x, decoded):
        r""":math:`\log p_\theta(x \mid z)` summed over features, from :meth:`decode`'s output."""
        x = self.check_input(x)
        decoded = check_tensor(decoded, "decoded", dtype=x.dtype, device=x.device)
        return self._log_likelihood(x, decoded)

    def _log_likelihood(self, x, decoded):
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(decoded, x.expand_as(decoded),
                                                       reduction="none").sum(-1)
        if self.likelihood == "categorical":
            log_p = torch.log_softmax(decoded, dim=-1)
            index = x.long().expand(decoded.shape[:-1]).unsqueeze(-1)
            return log_p.gather(-1, index).squeeze(-1).sum(-1)
        scale = self.log_scale.exp()
        return (-0.5 * ((x - decoded) / scale).pow(2) - self.log_scale - 0.5 * _LOG_2PI).sum(-1)

    def mean(self, decoded):
        r"""The mean of :math:`p_\theta(x \mid z)`: what a reconstruction shows."""
        decoded = check_tensor(decoded, "decoded")
        if self.likelihood == "bernoulli":
            return torch.sigmoid(decoded)
        if self.likelihood == "categorical":
            levels = torch.arange(self.n_levels, dtype=decoded.dtype, device=decoded.device)
            return (torch.softmax(decoded, dim=-1) * levels).sum(-1)
        return decoded

    def forward(self, x, generator=None):
        """Encode, draw one ``z`` by reparameterisation, decode."""
        x = self.check_input(x)
        generator = check_generator(generator, device=x.device)
        mu, logvar = self._encode(x)
        z = _reparameterize(mu, logvar, generator=generator)
        return VAEOutput(mu, logvar, z, self._decode(z))

    @torch.no_grad()
    def reconstruct(self, x):
        """The decoder's mean at the encoder's mean: a deterministic reconstruction."""
        x = self.check_input(x)
        return self.mean(self._decode(self._encode(x)[0]))

    @torch.no_grad()
    def sample(self, n, generator=None):
        r"""Means of :math:`p_\theta(x \mid z)` for ``n`` draws :math:`z \sim \mathcal{N}(0, I)`."""
        n = check_int(n, "n", 1)
        dtype, device = module_dtype_device(self)
        generator = check_generator(generator, device=device)
        z = torch.randn((n, self.latent_dim), generator=generator, dtype=dtype, device=device)
        return self.mean(self._decode(z))


def _check_model(model):
    if not isinstance(model, VAE):
        raise TypeError(f"model must be a latent_notes.vae.VAE; got {type(model).__name__}")
    return model


def elbo(model, x, n_samples=1, generator=None):
    r"""The evidence lower bound per example, with its two terms.

    :math:`\mathrm{ELBO} = \mathbb{E}_q[\log p_\theta(x \mid z)] - \mathrm{KL}(q_\phi(z \mid x) \,\|\, p(z))`
    (eq. :math:numref:`elbo-vae`): the expectation by Monte Carlo with
    ``n_samples`` reparameterised draws, the KL in closed form
    (:func:`gaussian_kl`).

    Parameters
    ----------
    model : VAE
    x : torch.Tensor of shape (batch, input_dim)
    n_samples : int
    generator : None, int or torch.Generator, optional
        An int seeds a new generator on the data's device.

    Returns
    -------
    ELBOTerms
        ``elbo``, ``reconstruction`` and ``kl``, each of shape (batch,).
    """
    x = _check_model(model).check_input(x)
    n_samples = check_int(n_samples, "n_samples", 1)
    generator = check_generator(generator, device=x.device)
    mu, logvar = model._encode(x)
    z = _reparameterize(mu, logvar, n_samples=n_samples, generator=generator)
    reconstruction = model._log_likelihood(x, model._decode(z)).mean(0)
    kl = _gaussian_kl(mu, logvar)
    return ELBOTerms(reconstruction - kl, reconstruction, kl)


def iwae_bound(model, x, k, generator=None, batch_size=None):
    r"""The importance-weighted bound :math:`\log \frac{1}{k} \sum_i p(x, z_i) / q(z_i \mid x)`.

    With :math:`z_1, \dots, z_k` drawn from :math:`q_\phi(z \mid x)`, its expectation is a lower
    bound on :math:`\log p(x)` that does not decrease with ``k`` and tends to
    :math:`\log p(x)` (eq. :math:numref:`rep-iwae`); for :math:`k = 1` its expectation
    is the ELBO.

    Parameters
    ----------
    model : VAE
    x : torch.Tensor of shape (batch, input_dim)
    k : int
        Number of importance samples.
    generator : None, int or torch.Generator, optional
        An int seeds a new generator on the data's device.
    batch_size : int, optional
        Score this many examples at a time. The decoder's output for all
        ``k`` samples of every example is held in memory at once (for a
        categorical decoder: ``k * batch * input_dim * n_levels`` numbers), so
        large ``k`` needs small batches. By default, the whole of ``x`` at once.

    Returns
    -------
    torch.Tensor of shape (batch,)
    """
    k = check_int(k, "k", 1)
    x = _check_model(model).check_input(x)
    generator = check_generator(generator, device=x.device)
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", 1)
        return torch.cat([iwae_bound(model, x[i:i + batch_size], k, generator)
                          for i in range(0, len(x), batch_size)])
    mu, logvar = model._encode(x)
    z = _reparameterize(mu, logvar, n_samples=k, generator=generator)  # (k, batch, latent)
    log_px_z = model._log_likelihood(x, model._decode(z))
    log_pz = -0.5 * (z.pow(2) + _LOG_2PI).sum(-1)
    log_qz = -0.5 * ((z - mu).pow(2) / logvar.exp() + logvar + _LOG_2PI).sum(-1)
    return torch.logsumexp(log_px_z + log_pz - log_qz, dim=0) - math.log(k)
