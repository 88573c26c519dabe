r"""Vector quantisers for the VQ-VAE (chapter :doc:`/book/vqvae`).

A quantiser holds a codebook of :math:`K` vectors :math:`e_1, \dots, e_K` of dimension :math:`D`
and replaces each input vector :math:`z_e` (the last axis of a tensor of any shape)
by its nearest code, :math:`e_k` with :math:`k = \arg\min_j \|z_e - e_j\|`
(eq. :math:numref:`vq-nearest`; errata 11: the *encoder output* is quantised).

Two ways to learn the codebook:

:class:`VectorQuantizer`
    by gradient descent on the codebook loss :math:`\|\mathrm{sg}[z_e] - e\|^2`;
:class:`VectorQuantizerEMA`
    by exponential moving averages of the codes' assigned vectors (an online
    k-means), with the state in buffers, not in the optimiser.

Both return the commitment loss :math:`\beta \|z_e - \mathrm{sg}[e]\|^2` and pass gradients
to the encoder with the straight-through estimator: the quantised output is
:math:`z_e + \mathrm{sg}[e - z_e]`, whose gradient with respect to :math:`z_e` is the identity
(eq. :math:numref:`vq-straight-through`). :math:`\mathrm{sg}` is the stop-gradient
(``detach``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from ._validation import check_generator, check_int, check_real, check_tensor

__all__ = ["VQOutput", "VectorQuantizer", "VectorQuantizerEMA", "perplexity"]


class VQOutput(NamedTuple):
    """What a quantiser returns: the quantised tensor, the code indices, the two losses (scalars,
    means over vectors of a squared Euclidean norm) and three statistics of the batch's code usage."""

    quantized: torch.Tensor
    """The nearest codes, with straight-through gradients; the input's shape."""
    indices: torch.Tensor
    """Index of the nearest code; the input's shape without the last axis."""
    codebook_loss: torch.Tensor
    r""":math:`\|\mathrm{sg}[z_e] - e\|^2`, mean over vectors (zero with EMA updates)."""
    commitment_loss: torch.Tensor
    r""":math:`\beta \|z_e - \mathrm{sg}[e]\|^2`, mean over vectors."""
    perplexity: torch.Tensor
    r""":math:`\exp` of the entropy of the batch's code usage (see :func:`perplexity`)."""
    usage: torch.Tensor
    """Fraction of the codes used by the batch."""
    dead_codes: torch.Tensor
    """Number of codes that no vector of the batch chose."""


def perplexity(counts):
    r""":math:`\exp(H(p))` of the usage frequencies ``p = counts / sum(counts)``.

    ``K`` when all ``K`` codes are used equally, 1 when one code takes all.
    """
    counts = check_tensor(counts, "counts", ndim=1, kind="any")
    if torch.is_floating_point(counts) and not bool(torch.isfinite(counts).all()):
        raise ValueError("counts contains NaN or infinite values")
    if bool((counts < 0).any()):
        raise ValueError("counts must be non-negative")
    if not bool(counts.sum() > 0):
        raise ValueError("counts sums to zero: no vector was counted, the usage is undefined")
    return _perplexity(counts)


def _perplexity(counts):
    """:func:`perplexity` of a quantiser's own (valid) counts: no checks, no host sync."""
    p = counts.float() / counts.sum().clamp_min(1)
    entropy = -(p * torch.log(p.clamp_min(1e-12))).sum()
    return entropy.exp()


class _QuantizerBase(nn.Module):
    def __init__(self, num_codes, dim, beta):
        super().__init__()
        num_codes = check_int(num_codes, "num_codes", 1)
        dim = check_int(dim, "dim", 1)
        beta = check_real(beta, "beta", low=0.0)
        self.num_codes, self.dim, self.beta = num_codes, dim, beta

    def _flatten(self, z_e):
        """``z_e`` as rows of ``dim`` values in the codebook's dtype and device (checked)."""
        if isinstance(z_e, torch.Tensor) and (z_e.dim() < 1 or z_e.shape[-1] != self.dim):
            raise ValueError(f"z_e's last axis must have size dim={self.dim}; got shape {tuple(z_e.shape)}")
        z_e = check_tensor(z_e, "z_e", dtype=self.codebook.dtype, device=self.codebook.device)
        return z_e.reshape(-1, self.dim)  # quantise in the codebook's dtype

    def nearest(self, flat):
        """Index of the nearest code of each row (eq. :math:numref:`vq-nearest`)."""
        if not isinstance(flat, torch.Tensor) or flat.dim() != 2 or flat.shape[1] != self.dim:
            raise ValueError(f"flat must be a tensor of shape (n, {self.dim}); got "
                             f"{tuple(getattr(flat, 'shape', ())) or type(flat).__name__}")
        codebook = self.codebook.to(flat.dtype)
        dist = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codebook.T
                + codebook.pow(2).sum(1)[None, :])
        return dist.argmin(dim=1)

    def _output(self, z_e, flat, indices, codes, codebook_loss):
        commitment_loss = self.beta * (flat - codes.detach()).pow(2).sum(1).mean()
        # Straight-through: the value of the code, the gradient of the identity.
        quantized = flat + (codes - flat).detach()
        counts = torch.bincount(indices, minlength=self.num_codes)
        used = (counts > 0).sum()
        return VQOutput(
            quantized.reshape(z_e.shape).to(z_e.dtype),
            indices.reshape(z_e.shape[:-1]),
            codebook_loss,
            commitment_loss,
            _perplexity(counts),
            used.float() / self.num_codes,
            self.num_codes - used,
        )

    @torch.no_grad()
    def init_from_data(self, z_e, random_state=0):
        """*Beyond the paper:* set the codebook to k-means centres of ``z_e``."""
        from .mixture import kmeans

        flat = self._flatten(z_e)
        if flat.shape[0] < self.num_codes:
            raise ValueError(f"z_e holds {flat.shape[0]} vectors, fewer than num_codes="
                             f"{self.num_codes}: k-means needs at least one vector per code")
        centres, _ = kmeans(flat.cpu().double().numpy(), self.num_codes, random_state=random_state)
        self._set_codebook(torch.as_tensor(centres, dtype=self.codebook.dtype, device=flat.device))

    @torch.no_grad()
    def restart_dead_codes(self, z_e, indices, generator=None):
        """*Beyond the paper:* move every code no vector chose onto a random vector of ``z_e``.

        ``generator`` may be None, an int seed or a CPU ``torch.Generator``.
        Returns the number of codes restarted.
        """
        flat = self._flatten(z_e)
        indices = check_tensor(indices, "indices", kind="int")
        if bool((indices < 0).any()) or bool((indices >= self.num_codes).any()):
            raise ValueError(f"indices must lie in 0..{self.num_codes - 1}")
        generator = check_generator(generator)
        counts = torch.bincount(indices.reshape(-1).long(), minlength=self.num_codes)
        dead = torch.nonzero(counts == 0).flatten()
        if len(dead):
            pick = torch.randint(len(flat), (len(dead),), generator=generator,
                                 device=generator.device if generator is not None else "cpu")
            pick = pick.to(flat.device)
            codebook = self.codebook.detach().clone()
            codebook[dead] = flat[pick]
            self._set_codebook(codebook)
        return len(dead)


class VectorQuantizer(_QuantizerBase):
    """Nearest-code quantiser whose codebook is learned by gradient descent.

    Parameters
    ----------
    num_codes : int
        ``K``.
    dim : int
        ``D``, the size of the input's last axis.
    beta : float, default=0.25
        Weight of the commitment loss (0.25 in the VQ-VAE paper).

    Inputs are quantised in the codebook's dtype (float32 unless the module
    was converted, e.g. with ``.double()``) and moved to its device; a
    float64 input whose values overflow that dtype raises ``ValueError``, as
    do NaN, infinite values and an empty batch (whose mean losses would be NaN).
    """

    def __init__(self, num_codes, dim, beta=0.25):
        super().__init__(num_codes, dim, beta)
        self.codebook = nn.Parameter(torch.empty(num_codes, dim).uniform_(-1 / num_codes, 1 / num_codes))

    def _set_codebook(self, values):
        self.codebook.data.copy_(values)

    def forward(self, z_e):
        r"""Quantise ``z_e`` along its last axis; see :class:`VQOutput`.

        The codebook loss :math:`\|\mathrm{sg}[z_e] - e\|^2` moves the chosen codes towards
        the encoder outputs; the commitment loss :math:`\beta \|z_e - \mathrm{sg}[e]\|^2`
        keeps the encoder outputs near their codes. Both are computed from the
        raw codebook lookup, before the straight-through substitution.
        """
        flat = self._flatten(z_e)
        indices = self.nearest(flat.detach())
        codes = self.codebook[indices]
        codebook_loss = (codes - flat.detach()).pow(2).sum(1).mean()
        return self._output(z_e, flat, indices, codes, codebook_loss)


class VectorQuantizerEMA(_QuantizerBase):
    """Nearest-code quantiser whose codebook follows moving averages (no codebook gradient).

    In training mode every call updates, with ``decay`` ``gamma``::

        N_k <- gamma N_k + (1 - gamma) n_k        (vectors assigned to code k)
        m_k <- gamma m_k + (1 - gamma) sum of those vectors
        e_k <- m_k / N_k'                          (N_k' Laplace-smoothed)

    With ``decay=0`` one call is exactly one Lloyd (k-means) step. The
    statistics are buffers: they are saved with the model but are not
    parameters, so no optimiser touches them.

    Parameters
    ----------
    num_codes, dim, beta
        As in :class:`VectorQuantizer`.
    decay : float, default=0.99
    epsilon : float, default=1e-5
        Laplace smoothing of the counts, so that an unused code never divides
        by zero.
    """

    def __init__(self, num_codes, dim, beta=0.25, decay=0.99, epsilon=1e-5):
        super().__init__(num_codes, dim, beta)
        self.decay = check_real(decay, "decay", low=0.0, high=1.0, high_open=True)
        self.epsilon = check_real(epsilon, "epsilon", low=0.0, low_open=True)
        codebook = torch.empty(num_codes, dim).uniform_(-1 / num_codes, 1 / num_codes)
        self.register_buffer("codebook", codebook)
        self.register_buffer("cluster_size", torch.ones(num_codes))
        self.register_buffer("embed_sum", codebook.clone())

    def _set_codebook(self, values):
        self.codebook.copy_(values)
        self.embed_sum.copy_(values * self.cluster_size[:, None])

    def forward(self, z_e):
        """Quantise ``z_e``; in training mode also update the codebook by EMA."""
        flat = self._flatten(z_e)
        indices = self.nearest(flat.detach())
        if self.training:
            with torch.no_grad():
                one_hot = F.one_hot(indices, self.num_codes).to(flat.dtype)
                self.cluster_size.mul_(self.decay).add_(one_hot.sum(0), alpha=1 - self.decay)
                self.embed_sum.mul_(self.decay).add_(one_hot.T @ flat.detach(), alpha=1 - self.decay)
                n = self.cluster_size.sum()
                smoothed = (self.cluster_size + self.epsilon) / (n + self.num_codes * self.epsilon) * n
                self.codebook.copy_(self.embed_sum / smoothed[:, None])
        codes = self.codebook[indices]
        codebook_loss = torch.zeros((), dtype=flat.dtype, device=flat.device)  # learned by EMA instead
        return self._output(z_e, flat, indices, codes, codebook_loss)
