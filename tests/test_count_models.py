"""The Dirichlet-multinomial mixture as an analyst uses it: names, sparse tables, readers,
model selection, bad input, threads, scikit-learn's estimator checks, and properties."""

import threading

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings, strategies as st
from scipy.special import gammaln
from scipy.stats import dirichlet_multinomial

import checks
from latent_notes.counts import read_counts
from latent_notes.discrete_mixture import (
    CategoricalMixture,
    DirichletMultinomialMixture,
    _Counts,
    _trigamma,
    dirichlet_multinomial_logpmf,
)
from latent_notes.mixture import GaussianMixture
from latent_notes.model_selection import select_n_components


@pytest.fixture(scope="module")
def table():
    X, z = checks.count_data(n=150, d=8, seed=1)
    frame = pd.DataFrame(X.astype(int), index=[f"s{i}" for i in range(len(X))],
                         columns=[f"taxon{j}" for j in range(X.shape[1])])
    return frame, z


@pytest.fixture(scope="module")
def fitted(table):
    frame, _ = table
    return DirichletMultinomialMixture(3, random_state=0).fit(frame)


# ------------------------------------------------------------ names and pandas
def test_dataframe_names_survive_fit_and_prediction(table, fitted):
    frame, _ = table
    assert list(fitted.feature_names_in_) == list(frame.columns)
    proba = fitted.predict_proba(frame)
    assert isinstance(proba, pd.DataFrame) and list(proba.index) == list(frame.index)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert isinstance(fitted.predict(frame), pd.Series)
    assert list(fitted.score_samples(frame).index) == list(frame.index)
    # an array in, an array out, with the same numbers (and scikit-learn's warning)
    with pytest.warns(UserWarning, match="feature names"):
        assert np.allclose(fitted.predict_proba(frame.to_numpy()), proba.to_numpy())


def test_type_summaries_name_the_taxa(table, fitted):
    frame, _ = table
    means = fitted.type_means()
    assert list(means.index) == list(frame.columns)
    assert np.allclose(means.sum(axis=0), 1.0)
    assert np.allclose(means.to_numpy().T, fitted.alphas_ / fitted.alphas_.sum(1, keepdims=True))
    top = fitted.driving_taxa(n_top=2)
    assert len(top) == 2 * fitted.n_components and set(top["taxon"]) <= set(frame.columns)
    first = top[top.component == 0]
    overall = means.to_numpy() @ fitted.weights_
    diff = np.abs(means[0].to_numpy() - overall)
    assert np.isclose(abs(first["difference"].iloc[0]), diff.max())  # the largest comes first
    with pytest.raises(ValueError, match="reference"):
        fitted.driving_taxa(reference=[0.5, 0.5])


# ------------------------------------------------------------------- sparse
def test_sparse_tables_give_the_dense_fit(table):
    frame, _ = table
    X = frame.to_numpy(dtype=float)
    dense = DirichletMultinomialMixture(3, random_state=0).fit(X)
    for convert in (sp.csr_matrix, sp.csc_matrix, sp.coo_array):
        sparse = DirichletMultinomialMixture(3, random_state=0).fit(convert(X))
        np.testing.assert_allclose(sparse.alphas_, dense.alphas_, rtol=1e-10)
        np.testing.assert_allclose(sparse.predict_proba(convert(X)), dense.predict_proba(X),
                                   atol=1e-12)
    np.testing.assert_allclose(dirichlet_multinomial_logpmf(sp.csr_matrix(X), dense.alphas_[0]),
                               dirichlet_multinomial_logpmf(X, dense.alphas_[0]))


def test_counts_never_makes_a_sparse_table_dense(monkeypatch):
    X = sp.random(200, 50, density=0.1, random_state=0, format="csr")
    X.data = np.ceil(X.data * 10)
    X = X + sp.eye(200, 50, format="csr")  # no empty rows

    toarray = sp.csr_matrix.toarray

    def refuse(self, *args, **kwargs):  # k-means++ may make one row dense, not the table
        if self.shape[0] > 1:
            raise AssertionError(f"a {self.shape} table was made dense")
        return toarray(self, *args, **kwargs)

    monkeypatch.setattr(sp.csr_matrix, "toarray", refuse)
    monkeypatch.setattr(sp.csr_matrix, "todense", refuse)
    DirichletMultinomialMixture(2, random_state=0, max_iter=5).fit(X).predict_proba(X)


# ------------------------------------------------------------------ readers
def test_read_counts_csv_tsv_and_orientation(tmp_path, table):
    frame, _ = table
    frame.to_csv(tmp_path / "t.csv")
    frame.T.to_csv(tmp_path / "t.tsv", sep="\t")
    a = read_counts(tmp_path / "t.csv")
    b = read_counts(tmp_path / "t.tsv", samples="columns")
    pd.testing.assert_frame_equal(a, b)
    assert list(a.index) == list(frame.index) and (a.dtypes == "int64").all()
    (tmp_path / "bad.csv").write_text("sample,a,b\ns1,1,2.5\n")
    with pytest.raises(ValueError, match="non-negative integer"):
        read_counts(tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="samples must be"):
        read_counts(tmp_path / "t.csv", samples="taxa")


def test_read_counts_biom(tmp_path, table):
    biom = pytest.importorskip("biom", reason="biom-format is an optional extra")
    frame, _ = table
    t = biom.Table(frame.to_numpy().T, list(frame.columns), list(frame.index))
    import h5py

    with h5py.File(tmp_path / "t.biom", "w") as f:
        t.to_hdf5(f, "test")
    dense = read_counts(tmp_path / "t.biom")
    assert (dense.to_numpy() == frame.to_numpy()).all()
    assert list(dense.index) == list(frame.index) and list(dense.columns) == list(frame.columns)
    (tmp_path / "j.biom").write_text(t.to_json("test"))
    pd.testing.assert_frame_equal(read_counts(tmp_path / "j.biom"), dense)
    sparse = read_counts(tmp_path / "t.biom", sparse=True)
    assert all(isinstance(t, pd.SparseDtype) for t in sparse.dtypes)
    a = DirichletMultinomialMixture(2, random_state=0).fit(sparse)
    b = DirichletMultinomialMixture(2, random_state=0).fit(dense)
    np.testing.assert_allclose(a.alphas_, b.alphas_, rtol=1e-10)


# ----------------------------------------------------------- model selection
def test_select_n_components_tabulates_every_start(table):
    frame, z = table
    result = select_n_components(DirichletMultinomialMixture(), frame, range(1, 5), n_starts=3)
    assert result.starts.shape[0] == 4 * 3
    assert {"log_likelihood", "bic", "aic", "laplace", "cpu_s"} <= set(result.starts.columns)
    assert (result.summary["bic_spread"] >= 0).all()
    for K, row in result.summary.iterrows():
        assert np.isclose(row["bic"], result.starts.loc[K, "bic"].min())  # kept = best BIC
        assert np.isclose(result.models[K].bic(frame), row["bic"])
    assert result.chosen["bic"] == 3  # the planted number of classes
    gm = select_n_components(GaussianMixture(), np.log1p(frame.to_numpy()), [1, 2], n_starts=2)
    assert "laplace" not in gm.starts.columns
    with pytest.raises(ValueError, match="n_starts"):
        select_n_components(DirichletMultinomialMixture(), frame, [1], n_starts=0)


def _laplace_by_autograd(X, alpha, eta=0.1, nu=0.1):
    """dmn's Laplace approximation for K = 1, from torch's Hessian of the log-posterior."""
    X = torch.as_tensor(X)

    def neg_log_post(lam):
        a = lam.exp()
        A, n = a.sum(), X.sum(1)
        ll = (torch.lgamma(n + 1) - torch.lgamma(X + 1).sum(1) + torch.lgamma(A)
              - torch.lgamma(n + A) + (torch.lgamma(X + a) - torch.lgamma(a)).sum(1)).sum()
        prior = (eta * lam - nu * a).sum() + lam.numel() * (eta * np.log(nu) - gammaln(eta))
        return -(ll + prior)

    lam = torch.tensor(np.log(alpha), requires_grad=True)
    H = torch.autograd.functional.hessian(neg_log_post, lam)
    P = alpha.size
    return 2 * (neg_log_post(lam).item() + 0.5 * torch.logdet(H).item() - 0.5 * P * np.log(2 * np.pi))


def test_laplace_matches_autograd_for_one_component(table):
    frame, _ = table
    X = frame.to_numpy(dtype=float)
    model = DirichletMultinomialMixture(1).fit(X)
    ours = model.laplace(X)
    # the mode under the prior, then the formula with torch's Hessian
    from latent_notes.discrete_mixture import _fit_alphas

    mode, _ = _fit_alphas(_Counts(X), np.ones((len(X), 1)), model.alphas_, 1e-6, 200,
                          tol=1e-15, prior=(0.1, 0.1))
    assert np.isclose(ours, _laplace_by_autograd(X, mode[0]), rtol=0, atol=1e-6)
    assert ours > model.bic(X) - 200  # same scale as BIC (a sanity bound, not a theorem)


# ---------------------------------------------------------------- bad input
def test_empty_samples_are_treated_the_same_way_everywhere(fitted):
    """A row without counts has DM probability one under every type: log p = 0, the
    posterior is the weights, and a fit with it is the fit without it."""
    X, _ = checks.count_data(n=60, d=8, seed=2)
    with_empty = np.vstack([X, np.zeros((3, 8))])
    assert np.allclose(fitted.score_samples(np.zeros((2, 8))), 0.0)
    assert np.allclose(fitted.predict_proba(np.zeros((2, 8))), fitted.weights_)
    a = DirichletMultinomialMixture(2, random_state=0).fit(X)
    b = DirichletMultinomialMixture(2, random_state=0).fit(with_empty)
    assert np.isclose(a.log_likelihood_, b.log_likelihood_, rtol=1e-6)
    np.testing.assert_allclose(np.sort(a.alphas_.sum(1)), np.sort(b.alphas_.sum(1)), rtol=1e-3)


@pytest.mark.parametrize("method", ["fit", "predict", "predict_proba", "score_samples"])
def test_bad_counts_are_refused_the_same_way_everywhere(method, fitted):
    call = (lambda data: DirichletMultinomialMixture(1).fit(data)) if method == "fit" \
        else getattr(fitted, method)
    with pytest.raises(ValueError, match="2\\*\\*53"):
        call(np.full((2, 8), 2.0 ** 60))
    with pytest.raises(TypeError, match="strings"):
        call([["1"] * 8, ["2"] * 8])
    with pytest.raises(TypeError, match="non-numeric"):
        call(pd.DataFrame([["1"] * 8, ["2"] * 8]))
    with pytest.raises(ValueError, match="non-negative integers"):
        call(np.full((2, 8), 1.5))
    with pytest.raises(ValueError, match="NaN|infinity"):
        call(np.full((2, 8), np.nan))


def test_large_counts_are_exact_or_refused():
    # DM(x | 1, 1) is uniform on the n + 1 splits of n: log p = -log(n + 1)
    for n in (10, 1e6, 1e12, 2.0 ** 52):
        x = np.array([[n / 2, n / 2]])
        assert np.isclose(dirichlet_multinomial_logpmf(x, [1.0, 1.0])[0], -np.log(n + 1),
                          rtol=1e-10, atol=0)
    with pytest.raises(ValueError, match="2\\*\\*53"):
        dirichlet_multinomial_logpmf([[1e20, 1e20]], [1.0, 1.0])
    # against scipy where scipy is accurate, across the large-count switch
    X = np.array([[3.0, 2.0 ** 16 - 1, 2.0 ** 16 + 5]])
    alpha = np.array([0.3, 2.0, 7.0])
    assert np.isclose(dirichlet_multinomial_logpmf(X, alpha)[0],
                      dirichlet_multinomial.logpmf(X[0], alpha, X.sum()), rtol=1e-9)
    model = DirichletMultinomialMixture(1).fit(np.array([[1.0, 1.0], [2.0, 1.0]]))
    model.alphas_ = np.array([[1.0, 1.0]])
    assert np.isclose(model.score_samples([[1e15, 1e15]])[0], -np.log(2e15 + 1), rtol=1e-12)


def test_trigamma_matches_scipy():
    from scipy.special import polygamma

    x = np.geomspace(1e-6, 1e8, 2000)
    np.testing.assert_allclose(_trigamma(x), polygamma(1, x), rtol=1e-9)


# ----------------------------------------------------------------- threads
def test_prediction_is_thread_safe(table, fitted):
    frame, _ = table
    X = frame.to_numpy(dtype=float)
    parts = [X[i::4] for i in range(4)]
    expected = [fitted.predict_proba(p) for p in parts]
    errors, results = [], {}

    def work(i):
        try:
            for _ in range(30):
                out = fitted.predict_proba(parts[i])
                if not np.array_equal(out, expected[i]):
                    errors.append(i)
            results[i] = True
        except Exception as err:  # pragma: no cover - reported below
            errors.append(repr(err))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4
    assert set(vars(fitted)) == set(vars(DirichletMultinomialMixture(3, random_state=0).fit(frame)))


# ------------------------------------------------------- scikit-learn checks
# check_estimator itself runs for all five estimators in tests/test_api_probe.py, with the
# expected failures of checks.SKLEARN_EXPECTED_FAILURES; here only the input tags.
@pytest.mark.parametrize("estimator", [CategoricalMixture(2, random_state=0),
                                       DirichletMultinomialMixture(2, random_state=0)],
                         ids=["categorical", "dirichlet-multinomial"])
def test_input_tags_say_non_negative_counts(estimator):
    tags = estimator.__sklearn_tags__()
    assert tags.input_tags.positive_only and tags.input_tags.categorical and tags.input_tags.sparse


# --------------------------------------------------------------- properties
count_tables = st.integers(0, 10_000).flatmap(
    lambda seed: st.tuples(st.just(seed), st.integers(6, 30), st.integers(2, 6)))


def _random_table(seed, n, d):
    rng = np.random.default_rng(seed)
    alphas = rng.gamma(0.7, 1.5, size=(2, d)) + 0.05
    z = rng.integers(2, size=n)
    totals = rng.integers(1, 60, size=n)
    return np.array([rng.multinomial(t, rng.dirichlet(alphas[k])) for t, k in zip(totals, z)],
                    dtype=float)


@settings(max_examples=25, deadline=None)
@given(count_tables, st.integers(1, 3), st.sampled_from(["soft-kmeans", "kmeans", "random"]))
def test_em_log_likelihood_never_decreases(params, K, init):
    X = _random_table(*params)
    model = DirichletMultinomialMixture(K, init=init, n_init=1, random_state=params[0],
                                        max_iter=50, tol=0.0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    steps = np.diff(model.log_likelihood_history_)
    # rounding is relative to the terms summed, not to the total, which can be ~0 (a table
    # every type explains with probability ~1): hence the floor of 1 on the scale
    assert steps.min() >= -1e-9 * max(abs(model.log_likelihood_), 1.0)
    assert np.isclose(model.log_likelihood_, np.sum(model.score_samples(X)), rtol=1e-10)


@settings(max_examples=25, deadline=None)
@given(count_tables)
def test_permuting_samples_and_taxa_permutes_everything(params):
    X = _random_table(*params)
    rng = np.random.default_rng(params[0])
    rows, cols = rng.permutation(X.shape[0]), rng.permutation(X.shape[1])
    model = DirichletMultinomialMixture(2, n_init=1, random_state=0, max_iter=20).fit(X)
    # a fitted model: permuting samples permutes the outputs; permuting taxa with alpha
    # leaves them unchanged
    np.testing.assert_allclose(model.log_joint(X[rows]), model.log_joint(X)[rows], rtol=1e-9)
    other = DirichletMultinomialMixture(2)
    other.weights_, other.alphas_ = model.weights_, model.alphas_[:, cols]
    other.n_features_in_, other.alpha_floor_ = X.shape[1], model.alpha_floor_
    np.testing.assert_allclose(other.log_joint(X[:, cols]), model.log_joint(X), rtol=1e-9)  # sums reordered
    # one EM step (M-step from given responsibilities) is equivariant too
    resp = model.predict_proba(X)
    a, b = DirichletMultinomialMixture(2), DirichletMultinomialMixture(2)
    for m in (a, b):
        m._check_params()
    a.alphas_ = model.alphas_.copy()
    b.alphas_ = model.alphas_[:, cols].copy()
    a._m_step(resp, _Counts(X), iterations=3)
    b._m_step(resp[rows], _Counts(X[rows][:, cols]), iterations=3)
    np.testing.assert_allclose(b.weights_, a.weights_, rtol=1e-12)
    # the same weighted objective (where it is flat, e.g. a component's precision growing
    # without bound, rounding may pick different points of equal value)
    for k in range(2):
        qa = resp[:, k] @ dirichlet_multinomial_logpmf(X, a.alphas_[k])
        qb = resp[rows, k] @ dirichlet_multinomial_logpmf(X[rows][:, cols], b.alphas_[k])
        assert np.isclose(qa, qb, rtol=1e-6)
    np.testing.assert_allclose(a.alphas_[a.alphas_ < 1e3], b.alphas_[:, np.argsort(cols)][a.alphas_ < 1e3],
                               rtol=1e-4)


def test_blocked_passes_give_the_one_block_fit(table, monkeypatch):
    """Tables larger than one block are processed block by block, with the same result."""
    import latent_notes.discrete_mixture as dm

    X = table[0].to_numpy(dtype=float)
    one = DirichletMultinomialMixture(3, random_state=0).fit(X)
    single = one.score_samples(X)
    monkeypatch.setattr(dm, "_BLOCK", 37)
    assert len(_Counts(X).blocks) > 10
    np.testing.assert_allclose(one.score_samples(X), single, rtol=1e-12)
    many = DirichletMultinomialMixture(3, random_state=0).fit(X)
    # sums in another order: EM stops at a point as good, within rounding
    assert np.isclose(many.log_likelihood_, one.log_likelihood_, rtol=1e-8)
    np.testing.assert_allclose(many.alphas_, one.alphas_, rtol=1e-5)
