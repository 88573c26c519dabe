r"""Two Monte Carlo estimators of the gradient of an expectation (chapter :doc:`/book/reparameterization`).

For :math:`z \sim \mathcal{N}(\mu, \sigma^2)` and a function ``f``, both estimate
:math:`\partial_{(\mu, \sigma)} \mathbb{E}[f(z)]` from draws of ``z``:

* the **pathwise** (reparameterisation) estimator differentiates
  :math:`f(\mu + \sigma \epsilon)` with :math:`\epsilon \sim \mathcal{N}(0, 1)` (eq. :math:numref:`rep-pathwise`);
* the **score-function** (REINFORCE) estimator weights ``f(z)`` by the
  gradient of :math:`\log q(z)` (eq. :math:numref:`rep-score`).
"""

from __future__ import annotations

import torch

from ._validation import check_choice, check_generator, check_int, check_real

__all__ = ["gradient_samples", "ESTIMATORS"]

ESTIMATORS = ("pathwise", "score")


def gradient_samples(f, mu, sigma, n_samples, estimator="pathwise", generator=None):
    r"""Single-draw estimates of :math:`\partial_{(\mu, \sigma)} \mathbb{E}_{z \sim \mathcal{N}(\mu, \sigma^2)}[f(z)]`.

    Each row is the estimate from one draw; the mean of ``S`` rows is the
    ``S``-sample estimator, whose variance is the rows' variance over ``S``.

    Parameters
    ----------
    f : callable
        An elementwise function of a torch tensor (e.g. ``torch.sin``),
        differentiable for the pathwise estimator.
    mu, sigma : float
        The Gaussian's mean and standard deviation (:math:`\sigma > 0`).
    n_samples : int
    estimator : {"pathwise", "score"}
    generator : None, int or torch.Generator, optional
        An int seeds a new generator on the data's device.

    Returns
    -------
    torch.Tensor of shape (n_samples, 2)
        Columns: the estimate of the derivative in :math:`\mu` and in :math:`\sigma`.
    """
    check_choice(estimator, "estimator", ESTIMATORS)
    if not callable(f):
        raise TypeError(f"f must be callable (e.g. torch.sin); got {type(f).__name__}")
    mu = check_real(mu, "mu")
    sigma = check_real(sigma, "sigma", low=0.0, low_open=True)
    n_samples = check_int(n_samples, "n_samples", 1)
    generator = check_generator(generator)
    grads = _gradient_samples(f, mu, sigma, n_samples, estimator, generator)
    if not bool(torch.isfinite(grads).all()):
        raise ValueError("the estimates are not finite: f or its derivative overflowed or "
                         "was undefined at some draws")
    return grads


def _gradient_samples(f, mu, sigma, n_samples, estimator, generator):
    eps = torch.randn(n_samples, generator=generator, dtype=torch.float64)
    mu_t = torch.tensor(float(mu), dtype=torch.float64, requires_grad=True)
    sigma_t = torch.tensor(float(sigma), dtype=torch.float64, requires_grad=True)
    if estimator == "pathwise":
        # z is a deterministic function of (mu, sigma) and the noise: differentiate through it.
        z = mu_t + sigma_t * eps
        z.retain_grad()
        out = f(z)
        if not isinstance(out, torch.Tensor) or out.shape != z.shape:
            raise ValueError("f must map a tensor to a tensor of the same shape (elementwise); "
                             f"got {getattr(out, 'shape', type(out).__name__)} for {tuple(z.shape)}")
        if not bool(torch.isfinite(out).all()):
            raise ValueError("f returned NaN or inf at some draws: E[f(z)] is undefined there")
        out.sum().backward()
        df = z.grad  # f'(z_s), one per draw
        if df is None:
            raise ValueError("f(z) does not depend on z through torch operations; the pathwise "
                             "estimator needs a differentiable f")
        return torch.stack([df, df * eps], dim=1).detach()
    # Score function: f(z) * d/dtheta log q(z; theta), with z held fixed. For a normal,
    # d/dmu log q = (z - mu) / sigma^2 and d/dsigma log q = ((z - mu)^2 - sigma^2) / sigma^3.
    with torch.no_grad():
        z = mu + sigma * eps
        scores = torch.stack([(z - mu) / sigma ** 2,
                              ((z - mu) ** 2 - sigma ** 2) / sigma ** 3], dim=1)
        out = f(z)
        if not isinstance(out, torch.Tensor) or out.shape != z.shape:
            raise ValueError("f must map a tensor to a tensor of the same shape (elementwise); "
                             f"got {getattr(out, 'shape', type(out).__name__)} for {tuple(z.shape)}")
        return out.unsqueeze(1) * scores
