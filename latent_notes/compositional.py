"""Preprocessing for compositional counts (chapter :doc:`/book/microbiota`).

Sequencing counts carry relative information only: the total number of reads
of a sample (its library size) is set by the sequencing run, not by the
biology, so only the *ratios* between taxa are meaningful. The helpers here
filter rare taxa, close counts to proportions and apply the centred log-ratio
transform (Aitchison, 1982), after which Euclidean methods (PCA, Gaussian
mixtures) can be used.

Every function accepts a NumPy array or a pandas DataFrame (samples x taxa)
and returns the same kind, keeping the labels.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["filter_taxa", "closure", "clr", "taxon_labels"]


def _as_array(counts, name="counts"):
    values = counts.to_numpy() if hasattr(counts, "to_numpy") else counts
    try:
        values = np.asarray(values)
    except ValueError:
        raise ValueError(f"{name} must be a rectangular 2-D array or DataFrame") from None
    if values.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric 2-D array or DataFrame; got dtype "
                        f"{values.dtype}")
    values = values.astype(float)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (samples x taxa); "
                         f"got shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"{name} must hold finite, non-negative values")
    return values


def _like(counts, values, columns=None):
    if hasattr(counts, "to_numpy"):
        import pandas as pd

        return pd.DataFrame(values, index=counts.index,
                            columns=counts.columns if columns is None else columns)
    return values


def filter_taxa(counts, min_prevalence=0.1, other=True):
    """Keep the taxa present in at least ``min_prevalence`` of the samples.

    Parameters
    ----------
    counts : array-like or DataFrame of shape (n_samples, n_taxa)
    min_prevalence : float in [0, 1]
        Fraction of samples in which a taxon must have a non-zero count.
    other : bool
        Add a last column ``"other"`` with the reads of the removed taxa, so
        that every sample keeps its library size (a count model then sees all
        reads; the CLR of the kept taxa is unchanged by it).

    Returns
    -------
    Same type as ``counts``, with the kept columns (and ``"other"``).
    """
    values = _as_array(counts)
    if isinstance(min_prevalence, bool) or not isinstance(min_prevalence, numbers.Real) \
            or not 0 <= min_prevalence <= 1:
        raise ValueError(f"min_prevalence must be a float in [0, 1]; got {min_prevalence!r}")
    if not isinstance(other, (bool, np.bool_)):
        raise TypeError(f"other must be True or False; got {other!r}")
    keep = (values > 0).mean(axis=0) >= min_prevalence
    if not keep.any():
        raise ValueError(f"no taxon is present in {min_prevalence:.0%} of the samples")
    kept = values[:, keep]
    columns = None
    if hasattr(counts, "columns"):
        columns = list(counts.columns[keep])
    if other:
        kept = np.column_stack([kept, values[:, ~keep].sum(axis=1)])
        columns = None if columns is None else columns + ["other"]
    if hasattr(counts, "to_numpy"):
        dtype = np.result_type(*counts.dtypes) if hasattr(counts, "dtypes") else counts.dtype
        if dtype.kind in "iu" and kept.size and kept.max() > np.iinfo(dtype).max:
            dtype = np.dtype(np.int64)  # the "other" sums would overflow the table's type
        return _like(counts, kept.astype(dtype), columns)
    return kept


def closure(counts):
    """Proportions: each row divided by its sum (the library size)."""
    values = _as_array(counts)
    # Divide by each row's largest value first, so that the sum cannot overflow.
    top = values.max(axis=1, keepdims=True)
    if np.any(top == 0):
        raise ValueError("every sample (row) needs a positive total to be closed; rows "
                         f"{np.flatnonzero(top[:, 0] == 0)[:5].tolist()} are all zero")
    scaled = values / top
    return _like(counts, scaled / scaled.sum(axis=1, keepdims=True))


def clr(counts, pseudocount=0.5):
    r"""Centred log-ratio: :math:`\log(x_j + c) - \operatorname{mean}_j \log(x_j + c)` for each sample.

    The pseudo-count ``c`` makes zeros (taxa not detected) finite. Each
    transformed row sums to zero, and multiplying a row of counts by a
    constant (a deeper sequencing run) leaves it unchanged when :math:`c = 0`;
    with ``c > 0`` that invariance holds only approximately, most for
    abundant taxa (eq. :math:numref:`mb-clr`).

    Parameters
    ----------
    counts : array-like or DataFrame of shape (n_samples, n_taxa)
    pseudocount : float
        Added to every count; must be positive when ``counts`` has zeros.
    """
    values = _as_array(counts)
    if isinstance(pseudocount, bool) or not isinstance(pseudocount, numbers.Real) \
            or not np.isfinite(pseudocount) or pseudocount < 0:
        raise ValueError(f"pseudocount must be a non-negative float; got {pseudocount!r}")
    if pseudocount == 0 and np.any(values == 0):
        raise ValueError("counts has zeros: the log-ratio needs a positive pseudocount")
    logs = np.log(values + pseudocount)
    return _like(counts, logs - logs.mean(axis=1, keepdims=True))


_UNINFORMATIVE = ("unassigned", "multi-affiliation", "unknown")


def taxon_labels(taxonomy, ranks=("Genus", "Family", "Order", "Class", "Phylum")):
    """A readable name for each taxon: its most precise informative rank.

    Amplicon taxonomies often leave the genus ``"Multi-affiliation"`` (the
    sequence matches several genera) or ``"unknown genus"``; this falls back to
    the family, then the order, and so on, and marks the fallback, e.g.
    ``"Lachnospiraceae (family)"``.

    Parameters
    ----------
    taxonomy : DataFrame
        One row per taxon, with the columns named in ``ranks``.
    ranks : tuple of str
        From the most to the least precise.

    Returns
    -------
    pandas.Series
        Indexed like ``taxonomy``; ``"unassigned"`` where no rank is informative.
    """
    if not hasattr(taxonomy, "columns") or not hasattr(taxonomy, "apply"):
        raise TypeError(f"taxonomy must be a pandas DataFrame; got {type(taxonomy).__name__}")
    if isinstance(ranks, str) or not all(isinstance(r, str) for r in ranks) or not len(ranks):
        raise TypeError("ranks must be a non-empty sequence of column names, e.g. "
                        f"('Genus', 'Family'); got {ranks!r}")
    missing = [r for r in ranks if r not in getattr(taxonomy, "columns", ())]
    if missing:
        raise ValueError(f"taxonomy must be a DataFrame with columns {list(ranks)}; "
                         f"missing {missing}")

    def label(row):
        for i, rank in enumerate(ranks):
            name = str(row[rank])
            if name and not name.lower().startswith(_UNINFORMATIVE) and name != "nan":
                return name if i == 0 else f"{name} ({rank.lower()})"
        return "unassigned"

    return taxonomy.apply(label, axis=1)
