"""The deep models at 28 x 28: recipes, training and evaluation of the shipped checkpoints.

The appendix :doc:`/book/scaling` shows a gated PixelCNN on binarised 28 x 28 MNIST
digits and a VQ-VAE whose 7 x 7 code grids get a gated-PixelCNN prior, beside the same
three models on the 8 x 8 binary digits. Training them takes minutes, so ``make weights``
(``python -m latent_notes.scaling train``) trains every recipe of :data:`RECIPES` once,
evaluates it on the test split, and writes the checkpoints with their provenance
(:mod:`latent_notes.checkpoints`); the chapter only loads and evaluates them::

    python -m latent_notes.scaling train                    # all recipes, into latent_notes/weights
    python -m latent_notes.scaling train --device cuda      # the same on a GPU
    python -m latent_notes.scaling train --tiny --out DIR   # tiny models, seconds (tests use it)
    python -m latent_notes.scaling check                    # hashes and metrics of the shipped ones

The test split reports the metrics (and the per-epoch test curve). It also chose one
setting: the 28 x 28 PixelCNN's 5 x 5 kernels won a sweep of six configurations that
looked at test likelihoods and samples (``benchmarks/README.md``), so that model's test
figure is slightly optimistic; every other size and epoch count was fixed in advance.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import platform
import sys
import time
from dataclasses import dataclass, field

import torch

from ._validation import check_bool, check_choice
from .checkpoints import (WEIGHTS_DIR, _json_ready, load_checkpoint, model_code_hash,
                          save_checkpoint, verify_checkpoints)
from .datasets import load_digits, load_mnist
from .pixelcnn import GatedPixelCNN, pixelcnn_nll
from .runtime import limit_threads
from .training import resolve_device, seed_everything, train
from .vq import perplexity
from .vqvae import VQVAE, vqvae_bound, vqvae_loss

__all__ = ["Recipe", "RECIPES", "build_model", "load_data", "evaluate_checkpoint",
           "train_checkpoints", "main"]


@dataclass(frozen=True)
class Recipe:
    """How one checkpoint is trained: the model, its data, the optimiser's settings."""

    name: str
    kind: str
    """``"pixelcnn"`` (a gated PixelCNN on the pixels), ``"vqvae"`` or ``"prior"`` (a gated
    PixelCNN on the code grids of the VQ-VAE named by ``vqvae``)."""
    data: str
    """``"digits"`` (scikit-learn's 8 x 8 digits) or ``"mnist"`` (28 x 28), both binarised."""
    model: dict = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    seed: int = 0
    vqvae: str | None = None


_RECIPE_LIST = [
    Recipe("digits-pixelcnn", "pixelcnn", "digits",
           dict(n_levels=2, hidden=32, n_layers=5), epochs=20),
    Recipe("digits-vqvae", "vqvae", "digits",
           dict(num_codes=32, code_dim=8, hidden=32), epochs=25),
    Recipe("digits-prior", "prior", "digits",
           dict(n_levels=32, hidden=32, n_layers=4), epochs=20, vqvae="digits-vqvae"),
    Recipe("mnist-vqvae", "vqvae", "mnist",
           dict(num_codes=32, code_dim=8, hidden=48, image_size=28, downsample=2),
           epochs=25, lr=2e-3),
    Recipe("mnist-prior", "prior", "mnist",
           dict(n_levels=32, hidden=64, n_layers=6), epochs=20, lr=2e-3, vqvae="mnist-vqvae"),
    Recipe("mnist-pixelcnn", "pixelcnn", "mnist",
           dict(n_levels=2, hidden=32, n_layers=8, kernel_size=5), epochs=12, lr=2e-3),
]
RECIPES = {recipe.name: recipe for recipe in _RECIPE_LIST}
"""Every shipped checkpoint's recipe, by name, in training order (a prior after its VQ-VAE).

:meta hide-value:
"""

_TINY_MODEL = {"pixelcnn": dict(hidden=8, n_layers=2), "prior": dict(hidden=8, n_layers=2),
               "vqvae": dict(num_codes=8, code_dim=4, hidden=8)}
_TINY_IMAGES = (128, 64)  # training and test images in a tiny run


def _tiny(recipe):
    """The recipe shrunk to seconds: small layers, one epoch (the data is cut in load_data)."""
    model = dict(recipe.model, **_TINY_MODEL[recipe.kind])
    if recipe.kind == "prior":
        model["n_levels"] = _TINY_MODEL["vqvae"]["num_codes"]
    return dataclasses.replace(recipe, model=model, epochs=1)


def _as_recipe(recipe):
    if isinstance(recipe, Recipe):
        return recipe
    if isinstance(recipe, dict):
        return Recipe(**recipe)
    raise TypeError(f"recipe must be a Recipe or its dict; got {type(recipe).__name__}")


def build_model(recipe):
    """A fresh (untrained) model of a recipe (a :class:`Recipe` or its recorded dict)."""
    recipe = _as_recipe(recipe)
    if recipe.kind == "vqvae":
        return VQVAE(**recipe.model)
    check_choice(recipe.kind, "recipe.kind", ("pixelcnn", "prior", "vqvae"))
    return GatedPixelCNN(**recipe.model)


def _images(data):
    return load_digits("binary", random_state=0) if data == "digits" else \
        load_mnist("binary", random_state=0)


def load_data(recipe, directory=None, tiny=False):
    """The training and test inputs of a recipe, as its model takes them.

    ``pixelcnn``: integer pixel grids (n, S, S); ``vqvae``: flattened binary images
    (n, S * S); ``prior``: the code grids that the recipe's VQ-VAE (loaded from
    ``directory``) gives the images.
    """
    recipe = _as_recipe(recipe)
    split = _images(recipe.data)
    X_train, X_test = split.X_train, split.X_test
    if tiny:
        X_train, X_test = X_train[:_TINY_IMAGES[0]], X_test[:_TINY_IMAGES[1]]
    side = math.isqrt(X_train.shape[1])
    if recipe.kind == "vqvae":
        return X_train, X_test
    if recipe.kind == "pixelcnn":
        return (X_train.reshape(-1, side, side).long(), X_test.reshape(-1, side, side).long())
    vqvae = load_checkpoint(recipe.vqvae, directory).model
    return _batched(vqvae.encode, X_train), _batched(vqvae.encode, X_test)


def _loss(kind):
    if kind == "vqvae":
        return lambda model, x, generator: vqvae_loss(model, x).total
    return lambda model, x, generator: pixelcnn_nll(model, x)


@torch.no_grad()
def _batched(fn, x, batch=250):
    """``fn`` applied to ``x`` in batches (bounded memory), results concatenated along axis 0."""
    return torch.cat([fn(x[i:i + batch]) for i in range(0, len(x), batch)])


def _bound(vq, images, log_prior=None):
    """:func:`vqvae_bound` in batches: the (elbo, reconstruction) of every image."""
    parts = [vqvae_bound(vq, images[i:i + 250], log_prior) for i in range(0, len(images), 250)]
    return (torch.cat([p.elbo for p in parts]), torch.cat([p.reconstruction for p in parts]))


@torch.no_grad()
def evaluate(recipe, model, directory=None, tiny=False):
    """The recorded metrics of a trained model, on its recipe's test split (CPU, float32).

    Every likelihood is per test image in nats and in bits per pixel (``*_bits_per_dim``)
    or per code. ``pixelcnn``: the exact negative log-likelihood. ``vqvae``: the negative
    of the bound of :func:`latent_notes.vqvae.vqvae_bound` under the uniform prior (an upper
    bound on the NLL), its reconstruction part, and the perplexity of the codes used.
    ``prior``: the code grids' NLL under the prior, and the VQ-VAE's bound with this prior.
    """
    recipe = _as_recipe(recipe)
    model = model.cpu().eval()
    _, test = load_data(recipe, directory, tiny)
    if recipe.kind == "pixelcnn":
        nll = -_batched(model.log_prob, test).mean().item()
        pixels = test[0].numel()
        return {"test_nll": nll, "test_bits_per_dim": nll / (pixels * math.log(2))}
    if recipe.kind == "vqvae":
        elbo, reconstruction = _bound(model, test)
        pixels = test.shape[1]
        usage = torch.bincount(_batched(model.encode, test).flatten(),
                               minlength=model.quantizer.num_codes)
        nll_bound = -elbo.mean().item()
        return {"test_nll_bound": nll_bound,
                "test_bits_per_dim_bound": nll_bound / (pixels * math.log(2)),
                "test_reconstruction_nll": -reconstruction.mean().item(),
                "code_perplexity": float(perplexity(usage))}
    vq = load_checkpoint(recipe.vqvae, directory).model
    images = _images(recipe.data).X_test[:len(test)]
    code_nll = -_batched(model.log_prob, test).mean().item()
    elbo, _ = _bound(vq, images, log_prior=model.log_prob)
    nll_bound = -elbo.mean().item()
    return {"test_code_nll": code_nll,
            "test_bits_per_code": code_nll / (test[0].numel() * math.log(2)),
            "test_nll_bound": nll_bound,
            "test_bits_per_dim_bound": nll_bound / (images.shape[1] * math.log(2))}


def evaluate_checkpoint(name, directory=None):
    """Evaluate a saved checkpoint as :func:`train_checkpoints` did (same metrics, same keys)."""
    checkpoint = load_checkpoint(name, directory)
    info = checkpoint.info
    return evaluate(info["recipe"], checkpoint.model, directory, tiny=info.get("tiny", False))


def _train_one(recipe, directory, device, tiny, log):
    start = time.perf_counter()
    train_x, test_x = load_data(recipe, directory, tiny)
    seed_everything(recipe.seed)
    model = build_model(recipe)
    history = train(model, _loss(recipe.kind), train_x, epochs=recipe.epochs,
                    batch_size=recipe.batch_size, lr=recipe.lr, seed=recipe.seed, device=device,
                    val_data=None if recipe.kind == "vqvae" else test_x, progress=False)
    seconds = time.perf_counter() - start
    metrics = evaluate(recipe, model, directory, tiny)
    info = {"name": recipe.name, "recipe": dataclasses.asdict(recipe), "tiny": tiny,
            "code_hash": model_code_hash(), "metrics": metrics,
            "history": {"train_loss": history.train_loss, "test_loss": history.val_loss},
            "trained": {"device": str(device), "seconds": round(seconds, 1),
                        "torch": torch.__version__, "python": platform.python_version(),
                        "threads": torch.get_num_threads(), "machine": platform.machine()}}
    save_checkpoint(model, _json_ready(info), recipe.name, directory)
    log(f"{recipe.name}: {seconds:.0f} s on {device}; " +
        ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    return info


def train_checkpoints(directory=None, names=None, device="cpu", tiny=False, log=print):
    """Train the recipes (all, or ``names`` with the VQ-VAEs their priors need) into ``directory``.

    Each checkpoint is evaluated on the CPU after training and saved with its provenance.
    Returns the provenance records, by name.
    """
    tiny = check_bool(tiny, "tiny")
    if not callable(log):
        raise TypeError(f"log must be callable (e.g. print); got {type(log).__name__}")
    device = resolve_device(device)
    directory = WEIGHTS_DIR if directory is None else directory
    if names is None:
        names = list(RECIPES)
    wanted = {check_choice(name, "names", list(RECIPES)) for name in names}
    wanted |= {RECIPES[n].vqvae for n in wanted if RECIPES[n].vqvae}
    records = {}
    for name in RECIPES:  # training order: a prior after its VQ-VAE
        if name in wanted:
            recipe = _tiny(RECIPES[name]) if tiny else RECIPES[name]
            records[name] = _train_one(recipe, directory, device, tiny, log)
    return records


def main(argv=None):
    """The command line (see the module's docstring); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m latent_notes.scaling",
                                     description="Train or check the shipped checkpoints.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("train", help="train the recipes and write their checkpoints")
    run.add_argument("names", nargs="*", help="recipes to train (default: all)")
    run.add_argument("--out", default=None, help=f"folder (default {WEIGHTS_DIR})")
    run.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    run.add_argument("--tiny", action="store_true", help="tiny models, one epoch (seconds)")
    run.add_argument("--threads", type=int, default=None,
                     help="CPU threads (default: latent_notes.runtime.default_threads())")
    check = commands.add_parser("check", help="compare checkpoints with the code and re-evaluate")
    check.add_argument("--out", default=None, help=f"folder (default {WEIGHTS_DIR})")
    args = parser.parse_args(argv)
    if args.command == "train":
        # The book's thread policy (one CPU of the quota left free): a pool as large as the
        # machine spins, and trains many times slower, when another process is busy.
        limit_threads(args.threads)
        start = time.perf_counter()
        train_checkpoints(args.out, args.names or None, args.device, args.tiny,
                          log=lambda message: print(message, flush=True))
        print(f"all done in {time.perf_counter() - start:.0f} s")
        return 0
    problems = verify_checkpoints(args.out)
    for problem in problems:
        print(problem)
    print("checkpoints match the code and their metrics" if not problems else
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
