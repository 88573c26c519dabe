"""Input checks shared by the estimators: clear errors instead of NaNs."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_array as _sklearn_check_array
from sklearn.exceptions import NotFittedError
from sklearn.utils import column_or_1d
from sklearn.utils.multiclass import type_of_target


def check_array(X, name="X", n_features=None, estimator=None):
    """Return ``X`` as a finite 2-D float64 array or raise a clear error.

    The checks are scikit-learn's (so that error messages match what users of
    scikit-learn expect), plus the number of features of a fitted model.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    name : str
        The argument's name, used in error messages.
    n_features : int, optional
        The number of features the array must have (a fitted model's).
    estimator : object, optional
        The fitted model, named in the error message.

    Raises
    ------
    ValueError
        If ``X`` is not numeric, not 2-D, empty, holds NaN or inf, or has the
        wrong number of features.
    TypeError
        If ``X`` is a sparse matrix (dense data are required).
    """
    ndim = getattr(X, "ndim", None)
    if isinstance(X, (list, tuple)):
        try:
            ndim = np.ndim(X)
        except ValueError:  # ragged nested lists: scikit-learn's check explains
            ndim = None
    if ndim == 1:
        # scikit-learn's message would print the whole array
        raise ValueError(
            f"Expected 2D array, got 1D array instead: {name} has shape ({len(X)},). "
            f"Reshape your data either using {name}.reshape(-1, 1) if it has a single "
            f"feature or {name}.reshape(1, -1) if it contains a single sample."
        )
    arr = _sklearn_check_array(X, dtype=np.float64, input_name=name)
    if n_features is not None and arr.shape[1] != n_features:
        who = type(estimator).__name__ if estimator is not None else "the model"
        raise ValueError(
            f"{name} has {arr.shape[1]} features, but {who} is expecting {n_features} "
            "features as input (the number it was fitted with)"
        )
    return np.ascontiguousarray(arr)


def check_binary_target(y, n_samples):
    """Return the two classes of ``y`` and ``y`` recoded to 0.0 / 1.0.

    Raises
    ------
    ValueError
        If ``y`` is not 1-D, has the wrong length, holds NaN, is continuous, or
        does not have exactly two classes.
    """
    if y is None:
        raise ValueError("this estimator requires y to be passed, but the target y is None")
    y = column_or_1d(y, warn=True)
    if y.shape[0] != n_samples:
        raise ValueError(
            f"X and y have inconsistent numbers of samples: {n_samples} in X, {y.shape[0]} in y"
        )
    if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinite values")
    y_type = type_of_target(y, input_name="y", raise_unknown=True)
    if y_type == "continuous":
        raise ValueError(
            "Unknown label type: continuous. y must hold class labels, not a regression target"
        )
    classes = np.unique(y)
    if classes.size == 1:
        raise ValueError(
            f"y holds one class only ({np.asarray(classes[0]).item()!r}); a binary "
            "classifier needs samples of both classes"
        )
    if y_type != "binary" or classes.size != 2:
        shown = ", ".join(repr(c) for c in classes[:10].tolist())
        raise ValueError(
            f"Only binary classification is supported; y has {classes.size} classes "
            f"({shown}{', ...' if classes.size > 10 else ''})"
        )
    return classes, (y == classes[1]).astype(np.float64)


def check_is_fitted(estimator, attribute="means_"):
    """Raise scikit-learn's ``NotFittedError`` when a model is used before ``fit``."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(
            f"this {type(estimator).__name__} is not fitted yet; call fit(X) first"
        )


# --------------------------------------------------------------------------
# Hyperparameters and other scalars
# --------------------------------------------------------------------------
class InvalidParameterError(ValueError, TypeError):
    """A hyperparameter of the wrong type: both a TypeError and a ValueError.

    scikit-learn's parameter validation does the same, so that code catching
    either keeps working (``n_components=2.5`` is a wrong type *and* value).
    """

def _describe(value):
    """``value`` as an error message shows it: its repr, and its type when that helps."""
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    if isinstance(value, (bool, int, float, str)) or value is None:
        return shown
    return f"{shown} of type {type(value).__name__}"


def check_int(value, name, minimum=None, maximum=None):
    """Return ``value`` as a Python ``int`` or raise a clear error.

    Booleans are refused (``True`` is not a number of components); NumPy
    integers are accepted.

    Raises
    ------
    TypeError
        If ``value`` is not an integer.
    ValueError
        If it lies outside ``[minimum, maximum]``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise InvalidParameterError(f"{name} must be an int; got {_describe(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an int <= {maximum}; got {value}")
    return value


def check_real(value, name, *, low=None, high=None, low_open=False, high_open=False,
               allow_inf=False):
    """Return ``value`` as a Python ``float`` or raise a clear error.

    Parameters
    ----------
    value : object
    name : str
    low, high : float, optional
        Bounds of the accepted interval.
    low_open, high_open : bool
        Whether the bound itself is excluded.
    allow_inf : bool
        Accept ``+inf`` (e.g. ``C=np.inf``: no penalty). NaN is always refused.

    Raises
    ------
    TypeError
        If ``value`` is not a real number.
    ValueError
        If it is NaN, infinite (unless allowed) or out of bounds.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating,
                                                                      np.integer)):
        raise InvalidParameterError(f"{name} must be a real number; got {_describe(value)}")
    value = float(value)
    if np.isnan(value):
        raise ValueError(f"{name} must be a number; got nan")
    if np.isinf(value) and not (allow_inf and value > 0):
        raise ValueError(f"{name} must be finite; got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}; got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}; got {value!r}")
    return value


def check_choice(value, name, choices):
    """Return ``value`` if it is one of ``choices`` (compared with ``==``), else raise ValueError."""
    if isinstance(value, (str, bool, type(None), numbers.Number)):
        for choice in choices:
            if type(choice) is type(value) and choice == value:
                return value
    raise ValueError(f"{name} must be one of {tuple(choices)}; got {_describe(value)}")


def check_bool(value, name):
    """Return ``value`` if it is a bool (Python or NumPy), else raise TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidParameterError(f"{name} must be True or False; got {_describe(value)}")
    return bool(value)


# --------------------------------------------------------------------------
# Arrays
# --------------------------------------------------------------------------
def as_float_array(values, name, *, ndim=None, shape=None, finite=True, allow_empty=False):
    """Return ``values`` as a float64 ndarray with the given ``ndim``/``shape``, or raise.

    ``shape`` may hold ``None`` for an axis of any length. Strings, objects and
    complex numbers are refused with TypeError; NaN or inf (when ``finite``),
    an empty array (unless ``allow_empty``) and a wrong shape with ValueError.
    """
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    try:
        arr = np.asarray(values)
    except ValueError:
        raise ValueError(f"{name} must be a rectangular array of numbers; got a ragged "
                         "sequence") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers; got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D; got {arr.ndim}-D with shape {arr.shape}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            wanted = "(" + ", ".join("n" if s is None else str(s) for s in shape) + \
                ("," if len(shape) == 1 else "") + ")"
            raise ValueError(f"{name} must have shape {wanted}; got {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); at least one value is needed")
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def check_probability_vector(values, name, *, size=None, atol=1e-8):
    """Return non-negative weights that sum to one (within ``atol``), or raise ValueError."""
    arr = as_float_array(values, name, ndim=1, shape=None if size is None else (size,))
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative; got {float(arr.min())!r} among them")
    total = float(arr.sum())
    if abs(total - 1.0) > atol:
        raise ValueError(f"{name} must sum to 1; they sum to {total!r}")
    return arr


def check_counts(X, name="X"):
    """Return a 2-D table of non-negative integer counts as float64, or raise a clear error.

    The values must be exact integers (at most 2**53, where float64 stops
    representing every integer).
    """
    arr = check_array(X, name=name)
    if np.any(arr < 0):
        raise ValueError(f"{name} must hold non-negative counts; its smallest value is "
                         f"{float(arr.min())!r}")
    if np.any(arr != np.round(arr)):
        bad = float(arr[arr != np.round(arr)][0])
        raise ValueError(f"{name} must hold integer counts; got {bad!r}")
    if np.any(arr > 2.0 ** 53):
        raise ValueError(f"{name} holds counts above 2**53, which float64 cannot represent "
                         f"exactly; got {float(arr.max())!r}")
    return arr


# --------------------------------------------------------------------------
# Torch: tensors, generators, devices
# --------------------------------------------------------------------------
def module_dtype_device(module, default_dtype=None):
    """The floating dtype and device of a module's first floating parameter or buffer.

    A module with no floating parameters reports ``default_dtype`` (torch's default)
    and the CPU.
    """
    import torch

    for tensor in list(module.parameters()) + list(module.buffers()):
        if torch.is_floating_point(tensor):
            return tensor.dtype, tensor.device
    return default_dtype or torch.get_default_dtype(), torch.device("cpu")


def check_tensor(x, name, *, ndim=None, shape=None, kind="float", dtype=None, device=None,
                 finite=True, allow_empty=False):
    """Return ``x`` checked (and cast to ``dtype`` / moved to ``device`` when given), or raise.

    Parameters
    ----------
    x : torch.Tensor
    name : str
        The argument's name, used in error messages.
    ndim : int, optional
    shape : tuple, optional
        Expected shape; ``None`` entries match any length.
    kind : {"float", "int", "any"}
        ``"float"``: a floating-point tensor is required (and is cast to
        ``dtype`` if given); ``"int"``: an integer tensor (int32 or int64).
    dtype : torch.dtype, optional
        Cast a floating tensor to this dtype (a model's own); values that do not
        fit (e.g. 1e200 into float32) raise ValueError instead of becoming inf.
    device : torch.device, optional
        Move the tensor there.
    finite : bool
        Refuse NaN and infinite values (floating tensors).
    allow_empty : bool
        Accept a tensor with no elements (refused by default: a mean over an
        empty batch is NaN).
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(x).__name__}"
                        + (" (convert with torch.as_tensor)" if isinstance(x, (np.ndarray, list))
                           else ""))
    if kind == "float" and not torch.is_floating_point(x):
        raise TypeError(f"{name} must be a floating-point tensor; got dtype {x.dtype} "
                        f"(convert with {name}.float())")
    if kind == "int" and x.dtype not in (torch.int32, torch.int64, torch.int16, torch.uint8,
                                         torch.int8):
        raise TypeError(f"{name} must be an integer tensor; got dtype {x.dtype} "
                        f"(convert with {name}.long())")
    if ndim is not None and x.dim() != ndim:
        raise ValueError(f"{name} must be {ndim}-D; got shape {tuple(x.shape)}")
    if shape is not None:
        if x.dim() != len(shape) or any(s is not None and s != a for s, a in zip(shape, x.shape)):
            wanted = "(" + ", ".join("batch" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {wanted}; got {tuple(x.shape)}")
    if not allow_empty and x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}); at least one example is "
                         "needed (a mean over an empty batch is undefined)")
    if torch.is_floating_point(x) and finite and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    if device is not None and x.device != torch.device(device):
        x = x.to(device)
    if dtype is not None and torch.is_floating_point(x) and x.dtype != dtype:
        cast = x.to(dtype)
        if finite and not bool(torch.isfinite(cast).all()):
            big = float(x.abs().max())
            raise ValueError(f"{name} holds values too large for {dtype} (largest magnitude "
                             f"{big:.3g}); rescale it")
        x = cast
    return x


def check_generator(generator, name="generator", device=None):
    """Return a ``torch.Generator`` (or None): an int seeds a new one on ``device``.

    Raises
    ------
    TypeError
        If ``generator`` is neither None, an int seed nor a torch.Generator.
    ValueError
        If it is a generator on another device type than ``device``.
    """
    import torch

    if generator is None:
        return None
    if isinstance(generator, (numbers.Integral, np.integer)) and not isinstance(generator, bool):
        seed = int(generator)
        if seed < 0:
            raise ValueError(f"{name} as a seed must be a non-negative int; got {seed}")
        return torch.Generator(device=device or "cpu").manual_seed(seed)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"{name} must be None, an int seed or a torch.Generator; got "
                        f"{_describe(generator)}")
    if device is not None and generator.device.type != torch.device(device).type:
        raise ValueError(f"{name} is on {generator.device} but the tensors are on {device}; "
                         f"create it with torch.Generator(device={str(device)!r})")
    return generator


def check_device(device, name="device"):
    """Return a ``torch.device`` for ``"cpu"``, ``"cuda"``, ``"cuda:0"``, ``"mps"``, ``"auto"``...

    ``"auto"`` is the first CUDA GPU when one is present, else the CPU. A name
    torch does not know, or a GPU that is not present, raises ValueError.
    """
    import torch

    if isinstance(device, torch.device):
        resolved = device
    elif isinstance(device, str):
        if device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            resolved = torch.device(device)
        except RuntimeError:
            raise ValueError(f"{name} must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got "
                             f"{device!r}") from None
    else:
        raise TypeError(f"{name} must be a str or torch.device; got {_describe(device)}")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name}={str(device)!r} asks for a CUDA GPU, but none is available; "
                         "use 'cpu' or 'auto'")
    if resolved.type == "cuda" and resolved.index is not None \
            and resolved.index >= torch.cuda.device_count():
        raise ValueError(f"{name}={str(device)!r}: there are only {torch.cuda.device_count()} "
                         "CUDA devices")
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{name} must be 'auto', 'cpu', 'cuda' or 'mps'; got {str(device)!r}")
    return resolved
