"""Figures shared by the chapters, and the book's house style for every figure.

:func:`use_book_style` sets the style (sizes, fonts, a colour-blind-safe colour
cycle) and, inside IPython, checks after every cell that no open figure has
text smaller than :data:`MIN_TEXT_PX` CSS pixels once the figure is scaled to
the book's content column (:data:`COLUMN_PX`). A chapter with such a figure
fails to run, in the tests and in the book build alike.
"""

from __future__ import annotations

import ast

import numpy as np

from ._validation import as_float_array, check_int, check_real

__all__ = [
    "COLUMN_PX",
    "MIN_TEXT_PX",
    "FIGURE_DPI",
    "OKABE_ITO",
    "BOOK_STYLE",
    "FigureTextTooSmall",
    "use_book_style",
    "integer_ticks",
    "text_sizes_px",
    "smallest_text_px",
    "check_figure_text",
    "check_open_figures",
    "component_colors",
    "component_handles",
    "plot_mixture_state",
    "plot_log_likelihood",
    "plot_gmlc_regions",
    "GMLC_PROBA_COLOURS",
    "gmlc_proba_cmap",
    "image_grid",
    "plot_dependence",
    "DEPENDENCE_COLOURS",
    "dependence_handles",
]


# ---------------------------------------------------------------------------
# House style
# ---------------------------------------------------------------------------

#: Width in CSS pixels of the column a chapter's figures are shown in, that is
#: of the ``<img>`` of a figure in a page built with sphinx-book-theme 1.3 and
#: opened in a window 1280 px wide. Measured in headless Chromium with
#: ``img.getBoundingClientRect().width`` (a 980-px PNG is shown 660 px wide, a
#: 589-px PNG at its own 589 px; the column is 774 px in windows of 1440 px
#: and wider, 437 px in one of 500 px). A PNG narrower than the column is
#: shown one pixel per CSS pixel, a wider one is scaled down to the column.
COLUMN_PX = 660

#: The smallest text, in CSS pixels, that a figure may show in that column.
MIN_TEXT_PX = 11

#: Dots per inch of the figures. The inline backend draws a PNG of
#: ``figure width x dpi`` pixels, cropped to its content (``bbox_inches="tight"``).
FIGURE_DPI = 100

#: Okabe and Ito's colour-blind-safe palette, ordered for contrast on white
#: (blue, vermillion, bluish green, reddish purple, orange, sky blue, black;
#: the yellow, too light on white for points and lines, comes last).
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")

#: The matplotlib settings that :func:`use_book_style` applies. A figure of
#: the default size is 640 px wide, shown unscaled, and its smallest text (10-pt
#: tick labels) is 13.9 CSS px; a figure up to 8.3 inches wide keeps that text
#: at 11 px or more once scaled to the column.
BOOK_STYLE = {
    "figure.dpi": FIGURE_DPI,
    "savefig.dpi": "figure",
    "figure.figsize": (6.4, 4.0),
    "figure.constrained_layout.use": True,
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "legend.title_fontsize": 10,
    "figure.titlesize": 12,
    "figure.labelsize": 11,
    "mathtext.default": "it",
    "axes.prop_cycle": None,  # filled in below: the Okabe-Ito cycle
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlelocation": "left",
    "axes.grid": False,
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
    "legend.frameon": True,
    "legend.framealpha": 0.9,
    "legend.edgecolor": "0.8",
    "image.cmap": "viridis",
    "text.color": "0.1",
    "axes.labelcolor": "0.1",
    "xtick.color": "0.2",
    "ytick.color": "0.2",
}


def _book_rc():
    from cycler import cycler

    rc = dict(BOOK_STYLE)
    rc["axes.prop_cycle"] = cycler(color=list(OKABE_ITO))
    return rc


class FigureTextTooSmall(ValueError):
    """A figure has text that would render below :data:`MIN_TEXT_PX` in the book's column."""


def use_book_style(check=True):
    """Apply the book's house style to every figure drawn from now on.

    Sets matplotlib's ``rcParams`` (:data:`BOOK_STYLE`: font sizes that stay
    readable in the book's column, the Okabe-Ito colour cycle, constrained
    layout, 100 dpi). Inside IPython (a chapter, a notebook) and with
    ``check=True`` it also checks, at the end of every cell, each open figure
    with :func:`check_open_figures`: a figure whose smallest text would render
    below :data:`MIN_TEXT_PX` CSS pixels makes the cell fail with
    :class:`FigureTextTooSmall`.

    Parameters
    ----------
    check : bool
        Install the end-of-cell check (only inside IPython). Calling the
        function again does not install it twice.
    """
    import matplotlib as mpl
    import matplotlib.pyplot  # noqa: F401  (selects the inline backend first, which may set rcParams)

    mpl.rcParams.update(_book_rc())
    if check:
        _install_cell_check()


def integer_ticks(ax, axis="x"):
    """Put major ticks only on integers along ``axis`` ("x", "y" or "both"): epochs, counts."""
    from matplotlib.ticker import MaxNLocator

    if axis not in ("x", "y", "both"):
        raise ValueError(f"axis must be 'x', 'y' or 'both'; got {axis!r}")
    for name in ("x", "y"):
        if axis in (name, "both"):
            getattr(ax, f"{name}axis").set_major_locator(MaxNLocator(integer=True))
    return ax


def _visible_texts(artist):
    """Every visible, non-empty Text under ``artist`` (an invisible parent hides its children)."""
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.text import Text

    if not artist.get_visible():
        return
    if isinstance(artist, Text) and artist.get_text().strip():
        yield artist
    axis_off = isinstance(artist, Axes) and not artist.axison  # ax.set_axis_off() hides its axes
    for child in artist.get_children():
        if not (axis_off and isinstance(child, Axis)):
            yield from _visible_texts(child)


def _displayed_scale(fig, column_px, renderer):
    """CSS px per figure pixel once the (tight-cropped) PNG is shown in the column."""
    import matplotlib as mpl

    pad = mpl.rcParams["savefig.pad_inches"]
    width_in = fig.get_tightbbox(renderer).width + 2 * pad
    png_px = width_in * fig.dpi
    return min(1.0, column_px / png_px), png_px


def _check_figure_args(fig, column_px, min_px=None):
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure; got {type(fig).__name__}")
    check_real(column_px, "column_px", low=0, low_open=True)
    if min_px is not None:
        check_real(min_px, "min_px", low=0)


def text_sizes_px(fig, column_px=COLUMN_PX):
    """The size of every visible text of ``fig``, in CSS px, when shown in the book.

    The inline backend saves the figure cropped to its content (plus
    ``savefig.pad_inches``) at ``fig.dpi``; the page shows that PNG one pixel
    per CSS pixel, scaled down to ``column_px`` when wider. A text of ``s``
    points is then ``s / 72 * dpi * min(1, column_px / png_width)`` CSS px.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    column_px : float
        Width of the content column in CSS px (:data:`COLUMN_PX`).

    Returns
    -------
    list of (float, matplotlib.text.Text)
        Sorted from the smallest.
    """
    _check_figure_args(fig, column_px)
    fig.draw_without_rendering()  # lays the figure out and formats its tick labels
    renderer = fig.canvas.get_renderer()
    scale, _ = _displayed_scale(fig, column_px, renderer)
    sizes = [(text.get_fontsize() / 72 * fig.dpi * scale, text) for text in _visible_texts(fig)]
    return sorted(sizes, key=lambda pair: pair[0])


def smallest_text_px(fig, column_px=COLUMN_PX):
    """The size in CSS px of ``fig``'s smallest visible text in the book's column.

    See :func:`text_sizes_px`; ``inf`` for a figure without text.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    column_px : float
    """
    sizes = text_sizes_px(fig, column_px)
    return sizes[0][0] if sizes else float("inf")


def check_figure_text(fig, min_px=MIN_TEXT_PX, column_px=COLUMN_PX):
    """Raise :class:`FigureTextTooSmall` if a text of ``fig`` renders below ``min_px``.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    min_px : float
        Smallest acceptable size in CSS px (:data:`MIN_TEXT_PX`).
    column_px : float
        Width of the content column in CSS px (:data:`COLUMN_PX`).

    Returns
    -------
    float
        The smallest text size, in CSS px.
    """
    _check_figure_args(fig, column_px, min_px)
    sizes = text_sizes_px(fig, column_px)
    small = [(px, text) for px, text in sizes if px < min_px]
    if small:
        renderer = fig.canvas.get_renderer()
        scale, png_px = _displayed_scale(fig, column_px, renderer)
        listed = "; ".join(f"{text.get_text()!r} {px:.1f} px ({text.get_fontsize():g} pt)"
                           for px, text in small[:6])
        name = fig.get_label() or getattr(fig, "number", "")
        raise FigureTextTooSmall(
            f"figure {name} ({fig.get_figwidth():g} x {fig.get_figheight():g} in at {fig.dpi:g} dpi, {png_px:.0f} px wide, "
            f"shown at {scale:.0%} in a {column_px:g}-px column) has text below {min_px:g} CSS px: "
            f"{listed}{' ...' if len(small) > 6 else ''}. Make the figure narrower or its text "
            f"larger (latent_notes.plotting.use_book_style sets readable sizes)."
        )
    return sizes[0][0] if sizes else float("inf")


def check_open_figures(min_px=MIN_TEXT_PX, column_px=COLUMN_PX):
    """Check every open pyplot figure with :func:`check_figure_text`.

    Called at the end of every cell once :func:`use_book_style` ran inside
    IPython; a failing figure is closed (so that the next cell does not fail
    on it again) and its error raised.

    Returns
    -------
    list of float
        The smallest text size of each open figure, in CSS px.
    """
    import sys

    check_real(min_px, "min_px", low=0)
    check_real(column_px, "column_px", low=0, low_open=True)
    if "matplotlib.pyplot" not in sys.modules:
        return []
    import matplotlib.pyplot as plt

    smallest = []
    for number in plt.get_fignums():
        fig = plt.figure(number)
        try:
            smallest.append(check_figure_text(fig, min_px=min_px, column_px=column_px))
        except FigureTextTooSmall:
            plt.close(fig)
            raise
    return smallest


def _after_cell(value=None):
    """Run by every IPython cell after :func:`use_book_style`: check, then pass the cell's value on."""
    check_open_figures()
    return value


_CHECK_CALL = '__import__("latent_notes.plotting", fromlist=["_after_cell"])._after_cell'


class _CellFigureCheck(ast.NodeTransformer):
    """Makes each cell end with :func:`_after_cell`, so that a figure that fails
    the check fails its cell (an exception in an IPython ``post_execute`` hook
    would only be printed). The cell's last expression is wrapped rather than
    followed, so that its value is still displayed."""

    def visit_Module(self, node):
        check = ast.parse(_CHECK_CALL, mode="eval").body
        if node.body and isinstance(node.body[-1], ast.Expr):
            last = node.body[-1]
            last.value = ast.Call(func=check, args=[last.value], keywords=[])
        else:
            node.body.append(ast.Expr(value=ast.Call(func=check, args=[], keywords=[])))
        return ast.fix_missing_locations(node)


def _install_cell_check(shell=None):
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - IPython ships with Jupyter
            return None
        shell = get_ipython()
    if shell is None:
        return None
    if not any(isinstance(t, _CellFigureCheck) for t in shell.ast_transformers):
        shell.ast_transformers.append(_CellFigureCheck())
    return shell


def component_colors(n_components):
    """``n_components`` distinguishable, colour-blind-safe RGB colours.

    The first seven are the Okabe-Ito palette (:data:`OKABE_ITO`, without its
    yellow); more components continue with matplotlib's ``tab20`` colours.
    """
    from matplotlib import colormaps
    from matplotlib.colors import to_rgb

    n_components = check_int(n_components, "n_components", minimum=0)
    palette = [to_rgb(c) for c in OKABE_ITO[:7]]
    extra = colormaps["tab20"]
    return np.array([palette[k] if k < len(palette) else extra((k - len(palette)) % 20)[:3]
                     for k in range(n_components)])


def component_handles(n_components, labels=None):
    """Legend handles for the components of :func:`plot_mixture_state`.

    Parameters
    ----------
    n_components : int
    labels : list of str, optional
        One per component; "component 1", "component 2", ... by default.

    Returns
    -------
    list of matplotlib.patches.Patch
        Pass them to ``ax.legend(handles=...)`` or ``fig.legend(handles=...)``.
    """
    from matplotlib.patches import Patch

    if labels is None:
        labels = [f"component {k + 1}" for k in range(n_components)]
    if len(labels) != n_components:
        raise ValueError(f"need {n_components} labels; got {len(labels)}")
    return [Patch(facecolor=colour, edgecolor=colour, label=label)
            for colour, label in zip(component_colors(n_components), labels)]


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

    X = as_float_array(X, "X", shape=(None, 2))
    means = as_float_array(means, "means", shape=(None, 2))
    n_components = means.shape[0]
    resp = as_float_array(resp, "resp", shape=(X.shape[0], n_components))
    variances = as_float_array(variances, "variances")
    if variances.shape not in ((n_components,), (n_components, 2)) or np.any(variances < 0):
        raise ValueError(f"variances must be non-negative with shape ({n_components},) or "
                         f"({n_components}, 2); got shape {variances.shape}")
    n_std = check_real(n_std, "n_std", low=0, low_open=True)
    colors = component_colors(n_components)
    ax.scatter(X[:, 0], X[:, 1], c=np.clip(resp @ colors, 0, 1), s=8, alpha=0.7, linewidths=0)
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
    history = as_float_array(history, "history", ndim=1)
    if per_sample:
        history = history / check_int(per_sample, "per_sample", minimum=1)
    ax.plot(np.arange(history.size), history, marker="o", markersize=3, label=label, **kwargs)
    ax.set_xlabel("EM iteration $t$")
    ax.set_ylabel("log-likelihood" + (" per sample" if per_sample else ""))
    integer_ticks(ax, "x")
    return ax


def plot_gmlc_regions(ax, model, X, y, resolution=200, title=None):
    """Draw a fitted 2-D GMLC: ``P(y = 1 | x)``, its gates and the data.

    The background shows ``P(y = 1 | x)`` in pale colours (light blue for 0,
    light orange for 1, see :data:`GMLC_PROBA_COLOURS`) so that the points stay
    visible on it: blue circles for ``y = 0``, vermillion triangles for
    ``y = 1``. A dashed grey line is the 0.5 boundary and black lines separate
    the regions where different clusters are most probable given ``x`` (the
    gates). The points and both lines carry legend labels, so that
    ``ax.legend()`` (or ``fig.legend``) says what each colour and line is.

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

    Returns
    -------
    matplotlib.contour.QuadContourSet
        The filled background, for a colour bar (``fig.colorbar(...)``).
    """
    X = as_float_array(X, "X", shape=(None, 2))
    y = as_float_array(y, "y", shape=(X.shape[0],))
    resolution = check_int(resolution, "resolution", minimum=2)
    pad = 0.05 * (X.max(axis=0) - X.min(axis=0))
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    proba = model.predict_proba(grid)[:, 1].reshape(xx.shape)
    background = ax.contourf(xx, yy, proba, levels=np.linspace(0, 1, 11), cmap=gmlc_proba_cmap())
    ax.contour(xx, yy, proba, levels=[0.5], colors="0.35", linewidths=1.2, linestyles="--")
    ax.plot([], [], color="0.35", linewidth=1.2, linestyle="--", label=r"$P(y=1\mid x) = 0.5$")
    if hasattr(model, "predict_cluster"):
        cluster = model.predict_cluster(grid).reshape(xx.shape)
        ax.contour(xx, yy, cluster, levels=np.arange(cluster.max()) + 0.5, colors="black", linewidths=1.8)
        ax.plot([], [], color="black", linewidth=1.8, label="gate boundary")
    ax.scatter(X[y == 0, 0], X[y == 0, 1], s=12, c=OKABE_ITO[0], marker="o", linewidths=0.3,
               edgecolors="white", alpha=0.85, label="$y = 0$")
    ax.scatter(X[y == 1, 0], X[y == 1, 1], s=14, c=OKABE_ITO[1], marker="^", linewidths=0.3,
               edgecolors="white", alpha=0.85, label="$y = 1$")
    ax.set_aspect("equal", adjustable="box")
    if title is not None:
        ax.set_title(title)
    return background


#: The pale background colours of :func:`plot_gmlc_regions`, light blue at
#: ``P(y = 1 | x) = 0``, white at 0.5 and light orange at 1.
GMLC_PROBA_COLOURS = ("#bcd7ee", "#ffffff", "#f6cfae")


def gmlc_proba_cmap():
    """The colour map of :func:`plot_gmlc_regions`' background (:data:`GMLC_PROBA_COLOURS`)."""
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("gmlc_proba", list(GMLC_PROBA_COLOURS))


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
    if np.ndim(image_shape) != 1 or len(image_shape) != 2:
        raise ValueError(f"image_shape must be (height, width); got {image_shape!r}")
    h, w = (check_int(v, "image_shape", minimum=1) for v in image_shape)
    images = as_float_array(images, "images", ndim=2)
    if images.shape[1] != h * w:
        raise ValueError(f"images must have shape (n, {h * w}) for image_shape {(h, w)} "
                         f"(one flattened image per row); got {images.shape}")
    ncols = check_int(ncols, "ncols", minimum=1)
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
    for spine in ax.spines.values():  # the images' white borders frame them
        spine.set_visible(False)
    if title is not None:
        ax.set_title(title)
    return ax


#: The colours of :func:`plot_dependence`, for later positions, inputs seen,
#: earlier inputs not seen and the output position.
DEPENDENCE_COLOURS = ("white", OKABE_ITO[0], OKABE_ITO[1], "black")


def dependence_handles():
    """Legend handles saying what each colour of :func:`plot_dependence` means.

    Returns
    -------
    list of matplotlib.patches.Patch
    """
    from matplotlib.patches import Patch

    names = ["later (never seen)", "earlier, seen", "earlier, not seen", "output position"]
    return [Patch(facecolor=colour, edgecolor="0.6", label=name)
            for colour, name in zip(DEPENDENCE_COLOURS, names)]


def plot_dependence(ax, seen, position, title=None):
    """Draw which inputs one output position of an autoregressive model depends on.

    Cells are coloured (:data:`DEPENDENCE_COLOURS`, :func:`dependence_handles`
    for a legend): the output position (black), inputs it depends on (blue),
    earlier positions it does *not* depend on (vermillion: a blind spot, or
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

    seen = np.asarray(seen)
    if seen.ndim != 2 or seen.dtype.kind not in "bui":
        raise ValueError(f"seen must be a 2-D array of booleans (H, W); got shape {seen.shape} "
                         f"and dtype {seen.dtype}")
    seen = seen.astype(bool)
    height, width = seen.shape
    if np.ndim(position) != 1 or len(position) != 2:
        raise ValueError(f"position must be (row, column); got {position!r}")
    row = check_int(position[0], "position", minimum=0, maximum=height - 1)
    col = check_int(position[1], "position", minimum=0, maximum=width - 1)
    order = np.arange(height * width).reshape(height, width)
    past = order < row * width + col
    if np.any(seen & ~past):
        raise ValueError(f"seen marks the current or a later position than position {(row, col)}: "
                         "a causal model's output never depends on those")
    codes = np.where(past, np.where(seen, 1, 2), 0)
    codes[row, col] = 3
    colours = ListedColormap(list(DEPENDENCE_COLOURS))
    ax.imshow(codes, cmap=colours, vmin=0, vmax=3)
    ax.set_xticks(np.arange(-0.5, width), minor=True)
    ax.set_yticks(np.arange(-0.5, height), minor=True)
    ax.grid(which="minor", color="0.6", linewidth=0.6)
    ax.tick_params(which="both", length=0)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("0.6")
    if title is not None:
        ax.set_title(title)
    return ax
