"""Planted bugs: every check of a key equation must be able to fail.

Each bug below is a one-line mistake written as a textual mutation of the
package's own source (``old`` -> ``new``, see :func:`checks.plant`), such as a
flipped sign, a missing factor or a removed shift. For every bug the test

1. runs the check on the real code and requires it to pass, then
2. plants the bug with ``monkeypatch`` and requires the *same* check to raise
   ``AssertionError``.

The checks live in ``tests/checks.py`` and are the ones the ordinary unit tests
call, so a check that no bug here trips would be decoration, and a bug that no
check catches is a hole in the test suite. A bug whose ``old`` text no longer
occurs in the source fails loudly: rewrite it for the new code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import pytest

import checks


@dataclass(frozen=True)
class Bug:
    name: str
    target: str  # "module:Qualified.name" of the function or method to mutate
    old: str  # text that occurs exactly once in its source ...
    new: str  # ... and what the bug replaces it with
    check: Callable[[], None]  # raises AssertionError on the buggy code


BUGS = [
    # ------------------------------------------------------------------ VQ
    Bug("vq-commitment-loss-sign-flipped",
        "latent_notes.vq:_QuantizerBase._output",
        "commitment_loss = self.beta *", "commitment_loss = -self.beta *",
        checks.check_commitment_loss),
    Bug("vq-ema-divides-by-batch-counts",
        "latent_notes.vq:VectorQuantizerEMA.forward",
        "smoothed = (self.cluster_size + self.epsilon)", "smoothed = (one_hot.sum(0) + self.epsilon)",
        checks.check_ema_moving_average),
    Bug("vq-ema-without-laplace-smoothing",
        "latent_notes.vq:VectorQuantizerEMA.forward",
        "self.codebook.copy_(self.embed_sum / smoothed[:, None])",
        "self.codebook.copy_(self.embed_sum / self.cluster_size[:, None])",
        checks.check_ema_moving_average),
    Bug("vq-straight-through-removed",
        "latent_notes.vq:_QuantizerBase._output",
        "quantized = flat + (codes - flat).detach()", "quantized = codes",
        checks.check_straight_through),
    Bug("vq-straight-through-without-detach",
        "latent_notes.vq:_QuantizerBase._output",
        "quantized = flat + (codes - flat).detach()", "quantized = flat + (codes - flat)",
        checks.check_straight_through),
    Bug("vq-codebook-loss-without-stop-gradient",
        "latent_notes.vq:VectorQuantizer.forward",
        "(codes - flat.detach())", "(codes - flat)",
        checks.check_codebook_loss),
    Bug("vq-nearest-code-distance-sign",
        "latent_notes.vq:_QuantizerBase.nearest",
        "- 2 * flat @ codebook.T", "+ 2 * flat @ codebook.T",
        checks.check_nearest_code),
    # ---------------------------------------------------------------- GMLC
    Bug("gmlc-irls-hessian-without-tau",
        "latent_notes.gmlc:_irls",
        "(w * s * (1.0 - s))", "(s * (1.0 - s))",
        checks.check_irls_hessian),
    Bug("gmlc-irls-hessian-quarter-tau",
        "latent_notes.gmlc:_irls",
        "(w * s * (1.0 - s))", "(0.25 * w)",
        checks.check_irls_hessian),
    Bug("gmlc-irls-hessian-without-penalty",
        "latent_notes.gmlc:_irls",
        "@ X1 + np.diag(pen)", "@ X1",
        checks.check_irls_hessian),
    Bug("gmlc-irls-without-step-halving",
        "latent_notes.gmlc:_irls",
        "if f_new >= f:", "if True:",
        partial(checks.check_solver_iterates_never_decrease_q, "irls")),
    Bug("gmlc-gradient-penalty-sign",
        "latent_notes.gmlc:_objective",
        "- pen * theta", "+ pen * theta",
        checks.check_logistic_gradient),
    Bug("gmlc-gd-descends",
        "latent_notes.gmlc:_gd",
        "candidate = theta + lr * g / total", "candidate = theta - lr * g / total",
        partial(checks.check_solver_reaches_the_weighted_optimum, "gd")),
    Bug("gmlc-gd-accepts-every-step",
        "latent_notes.gmlc:_gd",
        "if f_new >= f:", "if True:",
        partial(checks.check_solver_iterates_never_decrease_q, "gd")),
    Bug("gmlc-sgd-residual-sign",
        "latent_notes.gmlc:_sgd",
        "(y[idx] - _sigmoid(Xb @ theta))", "(_sigmoid(Xb @ theta) - y[idx])",
        partial(checks.check_solver_reaches_the_weighted_optimum, "sgd")),
    Bug("gmlc-e-step-ignores-the-label",
        "latent_notes.gmlc:GaussianMixtureLinearClassifier._log_joint",
        "self._gaussian_log_joint(X) + self._expert_log_lik(X, y01)", "self._gaussian_log_joint(X)",
        checks.check_gmlc_posterior_and_likelihood),
    # ------------------------------------------------------ mixtures and EM
    Bug("em-spherical-variance-not-divided-by-d",
        "latent_notes.mixture:GaussianComponentsMixin._gaussian_m_step_from",
        "var = per / d", "var = per",
        checks.check_spherical_variance_divides_by_d),
    Bug("em-m-step-weights-not-normalised",
        "latent_notes.mixture:GaussianComponentsMixin._gaussian_m_step_from",
        "self.weights_ = nk / nk.sum()", "self.weights_ = nk",
        checks.check_m_step_is_the_argmax_of_q),
    Bug("em-m-step-variances-about-the-shift",
        "latent_notes.mixture:GaussianComponentsMixin._gaussian_m_step_from",
        "centred = means - stats.shift", "centred = 0 * means",
        checks.check_em_is_monotone),
    Bug("em-chunked-statistics-keep-only-the-last-chunk",
        "latent_notes.mixture:GaussianComponentsMixin._gaussian_e_pass",
        "s1 += r.T @ Xb", "s1 = r.T @ Xb",
        checks.check_chunked_pass),
    Bug("em-chunked-log-likelihood-of-the-last-chunk",
        "latent_notes.mixture:GaussianComponentsMixin._gaussian_e_pass",
        "log_lik += float(np.sum(log_px))", "log_lik = float(np.sum(log_px))",
        checks.check_chunked_pass),
    Bug("em-direct-fallback-on-centred-data",
        "latent_notes.mixture:_chunk_log_joint",
        "diff = Xb - p.means[k]", "diff = Xc - p.means[k]",
        checks.check_far_component_is_exact),
    Bug("em-far-posterior-drops-the-linear-term",
        "latent_notes.mixture:_far_log_posterior",
        "(sr * dA - 2.0 * dB)", "(sr * dA)",
        checks.check_far_points),
    Bug("em-torch-statistics-keep-only-the-last-chunk",
        "latent_notes.mixture_torch:TorchData.e_pass",
        "s2 += r.T @ sq", "s2 = r.T @ sq",
        checks.check_torch_backend_equals_numpy),
    Bug("kmeans-distance-sign",
        "latent_notes.mixture:kmeans",
        "sq_norms[:, None] - 2 * X @ centers.T", "sq_norms[:, None] + 2 * X @ centers.T",
        checks.check_kmeans_is_a_lloyd_fixed_point),
    Bug("em-spherical-log-det-without-d",
        "latent_notes.mixture:GaussianComponentsMixin._gaussian_prepared",
        "log_det = d * np.log(self.variances_)", "log_det = np.log(self.variances_)",
        checks.check_gaussian_log_joint),
    Bug("em-driver-responsibilities-not-normalised",
        "latent_notes.em:_responsibilities",
        "return unnormalised / total[:, None], log_px", "return unnormalised, log_px",
        checks.check_e_step),
    Bug("em-posterior-not-normalised",
        "latent_notes.em:e_step_from_log_joint",
        "return shifted - log_norm, log_px", "return shifted, log_px",
        checks.check_e_step),
    # ---------------------------------------------------- discrete mixtures
    Bug("dm-logpmf-without-multinomial-coefficient",
        "latent_notes.discrete_mixture:_sample_term",
        "out = gammaln(n + 1.0) + gammaln(A) - gammaln(n + A)", "out = gammaln(A) - gammaln(n + A)",
        checks.check_dm_log_likelihood),
    Bug("dmm-log-joint-without-multinomial-coefficient",
        "latent_notes.discrete_mixture:_Counts.__init__",
        "self.lg_vals = gammaln(self.vals + 1.0)", "self.lg_vals = np.zeros_like(self.vals)",
        checks.check_dm_log_likelihood),
    Bug("dmm-m-step-digamma-term-unweighted",
        "latent_notes.discrete_mixture:_fit_alphas",
        "c = np.bincount(s_k, r_s * (digamma(A)[s_k] - digamma(totals + A[s_k])), minlength=K)",
        "c = np.bincount(s_k, digamma(A)[s_k] - digamma(totals + A[s_k]), minlength=K)",
        checks.check_dm_fixed_point),
    Bug("dmm-newton-trigamma-sign",
        "latent_notes.discrete_mixture:_fit_alphas",
        "D = np.where(P, grad - eta + u * u * q, -1.0)", "D = np.where(P, grad - eta - u * u * q, -1.0)",
        checks.check_dm_fixed_point),
    Bug("categorical-map-prior-dropped",
        "latent_notes.discrete_mixture:CategoricalMixture._log_prior",
        "return self.alpha_ * float(np.sum(self.log_probs_))", "return 0.0",
        checks.check_categorical_history_is_penalised),
    Bug("categorical-pseudo-count-dropped",
        "latent_notes.discrete_mixture:CategoricalMixture._m_step",
        "self.n_levels_) + self.alpha_", "self.n_levels_)",
        checks.check_categorical_m_step),
    Bug("gmlc-far-gates-fixed-reference-component",
        "latent_notes.gmlc:_log_gates",
        "r = np.argmin(A, axis=1)", "r = np.zeros(len(A), dtype=int)",
        checks.check_gmlc_far_points),
    Bug("gmlc-far-gates-without-the-far-path",
        "latent_notes.gmlc:_log_gates",
        "far = ~(np.min(maha, axis=1) <= 1e8)", "far = np.zeros(len(maha), dtype=bool)",
        checks.check_gmlc_far_points),
    Bug("gmlc-expert-product-without-row-scaling",
        "latent_notes.gmlc:_linear",
        "scale * ((X / scale) @ coef.T)", "(X @ coef.T)",
        checks.check_gmlc_far_points),
    # ------------------------------------------------------------ VAE, ELBO
    Bug("vae-iwae-without-minus-log-k",
        "latent_notes.vae:iwae_bound",
        "dim=0) - math.log(k)", "dim=0)",
        checks.check_bounds_below_the_evidence),
    Bug("vae-kl-log-variance-sign",
        "latent_notes.vae:_gaussian_kl",
        "- logvar - 1.0", "+ logvar - 1.0",
        checks.check_gaussian_kl),
    Bug("vae-reparameterize-std-is-variance",
        "latent_notes.vae:_reparameterize",
        "torch.exp(0.5 * logvar)", "torch.exp(logvar)",
        checks.check_reparameterize),
    Bug("vae-elbo-adds-the-kl",
        "latent_notes.vae:elbo",
        "ELBOTerms(reconstruction - kl,", "ELBOTerms(reconstruction + kl,",
        checks.check_elbo_and_iwae_definitions),
    Bug("linear-gaussian-elbo-without-trace-term",
        "latent_notes.linear_gaussian:LinearGaussianModel.elbo",
        " + np.trace(self.W @ q_cov @ self.W.T)", "",
        checks.check_linear_gaussian_elbo),
    Bug("linear-gaussian-elbo-entropy-sign",
        "latent_notes.linear_gaussian:LinearGaussianModel.elbo",
        "+ logdet)", "- logdet)",
        checks.check_linear_gaussian_elbo),
    # ------------------------------------------------------------ PixelCNN
    Bug("pixelcnn-gated-vertical-shift-removed",
        "latent_notes.pixelcnn:_GatedLayer.forward",
        "v_down = F.pad(v_pre, (0, 0, 1, 0))[:, :, :-1]", "v_down = v_pre",
        partial(checks.check_causal, "gated")),
    Bug("pixelcnn-gated-first-horizontal-mask-b",
        "latent_notes.pixelcnn:_GatedLayer.__init__",
        "mask[..., -1] = 0.0", "mask[..., -1] = 1.0",
        partial(checks.check_causal, "gated")),
    Bug("pixelcnn-mask-a-includes-centre",
        "latent_notes.pixelcnn:mask_offsets",
        '(dc == 0 and mask_type == "B")', "(dc == 0)",
        partial(checks.check_causal, "plain")),
    Bug("pixelcnn-masks-drop-the-left-of-the-row",
        "latent_notes.pixelcnn:mask_offsets",
        "if dr < 0 or dc < 0 or", "if dr < 0 or",
        partial(checks.check_receptive_field, "plain")),
    Bug("pixelcnn-gated-vertical-stack-not-linked",
        "latent_notes.pixelcnn:_GatedLayer.horizontal_step",
        " + self.link(v_down)", "",
        partial(checks.check_receptive_field, "gated")),
    Bug("pixelcnn-softmax-over-the-wrong-axis",
        "latent_notes.pixelcnn:_Autoregressive.log_prob",
        "dim=1)", "dim=-1)",
        checks.check_log_prob_is_normalised),
]


def test_bug_names_are_unique():
    names = [bug.name for bug in BUGS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("bug", BUGS, ids=[bug.name for bug in BUGS])
def test_planted_bug_is_caught(bug, monkeypatch):
    bug.check()  # the check passes on the real code ...
    checks.plant(monkeypatch, bug.target, bug.old, bug.new)
    with pytest.raises(AssertionError):
        bug.check()  # ... and fails on the planted bug


def test_a_planted_bug_is_undone_after_the_test(monkeypatch):
    """The harness itself: the mutant replaces every reference, and monkeypatch restores them."""
    import latent_notes.em as em
    import latent_notes.gmlc as gmlc

    original = em.e_step_from_log_joint
    with monkeypatch.context() as patch:
        planted = checks.plant(patch, "latent_notes.em:e_step_from_log_joint",
                               "return shifted - log_norm, log_px", "return shifted, log_px")
        assert em.e_step_from_log_joint is planted and gmlc.e_step_from_log_joint is planted
    assert em.e_step_from_log_joint is original and gmlc.e_step_from_log_joint is original
    solver = gmlc._SOLVER_FUNCTIONS["irls"]
    with monkeypatch.context() as patch:
        planted = checks.plant(patch, "latent_notes.gmlc:_irls", "if f_new >= f:", "if True:")
        assert gmlc._SOLVER_FUNCTIONS["irls"] is planted and gmlc._irls is planted
    assert gmlc._SOLVER_FUNCTIONS["irls"] is solver and gmlc._irls is solver
    with pytest.raises(AssertionError, match="no longer applies"):
        checks.mutant("latent_notes.em:e_step_from_log_joint", "text that is not there", "")
