"""Figures shared by the chapters."""

from __future__ import annotations

import numpy as np

__all__ = [
    "component_colors",
    "plot_mixture_state",
    "plot_log_likelihood",
    "plot_gmlc_regions",
    "image_grid",
    "plot_dependence",
]


def component_colors(n_components):
    """``n_components`` distinguishable RGB colours (the tab10 cycle)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return np.array([cmap(k % 10)[:3] for k in range(n_components)])


def plot_mixture_state(ax, X, resp, means, variances, title=None, n_std=2.0):
    """Draw 2-D data coloured by responsibilities, with each component's ellipse.

    A point's colour is the responsibility-weighted mix of the component
    colours, so a point the model is unsure about looks blended.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    X : ndarray of shape (n_samples, 2)
    resp : ndarray of shape (n_samples, K)
    means : ndarray of shape (K, 2)
    variances : ndarray of shape (K,) or (K, 2)
        Spherical or diagonal variances.
    title : str, optional
    n_std : float
        The ellipses are drawn at this many standard deviations.
    """
    from matplotlib.patches import Ellipse

    X, resp, means = np.asarray(X), np.asarray(resp), np.asarray(means)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n_samples, 2) to be drawn; got {X.shape}")
    colors = component_colors(means.shape[0])
    ax.scatter(X[:, 0], X[:, 1], c=np.clip(resp @ colors, 0, 1), s=8, alpha=0.7, linewidths=0)
    variances = np.asarray(variances)
    for k, mu in enumerate(means):
        sd = np.sqrt(variances[k]) * np.ones(2)
        ax.add_patch(Ellipse(mu, 2 * n_std * sd[0], 2 * n_std * sd[1], fill=False,
                             edgecolor=colors[k], linewidth=2))
        ax.plot(*mu, marker="x", color="black", markersize=8, mew=2)
    ax.set_aspect("equal", adjustable="box")
    if title is not None:
        ax.set_title(title)
    return ax


def plot_log_likelihood(ax, history, label=None, per_sample=None, **kwargs):
    """Plot a log-likelihood history against the EM iteration.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    history : array-like
        One value per iteration, starting at iteration 0.
    label : str, optional
    per_sample : int, optional
        Divide by this number of samples to plot the mean log-likelihood.
    """
    history = np.asarray(history, dtype=float)
    if per_sample:
        history = history / per_sample
    ax.plot(np.arange(history.size), history, marker="o", markersize=3, label=label, **kwargs)
    ax.set_xlabel("EM iteration")
    ax.set_ylabel("log-likelihood" + (" per sample" if per_sample else ""))
    return ax


def plot_gmlc_regions(ax, model, X, y, resolution=200, title=None):
    """Draw a fitted 2-D GMLC: ``P(y = 1 | x)``, its gates and the data.

    The background shows ``P(y = 1 | x)`` (blue for 0, red for 1), black lines
    separate the regions where different clusters are most probable given
    ``x`` (the gates), and each point is drawn with its observed label.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    model : object
        Fitted, with ``predict_proba`` and ``predict_cluster``.
    X : ndarray of shape (n_samples, 2)
    y : ndarray of shape (n_samples,)
        Labels in {0, 1}.
    resolution : int
        Grid points along each axis.
    title : str, optional
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n_samples, 2) to be drawn; got {X.shape}")
    pad = 0.05 * (X.max(axis=0) - X.min(axis=0))
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    proba = model.predict_proba(grid)[:, 1].reshape(xx.shape)
    ax.contourf(xx, yy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.55)
    ax.contour(xx, yy, proba, levels=[0.5], colors="dimgray", linewidths=1.2, linestyles="--")
    if hasattr(model, "predict_cluster"):
        cluster = model.predict_cluster(grid).reshape(xx.shape)
        ax.contour(xx, yy, cluster, levels=np.arange(cluster.max()) + 0.5, colors="black", linewidths=1.8)
    y = np.asarray(y)
    ax.scatter(X[y == 0, 0], X[y == 0, 1], s=6, c="tab:blue", linewidths=0, alpha=0.6, label="y = 0")
    ax.scatter(X[y == 1, 0], X[y == 1, 1], s=6, c="tab:red", linewidths=0, alpha=0.6, label="y = 1")
    ax.set_aspect("equal", adjustable="box")
    if title is not None:
        ax.set_title(title)
    return ax


def image_grid(ax, images, image_shape=(8, 8), ncols=10, vmax=None, title=None):
    """Tile flattened images into one picture on ``ax``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    images : array-like of shape (n, height * width)
    image_shape : tuple of int
    ncols : int
    vmax : float, optional
        Value drawn black (white is 0); the images' maximum by default.
    title : str, optional
    """
    images = np.asarray(images, dtype=float)
    h, w = image_shape
    if images.ndim != 2 or images.shape[1] != h * w:
        raise ValueError(f"images must have shape (n, {h * w}); got {images.shape}")
    n = images.shape[0]
    nrows = int(np.ceil(n / ncols))
    canvas = np.full((nrows * (h + 1) + 1, ncols * (w + 1) + 1), np.nan)
    for i, img in enumerate(images):
        r, c = divmod(i, ncols)
        canvas[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + c * (w + 1): 1 + c * (w + 1) + w] = img.reshape(h, w)
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=np.nanmax(images) if vmax is None else vmax,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title)
    return ax


def plot_dependence(ax, seen, position, title=None):
    """Draw which inputs one output position of an autoregressive model depends on.

    Cells are coloured: the output position (black), inputs it depends on
    (blue), earlier positions it does *not* depend on (red: a blind spot, or
    simply out of reach), and later positions (white, which it must never see).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    seen : array-like of bool, shape (H, W)
        ``seen[r, c]`` is True when the output depends on input ``(r, c)``
        (a row of :func:`latent_notes.pixelcnn.input_dependence`, reshaped).
    position : tuple (row, column)
    title : str, optional
    """
    from matplotlib.colors import ListedColormap

    seen = np.asarray(seen, dtype=bool)
    height, width = seen.shape
    row, col = position
    order = np.arange(height * width).reshape(height, width)
    past = order < row * width + col
    if np.any(seen & ~past):
        raise ValueError("seen marks the current or a later position: the model is not causal")
    codes = np.where(past, np.where(seen, 1, 2), 0)
    codes[row, col] = 3
    colours = ListedColormap(["white", "tab:blue", "tab:red", "black"])
    ax.imshow(codes, cmap=colours, vmin=0, vmax=3)
    ax.set_xticks(np.arange(-0.5, width), minor=True)
    ax.set_yticks(np.arange(-0.5, height), minor=True)
    ax.grid(which="minor", color="0.6", linewidth=0.6)
    ax.tick_params(which="both", length=0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title)
    return ax
