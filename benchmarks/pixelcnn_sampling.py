"""How long a PixelCNN takes to sample: incremental (the default) against naive.

``sample`` computes each position incrementally: the plain PixelCNN on the window of
rows and columns the position can see, the gated PixelCNN's vertical stack once per row
and its horizontal stack on a one-row strip per position. ``sample(naive=True)`` runs the
full network once per position (H * W passes). This script times both, alternately in
the same process (so that a change of machine load hits both), on untrained models (the
time does not depend on the weights), and prints Markdown tables for benchmarks/README.md.

    python benchmarks/pixelcnn_sampling.py               # about 2 minutes on 2 idle cores
    python benchmarks/pixelcnn_sampling.py --full-naive  # also the naive 28 x 28 runs (long)
    python benchmarks/pixelcnn_sampling.py --large-only  # only the 28 x 28 table
    python benchmarks/pixelcnn_sampling.py --device cuda # models and grids on a GPU

At 28 x 28 a naive run takes minutes on 2 cores, so by default its time is estimated as
784 x (one forward pass of the batch), which is what it consists of (plus the draws); the
table says which figures are estimates. ``--full-naive`` measures it once instead.
"""

import argparse
import os
import platform
import statistics
import time

import torch

from latent_notes.pixelcnn import GatedPixelCNN, PixelCNN

CHAPTER = [
    ("digits, 8 x 8, 17 levels", (8, 8), dict(n_levels=17, hidden=32, n_layers=5)),
    ("VQ-VAE codes, 4 x 4, K = 32", (4, 4), dict(n_levels=32, hidden=32, n_layers=4)),
]
LARGE = ("MNIST, 28 x 28, 2 levels", (28, 28), dict(n_levels=2, hidden=64, n_layers=8))
REPEATS = 3
LARGE_REPEATS = 2
DEVICE = torch.device("cpu")  # set by --device


def synchronize():
    """Wait for the GPU's queued work, so that a timed region holds all of it."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def seconds(fn):
    synchronize()
    start = time.perf_counter()
    fn()
    synchronize()
    return time.perf_counter() - start


def alternate(fns, repeats, warm_up=True):
    """Median seconds of each function, run in turn ``repeats`` times (after a warm-up)."""
    for fn in fns if warm_up else ():
        fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for t, fn in zip(times, fns):
            t.append(seconds(fn))
    return [statistics.median(t) for t in times]


def agreement(model, batch, shape):
    fast = model.sample(batch, shape, generator=0)
    naive = model.sample(batch, shape, generator=0, naive=True)
    return (fast == naive).double().mean().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-naive", action="store_true",
                        help="also run the naive sampler at 28 x 28 (minutes on 2 cores)")
    parser.add_argument("--large-only", action="store_true", help="only the 28 x 28 table")
    parser.add_argument("--device", default="cpu",
                        help="where the models run, e.g. cuda (default cpu); GPU timings "
                             "synchronise before and after each timed call")
    args = parser.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    torch.manual_seed(0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs "
          f"visible, {gpu}, models on {DEVICE}, Python {platform.python_version()}, 1-minute load "
          f"{load:.1f} at start; "
          f"median of {REPEATS}, incremental and naive alternately\n")

    print("| model | grid | batch | incremental (s) | naive (s) | naive / incremental "
          "| same draws |")
    print("|---|---|---|---|---|---|---|")
    for name, shape, kwargs in [] if args.large_only else CHAPTER:
        for cls in (PixelCNN, GatedPixelCNN):
            model = cls(**kwargs).to(DEVICE).eval()
            for batch in (16, 64):
                fast, naive = alternate(
                    [lambda: model.sample(batch, shape, generator=0),
                     lambda: model.sample(batch, shape, generator=0, naive=True)], REPEATS)
                same = agreement(model, batch, shape)
                print(f"| {cls.__name__} | {name} | {batch} | {fast:.3f} | {naive:.3f} "
                      f"| {naive / fast:.1f} | {same:.2%} |", flush=True)

    name, shape, kwargs = LARGE
    batch, positions = 16, shape[0] * shape[1]
    print(f"\n{name}, hidden {kwargs['hidden']}, {kwargs['n_layers']} layers, batch {batch}, "
          f"median of {LARGE_REPEATS}:\n")
    print("| model | incremental (s) | one forward pass (s) | naive (s) | naive / incremental |")
    print("|---|---|---|---|---|")
    for cls in (GatedPixelCNN, PixelCNN):
        model = cls(**kwargs).to(DEVICE).eval()
        x = torch.randint(0, kwargs["n_levels"], (batch, *shape)).to(DEVICE)
        model.sample(2, (4, 4), generator=0)  # warm-up on a small grid; the 28 x 28 runs are long
        with torch.no_grad():
            model(x)
            fast, one = alternate([lambda: model.sample(batch, shape, generator=0),
                                   lambda: model(x)], LARGE_REPEATS, warm_up=False)
        if args.full_naive:
            naive = seconds(lambda: model.sample(batch, shape, generator=0, naive=True))
            label = f"{naive:.1f} (measured once)"
        else:
            naive = positions * one
            label = f"{naive:.1f} (est. {positions} x pass)"
        print(f"| {cls.__name__} | {fast:.2f} | {one:.4f} | {label} | {naive / fast:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
