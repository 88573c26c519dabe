"""Wall time of every chapter as a reader's machine runs it: idle, beside a busy process, on one core.

Each chapter is executed from top to bottom in a fresh kernel, the way the
book build does it (``jupytext`` reads the Markdown notebook, ``nbclient``
runs it with ``book/`` as the working directory), in three conditions:

- ``idle``: nothing else running;
- ``busy``: one other process spinning on a core the whole time (a laptop with
  other work, a CI box running something else, a noisy Binder neighbour);
- ``one core``: the chapter pinned to CPU 0 with ``taskset -c 0`` (a 1-CPU
  Binder session).

The chapters size their thread pools with ``latent_notes.runtime`` in their
first cell, so no thread variable is set here: the script measures what a
reader gets. Targets (DESIGN.md): at most 60 s idle and 90 s with the busy
neighbour, on 2 cores. The table is printed as Markdown for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ["intro", "em", "gmlc", "elbo", "reparameterization", "vqvae", "pixelcnn", "microbiota",
            "scaling"]

RUNNER = r"""
import sys, time
import jupytext
from nbclient import NotebookClient
nb = jupytext.read(sys.argv[1])
start = time.perf_counter()
NotebookClient(nb, timeout=900, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[2]}}).execute()
print(f"{time.perf_counter() - start:.3f}")
"""


def _spin():
    while True:
        pass


def run_chapter(name, pin=False):
    """Seconds to execute one chapter in a fresh kernel (None if it failed)."""
    command = [sys.executable, "-c", RUNNER, str(ROOT / "book" / f"{name}.md"), str(ROOT / "book")]
    if pin:
        command = ["taskset", "-c", "0"] + command
    env = {k: v for k, v in os.environ.items()
           if not k.endswith("_NUM_THREADS") and k != "OMP_WAIT_POLICY"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        print(f"{name} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return float(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", default=CHAPTERS)
    parser.add_argument("--conditions", default="idle,busy,one core")
    args = parser.parse_args()
    conditions = [c.strip() for c in args.conditions.split(",")]
    if "one core" in conditions and not shutil.which("taskset"):
        print("taskset not found: skipping the one-core condition", file=sys.stderr)
        conditions.remove("one core")

    from latent_notes.runtime import cpu_quota, default_threads

    results = {}
    for condition in conditions:
        busy = None
        if condition == "busy":
            busy = mp.Process(target=_spin, daemon=True)
            busy.start()
            time.sleep(1)
        try:
            for name in args.chapters:
                results[name, condition] = run_chapter(name, pin=condition == "one core")
                print(f"{name:>20} {condition:>9}: {results[name, condition]}", file=sys.stderr)
        finally:
            if busy is not None:
                busy.terminate()
                busy.join()

    def cell(value, budget):
        if value is None:
            return "failed"
        return f"{value:.1f}" + ("" if budget is None or value <= budget else " (over)")

    budgets = {"idle": 60, "busy": 90, "one core": None}
    print(f"{os.cpu_count()} CPUs, quota {cpu_quota()}, chapters use {default_threads()} "
          f"thread(s); Python {platform.python_version()}; {time.strftime('%Y-%m-%d')}\n")
    print("| chapter | " + " | ".join(f"{c} (s)" for c in conditions) + " |")
    print("|---|" + "---|" * len(conditions))
    for name in args.chapters:
        print(f"| {name} | " + " | ".join(cell(results[name, c], budgets.get(c))
                                         for c in conditions) + " |")
    total = {c: sum(results[n, c] or 0 for n in args.chapters) for c in conditions}
    print("| **all** | " + " | ".join(f"{total[c]:.0f}" for c in conditions) + " |")


if __name__ == "__main__":
    main()
