"""Reading count tables (samples x taxa) as a microbiome analyst stores them.

:func:`read_counts` reads a delimited text table (CSV, TSV) or a BIOM file, the field's
exchange format (``biom-format``, an optional extra: ``pip install latent-notes[biom]``),
and returns a pandas DataFrame with one row per sample and one column per taxon, ready
for :class:`latent_notes.discrete_mixture.DirichletMultinomialMixture`, which keeps the
names through ``fit`` and ``predict_proba``.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

__all__ = ["read_counts"]


def _check_table(table, source):
    values = table.sparse.to_coo().data if hasattr(table, "sparse") else table.to_numpy()
    bad = [str(c) for c, t in table.dtypes.items()
           if not (pd.api.types.is_numeric_dtype(t) or isinstance(t, pd.SparseDtype))]
    if bad:
        raise ValueError(f"{source}: the columns {bad[:5]} are not numeric; a count table holds "
                         "numbers only (is the first column the samples' names? pass index_col)")
    values = np.asarray(values, dtype=float)
    if values.size and (not np.all(np.isfinite(values)) or values.min() < 0
                        or np.any(values != np.round(values))):
        raise ValueError(f"{source} must hold non-negative integer counts; it holds "
                         "negative, fractional or missing values")
    if table.index.duplicated().any():
        raise ValueError(f"{source}: duplicated sample names, e.g. "
                         f"{table.index[table.index.duplicated()][0]!r}")


def read_counts(path, *, samples="rows", sep=None, index_col=0, sparse=False):
    """Read a count table into a DataFrame of samples (rows) x taxa (columns).

    Parameters
    ----------
    path : str or path-like
        A ``.biom`` file (HDF5 or JSON BIOM, read with ``biom-format``), or a delimited
        text file (``.csv``, ``.tsv``, ``.txt``; compressed ones too), whose first column
        (``index_col``) names the rows and whose header names the columns.
    samples : {"rows", "columns"}, default="rows"
        For text files: whether the samples are the rows (as scikit-learn expects) or
        the columns (as QIIME and many pipelines write them). BIOM files store taxa
        ("observations") x samples and are always transposed.
    sep : str, optional
        Delimiter of a text file; by default tab for ``.tsv``/``.txt`` and comma otherwise.
    index_col : int, default=0
        The column of a text file that names its rows.
    sparse : bool, default=False
        For BIOM files: return a DataFrame of pandas sparse columns (the table is
        sparse on disk and stays so); the mixtures accept it without making it dense.

    Returns
    -------
    pandas.DataFrame
        Integer counts (``int64``), rows named by sample and columns by taxon.

    Raises
    ------
    ModuleNotFoundError
        For a BIOM file when ``biom-format`` is not installed (the message says how).
    ValueError
        If the table holds anything but non-negative integers, or ``samples`` is unknown.
    """
    if samples not in ("rows", "columns"):
        raise ValueError(f"samples must be 'rows' or 'columns'; got {samples!r}")
    name = os.fspath(path)
    if name.endswith(".biom"):
        try:
            import biom
        except ImportError as err:  # pragma: no cover - exercised when biom is absent
            raise ModuleNotFoundError(
                "reading a BIOM file needs the biom-format package: "
                "pip install biom-format (or pip install latent-notes[biom])") from err
        table = biom.load_table(name)
        matrix = table.matrix_data.T.tocsr()  # samples x taxa
        index = pd.Index(table.ids(axis="sample"), name="sample")
        columns = pd.Index(table.ids(axis="observation"), name="taxon")
        if sparse:
            frame = pd.DataFrame.sparse.from_spmatrix(matrix, index=index, columns=columns)
        else:
            frame = pd.DataFrame(matrix.toarray(), index=index, columns=columns)
        _check_table(frame, name)
        return frame.astype(pd.SparseDtype("int64", 0) if sparse else "int64")
    if sep is None:
        stem = name[:-3] if name.endswith(".gz") else name
        sep = "\t" if stem.endswith((".tsv", ".txt", ".tab")) else ","
    frame = pd.read_csv(path, sep=sep, index_col=index_col)
    if samples == "columns":
        frame = frame.T
    _check_table(frame, name)
    frame.index.name, frame.columns.name = "sample", "taxon"
    return frame.astype("int64")
