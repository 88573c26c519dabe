"""Dirichlet-multinomial mixtures: latent_notes against Bioconductor's DirichletMultinomial.

On the microbiota chapter's table (microcosm counts, ASVs in at least 5% of the samples
plus an "other" column: 921 samples x 235 taxa), for K = 1..8:

* ``dmn(count, k, seed=s)`` from the R package DirichletMultinomial (Holmes, Harris &
  Quince 2012) through ``Rscript``, for ``--seeds`` seeds; its fitted alphas, weights,
  assignments, Laplace value and CPU seconds are cached (``--cache``, in the temporary
  directory by default, keyed by a hash of the table and the R code; never committed);
* ``DirichletMultinomialMixture(K, random_state=0)`` with its defaults, on one thread
  (``--random-state`` for another seed);
* both scored by one formula written here with ``scipy.special.gammaln`` (not the
  package's code path): the exact log-likelihood per sample, and BIC from it with
  ``K * 235 + K - 1`` parameters for both;
* ARI between our assignments and those of ``dmn``'s best seed.

``--scaling`` instead times one fit (10 EM iterations, one start) of the DMM on sparse
tables of 1e3..1e5 samples x 1e3 taxa, and of ``CategoricalMixture``, against n, with the
peak memory numpy allocated (tracemalloc).

Without ``Rscript`` or the R package the comparison is skipped with a message (exit 0):
CI does not need R. ``--write`` replaces the section between the markers in
``benchmarks/README.md``.

Run by hand:  nice python benchmarks/dmm_vs_dirichletmultinomial.py --write
(``dmn`` needs about 5-10 CPU minutes per seed; later runs read the cache.)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import gammaln, logsumexp
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from latent_notes.compositional import filter_taxa
from latent_notes.datasets import load_microcosm
from latent_notes.discrete_mixture import CategoricalMixture, DirichletMultinomialMixture

README = Path(__file__).with_name("README.md")
START, END = "<!-- dmm-benchmark:start -->", "<!-- dmm-benchmark:end -->"
SCALE_START, SCALE_END = "<!-- dmm-scaling:start -->", "<!-- dmm-scaling:end -->"

R_CODE = r"""
args <- commandArgs(trailingOnly = TRUE)
infile <- args[1]; outdir <- args[2]
Ks <- eval(parse(text = args[3])); seeds <- eval(parse(text = args[4]))
suppressPackageStartupMessages(library(DirichletMultinomial))
count <- as.matrix(read.csv(infile, row.names = 1, check.names = FALSE))
storage.mode(count) <- "integer"
for (s in seeds) for (k in Ks) {
  t0 <- proc.time()
  fit <- dmn(count, k, verbose = FALSE, seed = s)
  dt <- proc.time() - t0
  gof <- goodnessOfFit(fit)
  out <- cbind(weight = mixturewt(fit)$pi, t(fitted(fit, scale = FALSE)))
  write.csv(signif(out, 10), file.path(outdir, sprintf("dmn_s%d_k%d.csv", s, k)), row.names = FALSE)
  write.csv(data.frame(label = as.integer(mixture(fit, assign = TRUE)) - 1L),
            file.path(outdir, sprintf("dmn_s%d_k%d_labels.csv", s, k)), row.names = FALSE)
  cat(sprintf("%d,%d,%.3f,%.6f,%.6f,%.6f,%.6f\n", s, k, dt[["user.self"]] + dt[["sys.self"]],
              gof[["NLE"]], gof[["Laplace"]], gof[["BIC"]], gof[["AIC"]]),
      file = file.path(outdir, "summary.csv"), append = TRUE)
}
"""


def dm_mixture_loglik(X, weights, alphas):
    """sum_i log sum_k w_k DM(x_i | alpha_k), written out with gammaln (independent code)."""
    n = X.sum(axis=1)
    cols = []
    for w, a in zip(weights, alphas):
        A = a.sum()
        cols.append(np.log(w) + gammaln(n + 1) - gammaln(X + 1).sum(axis=1) + gammaln(A)
                    - gammaln(n + A) + (gammaln(X + a) - gammaln(a)).sum(axis=1))
    joint = np.column_stack(cols)
    return logsumexp(joint, axis=1), joint


def r_available():
    if shutil.which("Rscript") is None:
        return "Rscript is not installed"
    probe = subprocess.run(["Rscript", "-e", "suppressPackageStartupMessages(library(DirichletMultinomial))"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return "the R package DirichletMultinomial is not installed (Bioconductor)"
    return None


def run_dmn(table, Ks, seeds, cache_root):
    """dmn for every (seed, K) not yet in the cache; returns the cache directory."""
    csv = table.to_csv()
    key = hashlib.sha256((csv + R_CODE).encode()).hexdigest()[:16]
    cache = Path(cache_root) / f"dmn-{key}"
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "counts.csv").write_text(csv)
    (cache / "dmn_fit.R").write_text(R_CODE)
    for s in seeds:
        missing = [K for K in Ks if not (cache / f"dmn_s{s}_k{K}_labels.csv").exists()]
        if missing:
            print(f"dmn, seed {s}, K = {missing} (slow: minutes) ...", flush=True)
            subprocess.run(["Rscript", str(cache / "dmn_fit.R"), str(cache / "counts.csv"), str(cache),
                            f"c({','.join(map(str, missing))})", str(s)], check=True)
    return cache


def read_dmn(cache, Ks, seeds):
    summary = pd.read_csv(cache / "summary.csv", header=None,
                          names=["seed", "K", "cpu_s", "NLE", "laplace", "BIC", "AIC"])
    summary = summary.drop_duplicates(["seed", "K"], keep="last").set_index(["seed", "K"])
    fits = {}
    for s in seeds:
        for K in Ks:
            params = pd.read_csv(cache / f"dmn_s{s}_k{K}.csv").to_numpy()
            labels = pd.read_csv(cache / f"dmn_s{s}_k{K}_labels.csv")["label"].to_numpy()
            fits[s, K] = (params[:, 0], params[:, 1:], labels)
    return summary, fits


def compare(args):
    reason = r_available()
    if reason:
        print(f"SKIPPED: {reason}; the comparison with dmn needs R (CI does not).")
        return None
    counts, _, _ = load_microcosm()
    table = filter_taxa(counts, min_prevalence=0.05)
    X = table.to_numpy(dtype=float)
    n, d = X.shape
    Ks, seeds = list(range(1, args.max_k + 1)), list(range(1, args.seeds + 1))
    cache = run_dmn(table, Ks, seeds, args.cache)
    summary, fits = read_dmn(cache, Ks, seeds)
    rows = []
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for K in Ks:
            t0 = time.process_time()
            model = DirichletMultinomialMixture(K, random_state=args.random_state).fit(X)
            cpu = time.process_time() - t0
            ours, _ = dm_mixture_loglik(X, model.weights_, model.alphas_)
            scored = {s: dm_mixture_loglik(X, *fits[s, K][:2])[0].sum() for s in seeds}
            best = max(scored, key=scored.get)
            P = K * d + K - 1
            rows.append({
                "K": K,
                "ours (nats/sample)": ours.mean(),
                "dmn best seed (nats/sample)": scored[best] / n,
                "ours - dmn best": ours.mean() - scored[best] / n,
                "dmn best seed - worst": (scored[best] - min(scored.values())) / n,
                "BIC ours": -2 * ours.sum() + P * np.log(n),
                "BIC dmn best": -2 * scored[best] + P * np.log(n),
                "Laplace ours": model.laplace(X) / 2,
                "Laplace dmn": summary.loc[(best, K), "laplace"],
                "CPU s ours": cpu,
                "CPU s dmn (mean per seed)": summary.xs(K, level="K")["cpu_s"].mean(),
                "ARI": adjusted_rand_score(fits[best, K][2], model.predict(X)),
                "EM iterations": model.n_iter_,
            })
    result = pd.DataFrame(rows).set_index("K")
    return result, seeds, args.random_state


def format_compare(result, seeds, random_state=0):
    total_ours = result["CPU s ours"].sum()
    total_dmn = result["CPU s dmn (mean per seed)"].sum()
    shown = result.copy()
    lines = ["| K | ours (nats/sample) | dmn best of seeds | ours - dmn | spread of dmn seeds "
             "| BIC ours | BIC dmn | Laplace ours | Laplace dmn | CPU s ours | CPU s dmn | ARI |",
             "|---" * 12 + "|"]
    for K, r in shown.iterrows():
        lines.append(
            f"| {K} | {r['ours (nats/sample)']:.4f} | {r['dmn best seed (nats/sample)']:.4f} | "
            f"{r['ours - dmn best']:+.4f} | {r['dmn best seed - worst']:.4f} | {r['BIC ours']:.0f} | "
            f"{r['BIC dmn best']:.0f} | {r['Laplace ours']:.1f} | {r['Laplace dmn']:.1f} | "
            f"{r['CPU s ours']:.2f} | {r['CPU s dmn (mean per seed)']:.1f} | {r['ARI']:.3f} |")
    lines.append(f"| **all** | | | worst {result['ours - dmn best'].min():+.4f} | | | | | | "
                 f"**{total_ours:.1f}** | **{total_dmn:.0f}** | |")
    head = (f"921 samples x 235 taxa; dmn seeds {seeds}; ours: defaults, random_state={random_state}, one "
            f"thread; CPU ratio dmn / ours = {total_dmn / total_ours:.0f}; "
            f"{platform.python_version()}, numpy {np.__version__}")
    return head + "\n\n" + "\n".join(lines)


def sparse_counts(n, p, K, seed, density_target=30):
    """n x p sparse DM-mixture counts: sparse compositions, 1,000 reads per sample."""
    rng = np.random.default_rng(seed)
    alphas = rng.gamma(0.3, 1.0, size=(K, p)) * (density_target / p) + 1e-3
    z = rng.integers(K, size=n)
    blocks = []
    for start in range(0, n, 5000):
        stop = min(n, start + 5000)
        comp = np.vstack([rng.dirichlet(alphas[k]) for k in z[start:stop]])
        comp = np.maximum(comp, 0)
        comp /= comp.sum(axis=1, keepdims=True)
        block = rng.multinomial(1000, comp).astype(float)
        blocks.append(sp.csr_matrix(block))
    return sp.vstack(blocks).tocsr()


def scaling(args):
    rows = []
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in args.sizes:
            X = sparse_counts(n, 1000, 5, seed=0)
            for name, model, data in [
                ("DMM, sparse 1e3 taxa", DirichletMultinomialMixture(5, n_init=1, max_iter=10, tol=0.0,
                                                                     random_state=0), X),
                ("Categorical, 20 features x 4 levels",
                 CategoricalMixture(5, max_iter=10, tol=0.0, random_state=0),
                 np.random.default_rng(0).integers(4, size=(n, 20)).astype(float)),
            ]:
                tracemalloc.start()
                t0, w0 = time.process_time(), time.perf_counter()
                model.fit(data)
                cpu, wall = time.process_time() - t0, time.perf_counter() - w0
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                nnz = data.nnz if sp.issparse(data) else data.size
                rows.append({"model": name, "n": n, "stored values": nnz, "CPU s": cpu, "wall s": wall,
                             "EM iterations": model.n_iter_,
                             "peak numpy MB": peak / 2**20})
                print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def format_scaling(table):
    lines = ["| model | n | stored values | CPU s (10 EM iterations) | CPU s per 1e6 values "
             "| peak numpy memory (MB) |", "|---" * 6 + "|"]
    for _, r in table.iterrows():
        lines.append(f"| {r['model']} | {r['n']:,} | {r['stored values']:,} | {r['CPU s']:.2f} | "
                     f"{r['CPU s'] / r['stored values'] * 1e6:.2f} | {r['peak numpy MB']:.0f} |")
    return "\n".join(lines)


def write_section(text, start, end):
    readme = README.read_text()
    stamp = time.strftime("%Y-%m-%d")
    block = f"{start}\nLatest figures ({stamp}; {os.cpu_count()} CPU cores, no GPU):\n\n{text}\n{end}"
    if start in readme:
        head, rest = readme.split(start, 1)
        readme = head + block + rest.split(end, 1)[1]
    else:
        readme = readme.rstrip() + "\n\n" + block + "\n"
    README.write_text(readme)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="dmn seeds (1..S)")
    parser.add_argument("--max-k", type=int, default=8)
    parser.add_argument("--random-state", type=int, default=0, help="ours: the estimator's random_state")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "latent_notes_dmn_cache"))
    parser.add_argument("--scaling", action="store_true", help="time fits against n instead")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--write", action="store_true", help="update benchmarks/README.md")
    args = parser.parse_args()
    if args.scaling:
        text = format_scaling(scaling(args))
        print(text)
        if args.write:
            write_section(text, SCALE_START, SCALE_END)
        return
    out = compare(args)
    if out is None:
        return
    text = format_compare(*out)
    print(text)
    if args.write:
        write_section(text, START, END)


if __name__ == "__main__":
    sys.exit(main())
