"""Wall time and peak memory of latent_notes' EM against scikit-learn's, from the same start.

For each n (default 1e3 .. 1e7), d=10, K=5 and both covariance types, each library fits
the same data from the same initial parameters with tol=0, so that both run exactly
``--iterations`` EM rounds, and neither adds a regulariser (scikit-learn's reg_covar=0,
our var_floor=0). Every (library, n, covariance) runs in a fresh Python process, which
generates the data chunk by chunk (no temporary as large as the data), records its
resident memory, fits ``repeats`` times (7 up to 1e4 points, 3 at 1e5, 2 at 1e6, 1 at
1e7) and reports the median time and its peak resident memory (``VmHWM``) minus the
memory it held just before the first fit (libraries, data and start): the memory the fit
needs above the data. The ratio is ours / scikit-learn's; below 1 means ours is faster.
The last column is the largest difference in mean log-likelihood, which must be ~0 for
the timing to compare like with like.

Two more tables (``--extras``): a default fit ``GaussianMixture(5, covariance_type="diag",
max_iter=30)`` of 1e6 x 10 points, its initialisation timed apart, against scikit-learn's
default fit with the same arguments; and the torch backend on the CPU (and CUDA when
present) against the NumPy path.

Run by hand, not by the test suite:  python benchmarks/em_vs_sklearn.py   (long: scikit-learn's
fits at 1e7 take over 14 minutes each on a busy 2-core machine; ``--sizes 1000 10000`` for a
quick look; ``--exactness-cost`` times the exact fallbacks alone)
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

import numpy as np

D, K = 10, 5


def repeats_for(n):
    return 7 if n <= 10_000 else 3 if n <= 100_000 else 2 if n <= 1_000_000 else 1


def make_data(n, d, k, seed):
    """A well-mixed Gaussian mixture, written chunk by chunk into one (n, d) array."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 0.5, size=(k, d))  # overlapping: EM keeps moving for 30 rounds
    std = np.sqrt(rng.uniform(0.5, 2.0, size=k))
    X = np.empty((n, d))
    for start in range(0, n, 1 << 16):
        stop = min(start + (1 << 16), n)
        z = rng.integers(k, size=stop - start)
        X[start:stop] = means[z] + std[z, None] * rng.standard_normal((stop - start, d))
    return X


def _status_bytes(field):
    """``VmRSS`` (resident now) or ``VmHWM`` (its peak) of this process, in bytes. (The
    peak is read here, not from ``ru_maxrss``: Linux carries that across ``exec`` from
    the parent process.)"""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _rss_bytes():
    return _status_bytes("VmRSS")


def child(spec):
    """One measurement in this (fresh) process; prints a JSON line."""
    import time
    import warnings

    from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

    from latent_notes import GaussianMixture
    from latent_notes.runtime import limit_threads  # noqa: F401  (imported as the chapters do)

    n, covariance_type, library = spec["n"], spec["covariance_type"], spec["library"]
    X = make_data(n, D, K, seed=0)
    result = {"data_mb": X.nbytes / 1e6}
    if spec.get("kind") == "default":
        # A default fit, the initialisation timed apart.
        if library == "latent_notes":
            model = GaussianMixture(K, covariance_type="diag", max_iter=30, random_state=0)
            t0 = time.perf_counter()
            model.initialize(X)
            result["init_s"] = time.perf_counter() - t0
        else:
            model = SklearnGaussianMixture(K, covariance_type="diag", max_iter=30, random_state=0)
            t0 = time.perf_counter()
            model._initialize_parameters(X, np.random.RandomState(0))  # what its fit does first
            result["init_s"] = time.perf_counter() - t0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            type(model)(K, covariance_type="diag", max_iter=2).fit(X[:1000])  # warm-up, as above
        base = _rss_bytes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            model.fit(X)
            result["fit_s"] = time.perf_counter() - t0
        result["peak_above_mb"] = (_status_bytes("VmHWM") - base) / 1e6
        result["n_iter"] = int(model.n_iter_)
        print(json.dumps(result))
        return
    start = GaussianMixture(K, covariance_type=covariance_type, init_params="random_from_data",
                            random_state=1).initialize(X)
    common = dict(n_components=K, covariance_type=covariance_type, tol=0,
                  max_iter=spec["iterations"], weights_init=start.weights_, means_init=start.means_)
    if library == "latent_notes" or library.startswith("torch"):
        extra = {} if library == "latent_notes" else {"backend": "torch", "device": library.split(":")[1]}

        def make():
            return GaussianMixture(**common, variances_init=start.variances_, var_floor=0.0, **extra)
    else:
        def make():
            # init_params="random" is the cheapest start; it is overridden by the *_init values.
            return SklearnGaussianMixture(**common, precisions_init=1.0 / start.variances_,
                                          reg_covar=0.0, init_params="random", random_state=0)
    with warnings.catch_warnings():
        # warm-up on 1,000 rows: lazy imports and BLAS/OpenMP buffers are not the fit's memory
        warnings.simplefilter("ignore")
        make().fit(X[:1000])
    base = _rss_bytes()
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0: both warn that they did not converge
        for _ in range(spec["repeats"]):
            model = make()
            t0 = time.perf_counter()
            model.fit(X)
            times.append(time.perf_counter() - t0)
    peak = _status_bytes("VmHWM")
    result["time_s"] = float(np.median(times))
    result["peak_above_mb"] = (peak - base) / 1e6
    result["n_iter"] = int(model.n_iter_)
    # The same fit once more, untimed, under tracemalloc: the peak of the memory numpy
    # allocates (arrays; not BLAS's own buffers), which RSS hides when freed pages are reused.
    import tracemalloc

    if n > 1_000_000:  # one more fit would double the longest runs; RSS speaks at this size
        result["traced_peak_mb"] = float("nan")
        result["score"] = float(model.score(X))
        print(json.dumps(result))
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = make()
        tracemalloc.start()
        model.fit(X)
        result["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    # after the peak was read: scoring holds (n, K) arrays
    result["score"] = float(model.score(X))
    print(json.dumps(result))


def exactness_cost():
    """What the exact fallbacks cost: one E-step pass and one M-step, with and without them."""
    import time

    from latent_notes import GaussianMixture

    rng = np.random.default_rng(0)
    n, d, k = 400_000, 10, 5
    X = rng.normal(size=(n, d)) + rng.integers(0, k, size=(n, 1)) * 3.0
    far = rng.random(n) < 0.2
    X_far = X.copy()
    X_far[far] = 1e8 + 1e-4 * rng.normal(size=(far.sum(), d))

    def model(var0=1.0, mean0=0.0):
        gm = GaussianMixture(k, covariance_type="diag", var_floor=0.0)
        gm.weights_ = np.full(k, 1 / k)
        gm.means_ = np.arange(k)[:, None] * 3.0 + np.zeros((1, d))
        gm.means_[0] = mean0
        gm.variances_ = np.ones((k, d))
        gm.variances_[0] = var0
        return gm

    print(f"\nExact fallbacks, n={n:,}, d={d}, K={k}, diag; best of 5\n")
    print("| case | E-step pass (ms) | M-step (ms) |")
    print("|---|---|---|")
    cases = [("well-scaled (no fallback)", X, {}),
             ("one component at variance 1e-12 (E-step fallback)", X, {"var0": 1e-12}),
             ("a component of spread 1e-4 at 1e8 (both fallbacks)", X_far, {"var0": 1e-8, "mean0": 1e8})]
    for name, data, kw in cases:
        gm, best_e, best_m = model(**kw), np.inf, np.inf
        for _ in range(5):
            t0 = time.perf_counter()
            stats, _ = gm._gaussian_e_pass(data)
            t1 = time.perf_counter()
            model(**kw)._gaussian_m_step_from(stats, data)
            best_e, best_m = min(best_e, t1 - t0), min(best_m, time.perf_counter() - t1)
        print(f"| {name} | {best_e * 1e3:.0f} | {best_m * 1e3:.1f} |")


def run(spec):
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine():
    import sklearn
    import torch
    from threadpoolctl import threadpool_info

    blas = ", ".join(sorted({f"{i['internal_api']} ({i['num_threads']} threads)"
                             for i in threadpool_info()}))
    return (f"{datetime.date.today()}; {os.cpu_count()} CPU cores "
            f"({len(os.sched_getaffinity(0))} usable), "
            f"{'CUDA: ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}; "
            f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, torch {torch.__version__}, "
            f"Python {platform.python_version()}, BLAS: {blas}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e3, 1e4, 1e5, 1e6, 1e7])
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--covariance-types", nargs="+", default=["spherical", "diag"])
    parser.add_argument("--extras", action=argparse.BooleanOptionalAction, default=True,
                        help="also the default 1e6 fit and the torch backend")
    parser.add_argument("--exactness-cost", action="store_true",
                        help="only time the exact fallbacks (one E-step and M-step, n=4e5)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if args.exactness_cost:
        exactness_cost()
        return

    print(machine())
    print(f"d={D}, K={K}, {args.iterations} EM iterations from the same start, tol=0; median of "
          "7 (n <= 1e4), 3 (1e5), 2 (1e6) or 1 (1e7) fits; memory: peak RSS (VmHWM) of a fresh process "
          "minus its RSS before the fit (data and libraries already loaded, one warm-up fit on 1,000 "
          "rows done); numpy peak: tracemalloc's peak during one more fit\n")
    print("| covariance | n | latent_notes (s) | scikit-learn (s) | ratio | RSS above data, ours (MB) "
          "| RSS above data, scikit-learn (MB) | numpy peak, ours (MB) | numpy peak, scikit-learn (MB) "
          "| data (MB) | max abs diff of mean log-lik |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for covariance_type in args.covariance_types:
        for n in (int(s) for s in args.sizes):
            spec = dict(n=n, covariance_type=covariance_type, iterations=args.iterations,
                        repeats=repeats_for(n))
            ours = run({**spec, "library": "latent_notes"})
            theirs = run({**spec, "library": "sklearn"})
            assert ours["n_iter"] == theirs["n_iter"] == args.iterations, (ours, theirs)
            print(f"| {covariance_type} | {n:,} | {ours['time_s']:.3g} | {theirs['time_s']:.3g} | "
                  f"{ours['time_s'] / theirs['time_s']:.2f} | {ours['peak_above_mb']:.1f} | "
                  f"{theirs['peak_above_mb']:.1f} | {ours['traced_peak_mb']:.1f} | "
                  f"{theirs['traced_peak_mb']:.1f} | {ours['data_mb']:.0f} | "
                  f"{abs(ours['score'] - theirs['score']):.1e} |", flush=True)
    if not args.extras:
        return

    print("\nDefault fit, GaussianMixture(5, covariance_type='diag', max_iter=30, random_state=0) "
          "on 1e6 x 10 (each library's own defaults otherwise: tol 1e-6 ours, 1e-3 scikit-learn's; "
          "k-means start for both)\n")
    print("| library | initialisation (s) | fit (s) | EM iterations | initialisation / fit | "
          "peak above data (MB) |")
    print("|---|---|---|---|---|---|")
    for library in ("latent_notes", "sklearn"):
        r = run(dict(kind="default", n=1_000_000, covariance_type="diag", library=library))
        print(f"| {library} | {r['init_s']:.2f} | {r['fit_s']:.2f} | {r['n_iter']} | "
              f"{r['init_s'] / r['fit_s']:.2f} | {r['peak_above_mb']:.1f} |", flush=True)

    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"\nTorch backend (float64), diag, {args.iterations} iterations from the same start as above\n")
    print("| n | NumPy (s) | " + " | ".join(f"torch {dev} (s)" for dev in devices)
          + " | max abs diff of mean log-lik |")
    print("|---|---|" + "---|" * len(devices) + "---|")
    for n in (int(s) for s in args.sizes if 1e5 <= s <= 1e6) or []:
        spec = dict(n=n, covariance_type="diag", iterations=args.iterations, repeats=repeats_for(n))
        base = run({**spec, "library": "latent_notes"})
        cells, diff = [], 0.0
        for dev in devices:
            r = run({**spec, "library": f"torch:{dev}"})
            cells.append(f"{r['time_s']:.3g}")
            diff = max(diff, abs(r["score"] - base["score"]))
        print(f"| {n:,} | {base['time_s']:.3g} | " + " | ".join(cells) + f" | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
