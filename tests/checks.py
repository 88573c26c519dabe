"""Checks of the book's equations, written once and used twice.

Each ``check_*`` function takes no required argument, raises ``AssertionError``
when the package no longer implements the equation it names, and returns
``None`` otherwise. The ordinary unit tests call them on the real code; the
planted-bug suite (``tests/test_planted_bugs.py``) injects a one-line mistake
into the package with :func:`plant` and asserts that the same check fails.

The checks call the package through its modules (``vq.VectorQuantizer``, not a
name imported once), so that a planted mutant is what they exercise. Their
reference values are computed independently of the code under test: by hand
with numpy, with ``torch.autograd``, scipy or scikit-learn, by quadrature.
"""

from __future__ import annotations

import importlib
import inspect
import math
import sys
import textwrap
import warnings

import numpy as np
import torch
from scipy import stats
from sklearn.linear_model import LogisticRegression

import latent_notes.discrete_mixture as discrete_mixture
import latent_notes.em as em
import latent_notes.gmlc as gmlc
import latent_notes.linear_gaussian as linear_gaussian
import latent_notes.mixture as mixture
import latent_notes.pixelcnn as pixelcnn
import latent_notes.vae as vae
import latent_notes.vq as vq
import latent_notes.vqvae as vqvae


# ===========================================================================
# Planting a bug: a one-line textual mutation of the package's own source
# ===========================================================================
def mutant(target, old, new):
    """Compile ``target`` (``"module:Qualified.name"``) with ``old`` replaced by ``new``.

    ``old`` must occur exactly once in the function's source, so that a bug
    that no longer applies (the code was rewritten) fails loudly instead of
    silently planting nothing. The mutant is compiled in the module's own
    namespace, so that it sees the same globals as the original.

    Returns ``(owner, name, original, mutant)``: ``owner`` is the module or
    class holding the attribute ``name``.
    """
    module_name, qualname = target.split(":")
    module = importlib.import_module(module_name)
    *path, name = qualname.split(".")
    owner = module
    for part in path:
        owner = getattr(owner, part)
    original = inspect.getattr_static(owner, name)
    function = original.__func__ if isinstance(original, (staticmethod, classmethod)) else original
    source = textwrap.dedent(inspect.getsource(function))
    count = source.count(old)
    assert count == 1, f"planted bug no longer applies: {old!r} occurs {count} times in {target}"
    source = source.replace(old, new)
    if "super()" in source:  # zero-argument super needs the class cell a re-compiled method lacks
        assert getattr(module, owner.__name__) is owner
        source = source.replace("super()", f"super({owner.__name__}, self)")
    namespace = vars(module)
    missing = object()
    shadowed = namespace.get(name, missing)
    exec(compile(source, f"<planted bug in {target}>", "exec"), namespace)
    planted = namespace[name]
    # exec bound ``name`` in the module; put back what was there
    if shadowed is missing:
        del namespace[name]
    else:
        namespace[name] = shadowed
    return owner, name, original, planted


def plant(monkeypatch, target, old, new):
    """Install the mutant of :func:`mutant` for the duration of a test.

    Every reference the package holds to the original (the attribute itself,
    a name imported by another ``latent_notes`` module, a value in a
    module-level dict such as the table of solvers) is replaced.
    """
    owner, name, original, planted = mutant(target, old, new)
    monkeypatch.setattr(owner, name, planted)
    if inspect.ismodule(owner):
        for module_name, module in list(sys.modules.items()):
            if module is None or not module_name.startswith("latent_notes"):
                continue
            for attr, value in list(vars(module).items()):
                if value is original and module is not owner:
                    monkeypatch.setattr(module, attr, planted)
                elif isinstance(value, dict) and not attr.startswith("__"):
                    for key, item in list(value.items()):
                        if item is original:
                            monkeypatch.setitem(value, key, planted)
    return planted


# ===========================================================================
# Vector quantisation (vq.py, vqvae.py)
# ===========================================================================
def _vq(beta=0.25, K=16, D=4, seed=0):
    torch.manual_seed(seed)
    quantizer = vq.VectorQuantizer(K, D, beta=beta)
    quantizer.codebook.data = torch.randn(K, D)  # spread the codes so that many are chosen
    return quantizer


def check_nearest_code():
    """Eq. vq-nearest: the chosen code is the brute-force argmin of ||z_e - e_j||."""
    quantizer = _vq(K=37, D=6)
    z = torch.randn(2, 3, 50, 6, generator=torch.Generator().manual_seed(0))
    out = quantizer(z)
    flat = z.reshape(-1, 6).numpy()
    book = quantizer.codebook.detach().numpy()
    brute = np.array([np.argmin([np.sum((row - e) ** 2) for e in book]) for row in flat])
    np.testing.assert_array_equal(out.indices.reshape(-1).numpy(), brute)
    assert out.indices.shape == (2, 3, 50) and out.quantized.shape == z.shape


def check_straight_through():
    """Eq. vq-straight-through: the value of the code, the gradient of the identity.

    The upstream gradient reaches ``z_e`` unchanged, none of it reaches the
    codebook; in a VQ-VAE the reconstruction loss reaches the encoder.
    """
    quantizer = _vq()
    z_e = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    out = quantizer(z_e)
    codes = quantizer.codebook.detach()[out.indices]
    assert torch.allclose(out.quantized, codes, atol=1e-6), "the forward value must be the code"
    upstream = torch.randn(out.quantized.shape, generator=torch.Generator().manual_seed(2))
    (out.quantized * upstream).sum().backward()
    assert z_e.grad is not None, "no gradient reaches the encoder output"
    assert torch.allclose(z_e.grad, upstream), "the gradient to z_e is not the upstream gradient"
    assert quantizer.codebook.grad is None or not quantizer.codebook.grad.any(), \
        "the reconstruction path must not move the codebook"
    for ema in (False, True):  # the whole model: the decoder's loss trains the encoder
        torch.manual_seed(0)
        model = vqvae.VQVAE(num_codes=8, code_dim=4, hidden=8, ema=ema)
        x = torch.bernoulli(torch.full((4, 64), 0.5), generator=torch.Generator().manual_seed(3))
        vqvae.vqvae_loss(model, x).reconstruction.backward()
        grads = [p.grad for p in model.encoder.parameters()]
        assert all(g is not None for g in grads) and all(g.abs().sum() > 0 for g in grads), \
            f"the reconstruction loss does not reach the encoder (ema={ema})"


def check_codebook_loss():
    """Eq. vq-loss: ``||sg[z_e] - e||^2`` moves the codes only, towards their vectors."""
    quantizer = _vq()
    z_e = torch.randn(50, 4, generator=torch.Generator().manual_seed(4), requires_grad=True)
    out = quantizer(z_e)
    codes = quantizer.codebook.detach()[out.indices]
    assert torch.allclose(out.codebook_loss, ((z_e.detach() - codes) ** 2).sum(1).mean())
    out.codebook_loss.backward()
    assert z_e.grad is None or not z_e.grad.any(), "the codebook loss must not move the encoder"
    # In a chosen code e_k: 2 (e_k - mean of its vectors) * (share of the vectors).
    for k in out.indices.unique().tolist():
        members = z_e.detach()[out.indices == k]
        expected = 2 * (quantizer.codebook.detach()[k] - members.mean(0)) * len(members) / len(z_e)
        assert torch.allclose(quantizer.codebook.grad[k], expected, atol=1e-6)


def check_commitment_loss():
    """Eq. vq-loss: ``beta ||z_e - sg[e]||^2`` pulls each ``z_e`` towards its code, and only ``z_e``."""
    for beta in (0.25, 1.0):
        quantizer = _vq(beta=beta)
        z_e = torch.randn(50, 4, generator=torch.Generator().manual_seed(5), requires_grad=True)
        out = quantizer(z_e)
        codes = quantizer.codebook.detach()[out.indices]
        diff = z_e.detach() - codes
        assert torch.allclose(out.commitment_loss, beta * (diff ** 2).sum(1).mean()), \
            "commitment loss is not beta * mean ||z_e - e||^2"
        out.commitment_loss.backward()
        assert torch.allclose(z_e.grad, 2 * beta * diff / len(z_e), atol=1e-6)
        assert quantizer.codebook.grad is None or not quantizer.codebook.grad.any()


def check_ema_moving_average(decay=0.8, epsilon=0.1, steps=4):
    """The EMA codebook (:class:`VectorQuantizerEMA`) against the moving averages by hand.

    ``N_k <- g N_k + (1 - g) n_k``, ``m_k <- g m_k + (1 - g) sum of its vectors``,
    ``e_k = m_k / N'_k`` with the Laplace-smoothed counts
    ``N'_k = (N_k + eps) / (N + K eps) * N``, ``N = sum_k N_k``. A large
    ``epsilon`` makes the smoothing visible; ``decay > 0`` makes the moving
    counts differ from the batch counts; one code starts far away and is
    never chosen.
    """
    K, D = 5, 3
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randn(40, D, generator=gen, dtype=torch.float64) * 2 for _ in range(steps)]
    quantizer = vq.VectorQuantizerEMA(K, D, decay=decay, epsilon=epsilon)
    start = batches[0][:K].clone()
    start[-1] = 50.0  # a dead code
    quantizer._set_codebook(start.float())
    N = np.ones(K)  # the buffers' documented start: counts of one ...
    m = start.float().double().numpy() * N[:, None]  # ... and sums equal to the codes
    quantizer.train()
    for batch in batches:
        codebook = quantizer.codebook.double().numpy()
        x = batch.float().double().numpy()
        assign = np.argmin(((x[:, None, :] - codebook[None]) ** 2).sum(-1), axis=1)
        n_k = np.bincount(assign, minlength=K)
        sums = np.stack([x[assign == k].sum(0) for k in range(K)])
        N = decay * N + (1 - decay) * n_k
        m = decay * m + (1 - decay) * sums
        total = N.sum()
        smoothed = (N + epsilon) / (total + K * epsilon) * total
        expected = m / smoothed[:, None]
        quantizer(batch.float())
        np.testing.assert_allclose(quantizer.cluster_size.numpy(), N, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(quantizer.embed_sum.numpy(), m, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(quantizer.codebook.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert n_k[-1] == 0, "the far-away code should stay unused for the smoothing to matter"


# ===========================================================================
# The Gaussian mixture linear classifier (gmlc.py)
# ===========================================================================
def _logistic_problem(n=300, seed=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 2.0, 0.5]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(X @ [1.0, -0.5, 2.0] + 0.3)))).astype(float)
    tau = rng.uniform(size=n)
    return X, y, tau


def _torch_q(theta, X1, y, w, C):
    """``Q_k`` (eq. gmlc-q-logistic) written independently in torch."""
    X1, y, w = (torch.as_tensor(a, dtype=torch.float64) for a in (X1, y, w))
    eta = X1 @ theta
    q = (w * (y * eta - torch.nn.functional.softplus(eta))).sum()
    if np.isfinite(C):
        q = q - (theta[1:] ** 2).sum() / (2 * C)
    return q


def check_logistic_gradient(C=1.0):
    """Eq. gmlc-gradient: the value and gradient of ``Q_k`` equal autograd's."""
    rng = np.random.default_rng(1)
    X1 = np.column_stack([np.ones(60), rng.normal(size=(60, 3))])
    y = rng.integers(0, 2, 60).astype(float)
    w = rng.uniform(size=60)
    for _ in range(5):
        theta = rng.normal(size=4) * 2
        value, grad = gmlc.weighted_logistic_objective(theta, X1, y, w, C)
        t = torch.tensor(theta, requires_grad=True)
        q = _torch_q(t, X1, y, w, C)
        q.backward()
        assert np.isclose(value, q.item(), rtol=1e-12)
        np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def check_irls_hessian(C=1.0):
    """Eq. gmlc-irls: the Hessian each IRLS step solves with is autograd's Hessian of ``-Q_k``.

    ``H = X1^T diag(tau s (1 - s)) X1 + diag(0, 1/C, ...)``. The solver's
    linear systems are recorded; the first is at the start, the others at the
    iterates the callback reports. The start is not ``theta = 0``, where
    ``s (1 - s) = 1/4`` everywhere and a Hessian with ``tau / 4`` would pass.
    The right-hand side must be autograd's gradient of ``Q_k``.
    """
    X, y, tau = _logistic_problem()
    X1 = np.column_stack([np.ones(len(X)), X])
    init = np.array([0.5, -1.0, 0.3, 1.5])
    thetas = [init]
    systems = []
    real_solve = np.linalg.solve

    def recording_solve(a, b):
        systems.append((np.array(a), np.array(b)))
        return real_solve(a, b)

    np.linalg.solve = recording_solve
    try:
        gmlc.fit_weighted_logistic(X, y, tau, solver="irls", C=C, init=init, max_iter=3, tol=0.0,
                                   callback=lambda theta, value: thetas.append(np.array(theta)))
    finally:
        np.linalg.solve = real_solve
    assert len(systems) >= 2, "IRLS solved fewer than two Newton systems"
    for (hessian, gradient), theta in zip(systems, thetas):
        t = torch.tensor(theta, requires_grad=True)
        expected = torch.autograd.functional.hessian(lambda v: -_torch_q(v, X1, y, tau, C), t)
        (grad,) = torch.autograd.grad(_torch_q(t, X1, y, tau, C), t)
        np.testing.assert_allclose(gradient, grad.numpy(), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(hessian, expected.numpy(), rtol=1e-8, atol=1e-8)


SOLVER_BUDGET = {"irls": 30, "gd": 2000, "sgd": 200, "cmaes": 300}
SOLVER_TOLERANCE = {"irls": 1e-10, "gd": 1e-7, "sgd": 1e-2, "cmaes": 1e-7}


def check_solver_reaches_the_weighted_optimum(solver, C=1.0):
    """Every solver finds the weighted, penalised logistic regression's optimum.

    The reference is scikit-learn's ``LogisticRegression(C)`` fitted with
    ``sample_weight=tau`` (the same objective); the solver's ``Q_k`` must be
    within a solver-dependent relative tolerance of it. Starting from the
    default ``theta = 0``, the safeguard in :func:`fit_weighted_logistic`
    (return the start if the answer is worse) cannot make a broken solver pass.
    """
    X, y, tau = _logistic_problem(n=200)
    X1 = np.column_stack([np.ones(len(X)), X])
    ref = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y, sample_weight=tau)
    theta_ref = np.concatenate([ref.intercept_, ref.coef_[0]])
    best = gmlc.weighted_logistic_objective(theta_ref, X1, y, tau, C)[0]
    start = gmlc.weighted_logistic_objective(np.zeros(4), X1, y, tau, C)[0]
    theta = gmlc.fit_weighted_logistic(X, y, tau, solver=solver, C=C, tol=0.0,
                                       max_iter=SOLVER_BUDGET[solver], random_state=0)
    value = gmlc.weighted_logistic_objective(theta, X1, y, tau, C)[0]
    gap = (best - value) / (best - start)  # 0 at the optimum, 1 at the start
    assert gap <= SOLVER_TOLERANCE[solver], f"{solver}: {gap:.2e} of the way from the optimum"
    if SOLVER_TOLERANCE[solver] <= 1e-7:
        np.testing.assert_allclose(theta, theta_ref, atol=1e-3 if solver != "irls" else 1e-6)


def check_solver_iterates_never_decrease_q(solver, n_problems=20):
    """IRLS (step halving) and gradient ascent (rejection) never lower ``Q_k`` on their own.

    The iterates the callback reports are checked, not the answer of
    :func:`fit_weighted_logistic` (whose safeguard would hide a solver that
    goes downhill). Hard problems: far-off starts, scaled features, weights
    with zeros, with and without a penalty.
    """
    for seed in range(n_problems):
        rng = np.random.default_rng(seed)
        n, d = 40, 2
        X = rng.normal(size=(n, d)) * rng.uniform(0.5, 5.0)
        y = rng.integers(0, 2, n)
        w = rng.uniform(size=n) * (rng.uniform(size=n) < 0.8)
        init = rng.normal(size=d + 1) * 3
        C = (0.1, 10.0, np.inf)[seed % 3]
        X1 = np.column_stack([np.ones(n), X])
        values = [gmlc.weighted_logistic_objective(init, X1, y, w, C)[0]]
        gmlc.fit_weighted_logistic(X, y, w, solver=solver, C=C, init=init, max_iter=10,
                                   callback=lambda theta, value: values.append(value))
        steps = np.diff(values)
        assert np.all(steps >= -1e-12 * np.abs(values[:-1])), \
            f"{solver} lowered Q on problem {seed}: steps {steps.min():.3g}"


def random_gmlc(seed=0, n=400, K=3, d=2):
    """A classifier with random parameters (as if fitted) and data drawn near it."""
    rng = np.random.default_rng(seed)
    params = (rng.dirichlet(np.ones(K)), rng.normal(0, 2, size=(K, d)), rng.uniform(0.3, 2.0, K),
              rng.normal(size=(K, d)), rng.normal(size=K))
    model = gmlc.GaussianMixtureLinearClassifier.from_params(params)
    X = rng.normal(0, 2.5, size=(n, d))
    y = rng.integers(0, 2, n)
    return model, X, y


def check_gmlc_posterior_and_likelihood(cases=None):
    """Eqs. gmlc-joint, gmlc-e-step, gmlc-predict, by hand over the K components.

    ``p(x, y) = sum_{k=1}^K pi_k N(x | mu_k, sigma_k^2 I) s_k^y (1 - s_k)^(1-y)``:
    the log-likelihood (penalised by ``sum_k ||w_k||^2 / 2C``), the
    responsibilities ``tau_ik`` (which use ``y``), the gates (which do not) and
    the predicted probability, each against the direct formula. ``cases`` is a
    list of ``(model, X, y)``; by default three classifiers with random
    parameters.
    """
    for model, X, y in cases or [random_gmlc(seed) for seed in range(3)]:
        K, d = model.means_.shape
        sq = ((X[:, None, :] - model.means_[None]) ** 2).sum(-1)
        gauss = model.weights_ * np.exp(-sq / (2 * model.variances_)) \
            / (2 * np.pi * model.variances_) ** (d / 2)
        s = 1 / (1 + np.exp(-(X @ model.coef_.T + model.intercept_)))
        joint = gauss * np.where(y[:, None] == 1, s, 1 - s)
        assert joint.shape == (len(X), K)
        penalty = np.sum(model.coef_ ** 2) / (2 * model.C)
        assert np.isclose(model.log_likelihood(X, y), np.log(joint.sum(1)).sum() - penalty,
                          rtol=1e-10), "log-likelihood is not the sum over the K components"
        np.testing.assert_allclose(model.responsibilities(X, y), joint / joint.sum(1, keepdims=True),
                                   atol=1e-10)
        gate = gauss / gauss.sum(1, keepdims=True)
        np.testing.assert_allclose(model.gate_proba(X), gate, atol=1e-10)
        np.testing.assert_allclose(model.predict_proba(X)[:, 1], (gate * s).sum(1), atol=1e-10)


def check_gmlc_far_points():
    """Far but finite points (issue 18): gates and probabilities finite, the right cluster wins.

    Far from every component the Gaussian with the largest variance dominates
    (its density decays slowest); with equal variances the nearest mean wins,
    at any distance. The expected answers follow from those two facts, not
    from the code. The probability of ``y = 1`` is then the winning expert's,
    which far along ``x_0`` is 0 or 1 by the sign of its weight.
    """
    params = (np.array([0.5, 0.3, 0.2]), np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
              np.array([0.5, 2.0, 1.0]), np.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 1.0]]),
              np.zeros(3))
    model = gmlc.GaussianMixtureLinearClassifier.from_params(params)
    with np.errstate(all="ignore"):  # a NaN must fail an assertion below, not warn
        _check_far_points(model, params)


def _check_far_points(model, params):
    # An expert whose two terms cancel exactly on the diagonal: eta = 0, P(y = 1) = 1/2
    # (a product formed without scaling overflows to inf - inf = NaN first).
    cancelling = gmlc.GaussianMixtureLinearClassifier.from_params(
        (np.ones(1), np.zeros((1, 2)), np.ones(1), np.array([[1e10, -1e10]]), np.zeros(1)))
    np.testing.assert_allclose(cancelling.predict_proba(np.array([[1e300, 1e300]])), [[0.5, 0.5]])
    for v in (1e5, 1e100, 1e160, 1e200, 1e300):
        X = np.array([[v, 0.0], [-v, 0.0], [v, -v]])
        gates = model.gate_proba(X)
        assert np.all(np.isfinite(gates)), f"gates not finite at {v:g}"
        np.testing.assert_allclose(gates[:, 1], 1.0, err_msg=f"the widest cluster must win at {v:g}")
        proba = model.predict_proba(X)
        assert np.all(np.isfinite(proba)), f"predict_proba not finite at {v:g}"
        np.testing.assert_allclose(proba[:, 1], [0.0, 1.0, 0.0], atol=1e-12)  # expert 1: w = (-1, 0)
    equal = (params[0], params[1], np.ones(3), params[3], params[4])
    model = gmlc.GaussianMixtureLinearClassifier.from_params(equal)
    for v in (1e5, 1e160, 1e300):
        gates = model.gate_proba(np.array([[v, 0.0], [0.0, v], [-v, -v]]))
        np.testing.assert_allclose(gates, [[0, 1, 0], [0, 0, 1], [1, 0, 0]], atol=1e-12,
                                   err_msg=f"the nearest mean must win at {v:g}")


# ===========================================================================
# Gaussian mixtures and the EM driver (mixture.py, em.py)
# ===========================================================================
def random_mixture(rng, n_components, n_features, covariance_type="spherical"):
    """A :class:`GaussianMixture` with random parameters, as if fitted."""
    gm = mixture.GaussianMixture(n_components, covariance_type=covariance_type)
    gm.weights_ = rng.dirichlet(np.ones(n_components))
    gm.means_ = rng.normal(0, 2, size=(n_components, n_features))
    shape = (n_components,) if covariance_type == "spherical" else (n_components, n_features)
    gm.variances_ = rng.uniform(0.2, 3.0, size=shape)
    return gm


def check_spherical_variance_divides_by_d():
    """Eq. em-m-var (errata 6): ``sigma_k^2 = sum_i tau_ik ||x_i - mu_k||^2 / (d sum_i tau_ik)``."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(100, 4)) * np.array([1.0, 2.0, 3.0, 4.0])
    resp = rng.dirichlet(np.ones(2), size=100)
    gm = mixture.GaussianMixture(2, var_floor=0.0).m_step(X, resp)
    diag = mixture.GaussianMixture(2, covariance_type="diag", var_floor=0.0).m_step(X, resp)
    nk = resp.sum(axis=0)
    for k in range(2):
        mu = resp[:, k] @ X / nk[k]
        expected = resp[:, k] @ np.sum((X - mu) ** 2, axis=1) / (X.shape[1] * nk[k])
        assert np.isclose(gm.variances_[k], expected, rtol=1e-12)
        # The report's elementwise formula is the diagonal M-step, not this one.
        report = resp[:, k] @ (X - mu) ** 2 / nk[k]
        assert not np.allclose(report, gm.variances_[k])
        np.testing.assert_allclose(diag.variances_[k], report, rtol=1e-12)


def _torch_gmm_q(X, resp, logits, means, log_var, covariance_type):
    """``Q(theta_hat, theta)`` of a Gaussian mixture written independently in torch (eq. em-gmm-q)."""
    X, resp = torch.as_tensor(X), torch.as_tensor(resp)
    log_pi = torch.log_softmax(logits, dim=0)
    sq = (X[:, None, :] - means[None, :, :]) ** 2  # (n, K, d)
    d = X.shape[1]
    if covariance_type == "spherical":
        log_n = -0.5 * (d * np.log(2 * np.pi) + d * log_var[None, :]
                        + sq.sum(-1) / torch.exp(log_var)[None, :])
    else:
        log_n = -0.5 * (d * np.log(2 * np.pi) + log_var.sum(-1)[None, :]
                        + (sq / torch.exp(log_var)[None]).sum(-1))
    return (resp * (log_pi[None, :] + log_n)).sum()


def check_m_step_is_the_argmax_of_q(covariance_type="spherical"):
    """Eqs. em-m-weights .. em-m-var (errata 3): the M-step is a stationary point and a maximum of Q.

    The weights sum to one and equal ``N_k / n``; the autograd gradient of Q
    (softmax logits for the weights, log-variances) vanishes there; Q at the
    M-step equals Q recomputed from the package's log joint; random
    perturbations all lower Q.
    """
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2)) * [1.0, 3.0] + [2.0, -1.0]
    resp = rng.dirichlet(np.ones(3), size=len(X))  # arbitrary responsibilities
    gm = mixture.GaussianMixture(3, covariance_type=covariance_type, var_floor=0.0).m_step(X, resp)
    np.testing.assert_allclose(gm.weights_, resp.mean(axis=0), atol=1e-12)
    assert np.isclose(gm.weights_.sum(), 1.0)
    logits = torch.tensor(np.log(gm.weights_), requires_grad=True)
    means = torch.tensor(gm.means_, requires_grad=True)
    log_var = torch.tensor(np.log(gm.variances_), requires_grad=True)
    q = _torch_gmm_q(X, resp, logits, means, log_var, covariance_type)
    q.backward()
    assert np.isclose(q.item(), em.q_function(gm.log_joint(X), resp), rtol=1e-10)
    for name, p in [("logits", logits), ("means", means), ("log_var", log_var)]:
        assert p.grad.abs().max().item() < 1e-8 * len(X), (name, p.grad)
    q_star = q.item()
    gen = torch.Generator().manual_seed(0)
    for _ in range(100):
        with torch.no_grad():
            q_other = _torch_gmm_q(X, resp,
                                   logits + 0.05 * torch.randn(logits.shape, generator=gen),
                                   means + 0.05 * torch.randn(means.shape, generator=gen),
                                   log_var + 0.05 * torch.randn(log_var.shape, generator=gen),
                                   covariance_type)
        assert q_other.item() < q_star


def check_gaussian_log_joint():
    """Eq. em-gmm-joint: ``log pi_k + log N(x | mu_k, Sigma_k)`` against scipy's density."""
    rng = np.random.default_rng(7)
    X = rng.normal(0, 3, size=(50, 3))
    for covariance_type in ("spherical", "diag"):
        gm = random_mixture(rng, 3, 3, covariance_type)
        cov = [np.eye(3) * v if covariance_type == "spherical" else np.diag(v) for v in gm.variances_]
        expected = np.column_stack([np.log(w) + stats.multivariate_normal(m, c).logpdf(X)
                                    for w, m, c in zip(gm.weights_, gm.means_, cov)])
        np.testing.assert_allclose(gm.log_joint(X), expected, rtol=1e-10)
        np.testing.assert_allclose(gm.score_samples(X), np.logaddexp.reduce(expected, axis=1),
                                   rtol=1e-10)


def check_e_step():
    """Eq. em-posterior: the driver's E-step and the public one give normalised posteriors.

    ``tau_ik = pi_k N(x_i | k) / sum_j pi_j N(x_i | j)`` by hand, from the
    driver (``_e_step``, what ``fit`` uses) and from ``predict_proba``; the
    driver's log-likelihood is ``sum_i log p(x_i)``.
    """
    rng = np.random.default_rng(8)
    X = rng.normal(0, 3, size=(60, 2))
    for covariance_type in ("spherical", "diag"):
        gm = random_mixture(rng, 4, 2, covariance_type)
        cov = [np.eye(2) * v if covariance_type == "spherical" else np.diag(v) for v in gm.variances_]
        joint = np.column_stack([w * stats.multivariate_normal(m, c).pdf(X)
                                 for w, m, c in zip(gm.weights_, gm.means_, cov)])
        expected = joint / joint.sum(axis=1, keepdims=True)
        resp, log_lik = gm._e_step((X,))
        np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
        np.testing.assert_allclose(resp, expected, atol=1e-12)
        assert np.isclose(log_lik, np.log(joint.sum(axis=1)).sum(), rtol=1e-12)
        np.testing.assert_allclose(gm.predict_proba(X), expected, atol=1e-12)


def assert_monotone_fit(seed, n, d, k, covariance_type, init, offset=0.0):
    """Fit 40 EM rounds to heavy-tailed random data; the history must not decrease."""
    rng = np.random.default_rng(seed)
    X = rng.standard_t(df=3, size=(n, d)) * rng.uniform(0.1, 10.0) + offset
    gm = mixture.GaussianMixture(k, covariance_type=covariance_type, init_params=init, tol=0,
                                 max_iter=40, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", em.ConvergenceWarning)
        gm.fit(X)
    history = gm.log_likelihood_history_
    assert np.all(np.isfinite(history))
    assert np.all(np.diff(history) >= -1e-9 * np.maximum(1.0, np.abs(history[:-1]))), \
        f"the log-likelihood decreased: {np.diff(history).min():.3g}"


def check_kmeans_is_a_lloyd_fixed_point():
    """k-means stops at a fixed point of Lloyd's algorithm: every point carries the label of
    its nearest centre (by brute force) and every centre is the mean of its points."""
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.normal(size=(60, 2)) + c for c in ([0, 0], [6, 0], [0, 6])]) + 10
    centres, labels = mixture.kmeans(X, 3, random_state=0)
    brute = np.argmin(((X[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(labels, brute)
    for c in range(3):
        np.testing.assert_allclose(centres[c], X[labels == c].mean(axis=0), rtol=1e-12)


def check_em_is_monotone():
    """Eq. em-monotone: no EM round lowers the log-likelihood, on data far from the origin too."""
    for seed, covariance_type in [(0, "spherical"), (1, "diag"), (2, "spherical")]:
        for offset in (0.0, 20.0):
            assert_monotone_fit(seed, 60, 2, 3, covariance_type, "random_from_data", offset=offset)


def check_chunked_pass():
    """The fused chunked E-step (what ``fit`` runs) equals the E-step and sums written by hand.

    On ``2.5 * CHUNK_ROWS`` rows, so that the statistics add up over three chunks: ``N_k``,
    ``sum_i tau_ik x_i``, ``sum_i tau_ik (x_i - c)^2`` and ``log p(X)``.
    """
    rng = np.random.default_rng(11)
    n = int(2.5 * mixture.CHUNK_ROWS)
    X = rng.normal(0, 3, size=(n, 2)) + 5.0
    for covariance_type in ("spherical", "diag"):
        gm = random_mixture(rng, 3, 2, covariance_type)
        cov = [np.eye(2) * v if covariance_type == "spherical" else np.diag(v) for v in gm.variances_]
        joint = np.column_stack([np.log(w) + stats.multivariate_normal(m, c).logpdf(X)
                                 for w, m, c in zip(gm.weights_, gm.means_, cov)])
        log_px = np.logaddexp.reduce(joint, axis=1)
        resp = np.exp(joint - log_px[:, None])
        summary, log_lik = gm._gaussian_e_pass(X)
        sq = (X - summary.shift) ** 2
        assert np.isclose(log_lik, log_px.sum(), rtol=1e-12)
        np.testing.assert_allclose(summary.nk, resp.sum(axis=0), rtol=1e-10)
        np.testing.assert_allclose(summary.s1, resp.T @ X, rtol=1e-10)
        expected_s2 = resp.T @ (sq.sum(axis=1) if covariance_type == "spherical" else sq)
        np.testing.assert_allclose(summary.s2, expected_s2, rtol=1e-10)
        np.testing.assert_allclose(summary.resp_of(slice(n - 7, n)), resp[n - 7:], atol=1e-12)


def check_far_component_is_exact():
    """A component far from the rest is fitted as exactly as float64 allows (issue 18).

    ``[[1.76e14], [0], [1]]`` with two components: ``{0, 1}`` (mean 0.5, variance 0.25) and
    the far point alone (its variance at the floor); the history never decreases.
    """
    X = np.array([[1.76e14], [0.0], [1.0]])
    for covariance_type in ("spherical", "diag"):
        gm = mixture.GaussianMixture(2, covariance_type=covariance_type, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", em.ConvergenceWarning)
            gm.fit(X)
        order = np.argsort(gm.means_[:, 0])
        np.testing.assert_array_equal(gm.means_[order, 0], [0.5, 1.76e14])
        np.testing.assert_allclose(np.ravel(gm.variances_)[order], [0.25, 1e-6], rtol=1e-12)
        assert gm.converged_
        assert np.all(np.diff(gm.log_likelihood_history_) >= 0)


def check_far_points():
    """Posteriors of far but finite points are finite and right (issue 18).

    Far from every component the widest one wins (the quadratic terms decide); between
    components of equal variances, the one whose mean lies furthest towards the point
    (the linear term decides). Rows at moderate distances, computed by the far-point
    formula, agree with the ordinary E-step.
    """
    rng = np.random.default_rng(12)
    for covariance_type in ("spherical", "diag"):
        gm = random_mixture(rng, 4, 3, covariance_type)
        far = np.array([[1e160, 0, 0], [1e300, 1e300, 1e300], [-1e100, 1e3, 0], [1.7e308, -1.7e308, 0]])
        proba = gm.predict_proba(far)
        assert np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1.0)
        if covariance_type == "spherical":
            np.testing.assert_array_equal(gm.predict(far), np.argmax(gm.variances_))
        else:  # along the first axis, the widest along that axis
            assert gm.predict(far[:1])[0] == np.argmax(gm.variances_[:, 0])
        gm.variances_ = np.ones_like(gm.variances_)
        directions = np.array([[1.0, 0, 0], [0, -1.0, 0], [1.0, 1.0, -1.0]])
        for scale in (1e20, 1e160, 1e300):
            np.testing.assert_array_equal(gm.predict(scale * directions),
                                          np.argmax(gm.means_ @ directions.T, axis=0))
        near = rng.normal(size=(100, 3)) * np.logspace(0, 1.5, 100)[:, None]
        np.testing.assert_allclose(np.exp(mixture._far_log_posterior(gm, near)),
                                   np.exp(em.e_step_from_log_joint(gm.log_joint(near))[0]), atol=1e-9)


def check_torch_backend_equals_numpy():
    """``backend="torch"`` (float64, CPU) runs the NumPy path's EM: same fit to 1e-6."""
    rng = np.random.default_rng(13)
    X = np.concatenate([rng.normal(size=(9000, 3)) + c for c in ([0, 0, 0], [2, 1, 0], [-1, 2, 4])])
    for covariance_type in ("spherical", "diag"):
        kw = dict(covariance_type=covariance_type, init_params="random", tol=0, max_iter=15,
                  random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", em.ConvergenceWarning)
            ours = mixture.GaussianMixture(3, **kw).fit(X)
            torch_fit = mixture.GaussianMixture(3, backend="torch", device="cpu", **kw).fit(X)
        np.testing.assert_allclose(torch_fit.log_likelihood_history_, ours.log_likelihood_history_,
                                   rtol=1e-10)
        for name in ("weights_", "means_", "variances_"):
            np.testing.assert_allclose(getattr(torch_fit, name), getattr(ours, name), atol=1e-6)


# ===========================================================================
# Discrete mixtures (discrete_mixture.py)
# ===========================================================================
def count_data(n=300, d=12, seed=0):
    rng = np.random.default_rng(seed)
    alphas = rng.gamma(0.5, 2.0, size=(3, d)) + 0.05
    z = rng.integers(3, size=n)
    totals = rng.integers(50, 500, size=n)
    X = np.array([rng.multinomial(t, rng.dirichlet(alphas[k])) for t, k in zip(totals, z)])
    return X.astype(float), z


def categorical_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(4, 0.3), size=(3, 6))  # (K, d, L)
    z = rng.integers(3, size=n)
    u = rng.uniform(size=(n, 6, 1))
    X = (u > np.cumsum(probs[z], axis=2)).sum(axis=2)
    return np.minimum(X, 3).astype(float), z


def check_dm_log_likelihood():
    """Eq. mb-dm, multinomial coefficient included: comparable with other models' likelihoods.

    The function and the mixture's ``score_samples`` against scipy's
    ``dirichlet_multinomial.logpmf``; and, with a huge precision ``alpha = c p``,
    against the multinomial ``scipy.stats.multinomial.logpmf(x; n, p)`` it
    tends to, the model a BIC or a log-likelihood is compared with.
    """
    X, _ = count_data(n=40)
    rng = np.random.default_rng(0)
    alpha = rng.uniform(0.05, 5.0, size=X.shape[1])
    n = X.sum(axis=1)
    np.testing.assert_allclose(discrete_mixture.dirichlet_multinomial_logpmf(X, alpha),
                               stats.dirichlet_multinomial.logpmf(X, alpha, n), atol=1e-8, rtol=0)
    # DM(x | c p) - Mult(x | n, p) is about sum_j x_j^2 / (2 c p_j): no tiny p_j, a large c.
    # The multinomial coefficient, log n! - sum_j log x_j!, is tens of nats here.
    p = rng.dirichlet(np.full(X.shape[1], 20.0))
    multinomial = stats.multinomial.logpmf(X, n, p)
    np.testing.assert_allclose(discrete_mixture.dirichlet_multinomial_logpmf(X, 1e9 * p),
                               multinomial, atol=1e-2)
    model = discrete_mixture.DirichletMultinomialMixture(2)
    model.weights_, model.alphas_ = np.array([0.3, 0.7]), np.stack([alpha, 1e9 * p])
    model.n_features_in_ = X.shape[1]
    expected = np.logaddexp(np.log(0.3) + stats.dirichlet_multinomial.logpmf(X, alpha, n),
                            np.log(0.7) + multinomial)
    np.testing.assert_allclose(model.score_samples(X), expected, atol=1e-2)


def _weighted_dm_torch(X, r, alpha):
    """``sum_i r_i log DM(x_i | alpha)`` in torch, for autograd in ``alpha``."""
    X, r = torch.as_tensor(X), torch.as_tensor(r)
    n, A = X.sum(1), alpha.sum()
    lg = torch.lgamma
    return (r * (lg(A) - lg(n + A) + (lg(X + alpha) - lg(alpha)).sum(1))).sum()


def check_dm_fixed_point():
    """The M-step (Newton on log alpha, Minka's fixed point eq. mb-fixed-point as fallback):
    each update raises ``sum_i r_i log DM(x_i | alpha_k)``, and the updates converge to its
    maximiser, where autograd's gradient vanishes."""
    X, _ = count_data(n=120, d=6)
    rng = np.random.default_rng(3)
    model = discrete_mixture.DirichletMultinomialMixture(2, m_step_iter=1, alpha_floor=1e-6)
    model._check_params()
    counts = discrete_mixture._Counts(X)
    model.alphas_ = rng.uniform(0.1, 3.0, size=(2, X.shape[1]))
    resp = rng.dirichlet([1.0, 1.0], size=X.shape[0])
    lpmf = discrete_mixture.dirichlet_multinomial_logpmf
    for _ in range(10):
        before = [resp[:, k] @ lpmf(X, model.alphas_[k]) for k in range(2)]
        model._m_step(resp, counts)
        after = [resp[:, k] @ lpmf(X, model.alphas_[k]) for k in range(2)]
        assert all(a >= b - 1e-9 for a, b in zip(after, before)), "an update lowered the bound"
    model._m_step(resp, counts, iterations=200)
    for k in range(2):
        alpha = torch.tensor(model.alphas_[k], requires_grad=True)
        _weighted_dm_torch(X, resp[:, k], alpha).backward()
        scale = float(resp[:, k].sum())
        assert alpha.grad.abs().max().item() < 1e-6 * scale, \
            f"the fixed point is not a stationary point: gradient {alpha.grad.numpy()}"


def check_categorical_m_step():
    """The categorical mixture's MAP M-step, ``theta_kjl = (sum_i r_ik [x_ij = l] + a) / (N_k + L a)``,
    ``pi_k = N_k / n``, by hand; and no other table has a higher ``Q + log p(theta)``."""
    X, _ = categorical_data(n=200)
    rng = np.random.default_rng(1)
    resp = rng.dirichlet(np.ones(3), size=len(X))
    alpha = 0.7
    model = discrete_mixture.CategoricalMixture(3, alpha=alpha)
    model._check_params(X)
    model._m_step(resp, X)
    L = model.n_levels_
    for k in range(3):
        for j in range(X.shape[1]):
            counts = np.array([resp[X[:, j] == level, k].sum() for level in range(L)])
            np.testing.assert_allclose(np.exp(model.log_probs_[k, j]),
                                       (counts + alpha) / (resp[:, k].sum() + L * alpha), rtol=1e-10)
    np.testing.assert_allclose(model.weights_, resp.mean(axis=0), rtol=1e-12)
    best = em.q_function(model._log_joint(X), resp) + model._log_prior()
    for _ in range(20):
        noise = np.exp(model.log_probs_) * np.exp(0.05 * rng.standard_normal(model.log_probs_.shape))
        other = discrete_mixture.CategoricalMixture(3, alpha=alpha)
        other.n_levels_, other.alpha_, other.weights_ = L, alpha, model.weights_
        other.log_probs_ = np.log(noise / noise.sum(axis=2, keepdims=True))
        assert em.q_function(other._log_joint(X), resp) + other._log_prior() < best


def check_categorical_history_is_penalised():
    """MAP-EM records ``log p(X | theta) + log p(theta)``: the prior ``alpha sum log theta``
    (a symmetric Dirichlet(1 + alpha)) is in the history, and it never decreases."""
    X, _ = categorical_data()
    model = discrete_mixture.CategoricalMixture(3, alpha=0.5, random_state=0).fit(X)
    penalised = model.score_samples(X).sum() + 0.5 * model.log_probs_.sum()
    assert np.isclose(model.log_likelihood_history_[-1], penalised, rtol=1e-12), \
        "the history is not the penalised log-likelihood"
    assert np.diff(model.log_likelihood_history_).min() >= -1e-9 * abs(model.log_likelihood_)


# ===========================================================================
# The VAE and the linear-Gaussian model (vae.py, linear_gaussian.py)
# ===========================================================================
def small_vae(likelihood="bernoulli", seed=0, **kw):
    torch.manual_seed(seed)
    return vae.VAE(input_dim=6, latent_dim=2, hidden=(8,), likelihood=likelihood, **kw)


def check_gaussian_kl():
    """Eq. elbo-kl: the analytic ``KL(N(mu, sigma^2) || N(0, I))`` against Monte Carlo."""
    gen = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, generator=gen), torch.randn(5, 3, generator=gen)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    z = mu + (0.5 * logvar).exp() * torch.randn((100_000, 5, 3), generator=gen)
    mc = (q.log_prob(z) - torch.distributions.Normal(0.0, 1.0).log_prob(z)).sum(-1)
    se = mc.std(0) / math.sqrt(len(z))
    assert torch.all((vae.gaussian_kl(mu, logvar) - mc.mean(0)).abs() < 5 * se)
    assert torch.allclose(vae.gaussian_kl(torch.zeros(2, 4), torch.zeros(2, 4)), torch.zeros(2))


def check_reparameterize():
    """Eq. rep-trick: ``z = mu + exp(logvar / 2) eps`` has mean ``mu`` and variance ``exp(logvar)``."""
    mu, logvar = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, math.log(4.0)]])
    z = vae.reparameterize(mu, logvar, n_samples=200_000, generator=torch.Generator().manual_seed(0))
    assert z.shape == (200_000, 1, 2)
    assert torch.allclose(z.mean(0), mu, atol=0.02)
    assert torch.allclose(z.var(0), logvar.exp(), rtol=0.02)


def _log_weights(model, x, k, seed):
    """``log p(x | z_i) + log p(z_i) - log q(z_i | x)`` from the distributions' definitions,
    for the ``z_i`` the package draws with that seed: shape ``(k, batch)``."""
    mu, logvar = model.encode(x)
    std = (0.5 * logvar).exp()
    eps = torch.randn((k,) + tuple(mu.shape), generator=torch.Generator().manual_seed(seed),
                      dtype=mu.dtype)
    z = mu + std * eps
    log_px_z = torch.distributions.Bernoulli(logits=model.decoder(z)).log_prob(x).sum(-1)
    log_pz = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    log_qz = torch.distributions.Normal(mu, std).log_prob(z).sum(-1)
    return log_px_z, log_pz - log_qz, torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, std), torch.distributions.Normal(0.0, 1.0)).sum(-1)


def check_elbo_and_iwae_definitions():
    """Eqs. elbo-vae and rep-iwae from their definitions (errata 9: prior N(0, I), decoder likelihood).

    For the same draws ``z_1..z_k``: ``elbo`` is the mean of ``log p(x | z_i)``
    minus ``KL(q || p(z))``; ``iwae_bound`` is
    ``log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x)``, hence (Jensen, for every
    draw) at least the mean of the log weights.
    """
    model = small_vae().double()
    x = torch.bernoulli(torch.full((4, 6), 0.5, dtype=torch.float64),
                        generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for k in (1, 5):
            log_px_z, log_ratio, kl = _log_weights(model, x, k, seed=3)
            terms = vae.elbo(model, x, n_samples=k, generator=torch.Generator().manual_seed(3))
            assert torch.allclose(terms.reconstruction, log_px_z.mean(0), atol=1e-10)
            assert torch.allclose(terms.kl, kl, atol=1e-10)
            assert torch.allclose(terms.elbo, log_px_z.mean(0) - kl, atol=1e-10)
            bound = vae.iwae_bound(model, x, k, generator=torch.Generator().manual_seed(3))
            log_w = log_px_z + log_ratio
            assert torch.allclose(bound, torch.logsumexp(log_w, 0) - math.log(k), atol=1e-10)
            assert torch.all(bound >= log_w.mean(0) - 1e-10)


def _log_evidence_by_quadrature(model, x, half_width=7.0, points=281):
    """``log p(x) = log int p(x | z) N(z; 0, I) dz`` on a grid, for a 2-D latent space."""
    grid = torch.linspace(-half_width, half_width, points, dtype=torch.float64)
    z = torch.cartesian_prod(grid, grid)
    log_pz = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    logits = model.decoder(z)
    step = grid[1] - grid[0]
    return torch.stack([
        torch.logsumexp(torch.distributions.Bernoulli(logits=logits).log_prob(row).sum(-1) + log_pz, 0)
        for row in x]) + 2 * torch.log(step)


def check_bounds_below_the_evidence():
    """Eq. rep-iwae: ``ELBO = E[IWAE_1] <= E[IWAE_k] <= E[IWAE_k'] <= log p(x)`` for ``k < k'``.

    ``log p(x)`` by quadrature over the 2-D latent space; expectations by
    averaging many independent bounds (standard errors allowed for).
    """
    model = small_vae(seed=1).double()
    x = torch.bernoulli(torch.full((3, 6), 0.5, dtype=torch.float64),
                        generator=torch.Generator().manual_seed(2))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        log_px = _log_evidence_by_quadrature(model, x)
        elbo = vae.elbo(model, x, n_samples=20_000, generator=gen).elbo
        means, ses = [], []
        for k, repeats in ((1, 20_000), (10, 2000), (100, 200)):
            bounds = vae.iwae_bound(model, x.repeat(repeats, 1), k, generator=gen).view(repeats, -1)
            means.append(bounds.mean(0))
            ses.append(bounds.std(0) / math.sqrt(repeats))
    assert torch.all((means[0] - elbo).abs() < 5 * ses[0] + 0.01), "E[IWAE_1] is not the ELBO"
    assert torch.all(elbo < log_px)
    for (a, sa), (b, sb) in zip(zip(means, ses), zip(means[1:], ses[1:])):
        assert torch.all(a <= b + 4 * (sa + sb)), "the bound does not grow with k"
    for m, se in zip(means, ses):
        assert torch.all(m <= log_px + 4 * se), f"a bound exceeds log p(x): {m - log_px}"
    assert torch.all(log_px - means[-1] < 0.5 * (log_px - means[0])), "IWAE_100 is not much tighter"


def check_linear_gaussian_elbo():
    """Eq. elbo-definition on the exact model: ELBO = log p(x) at the true posterior, and
    ``log p(x) - ELBO(q) = KL(q || p(z | x))`` for any Gaussian ``q``."""
    rng = np.random.default_rng(0)
    model = linear_gaussian.LinearGaussianModel(rng.normal(size=(4, 2)), rng.normal(size=4), 0.3)
    x, _ = model.sample(3, random_state=1)
    mean, cov = model.posterior(x)
    np.testing.assert_allclose(model.elbo(x, mean, cov), model.log_evidence(x), rtol=1e-10)
    for _ in range(20):
        q_mean = mean + rng.normal(size=mean.shape)
        A = rng.normal(size=(2, 2))
        q_cov = A @ A.T + 0.1 * np.eye(2)
        gap = model.log_evidence(x) - model.elbo(x, q_mean, q_cov)
        assert np.all(gap > 0)
        np.testing.assert_allclose(gap, linear_gaussian.gaussian_kl_full(q_mean, q_cov, mean, cov),
                                   rtol=1e-9)


# ===========================================================================
# PixelCNN (pixelcnn.py)
# ===========================================================================
SHAPE = (7, 8)  # not square, so that rows and columns cannot be confused


def mask_by_hand(kernel_size, centre):
    """Offsets a masked kernel lets through, written here independently of ``mask_offsets``."""
    c = kernel_size // 2
    return {(dr, dc) for dr in range(-c, c + 1) for dc in range(-c, c + 1)
            if dr < 0 or (dr == 0 and (dc < 0 or (centre and dc == 0)))}


def plain_field(n_layers, kernel_size):
    """Offsets reachable through one mask-A layer then ``n_layers - 1`` mask-B layers."""
    field = mask_by_hand(kernel_size, centre=False)
    step = mask_by_hand(kernel_size, centre=True)
    for _ in range(n_layers - 1):
        field = {(a + c, b + d) for a, b in field for c, d in step}
    return field


def gated_field(n_layers, kernel_size):
    """Every row above up to L*s + 1, columns within L*s either side; the row to the left."""
    reach = n_layers * (kernel_size // 2)
    above = {(dr, dc) for dr in range(-reach - 1, 0) for dc in range(-reach, reach + 1)}
    return above | {(0, dc) for dc in range(-reach, 0)}


def offset_sets(dep, shape):
    """For each output position, the set of (row, col) offsets of the inputs it depends on."""
    height, width = shape
    sets = {}
    for i in range(height * width):
        r, c = divmod(i, width)
        sets[(r, c)] = {(j // width - r, j % width - c) for j in torch.nonzero(dep[i]).flatten().tolist()}
    return sets


def inside(r, c, offsets, shape):
    return {(dr, dc) for dr, dc in offsets if 0 <= r + dr < shape[0] and 0 <= c + dc < shape[1]}


def pixelcnn_model(kind, n_layers, kernel_size):
    torch.manual_seed(0)
    cls = {"plain": pixelcnn.PixelCNN, "gated": pixelcnn.GatedPixelCNN}[kind]
    return cls(4, hidden=16, n_layers=n_layers, kernel_size=kernel_size).double()


def check_causal(kind, n_layers=2, kernel_size=3):
    """Eq. px-chain: output ``i`` depends on no input ``j >= i`` (raster order), by autograd."""
    dep = pixelcnn.input_dependence(pixelcnn_model(kind, n_layers, kernel_size), SHAPE)
    assert not torch.triu(dep).any(), "an output depends on its own or a later input"


def check_receptive_field(kind, n_layers=2, kernel_size=3):
    """The measured receptive field is exactly the predicted one: for the plain stack the
    sum of its masks (with the blind spot), for the gated stack every earlier pixel within reach."""
    dep = pixelcnn.input_dependence(pixelcnn_model(kind, n_layers, kernel_size), SHAPE)
    field = (plain_field if kind == "plain" else gated_field)(n_layers, kernel_size)
    for (r, c), seen in offset_sets(dep, SHAPE).items():
        assert seen == inside(r, c, field, SHAPE), (r, c)


def check_log_prob_is_normalised(kind="plain"):
    """Eq. px-chain gives a distribution: ``sum_x p(x)`` over all 3^4 grids of 2 x 2 is one."""
    import itertools

    torch.manual_seed(2)
    cls = {"plain": pixelcnn.PixelCNN, "gated": pixelcnn.GatedPixelCNN}[kind]
    model = cls(3, hidden=8, n_layers=2)
    grids = torch.tensor(list(itertools.product(range(3), repeat=4))).view(-1, 2, 2)
    total = torch.logsumexp(model.log_prob(grids).double(), 0).exp()
    assert abs(total.item() - 1.0) < 1e-5, f"sum of p(x) over all grids is {total.item()}"


# scikit-learn 1.9's sparse-input checks assert the shape of predict_proba through
# ``tags.classifier_tags.multi_class``, which is None for a density estimator: the check
# itself raises AttributeError after fit and predict on the sparse table have succeeded.
# Sparse input is tested in tests/test_count_models.py (sparse tables give the dense fit).
_SPARSE_CHECK = "the check reads classifier_tags, None for a density estimator"
SKLEARN_EXPECTED_FAILURES = {
    "cat": {"check_estimator_sparse_matrix": _SPARSE_CHECK, "check_estimator_sparse_array": _SPARSE_CHECK},
    "dmm": {"check_estimator_sparse_matrix": _SPARSE_CHECK, "check_estimator_sparse_array": _SPARSE_CHECK},
}
