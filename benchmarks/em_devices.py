"""GaussianMixture's EM on each backend and device: NumPy, torch on the CPU, torch on CUDA.

The same data, the same start (``init_params="random"``, one seed), ``tol=0`` and a fixed
number of iterations, so every backend does the same work; after one warm-up fit (CUDA's
context and kernels), the median of ``--repeats`` fits is printed as a Markdown table, with
the largest difference of the fitted means from the NumPy fit.

    python benchmarks/em_devices.py                          # n = 1e5 and 1e6, every device here
    python benchmarks/em_devices.py --sizes 1e7 --devices cuda numpy
"""

import argparse
import platform
import statistics
import time
import warnings

import numpy as np
import torch

from latent_notes.em import ConvergenceWarning
from latent_notes.mixture import GaussianMixture


def data(n, d=10, k=5, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=1.0, size=(k, d))  # overlapping: EM runs every iteration
    return centres[rng.integers(0, k, size=n)] + rng.normal(size=(n, d))


def fit(X, device, iterations):
    options = dict(covariance_type="diag", init_params="random", tol=0, max_iter=iterations,
                   random_state=0)
    if device != "numpy":
        options.update(backend="torch", device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model = GaussianMixture(5, **options).fit(X)
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start, model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e5, 1e6])
    parser.add_argument("--devices", nargs="+", default=["numpy", "cpu", "cuda"])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    devices = [d for d in args.devices if d != "cuda" or torch.cuda.is_available()]
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    print(f"torch {torch.__version__}, numpy {np.__version__}, Python "
          f"{platform.python_version()}, {torch.get_num_threads()} torch threads, {gpu}; "
          f"d = 10, K = 5, diagonal, {args.iterations} iterations, median of {args.repeats}\n")
    print("| n | device | iterations | seconds | max abs difference of the means from NumPy's |")
    print("|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes):
        X = data(n)
        reference = None
        for device in devices:
            fit(X[:1000], device, 2)  # warm-up
            runs = [fit(X, device, args.iterations) for _ in range(args.repeats)]
            seconds = statistics.median(t for t, _ in runs)
            means = runs[0][1].means_
            if device == "numpy":
                reference = means
            diff = "-" if reference is None else f"{np.abs(means - reference).max():.1e}"
            print(f"| {n:,} | {device} | {runs[0][1].n_iter_} | {seconds:.2f} | {diff} |",
                  flush=True)


if __name__ == "__main__":
    main()
