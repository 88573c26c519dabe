"""The microcosm loader, compositional preprocessing and the profile VQ-VAE."""

import importlib.metadata
import importlib.util

import numpy as np
import pandas as pd
import pytest
import torch

from latent_notes import datasets
from latent_notes.compositional import closure, clr, filter_taxa, taxon_labels
from latent_notes.datasets import load_microcosm
from latent_notes.vqvae import ProfileVQVAE, profile_vqvae_loss


@pytest.fixture(scope="module")
def microcosm():
    return load_microcosm()


# ------------------------------------------------------------------- loader
def test_loader_returns_aligned_tables(microcosm):
    counts, metadata, taxonomy = microcosm
    assert counts.shape == (921, 1209)
    assert list(metadata.index) == list(counts.index)  # same samples, same order
    assert list(taxonomy.index) == list(counts.columns)  # same taxa, same order
    assert (counts.to_numpy() >= 0).all() and counts.dtypes.eq("int64").all()
    assert set(metadata["site"]) == {"B", "L", "N", "V"}
    assert set(metadata["lineage"]) == {"plus", "minus"}
    assert counts.sum(axis=1).min() > 0
    assert not taxonomy.isna().any().any()


def test_metadata_agrees_with_sample_names(microcosm):
    """Sample names encode site and lineage (e.g. B1_minus_S1): the rows really are aligned."""
    counts, metadata, _ = microcosm
    names = pd.Series(counts.index, index=counts.index)
    assert (names.str[0] == metadata["site"]).all()
    assert (names.str.split("_").str[1] == metadata["lineage"]).all()


def test_loader_does_not_import_pyplnmodels(microcosm):
    import sys

    assert "pyPLNmodels" not in sys.modules


def test_loader_raises_a_clear_error_when_the_package_is_missing(monkeypatch):
    def no_spec(name, *args, **kwargs):
        return None

    def no_files(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.util, "find_spec", no_spec)
    monkeypatch.setattr(importlib.metadata, "files", no_files)
    with pytest.raises(ModuleNotFoundError, match="pip install pyPLNmodels"):
        datasets.load_microcosm()


def test_loader_falls_back_to_the_distribution_file_list(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None)
    counts, _, _ = datasets.load_microcosm()
    assert counts.shape == (921, 1209)


# ------------------------------------------------------------ preprocessing
def test_clr_rows_sum_to_zero_and_are_scale_invariant():
    rng = np.random.default_rng(0)
    X = rng.integers(1, 50, size=(20, 7)).astype(float)
    Z = clr(X, pseudocount=0.0)
    assert np.allclose(Z.sum(axis=1), 0.0)
    assert np.allclose(clr(10 * X, pseudocount=0.0), Z)  # library size cancels
    Xz = X.copy()
    Xz[0, 0] = 0
    assert np.allclose(clr(Xz, 0.5).sum(axis=1), 0.0)


def test_clr_keeps_dataframe_labels():
    df = pd.DataFrame([[1, 2, 3], [4, 5, 6]], index=["a", "b"], columns=["x", "y", "z"])
    out = clr(df)
    assert list(out.index) == ["a", "b"] and list(out.columns) == ["x", "y", "z"]
    assert np.allclose(out.sum(axis=1), 0.0)


def test_closure_rows_sum_to_one():
    X = np.array([[1.0, 3.0], [2.0, 2.0]])
    assert np.allclose(closure(X), [[0.25, 0.75], [0.5, 0.5]])
    with pytest.raises(ValueError, match="positive total"):
        closure(np.array([[0.0, 0.0]]))


def test_filter_taxa_keeps_prevalent_columns_and_library_sizes():
    X = np.array([[5, 0, 1, 0], [3, 0, 0, 2], [1, 1, 0, 0], [2, 0, 0, 0]], dtype=float)
    kept = filter_taxa(X, min_prevalence=0.5)
    assert kept.shape == (4, 2)  # column 0, then "other"
    assert np.array_equal(kept.sum(axis=1), X.sum(axis=1))
    assert filter_taxa(X, 0.5, other=False).shape == (4, 1)
    assert filter_taxa(X, 0.25, other=False).shape == (4, 4)
    df = pd.DataFrame(X, columns=list("abcd"))
    assert list(filter_taxa(df, 0.5).columns) == ["a", "other"]


@pytest.mark.parametrize("call,error,match", [
    (lambda: clr(np.array([[1.0, 0.0]]), pseudocount=0.0), ValueError, "pseudocount"),
    (lambda: clr(np.array([[1.0, -1.0]])), ValueError, "non-negative"),
    (lambda: clr(np.array([1.0, 2.0])), ValueError, "2-D"),
    (lambda: clr([["a", "b"]]), TypeError, "numeric"),
    (lambda: clr(np.ones((2, 2)), pseudocount=-1), ValueError, "pseudocount"),
    (lambda: filter_taxa(np.ones((2, 2)), min_prevalence=2), ValueError, "min_prevalence"),
    (lambda: filter_taxa(np.array([[1.0, 0.0], [0.0, 0.0]]), 1.0), ValueError, "no taxon"),
    (lambda: taxon_labels(pd.DataFrame({"Genus": ["x"]})), ValueError, "Family"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_taxon_labels_fall_back_to_informative_ranks():
    tax = pd.DataFrame({
        "Genus": ["Staphylococcus", "Multi-affiliation", "unknown genus", "unassigned"],
        "Family": ["Staphylococcaceae", "Lachnospiraceae", "unknown family", "unassigned"],
        "Order": ["o", "o", "Clostridiales", "unassigned"],
        "Class": ["c"] * 3 + ["unassigned"],
        "Phylum": ["p"] * 3 + ["unassigned"],
    })
    assert list(taxon_labels(tax)) == ["Staphylococcus", "Lachnospiraceae (family)",
                                       "Clostridiales (order)", "unassigned"]


# --------------------------------------------------------- profile VQ-VAE
def test_profile_vqvae_finds_planted_clusters():
    from sklearn.metrics import adjusted_rand_score

    torch.manual_seed(0)
    centres = torch.randn(3, 10) * 4
    z = torch.randint(0, 3, (300,))
    x = centres[z] + 0.3 * torch.randn(300, 10)
    model = ProfileVQVAE(10, num_codes=3, code_dim=2, hidden=16)
    model.quantizer.init_from_data(model.encoder(x).detach())
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        loss = profile_vqvae_loss(model, x)
        loss.total.backward()
        opt.step()
    model.eval()
    assert adjusted_rand_score(z.numpy(), model.encode(x).numpy()) > 0.9
    assert loss.reconstruction.item() < 0.5 * 0.5 * (x - x.mean(0)).pow(2).sum(1).mean().item()


def test_profile_vqvae_shapes_and_errors():
    model = ProfileVQVAE(5, num_codes=4)
    x = torch.randn(7, 5)
    assert model.encode(x).shape == (7,)
    assert model.decode_indices(torch.tensor([0, 3])).shape == (2, 5)
    assert model(x).mean.shape == (7, 5)
    with pytest.raises(ValueError, match=r"\(batch, 5\)"):
        model(torch.randn(7, 4))
    with pytest.raises(TypeError, match="floating"):
        model(torch.ones(7, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="num_codes"):
        ProfileVQVAE(5, num_codes=0)


# ------------------------------------------------------------- study design
def test_design_facts_the_chapter_reads_from_the_data(microcosm):
    """Milk (L) is half the samples, one per udder quarter, never before calving (1S);
    45 cows, 25 'plus' and 20 'minus', each in one lineage."""
    _, metadata, _ = microcosm
    milk = metadata["site"] == "L"
    assert 0.45 < milk.mean() < 0.55
    assert set(metadata.loc[milk, "name"].str[-1]) == {"A", "B", "C", "D"}
    assert not (milk & (metadata["time"] == "1S")).any()
    assert set(metadata["time"]) == {"1S", "1M", "3M", "7M"}
    per_lineage = metadata.groupby("lineage")["animal"].nunique()
    assert per_lineage.to_dict() == {"minus": 20, "plus": 25}
    assert metadata.groupby("animal")["lineage"].nunique().max() == 1
