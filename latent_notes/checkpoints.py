"""Shipped checkpoints: where they live, how they load, and what proves they are current.

A checkpoint is two files in one folder (``latent_notes/weights`` for the ones that ship):

- ``NAME.pt``, the model's ``state_dict`` only, read with
  ``torch.load(weights_only=True)`` (no pickled code is ever executed);
- ``NAME.json``, its provenance: the recipe that trained it, the hash of the model code
  (:func:`model_code_hash`) at that time, the metrics it reached on the test split, its
  training history, the machine and the time it took, and the SHA-256 of ``NAME.pt``.

The recipes, training and evaluation live in :mod:`latent_notes.scaling`; this module only
stores, loads and checks. ``make weights`` retrains them all.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import io
import json
import math
import os
import tokenize
from pathlib import Path
from typing import Any, NamedTuple

import torch

from ._validation import check_bool, check_choice, check_real

__all__ = ["WEIGHTS_DIR", "CODE_MODULES", "Checkpoint", "model_code_hash", "normalised_source",
           "save_checkpoint", "read_info", "load_checkpoint", "verify_checkpoints"]

WEIGHTS_DIR = Path(__file__).with_name("weights")
"""The folder of the checkpoints that ship with the package (``latent_notes/weights``).

:meta hide-value:
"""

CODE_MODULES = ("datasets", "pixelcnn", "scaling", "training", "vq", "vqvae")
"""The ``latent_notes`` modules whose code decides what a shipped checkpoint holds (the data,
the models, the training loop and the recipes). Their hash goes into every checkpoint."""


class Checkpoint(NamedTuple):
    """A loaded checkpoint (see :func:`load_checkpoint`)."""

    model: torch.nn.Module
    """The model with its trained weights, on the CPU unless asked otherwise, in evaluation mode."""
    info: dict
    """The provenance record (the ``.json`` file), with the keys ``recipe``, ``code_hash``,
    ``metrics``, ``history``, ``trained`` and ``weights_sha256``."""


def normalised_source(text):
    """Python source with comments, docstrings, blank lines and trailing spaces removed.

    What remains is what the interpreter executes, so an edit to a comment or a docstring
    does not change :func:`model_code_hash` while any change to the code does. Only the
    positions of tokens and nodes are used (stable across Python versions), never
    ``ast.dump``.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str of Python source; got {type(text).__name__}")
    try:
        tree = ast.parse(text)
    except SyntaxError as error:
        raise ValueError(f"text is not valid Python source: {error}") from None
    lines = text.splitlines()
    dropped = set()
    for node in ast.walk(tree):
        # A statement that is only a string: a docstring (module, class, function, attribute).
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str):
            dropped.update(range(node.lineno - 1, node.end_lineno))
    comments = {}
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            row, col = token.start
            comments[row - 1] = col
    kept = []
    for number, line in enumerate(lines):
        if number in dropped:
            continue
        if number in comments:
            line = line[:comments[number]]
        line = line.rstrip()
        if line:
            kept.append(line)
    return "\n".join(kept) + "\n"


def model_code_hash():
    """SHA-256 of the normalised source (:func:`normalised_source`) of :data:`CODE_MODULES`.

    A shipped checkpoint records the value this had when it was trained; when the two
    differ, the models or their training changed since and the checkpoints must be
    retrained (``make weights``).
    """
    digest = hashlib.sha256()
    for name in CODE_MODULES:
        module = importlib.import_module(f"latent_notes.{name}")
        source = Path(module.__file__).read_text(encoding="utf-8")
        digest.update(f"{name}\0{normalised_source(source)}\0".encode())
    return digest.hexdigest()


def _file_sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _directory(directory):
    if directory is None:
        return WEIGHTS_DIR
    if not isinstance(directory, (str, Path)):
        raise TypeError(f"directory must be a path (str or pathlib.Path) or None; got "
                        f"{type(directory).__name__}")
    return Path(directory)


def _paths(name, directory):
    if not isinstance(name, str):
        raise TypeError(f"name must be a str naming a checkpoint; got {type(name).__name__}")
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
        raise ValueError(f"name must be a plain file name (letters, digits, '-', '_', '.'); "
                         f"got {name!r}")
    folder = _directory(directory)
    return folder / f"{name}.pt", folder / f"{name}.json"


def _write_atomically(path, write):
    """Write through a temporary file in the same folder, then rename it into place, so an
    interrupted run never leaves half a file under the final name."""
    temporary = path.with_name(path.name + ".part")
    write(temporary)
    os.replace(temporary, path)


def save_checkpoint(model, info, name, directory):
    """Write ``NAME.pt`` (the ``state_dict``) and ``NAME.json`` (``info`` plus the file's hash).

    Each file is written under a temporary name and renamed into place. Tiny checkpoints
    (``info["tiny"]``, from ``--tiny`` runs) are refused in the shipped folder
    :data:`WEIGHTS_DIR`: they would replace the real ones. Returns the path of the
    ``.json`` file.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if not isinstance(info, dict):
        raise TypeError(f"info must be a dict; got {type(info).__name__}")
    weights, record = _paths(name, directory)
    if info.get("tiny") and weights.parent.resolve() == WEIGHTS_DIR.resolve():
        raise ValueError("tiny checkpoints are never written into the shipped folder "
                         f"{WEIGHTS_DIR}: give another directory (--out)")
    try:
        text = json.dumps(info, indent=1, sort_keys=True, allow_nan=False)
    except ValueError:
        raise ValueError(f"info for {name!r} holds NaN or infinite numbers (a diverged "
                         "training?); nothing was written") from None
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    _write_atomically(weights, lambda path: torch.save(state, path))
    info = dict(info, weights_sha256=_file_sha256(weights))
    text = json.dumps(info, indent=1, sort_keys=True, allow_nan=False) + "\n"
    _write_atomically(record, lambda path: path.write_text(text, encoding="utf-8"))
    return record


def read_info(name, directory=None):
    """The provenance record of checkpoint ``name`` (a dict), without loading its weights.

    Raises ``ValueError`` when the record or its weights file is missing or unreadable.
    """
    weights, record = _paths(name, directory)
    if not record.is_file():
        from .scaling import RECIPES

        known = ", ".join(sorted(RECIPES))
        raise ValueError(f"no checkpoint named {name!r} in {record.parent}; the recipes are: "
                         f"{known}")
    try:
        info = json.loads(record.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{record} is not a readable checkpoint record: {error}") from None
    missing = {"recipe", "code_hash", "metrics", "weights_sha256"} - set(info)
    if missing:
        raise ValueError(f"{record} lacks {', '.join(sorted(missing))}: not a checkpoint record")
    if not weights.is_file():
        raise ValueError(f"{record.name} has no weights beside it ({weights.name} is missing)")
    return info


def load_checkpoint(name, directory=None, device="cpu"):
    """Load checkpoint ``name``: the model built from its recorded recipe, with its weights.

    Parameters
    ----------
    name : str
        One of :data:`latent_notes.scaling.RECIPES` (e.g. ``"mnist-pixelcnn"``).
    directory : str or pathlib.Path, optional
        Where the checkpoint is; the shipped ones (:data:`WEIGHTS_DIR`) by default.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"``.

    Returns
    -------
    Checkpoint
        ``model`` (in evaluation mode) and ``info`` (the provenance record).

    Raises
    ------
    ValueError
        When there is no such checkpoint, or its weights file does not match the hash
        recorded beside it.
    """
    from .scaling import build_model
    from .training import resolve_device

    device = resolve_device(device)
    info = read_info(name, directory)
    weights, _ = _paths(name, directory)
    if _file_sha256(weights) != info["weights_sha256"]:
        raise ValueError(f"{weights} does not match the SHA-256 recorded in {name}.json: the "
                         "weights were replaced after training; retrain with `make weights`")
    with torch.random.fork_rng(devices=[]):  # building initialises weights: keep the caller's RNG
        model = build_model(info["recipe"])
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return Checkpoint(model.to(device).eval(), info)


def _close(recorded, measured, rtol):
    return math.isclose(recorded, measured, rel_tol=rtol, abs_tol=rtol)


def verify_checkpoints(directory=None, names=None, evaluate=True, rtol=1e-4):
    """Check checkpoints against the code: the code hash, the weights' hash, and (optionally)
    that evaluating them again reproduces every recorded metric.

    Returns a list of problems, one sentence each; empty when all holds.
    """
    from .scaling import RECIPES, evaluate_checkpoint

    rtol = check_real(rtol, "rtol", low=0.0, high=1.0)
    evaluate = check_bool(evaluate, "evaluate")
    names = sorted(RECIPES) if names is None else [check_choice(n, "names", sorted(RECIPES))
                                                    for n in names]
    current = model_code_hash()
    problems = []
    for name in names:
        try:
            info = read_info(name, directory)
        except ValueError as error:
            problems.append(f"{name}: {error}")
            continue
        if info["code_hash"] != current:
            problems.append(f"{name}: trained by other model code (hash {info['code_hash'][:12]}, "
                            f"now {current[:12]}): the models or their training changed since; "
                            "retrain with `make weights`")
        weights, _ = _paths(name, directory)
        if _file_sha256(weights) != info["weights_sha256"]:
            problems.append(f"{name}: {weights.name} does not match its recorded SHA-256")
            continue
        if evaluate:
            try:
                measured = evaluate_checkpoint(name, directory)
            except ValueError as error:  # e.g. a prior whose VQ-VAE is missing
                problems.append(f"{name}: cannot be evaluated: {error}")
                continue
            for key, value in info["metrics"].items():
                if not _close(value, measured[key], rtol):
                    problems.append(f"{name}: metric {key} was {value!r} when trained, "
                                    f"{measured[key]!r} now")
    return problems


def _json_ready(value: Any):
    """``value`` with NumPy and torch scalars turned into plain Python numbers."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value
