r"""Autoregressive models of discrete grids: the PixelCNN (chapter :doc:`/book/pixelcnn`).

A grid ``x`` of ``H x W`` discrete values (grey levels of an image, or the
code indices a VQ-VAE assigns to an image) is read in raster order, row by
row and left to right, and its distribution is factorised exactly as

:math:`\log p(x) = \sum_i \log p(x_i \mid x_1, \dots, x_{i-1})`

(eq. :math:numref:`px-chain`). Each conditional is a categorical distribution
over the ``n_levels`` possible values, given by a softmax (errata 14: 8-bit
images have 256 values ``0..255``). A convolutional network computes every
conditional in one pass, provided that output ``i`` never depends on inputs
:math:`j \ge i`; masked convolutions guarantee it.

:class:`PixelCNN`
    the original stack of masked convolutions (mask A first, then B). Its
    receptive field has a *blind spot* above and to the right of each pixel
    (errata 15).
:class:`GatedPixelCNN`
    a vertical stack (all rows above) and a horizontal stack (the current row
    to the left), with gated ``tanh * sigmoid`` units: no blind spot.

Both accept an optional class label ``y`` (a learned bias per class added in
every layer) for class-conditional models.
"""

from __future__ import annotations

import contextlib
import numbers

import torch
from torch import nn
from torch.nn import functional as F

from ._validation import check_bool, check_generator, check_int, check_real, check_tensor, module_dtype_device

__all__ = [
    "MaskedConv2d",
    "PixelCNN",
    "GatedPixelCNN",
    "pixelcnn_nll",
    "input_dependence",
    "mask_offsets",
]


def _check_int(value, name, minimum=1):
    return check_int(value, name, minimum)


def _check_kernel(kernel_size):
    kernel_size = _check_int(kernel_size, "kernel_size")
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd (the centre is the current pixel); got {kernel_size}")
    return kernel_size


def mask_offsets(kernel_size, mask_type):
    """The ``(row, column)`` offsets, relative to the output pixel, a mask lets through.

    Type ``"A"`` keeps every position strictly before the centre in raster
    order (rows above, and the centre row to the left); type ``"B"`` keeps the
    centre too (eq. :math:numref:`px-mask`).
    """
    kernel_size = _check_kernel(kernel_size)
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B'; got {mask_type!r}")
    c = kernel_size // 2
    return {(dr, dc) for dr in range(-c, 1) for dc in range(-c, c + 1)
            if dr < 0 or dc < 0 or (dc == 0 and mask_type == "B")}


class MaskedConv2d(nn.Conv2d):
    """A ``kernel_size x kernel_size`` convolution whose kernel is zero on the "future".

    The output keeps the input's height and width (zero padding). The mask
    multiplies the weights at every call, so the masked weights receive no
    gradient and stay irrelevant whatever the optimiser does.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int
        Odd.
    mask_type : {"A", "B"}
        ``"A"`` excludes the centre (first layer: a pixel must not see
        itself); ``"B"`` includes it (later layers: the centre then only holds
        information about earlier pixels).
    bias : bool
    """

    def __init__(self, in_channels, out_channels, kernel_size, mask_type="B", bias=True):
        kernel_size = _check_kernel(kernel_size)
        in_channels = _check_int(in_channels, "in_channels")
        out_channels = _check_int(out_channels, "out_channels")
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be True or False; got {bias!r}")
        offsets = mask_offsets(kernel_size, mask_type)
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
        mask = torch.zeros(1, 1, kernel_size, kernel_size)
        c = kernel_size // 2
        for dr, dc in offsets:
            mask[0, 0, c + dr, c + dc] = 1.0
        self.mask_type = mask_type
        self.register_buffer("mask", mask)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)

    def extra_repr(self):
        return super().extra_repr() + f", mask_type={self.mask_type!r}"


@contextlib.contextmanager
def _one_cpu_thread(device):
    """Run PyTorch's CPU operations on one thread inside the block, then restore the count.

    The incremental sampler makes thousands of operations on a few hundred numbers each;
    splitting each over threads gains nothing and makes every operation wait for the
    slowest thread, which on a busy machine is descheduled: measured on 2 cores at a load
    of about 9, 16 samples of 3 x 28 from the gated model of the benchmark took 0.8-2.5 s
    with one thread and 19-29 s with two.
    """
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class _Autoregressive(nn.Module):
    """What both PixelCNNs share: input checks, ``log_prob`` and sampling."""

    def __init__(self, n_levels, num_classes):
        super().__init__()
        self.n_levels = _check_int(n_levels, "n_levels", minimum=2)
        self.num_classes = None if num_classes is None else _check_int(num_classes, "num_classes")

    # subclasses: logits_from_inputs(inputs, cond) with inputs (B, n_levels, H, W) floats
    def _condition(self, y, batch, embedding):
        if self.num_classes is None:
            if y is not None:
                raise ValueError("y was given but the model was built with num_classes=None")
            return None
        if y is None:
            raise ValueError(f"this model is class-conditional: pass y, integer labels "
                             f"0..{self.num_classes - 1}")
        if not isinstance(y, torch.Tensor) or y.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"y must be an int64 or int32 tensor of shape ({batch},); got "
                            f"{getattr(y, 'dtype', type(y).__name__)}")
        if y.shape != (batch,):
            raise ValueError(f"y must have shape ({batch},); got {tuple(y.shape)}")
        if (y < 0).any() or (y >= self.num_classes).any():
            raise ValueError(f"y must hold labels 0..{self.num_classes - 1}")
        # labels may live on another device than the model (e.g. CPU labels, CUDA model)
        return embedding(y.to(embedding.weight.device))[:, :, None, None]

    def check_input(self, x):
        """Raise a clear error unless ``x`` is an integer grid batch of valid levels."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor; got {type(x).__name__}")
        if x.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"x must be an integer tensor of levels; got dtype {x.dtype} "
                            "(convert with x.long())")
        if x.dim() != 3 or x.shape[1] < 1 or x.shape[2] < 1:
            raise ValueError(f"x must have shape (batch, height, width); got {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError("x is an empty batch (shape "
                             f"{tuple(x.shape)}); at least one grid is needed")
        if (x < 0).any() or (x >= self.n_levels).any():
            raise ValueError(f"x must hold levels 0..{self.n_levels - 1}; got values in "
                             f"[{int(x.min())}, {int(x.max())}]")

    def forward(self, x, y=None):
        """Logits of every conditional, shape ``(batch, n_levels, H, W)``.

        ``logits[:, :, r, c]`` parametrise ``p(x_rc | pixels before (r, c))``.
        """
        self.check_input(x)
        return self._logits(self._one_hot(x), y)

    def _check_inputs(self, inputs):
        dtype, device = module_dtype_device(self)
        inputs = check_tensor(inputs, "inputs", ndim=4, dtype=dtype, device=device)
        if inputs.shape[1] != self.n_levels:
            raise ValueError(f"inputs must have shape (batch, n_levels={self.n_levels}, H, W); "
                             f"got {tuple(inputs.shape)}")
        return inputs

    def log_prob(self, x, y=None):
        """Exact ``log p(x)`` of each grid in nats, shape ``(batch,)`` (eq. :math:numref:`px-chain`)."""
        log_cond = F.log_softmax(self(x, y), dim=1)
        x = x.to(log_cond.device)
        return log_cond.gather(1, x.long()[:, None]).squeeze(1).sum(dim=(1, 2))

    @torch.no_grad()
    def sample(self, n, shape, generator=None, temperature=1.0, y=None, naive=False):
        """Draw ``n`` grids of ``shape = (H, W)``, one position at a time in raster order.

        By default each position is computed incrementally, evaluating only
        what that position can see: for :class:`PixelCNN`, the network on the
        window of ``L * (k // 2)`` rows above and columns either side (``L``
        masked layers of size ``k``); for :class:`GatedPixelCNN`, the vertical
        stack once per row (on the rows the next row can see) and the
        horizontal stack on a one-row strip per position. The conditionals
        are the full network's up to float rounding (tested to 1e-4), so a
        seed gives the same grids as ``naive=True`` except where rounding
        flips a draw that falls on a boundary (rare). ``naive=True`` runs the
        full network once per position (``H * W`` forward passes), the
        definition the incremental path is tested against. On the CPU the
        incremental path runs on one thread (its operations are tiny) and
        the thread count is restored afterwards. Timings of both paths:
        ``benchmarks/pixelcnn_sampling.py`` and ``benchmarks/README.md``.

        Parameters
        ----------
        n : int
        shape : tuple of two ints
        generator : None, int or torch.Generator
            An int seeds a new generator on the model's device: the same seed
            gives the same grids. A ``torch.Generator`` must be on the model's
            device type (a CPU generator for a CUDA model raises ValueError
            naming the fix, ``torch.Generator(device='cuda')``).
        temperature : float
            Divides the logits: ``< 1`` sharpens each conditional, ``1`` samples
            the model itself.
        y : torch.Tensor of shape (n,), optional
            Integer class labels, for a class-conditional model, on any device
            (they are moved to the model's).
        naive : bool
            Use the full network at every position (slow; for reference).

        Returns
        -------
        torch.Tensor
            ``(n, H, W)`` int64 levels, on the model's device.
        """
        n = _check_int(n, "n")
        if not (isinstance(shape, (tuple, list)) and len(shape) == 2):
            raise ValueError(f"shape must be (height, width); got {shape!r}")
        height, width = (_check_int(s, "shape") for s in shape)
        temperature = check_real(temperature, "temperature", low=0.0, low_open=True)
        naive = check_bool(naive, "naive")
        device = self._device()
        if generator is None:
            generator = torch.Generator(device=device)
            generator.seed()
        else:
            generator = check_generator(generator, device=device)
        cond = self._condition(y, n, self.embedding)
        was_training = self.training
        self.eval()
        try:
            x = torch.zeros(n, height, width, dtype=torch.long, device=device)
            if naive:
                for r in range(height):
                    for c in range(width):
                        logits = self._body(self._one_hot(x), cond)[:, :, r, c]
                        x[:, r, c] = self._draw(logits, temperature, generator)
            else:
                with _one_cpu_thread(device):
                    self._sample_incremental(
                        x, cond, lambda logits, r, c: self._draw(logits, temperature, generator))
        finally:
            self.train(was_training)
        return x

    @torch.no_grad()
    def _incremental_logits(self, x, y=None):
        """The logits the incremental sampler computes when its draws are forced to ``x``.

        Same shape as ``self(x, y)``, which they equal up to float rounding: the
        test of :meth:`sample`'s default path against the full network.
        """
        self.check_input(x)
        x = x.to(self._device()).long()
        cond = self._condition(y, x.shape[0], self.embedding)
        out = None

        def forced(logits, r, c):
            nonlocal out
            if out is None:
                out = logits.new_empty(x.shape[0], self.n_levels, *x.shape[1:])
            out[:, :, r, c] = logits
            return x[:, r, c]

        was_training = self.training
        self.eval()
        try:
            self._sample_incremental(torch.zeros_like(x), cond, forced)
        finally:
            self.train(was_training)
        return out

    @staticmethod
    def _draw(logits, temperature, generator):
        probs = torch.softmax((logits / temperature).double(), dim=1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    def _one_hot(self, x):
        dtype, device = module_dtype_device(self)
        return F.one_hot(x.to(device).long(), self.n_levels).permute(0, 3, 1, 2).to(dtype)

    def _device(self):
        return next(self.parameters()).device


class PixelCNN(_Autoregressive):
    """The original PixelCNN: masked convolutions with ReLUs and residual connections.

    One type-A layer, then ``n_layers - 1`` type-B layers (each a residual
    block), then two 1 x 1 convolutions to ``n_levels`` logits per position.

    Parameters
    ----------
    n_levels : int
        Number of values a position can take (17 grey levels, ``K`` codes...).
    hidden : int
        Channels of the hidden layers.
    n_layers : int
        Masked convolution layers.
    kernel_size : int
        Odd size of every masked kernel.
    num_classes : int, optional
        Build a class-conditional model.
    """

    def __init__(self, n_levels, hidden=64, n_layers=5, kernel_size=3, num_classes=None):
        super().__init__(n_levels, num_classes)
        hidden = _check_int(hidden, "hidden")
        n_layers = _check_int(n_layers, "n_layers")
        self.first = MaskedConv2d(self.n_levels, hidden, kernel_size, "A")
        self.layers = nn.ModuleList(
            MaskedConv2d(hidden, hidden, kernel_size, "B") for _ in range(n_layers - 1))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
                                  nn.Conv2d(hidden, self.n_levels, 1))
        self.embedding = None if num_classes is None else nn.Embedding(num_classes, hidden)

    def logits_from_inputs(self, inputs, y=None):
        """The network on a float input ``(batch, n_levels, H, W)`` (e.g. one-hot levels).

        Exposed so that gradients with respect to the input can be taken
        (:func:`input_dependence`).
        """
        return self._logits(self._check_inputs(inputs), y)

    def _logits(self, inputs, y=None):
        return self._body(inputs, self._condition(y, inputs.shape[0], self.embedding))

    def _body(self, inputs, cond):
        h = self.first(inputs)
        if cond is not None:
            h = h + cond
        for layer in self.layers:
            update = layer(F.relu(h))
            h = h + (update if cond is None else update + cond)
        return self.head(h)

    def _reach(self):
        """How far (rows up, columns either side) an output sees: ``L * (k // 2)``."""
        return (1 + len(self.layers)) * (self.first.kernel_size[0] // 2)

    def _sample_incremental(self, x, cond, draw):
        """Fill ``x`` in raster order, evaluating the network on a window per position.

        Output ``(r, c)`` of ``L`` masked ``k x k`` layers depends only on
        inputs in rows ``r - L*(k//2) .. r`` and columns ``c - L*(k//2) ..
        c + L*(k//2)``. The network run on that window (zero-padded like the
        full one at the image's true borders) gives the same value there: the
        wrong zeros at a window edge inside the image spread ``k//2``
        positions per layer, so they never reach ``(r, c)``; the rows below
        the window meet only masked (zero) weights.
        """
        n, height, width = x.shape
        reach = self._reach()
        inputs = self._one_hot(x)
        for r in range(height):
            r0 = max(0, r - reach)
            for c in range(width):
                c0, c1 = max(0, c - reach), min(width, c + reach + 1)
                logits = self._body(inputs[:, :, r0:r + 1, c0:c1], cond)[:, :, r - r0, c - c0]
                x[:, r, c] = draw(logits, r, c)
                inputs[:, :, r, c] = F.one_hot(x[:, r, c], self.n_levels).to(inputs.dtype)


def _gate(a):
    value, gate = a.chunk(2, dim=1)
    return torch.tanh(value) * torch.sigmoid(gate)


class _GatedLayer(nn.Module):
    """One layer of the gated PixelCNN: vertical and horizontal stacks."""

    def __init__(self, in_channels, hidden, kernel_size, first):
        super().__init__()
        s = kernel_size // 2
        self.s, self.first = s, first
        # vertical: rows i-s..i, columns c-s..c+s (the shift below removes row i)
        self.vertical = nn.Conv2d(in_channels, 2 * hidden, (s + 1, kernel_size))
        # horizontal: the current row, columns c-s..c (c itself excluded in the first layer)
        self.horizontal = nn.Conv2d(in_channels, 2 * hidden, (1, s + 1))
        mask = torch.ones(1, 1, 1, s + 1)
        if first:
            mask[..., -1] = 0.0
        self.register_buffer("mask", mask)
        self.link = nn.Conv2d(2 * hidden, 2 * hidden, 1)
        self.out = nn.Conv2d(hidden, hidden, 1)

    def forward(self, v, h, cond):
        v_pre, v_out = self.vertical_step(v, cond)
        v_down = F.pad(v_pre, (0, 0, 1, 0))[:, :, :-1]  # row i now only sees rows < i
        return v_out, self.horizontal_step(h, v_down, cond)

    def vertical_step(self, v, cond):
        """The vertical stack alone: ``(pre-activation without cond, gated output)``."""
        s = self.s
        v_pre = self.vertical(F.pad(v, (s, s, s, 0)))
        return v_pre, _gate(v_pre if cond is None else v_pre + cond)

    def horizontal_step(self, h, v_down, cond):
        """The horizontal stack, given the vertical pre-activation of the row above."""
        s = self.s
        h_pre = F.conv2d(F.pad(h, (s, 0, 0, 0)), self.horizontal.weight * self.mask,
                         self.horizontal.bias) + self.link(v_down)
        if cond is not None:
            h_pre = h_pre + cond
        h_new = self.out(_gate(h_pre))
        # no residual in the first layer: h is the input there and holds x_i itself
        return h_new if self.first else h + h_new


class GatedPixelCNN(_Autoregressive):
    """Gated PixelCNN (van den Oord et al., 2016b): no blind spot.

    A vertical stack convolves the current row and the rows above it (on both
    sides of the column, within a window that grows with depth); its features
    at ``(r, c)`` therefore see row ``r`` itself. Only a copy shifted down by
    one row reaches the horizontal stack, which sees the current row to the
    left and produces the output, so the output at ``(r, c)`` depends on rows
    above and on pixels to the left only. Units are gated,
    ``tanh(a) * sigmoid(b)``; the horizontal stack has residual connections.

    Parameters
    ----------
    n_levels : int
    hidden : int
    n_layers : int
    kernel_size : int
        Odd; each layer widens the view by ``kernel_size // 2`` in every
        allowed direction.
    num_classes : int, optional
    """

    def __init__(self, n_levels, hidden=64, n_layers=5, kernel_size=3, num_classes=None):
        super().__init__(n_levels, num_classes)
        hidden = _check_int(hidden, "hidden")
        n_layers = _check_int(n_layers, "n_layers")
        kernel_size = _check_kernel(kernel_size)
        self.layers = nn.ModuleList(
            _GatedLayer(self.n_levels if i == 0 else hidden, hidden, kernel_size, first=(i == 0))
            for i in range(n_layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
                                  nn.Conv2d(hidden, self.n_levels, 1))
        self.embedding = None if num_classes is None else nn.Embedding(num_classes, 2 * hidden)

    def logits_from_inputs(self, inputs, y=None):
        """The network on a float input ``(batch, n_levels, H, W)`` (see :meth:`PixelCNN.logits_from_inputs`)."""
        return self._logits(self._check_inputs(inputs), y)

    def _logits(self, inputs, y=None):
        return self._body(inputs, self._condition(y, inputs.shape[0], self.embedding))

    def _body(self, inputs, cond):
        v = h = inputs
        for layer in self.layers:
            v, h = layer(v, h, cond)
        return self.head(h)

    def _reach(self):
        """``L * (k // 2)``: the columns an output sees either side, and (plus one) rows up."""
        return len(self.layers) * self.layers[0].s

    def _sample_incremental(self, x, cond, draw):
        """Fill ``x`` in raster order: the vertical stack once per row, the horizontal per position.

        With ``L`` layers of half-width ``s = k//2``, the vertical stack's
        pre-activation at row ``r - 1`` (what the horizontal stack of row
        ``r`` receives) depends on input rows ``r - 1 - L*s .. r - 1`` only,
        so it is computed once per row on those rows. The horizontal stack at
        ``(r, c)`` depends on row ``r``'s inputs in columns ``c - L*s .. c``
        and on that row-above term at the same columns, so each position
        costs ``L`` layers on a ``1 x (L*s + 1)`` strip instead of the full
        grid. Window edges inside the image pad with zeros where the full
        network has values; those errors spread ``s`` positions per layer and
        never reach the position computed.
        """
        n, height, width = x.shape
        reach = self._reach()
        inputs = self._one_hot(x)
        for r in range(height):
            if r == 0:  # the full network pads the row above the image with zeros
                v_downs = [inputs.new_zeros(n, layer.vertical.out_channels, 1, width)
                           for layer in self.layers]
            else:
                v, v_downs = inputs[:, :, max(0, r - 1 - reach):r], []
                for layer in self.layers:
                    v_pre, v = layer.vertical_step(v, cond)
                    v_downs.append(v_pre[:, :, -1:])
            for c in range(width):
                c0 = max(0, c - reach)
                h = inputs[:, :, r:r + 1, c0:c + 1]
                for layer, v_down in zip(self.layers, v_downs):
                    h = layer.horizontal_step(h, v_down[:, :, :, c0:c + 1], cond)
                logits = self.head(h[:, :, :, -1:])[:, :, 0, 0]
                x[:, r, c] = draw(logits, r, c)
                inputs[:, :, r, c] = F.one_hot(x[:, r, c], self.n_levels).to(inputs.dtype)


def _check_model(model):
    if not isinstance(model, _Autoregressive):
        raise TypeError(f"model must be a PixelCNN or GatedPixelCNN; got {type(model).__name__}")
    return model


def pixelcnn_nll(model, x, y=None):
    """Mean negative log-likelihood per grid, in nats: the training loss."""
    _check_model(model)
    return -model.log_prob(x, y).mean()


def input_dependence(model, shape, seed=0):
    r"""Which inputs each output position depends on, measured with autograd.

    For a random input (not one-hot, so that no product vanishes by accident),
    the gradient of the logits at each position ``i`` with respect to every
    input position ``j`` is computed; ``dep[i, j]`` is True when it is not zero.

    Parameters
    ----------
    model : PixelCNN or GatedPixelCNN
    shape : tuple (H, W)
    seed : int

    Returns
    -------
    torch.Tensor
        Boolean ``(H*W, H*W)``, positions in raster order. A causal model has
        ``dep[i, j] = False`` for every :math:`j \ge i`.
    """
    _check_model(model)
    if not (isinstance(shape, (tuple, list)) and len(shape) == 2):
        raise ValueError(f"shape must be (height, width); got {shape!r}")
    height, width = (_check_int(s, "shape[i]") for s in shape)
    seed = _check_int(seed, "seed", minimum=0)
    generator = torch.Generator().manual_seed(seed)
    weight = next(model.parameters())
    inputs = torch.randn(1, model.n_levels, height, width, generator=generator,
                         dtype=weight.dtype).to(weight.device).requires_grad_(True)
    y = None if model.num_classes is None else torch.zeros(1, dtype=torch.long,
                                                             device=weight.device)
    logits = model.logits_from_inputs(inputs, y)[0]  # (n_levels, H, W)
    dep = torch.zeros(height * width, height * width, dtype=torch.bool)
    for i in range(height * width):
        (grad,) = torch.autograd.grad(logits[:, i // width, i % width].sum(), inputs,
                                      retain_graph=True)
        dep[i] = (grad[0].abs().sum(0).flatten() > 0).cpu()
    return dep
