"""The shared validation layer (latent_notes._validation): one helper per kind of input."""

import numpy as np
import pytest
import torch

from latent_notes import _validation as v


def test_hyperparameter_of_the_wrong_type_is_both_type_and_value_error():
    with pytest.raises(TypeError, match="n_components must be an int; got 2.5"):
        v.check_int(2.5, "n_components", 1)
    with pytest.raises(ValueError, match="n_components must be an int; got True"):
        v.check_int(True, "n_components", 1)
    with pytest.raises(ValueError, match=r"n_components must be an int >= 1; got 0"):
        v.check_int(0, "n_components", 1)
    assert v.check_int(np.int64(3), "k", 1) == 3 and type(v.check_int(np.int64(3), "k")) is int


@pytest.mark.parametrize("value,kwargs,match", [
    (float("nan"), {}, "C must be a number; got nan"),
    (float("inf"), {}, "C must be finite"),
    (-1.0, dict(low=0.0, low_open=True), "C must be > 0.0; got -1.0"),
    (0.0, dict(low=0.0, low_open=True), "C must be > 0.0; got 0.0"),
    (2.0, dict(high=1.0), "C must be <= 1.0"),
    ("1", {}, "C must be a real number; got '1'"),
])
def test_check_real_refuses(value, kwargs, match):
    with pytest.raises(ValueError, match=match):
        v.check_real(value, "C", **kwargs)


def test_check_real_accepts_inf_only_when_allowed():
    assert v.check_real(float("inf"), "C", allow_inf=True) == float("inf")
    with pytest.raises(ValueError):
        v.check_real(float("-inf"), "C", allow_inf=True)


def test_check_choice_and_bool():
    assert v.check_choice("irls", "solver", ("irls", "gd")) == "irls"
    with pytest.raises(ValueError, match=r"solver must be one of \('irls', 'gd'\); got 'newton'"):
        v.check_choice("newton", "solver", ("irls", "gd"))
    with pytest.raises(ValueError, match="ema must be True or False; got 'no'"):
        v.check_bool("no", "ema")


def test_arrays():
    with pytest.raises(TypeError, match="X must hold real numbers; got dtype <U1"):
        v.as_float_array([["a"]], "X")
    with pytest.raises(ValueError, match=r"w must have shape \(3,\); got \(2,\)"):
        v.as_float_array([1.0, 2.0], "w", shape=(3,))
    with pytest.raises(ValueError, match="X is empty"):
        v.as_float_array(np.zeros((0, 2)), "X")
    with pytest.raises(ValueError, match="ragged"):
        v.as_float_array([[1.0], [1.0, 2.0]], "X")
    with pytest.raises(ValueError, match="weights must sum to 1; they sum to 6.0"):
        v.check_probability_vector([3.0, 3.0], "weights")


def test_counts():
    assert v.check_counts([[1, 2], [0, 3]]).dtype == np.float64
    with pytest.raises(ValueError, match="non-negative counts"):
        v.check_counts([[-1, 2]])
    with pytest.raises(ValueError, match="integer counts; got 0.5"):
        v.check_counts([[0.5, 2]])
    with pytest.raises(ValueError, match="2\\*\\*53"):
        v.check_counts([[2.0 ** 60, 1.0]])


def test_tensors_are_cast_to_the_models_dtype_or_refused():
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    assert v.check_tensor(x, "x", dtype=torch.float32).dtype == torch.float32
    with pytest.raises(ValueError, match="x holds values too large for torch.float32"):
        v.check_tensor(torch.tensor([[1e200]], dtype=torch.float64), "x", dtype=torch.float32)
    with pytest.raises(ValueError, match="x is empty"):
        v.check_tensor(torch.zeros(0, 2), "x")
    with pytest.raises(ValueError, match="x contains NaN or infinite values"):
        v.check_tensor(torch.tensor([float("nan")]), "x")
    with pytest.raises(TypeError, match="x must be a floating-point tensor; got dtype torch.int64"):
        v.check_tensor(torch.zeros(2, dtype=torch.long), "x")
    with pytest.raises(TypeError, match="x must be a torch.Tensor; got ndarray"):
        v.check_tensor(np.zeros(2), "x")
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 3\); got \(2, 2\)"):
        v.check_tensor(torch.zeros(2, 2), "x", shape=(None, 3))
    module = torch.nn.Linear(2, 2).double()
    assert v.module_dtype_device(module) == (torch.float64, torch.device("cpu"))


def test_generators_and_devices():
    g = v.check_generator(3)
    assert isinstance(g, torch.Generator)
    assert torch.equal(torch.rand(3, generator=g), torch.rand(3, generator=torch.Generator().manual_seed(3)))
    assert v.check_generator(None) is None
    with pytest.raises(TypeError, match="generator must be None, an int seed or a torch.Generator"):
        v.check_generator("seed")
    with pytest.raises(ValueError, match="non-negative"):
        v.check_generator(-1)
    assert v.check_device("cpu") == torch.device("cpu")
    assert v.check_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got 'foo'"):
        v.check_device("foo")
    with pytest.raises(TypeError, match="device must be a str or torch.device"):
        v.check_device(3)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="none is available"):
            v.check_device("cuda")
