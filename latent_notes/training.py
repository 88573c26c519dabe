"""One small, seeded training loop for every deep model in the book."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

import torch

from ._validation import check_bool, check_device, check_int, check_real

__all__ = ["History", "train", "resolve_device", "seed_everything"]


@dataclass
class History:
    """Losses recorded by :func:`train`, one value per epoch."""

    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    seconds: float = 0.0


def seed_everything(seed):
    """Seed PyTorch's global generator (parameter initialisation, dropout)."""
    torch.manual_seed(check_int(seed, "seed", 0))


def resolve_device(device):
    """``"auto"`` picks a CUDA GPU when one is present, else the CPU.

    Raises
    ------
    ValueError
        For a name torch does not know, or a GPU that is not present.
    """
    return check_device(device)


def _accumulator_dtype(device):
    # float64 like the Python floats it replaces; MPS has no float64
    return torch.float32 if device.type == "mps" else torch.float64


def _check_loss(loss):
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise TypeError("loss_fn must return a scalar torch.Tensor; got "
                        + (f"shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor)
                           else type(loss).__name__))


def _show_progress(progress):
    if progress is not None:
        return bool(progress)
    return not os.environ.get("CI") and sys.stderr.isatty()


def train(model, loss_fn, train_data, *, epochs=10, batch_size=128, lr=1e-3, weight_decay=0.0,
          val_data=None, seed=0, device="cpu", progress=None, callback=None):
    """Train ``model`` with Adam on minibatches and return the loss history.

    Parameters
    ----------
    model : torch.nn.Module
    loss_fn : callable
        ``loss_fn(model, batch, generator) -> scalar tensor`` (a mean over the
        batch); ``generator`` is a seeded ``torch.Generator`` for any sampling.
    train_data : torch.Tensor
        Examples along the first axis.
    epochs, batch_size : int
    lr, weight_decay : float
        Adam's learning rate and L2 weight decay.
    val_data : torch.Tensor, optional
        Scored after every epoch (without gradients, with a fixed seed).
    seed : int
        Seeds the shuffling and the loss's sampling. Seed the model's
        initialisation yourself (:func:`seed_everything`) before building it.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"auto"`` (a GPU when present).
    progress : bool, optional
        Show a tqdm progress bar; by default only in an interactive terminal
        and never when the ``CI`` environment variable is set.
    callback : callable, optional
        Called as ``callback(epoch, model)`` after every epoch (the model in
        evaluation mode), e.g. to record extra metrics.

    Returns
    -------
    History

    Raises
    ------
    FloatingPointError
        When a training loss is NaN or infinite, naming the epoch and the step
        where it first happened, or when the validation loss is. The check is
        made on the device and read at the end of each epoch (reading the loss
        at every step would make the host wait for a GPU at every step), so
        the rest of that epoch still runs and the model's parameters are then
        typically NaN: rebuild it before training again.
    TypeError
        When ``loss_fn`` does not return a scalar tensor.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable; got {type(loss_fn).__name__}")
    for name, data in (("train_data", train_data), ("val_data", val_data)):
        if data is None and name == "val_data":
            continue
        if not isinstance(data, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor; got {type(data).__name__}")
        if data.dim() < 1 or len(data) == 0:
            raise ValueError(f"{name} must be a non-empty torch.Tensor with examples along axis 0; "
                             f"got shape {tuple(data.shape)}")
    epochs = check_int(epochs, "epochs", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    float32_max = float(torch.finfo(torch.float32).max)
    lr = check_real(lr, "lr", low=0.0, low_open=True, high=float32_max)
    weight_decay = check_real(weight_decay, "weight_decay", low=0.0, high=float32_max)
    seed = check_int(seed, "seed", 0)
    if progress is not None:
        check_bool(progress, "progress")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None; got {type(callback).__name__}")
    device = resolve_device(device)
    model.to(device)
    train_data = train_data.to(device)
    val_data = None if val_data is None else val_data.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    shuffle = torch.Generator().manual_seed(seed)
    sampling = torch.Generator(device=device).manual_seed(seed + 1)
    history = History()
    epochs_iter = range(epochs)
    if _show_progress(progress):
        from tqdm.auto import tqdm

        epochs_iter = tqdm(epochs_iter, desc="training", unit="epoch")
    start = time.perf_counter()
    for epoch in epochs_iter:
        model.train()
        order = torch.randperm(len(train_data), generator=shuffle).to(device)
        # Summed on the device and read once per epoch: a per-step loss.item() would make
        # the host wait for the GPU at every step.
        total = torch.zeros((), dtype=_accumulator_dtype(device), device=device)
        finite = torch.ones((), dtype=torch.bool, device=device)
        first_bad = torch.full((), -1, dtype=torch.long, device=device)
        count = 0
        for step, i in enumerate(range(0, len(train_data), batch_size)):
            batch = train_data[order[i:i + batch_size]]
            loss = loss_fn(model, batch, sampling)
            _check_loss(loss)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss = loss.detach()
            is_finite = torch.isfinite(loss)
            first_bad = torch.where(finite & ~is_finite, step, first_bad)
            finite = finite & is_finite
            total += loss.to(total.dtype) * len(batch)
            count += len(batch)
        if not bool(finite):
            raise FloatingPointError(
                f"the training loss became non-finite in epoch {epoch} (step {int(first_bad)}); "
                "lower lr")
        history.train_loss.append(float(total) / count)
        if val_data is not None:
            model.eval()
            with torch.no_grad():
                fixed = torch.Generator(device=device).manual_seed(seed + 2)
                val_loss = loss_fn(model, val_data, fixed)
                if not torch.isfinite(val_loss):
                    raise FloatingPointError(f"the validation loss is {val_loss.item()}")
                history.val_loss.append(val_loss.item())
        if callback is not None:
            model.eval()
            with torch.no_grad():
                callback(len(history.train_loss) - 1, model)
        if hasattr(epochs_iter, "set_postfix"):
            epochs_iter.set_postfix(loss=f"{history.train_loss[-1]:.3f}")
    history.seconds = time.perf_counter() - start
    model.eval()
    return history
