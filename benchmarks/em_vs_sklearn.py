"""Wall time of latent_notes' EM against scikit-learn's, from the same start.

Both fit the same data (n=20,000, d=10, K=5 by default) from the same initial
parameters, with tol=0 so that both run exactly ``--iterations`` EM rounds and
neither adds a regulariser (sklearn's reg_covar=0, our var_floor=0). The script
prints the median wall time of each over ``--repeats`` runs, their ratio
(ours / sklearn's; below 1 means ours is faster) and the largest difference in
mean log-likelihood, which must be ~0 for the timing to compare like with like.

Run by hand, not by the test suite:  python benchmarks/em_vs_sklearn.py
"""

import argparse
import platform
import time
import warnings

import numpy as np
import sklearn
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from threadpoolctl import threadpool_info

from latent_notes import GaussianMixture
from latent_notes.datasets import make_gaussian_mixture


def make_data(n, d, k, seed):
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 4, size=(k, d))
    variances = rng.uniform(0.5, 2.0, size=k)
    return make_gaussian_mixture(n, np.full(k, 1 / k), means, variances, random_state=seed)[0]


def time_fit(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0: both warn that they did not converge
        start = time.perf_counter()
        model.fit(X)
        return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--d", type=int, default=10)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    X = make_data(args.n, args.d, args.k, seed=0)
    blas = ", ".join(sorted({f"{i['internal_api']} ({i['num_threads']} threads)" for i in threadpool_info()}))
    print(f"n={args.n}, d={args.d}, K={args.k}, {args.iterations} EM iterations, "
          f"{args.repeats} repeats; numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
          f"Python {platform.python_version()}, BLAS: {blas}\n")
    print("| covariance | latent_notes (s) | scikit-learn (s) | ratio | max abs diff of mean log-lik |")
    print("|---|---|---|---|---|")
    for covariance_type in ("spherical", "diag"):
        start = GaussianMixture(args.k, covariance_type=covariance_type,
                                init_params="random_from_data", random_state=1).initialize(X)
        common = dict(n_components=args.k, covariance_type=covariance_type, tol=0,
                      max_iter=args.iterations, weights_init=start.weights_, means_init=start.means_)
        ours_t, theirs_t, diffs = [], [], []
        for _ in range(args.repeats):
            ours = GaussianMixture(**common, variances_init=start.variances_, var_floor=0.0)
            # init_params="random" is the cheapest start; it is overridden by the *_init values.
            theirs = SklearnGaussianMixture(**common, precisions_init=1.0 / start.variances_,
                                            reg_covar=0.0, init_params="random", random_state=0)
            ours_t.append(time_fit(ours, X))
            theirs_t.append(time_fit(theirs, X))
            diffs.append(abs(ours.score(X) - theirs.score(X)))
        a, b = np.median(ours_t), np.median(theirs_t)
        print(f"| {covariance_type} | {a:.3f} | {b:.3f} | {a / b:.2f} | {max(diffs):.1e} |")


if __name__ == "__main__":
    main()
