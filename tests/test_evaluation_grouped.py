"""Grouped bootstrap, ARI ceiling and detectable AUC (latent_notes.evaluation)."""

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import accuracy_score, adjusted_rand_score, roc_auc_score

from sklearn.decomposition import PCA
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from latent_notes.evaluation import (ari_ceiling, detectable_auc, grouped_bootstrap,
                                     grouped_cv_predict)


def _grouped_data(n_groups=40, per_group=6, shift=0.0, group_sd=1.0, seed=0):
    """Scores with a shared effect per group; the label is constant within a group."""
    rng = np.random.default_rng(seed)
    label = np.arange(n_groups) % 2
    effect = rng.normal(shift * label, group_sd)
    groups = np.repeat(np.arange(n_groups), per_group)
    y = label[groups]
    score = effect[groups] + 0.1 * rng.normal(size=groups.size)
    return y, score, groups


# --------------------------------------------------------- grouped_bootstrap
def test_grouped_bootstrap_estimate_is_the_metric_and_inside_the_interval():
    y, score, groups = _grouped_data(shift=1.0)
    result = grouped_bootstrap(y, score, groups, n_boot=300, random_state=0)
    assert result.estimate == pytest.approx(roc_auc_score(y, score))
    assert result.low <= result.estimate <= result.high
    assert len(result.replicates) == 300
    assert np.quantile(result.replicates, 0.025) == pytest.approx(result.low)


def test_grouped_bootstrap_is_reproducible_with_a_seed():
    y, score, groups = _grouped_data()
    a = grouped_bootstrap(y, score, groups, n_boot=50, random_state=3)
    b = grouped_bootstrap(y, score, groups, n_boot=50, random_state=3)
    assert np.array_equal(a.replicates, b.replicates)


def test_grouped_interval_is_wider_than_the_naive_one_for_clustered_samples():
    """Samples of a group share its effect: resampling samples understates the spread."""
    y, score, groups = _grouped_data(per_group=10)
    grouped = grouped_bootstrap(y, score, groups, n_boot=400, random_state=0)
    naive = grouped_bootstrap(y, score, np.arange(y.size), n_boot=400, random_state=0)
    assert grouped.high - grouped.low > 2 * (naive.high - naive.low)


def test_grouped_bootstrap_covers_the_truth_under_no_effect():
    """No effect: the 90% interval contains 0.5 in most of 40 independent data sets."""
    covered = [grouped_bootstrap(*_grouped_data(seed=s), n_boot=200, level=0.9,
                                 random_state=s)
               for s in range(40)]
    rate = np.mean([r.low <= 0.5 <= r.high for r in covered])
    assert 0.75 <= rate <= 1.0


def test_grouped_bootstrap_averages_repeated_scores_and_takes_other_metrics():
    y, score, groups = _grouped_data(shift=1.0)
    other = score[::-1].copy()
    both = grouped_bootstrap(y, np.vstack([score, other]), groups, n_boot=20, random_state=0)
    assert both.estimate == pytest.approx((roc_auc_score(y, score)
                                           + roc_auc_score(y, other)) / 2)
    acc = grouped_bootstrap(y, (score > 0.5).astype(int), groups, metric=accuracy_score,
                            n_boot=20, random_state=0)
    assert 0 <= acc.low <= acc.estimate <= acc.high <= 1


def test_the_fast_auc_equals_roc_auc_score_on_every_resample():
    """The default (weighted rank) AUC and sklearn's, on the same resamples."""
    y, score, groups = _grouped_data(shift=0.7, n_groups=20)
    score = np.round(score, 1)                              # plenty of ties
    folds = (groups % 3)[None, :]
    fast = grouped_bootstrap(y, score, groups, folds=folds, n_boot=40, random_state=7)
    slow = grouped_bootstrap(y, score, groups, folds=folds, metric=roc_auc_score,
                             n_boot=40, random_state=7)
    assert np.allclose(fast.replicates, slow.replicates)
    assert fast.estimate == pytest.approx(slow.estimate)


def test_grouped_bootstrap_with_folds_averages_the_per_fold_metric():
    y, score, groups = _grouped_data(shift=0.5)
    rng = np.random.default_rng(1)
    folds = rng.integers(0, 4, size=(2, 40))[:, groups]   # whole groups per fold
    scores = np.vstack([score, score + rng.normal(size=score.size)])
    result = grouped_bootstrap(y, scores, groups, folds=folds, n_boot=50, random_state=0)
    expected = np.mean([np.mean([roc_auc_score(y[f == k], s[f == k]) for k in range(4)])
                        for s, f in zip(scores, folds)])
    assert result.estimate == pytest.approx(expected)
    # one row of folds serves every row of scores
    shared = grouped_bootstrap(y, scores, groups, folds=folds[0], n_boot=5, random_state=0)
    assert shared.estimate == pytest.approx(np.mean(
        [np.mean([roc_auc_score(y[folds[0] == k], s[folds[0] == k]) for k in range(4)])
         for s in scores]))


def test_grouped_bootstrap_drops_resamples_with_one_class():
    y = np.array([0, 0, 1, 1, 1, 1])  # group 0 is the only negative one
    groups = np.array([0, 0, 1, 1, 2, 2])
    result = grouped_bootstrap(y, np.arange(6.0), groups, n_boot=200, random_state=0)
    assert 100 <= len(result.replicates) < 200   # P(group 0 drawn) = 19/27


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(y_true=[[0, 1]]), ValueError, "1-D"),
    (dict(y_score=np.zeros(5)), ValueError, "shape"),
    (dict(y_score=np.full(6, np.nan)), ValueError, "NaN"),
    (dict(groups=np.zeros(5)), ValueError, "one per sample"),
    (dict(groups=np.zeros(6)), ValueError, "two groups"),
    (dict(y_true=np.ones(6)), ValueError, "two classes"),
    (dict(y_true=np.ones(6), metric=accuracy_score), ValueError, "got 1"),
    (dict(y_true=np.arange(6) % 3), ValueError, "two classes for the AUC"),
    (dict(folds=np.array([0, 0, 1, 1, 1, 1])), ValueError, "single class"),
    (dict(folds=np.zeros((2, 6), int)), ValueError, "rows"),
    (dict(metric="auc"), TypeError, "callable"),
    (dict(n_boot=10.0), TypeError, "n_boot"),
    (dict(n_boot=0), ValueError, "n_boot"),
    (dict(level=1.0), ValueError, "level"),
    (dict(random_state="x"), TypeError, "random_state"),
])
def test_grouped_bootstrap_rejects_bad_input(kwargs, error, match):
    args = dict(y_true=np.array([0, 0, 1, 1, 0, 1]), y_score=np.arange(6.0),
                groups=np.array([0, 0, 1, 1, 2, 2]), n_boot=5, random_state=0)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        grouped_bootstrap(**args)


def test_grouped_bootstrap_refuses_when_too_few_resamples_are_usable():
    y = np.array([0] + [1] * 20)       # one negative group, missed by this seed's draw
    with pytest.raises(ValueError, match="both classes"):
        grouped_bootstrap(y, np.arange(21.0), np.arange(21), n_boot=1, random_state=2)


# ------------------------------------------------------- grouped_cv_predict
def _grouped_features(seed=0, n_groups=30, per_group=5, signal=2.0):
    rng = np.random.default_rng(seed)
    label = np.arange(n_groups) % 2
    groups = np.repeat(np.arange(n_groups), per_group)
    X = rng.normal(size=(groups.size, 4))
    X[:, 0] += signal * label[groups]
    return X, np.where(label[groups] == 1, "plus", "minus"), groups


def test_grouped_cv_predict_keeps_groups_together_and_predicts_the_positive_class():
    X, y, groups = _grouped_features()
    scores, folds = grouped_cv_predict(LogisticRegression(), X, y, groups, n_splits=3,
                                       seeds=(0, 4))
    assert scores.shape == folds.shape == (2, y.size)
    for fold in folds:
        assert set(fold) == {0, 1, 2}
        assert all(np.unique(fold[groups == g]).size == 1 for g in np.unique(groups))
    assert roc_auc_score(y == "plus", scores[0]) > 0.9     # "plus" > "minus": positive
    assert not np.array_equal(folds[0], folds[1])           # each seed its own folds


def test_grouped_cv_predict_matches_a_hand_written_loop_and_reseeds():
    from sklearn.model_selection import StratifiedGroupKFold

    X, y, groups = _grouped_features(signal=0.5)
    model = make_pipeline(PCA(3, svd_solver="randomized", random_state=99), LogisticRegression())
    scores, folds = grouped_cv_predict(model, X, y, groups, n_splits=3, seeds=(5,))
    positive = (y == "plus").astype(int)
    cv = StratifiedGroupKFold(3, shuffle=True, random_state=5)
    for f, (train, test) in enumerate(cv.split(X, positive, groups)):
        fitted = make_pipeline(PCA(3, svd_solver="randomized", random_state=5),
                               LogisticRegression()).fit(X[train], positive[train])
        assert np.allclose(scores[0, test], fitted.predict_proba(X[test])[:, 1])
        assert (folds[0, test] == f).all()
    assert model[0].random_state == 99                      # the model is not modified


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(model=PCA()), TypeError, "predict_proba"),
    (dict(y=np.zeros(150)), ValueError, "two classes"),
    (dict(groups=np.zeros(10)), ValueError, "one per sample"),
    (dict(groups=np.arange(150) % 2), ValueError, "2 groups"),
    (dict(seeds=()), ValueError, "at least one seed"),
    (dict(seeds=(0.5,)), TypeError, "seed"),
    (dict(n_splits=1), ValueError, "n_splits"),
])
def test_grouped_cv_predict_rejects_bad_input(kwargs, error, match):
    X, y, groups = _grouped_features()
    args = dict(model=DummyClassifier(), X=X, y=y, groups=groups)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        grouped_cv_predict(**args)


# -------------------------------------------------------------- ari_ceiling
def test_ari_ceiling_is_reached_by_a_refinement_and_a_merge():
    sites = np.repeat([0, 1, 2, 3], [50, 120, 40, 30])
    refined = sites.copy()
    refined[:25] = 4                          # split site 0 in two halves
    refined[50:90] = 5                        # and a piece off site 1
    assert ari_ceiling(refined, sites) == pytest.approx(adjusted_rand_score(sites, refined))
    merged = np.where(sites == 3, 2, sites)   # merge sites 2 and 3
    assert ari_ceiling(merged, sites) == pytest.approx(adjusted_rand_score(sites, merged))
    assert ari_ceiling(merged, sites) < 1


def test_ari_ceiling_bounds_the_ari_of_random_partitions():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = rng.integers(0, rng.integers(1, 6), size=60)
        b = np.where(rng.random(60) < 0.7, a, rng.integers(0, 7, size=60))
        assert adjusted_rand_score(a, b) <= ari_ceiling(a, b) + 1e-12


def test_ari_ceiling_is_one_for_equal_sizes_and_symmetric():
    a = np.repeat([0, 1, 2], [10, 20, 30])
    b = np.repeat([2, 0, 1], [30, 10, 20])[::-1]
    assert ari_ceiling(a, b) == pytest.approx(1.0)
    c = np.arange(60) % 7
    assert ari_ceiling(a, c) == pytest.approx(ari_ceiling(c, a))
    assert ari_ceiling(np.zeros(5), np.zeros(5)) == 1.0


@pytest.mark.parametrize("a,b,match", [
    ([[0, 1]], [0, 1], "1-D"),
    ([0, 1, 1], [0, 1], "expected 3"),
    ([], [], "empty"),
])
def test_ari_ceiling_rejects_bad_input(a, b, match):
    with pytest.raises(ValueError, match=match):
        ari_ceiling(a, b)


# ----------------------------------------------------------- detectable_auc
def test_detectable_auc_reaches_the_requested_power_by_simulation():
    """Binormal scores at the returned AUC: a Mann-Whitney z-test rejects ~80% of the time."""
    n1, n0 = 25, 20
    auc = detectable_auc(n1, n0)
    shift = np.sqrt(2) * norm.ppf(auc)           # binormal model with unit variances
    rng = np.random.default_rng(0)
    se0 = np.sqrt((n1 + n0 + 1) / (12 * n1 * n0))
    y = np.r_[np.ones(n1), np.zeros(n0)]
    rejected = [abs(roc_auc_score(y, np.r_[rng.normal(shift, 1, n1), rng.normal(0, 1, n0)])
                    - 0.5) > 1.96 * se0 for _ in range(2000)]
    assert 0.5 < auc < 1
    assert np.mean(rejected) == pytest.approx(0.8, abs=0.04)


def test_detectable_auc_shrinks_with_more_units_and_less_power():
    assert detectable_auc(200, 200) < detectable_auc(25, 20) < detectable_auc(10, 10)
    assert detectable_auc(25, 20, power=0.5) < detectable_auc(25, 20, power=0.9)
    assert detectable_auc(25, 20) == pytest.approx(detectable_auc(20, 25), abs=0.01)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(n_positive=1), ValueError, "n_positive"),
    (dict(n_negative=2.5), TypeError, "n_negative"),
    (dict(alpha=0.0), ValueError, "alpha"),
    (dict(power=1.5), ValueError, "power"),
    (dict(power=0.01), ValueError, "alpha / 2"),
    (dict(n_positive=2, n_negative=2, power=0.99), ValueError, "reaches power"),
])
def test_detectable_auc_rejects_bad_input(kwargs, error, match):
    args = dict(n_positive=25, n_negative=20)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        detectable_auc(**args)
