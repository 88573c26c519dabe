"""How long a PixelCNN takes to sample, against one forward pass.

Sampling reads the chain rule: one full forward pass per position, so a grid of
H x W positions costs H * W passes, while scoring (log_prob) costs one. This
script measures both for the two models of the PixelCNN chapter (untrained:
the time does not depend on the weights) at several batch sizes, and prints a
Markdown table for benchmarks/README.md.

    python benchmarks/pixelcnn_sampling.py
"""

import platform
import statistics
import time

import torch

from latent_notes.pixelcnn import GatedPixelCNN, PixelCNN

SETTINGS = [
    ("digits, 8 x 8, 17 levels", (8, 8), dict(n_levels=17, hidden=32, n_layers=5)),
    ("VQ-VAE codes, 4 x 4, K = 32", (4, 4), dict(n_levels=32, hidden=32, n_layers=4)),
]
BATCHES = [1, 16, 64, 256]
REPEATS = 5


def median_seconds(fn):
    fn()  # warm-up
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"Python {platform.python_version()}, median of {REPEATS}\n")
    print("| model | grid | batch | sample (s) | one forward pass (s) | sample / pass |")
    print("|---|---|---|---|---|---|")
    for name, shape, kwargs in SETTINGS:
        for cls in (PixelCNN, GatedPixelCNN):
            model = cls(**kwargs).eval()
            for batch in BATCHES:
                x = torch.randint(0, kwargs["n_levels"], (batch, *shape))
                with torch.no_grad():
                    sample = median_seconds(lambda: model.sample(batch, shape, generator=0))
                    one = median_seconds(lambda: model(x))
                print(f"| {cls.__name__} | {name} | {batch} | {sample:.3f} | {one:.5f} "
                      f"| {sample / one:.0f} |")


if __name__ == "__main__":
    main()
