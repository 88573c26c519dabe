"""Figures a reader can play with on the static book page: data built here, drawn by JavaScript.

An :class:`InteractiveFigure` is a description, in plain JSON, of a figure made of one or
more *panels* (axes) holding *layers* (points, ellipses, lines, images, highlighted cells,
bars, text), and of one *control* that picks the figure's *state*: a :func:`slider` over
precomputed frames, or a :func:`grid_picker` whose cells the reader taps or walks through
with the arrow keys. A layer may change with the state: its ``states`` list holds, for each
state, the fields that replace the layer's own (the colours of the points at EM iteration
``t``, the cells an output pixel depends on, ...).

In a notebook the figure displays as a bundle of two outputs:

- ``text/html``: the JSON in a ``<script type="application/json">`` plus a static PNG, which
  the book's ``_static/ln-interactive.js`` replaces by the live figure (drawn in SVG). Readers
  with JavaScript off, and Jupyter, see the PNG.
- ``image/png``: the same static figure (the initial state, drawn by matplotlib from the same
  description), which the PDF build picks (MyST-NB chooses an output per builder).

Nothing runs in the browser but the drawing: every number was computed by the chapter when
the book was built. Both renderings come from one description, so the PNG is checked with
:func:`latent_notes.plotting.check_figure_text` like every figure of the book.
"""

from __future__ import annotations

import base64
import html
import io
import json
import numbers

import numpy as np

__all__ = [
    "InteractiveFigure",
    "panel",
    "points",
    "ellipses",
    "line",
    "vline",
    "image",
    "cells",
    "bars",
    "text",
    "slider",
    "grid_picker",
    "to_hex",
    "rgb_bytes",
    "cell_indices",
    "to_hex_rgb",
    "PANEL_SIZE",
    "mixture_weight_figure",
    "em_steps_figure",
    "gmlc_rounds_figure",
    "elbo_grid_figure",
    "latent_space_figure",
    "codebook_figure",
    "receptive_field_figure",
    "community_figure",
]

_LAYER_TYPES = ("points", "ellipses", "line", "vline", "image", "cells", "bars", "text")

#: Size of a panel in the SVG's own units (CSS px when shown at its natural size).
PANEL_SIZE = (320, 280)


# ---------------------------------------------------------------------------
# Validation and number formatting
# ---------------------------------------------------------------------------

def _real_array(name, value, ndim=None, length=None):
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be an array of numbers; got {type(value).__name__}")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers; got {type(value).__name__}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional; got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{name} must have {length} entries; got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; got {arr[~np.isfinite(arr)][:3]}")
    return arr


def _nums(arr, digits=4):
    """A list of floats rounded to ``digits`` significant digits (small JSON)."""
    return [float(f"{v:.{digits}g}") for v in np.asarray(arr, dtype=float).ravel()]


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int; got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1; got {value}")
    return int(value)


def _pair(name, value):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"{name} must be a pair (a, b); got {value!r}")
    return value


def _string(name, value, optional=True):
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str; got {type(value).__name__}")
    return value


def to_hex(colors):
    """Colours (names, RGB or RGBA rows in [0, 1]) as ``#rrggbb`` strings.

    Parameters
    ----------
    colors : str or array-like of shape (n, 3) or (n, 4), or list of colour names

    Returns
    -------
    str or list of str
        One string for one colour name, a list otherwise.
    """
    from matplotlib.colors import to_hex as mpl_hex

    if isinstance(colors, str):
        try:
            return mpl_hex(colors)
        except ValueError:
            raise ValueError(f"colors must be matplotlib colours; got {colors!r}") from None
    if colors is None:
        raise TypeError("colors must be a colour or a list of colours; got None")
    try:
        items = list(colors)
    except TypeError:
        raise TypeError(f"colors must be a colour or a list of colours; got {type(colors).__name__}") from None
    if items and all(isinstance(c, str) for c in items):
        try:
            return [mpl_hex(c) for c in items]
        except ValueError as err:
            raise ValueError(f"colors must be matplotlib colours; {err}") from None
    rgb = _real_array("colors", items)
    if rgb.ndim == 1 and rgb.size in (3, 4) and rgb.min() >= 0 and rgb.max() <= 1:
        return mpl_hex(rgb[:3])
    if rgb.ndim != 2:
        raise ValueError(f"colors must be one RGB colour or rows of RGB colours; got shape {rgb.shape}")
    if rgb.shape[1] not in (3, 4) or rgb.min(initial=0) < 0 or rgb.max(initial=0) > 1:
        raise ValueError(f"colors must be rows of 3 or 4 numbers in [0, 1]; got shape {rgb.shape}")
    return [mpl_hex(np.clip(c[:3], 0, 1)) for c in rgb]


def rgb_bytes(values, cmap="gray_r", vmin=None, vmax=None):
    """An image as base64 RGB bytes (row 0 at the top), for :func:`image`.

    Parameters
    ----------
    values : array-like of shape (rows, cols) or (rows, cols, 3)
        Values mapped through ``cmap``, or RGB in [0, 1].
    cmap : str
        A matplotlib colour map name (for 2-D ``values``).
    vmin, vmax : float, optional
        The value range mapped to the colour map's ends; the data's range by default.

    Returns
    -------
    dict
        ``{"rows", "cols", "rgb"}``: the image's shape and its bytes in base64.
    """
    from matplotlib import colormaps

    arr = _real_array("values", values)
    if arr.size == 0:
        raise ValueError(f"values is empty (shape {arr.shape}); an image needs at least one pixel")
    if arr.ndim == 2:
        if not isinstance(cmap, str) or cmap not in colormaps:
            raise ValueError(f"cmap must be a matplotlib colour map name; got {cmap!r}")
        lo = arr.min() if vmin is None else float(vmin)
        hi = arr.max() if vmax is None else float(vmax)
        scaled = np.clip((arr - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(arr)
        rgb = colormaps[cmap](scaled)[..., :3]
    elif arr.ndim == 3 and arr.shape[2] == 3:
        if arr.min() < 0 or arr.max() > 1:
            raise ValueError("values of shape (rows, cols, 3) must be RGB in [0, 1]")
        rgb = arr
    else:
        raise ValueError(f"values must have shape (rows, cols) or (rows, cols, 3); got {arr.shape}")
    data = np.round(rgb * 255).astype(np.uint8)
    return {"rows": int(data.shape[0]), "cols": int(data.shape[1]),
            "rgb": base64.b64encode(data.tobytes()).decode("ascii")}


# ---------------------------------------------------------------------------
# Layers: each returns a dict; ``states`` (one dict of replaced fields per state) is optional
# ---------------------------------------------------------------------------

def _layer(kind, fields, states, name):
    layer = {"type": kind, **fields}
    if name is not None:
        layer["name"] = _string("name", name)
    if states is not None:
        if not isinstance(states, (list, tuple)) or not all(isinstance(s, dict) for s in states):
            raise TypeError(f"states must be a list of dicts (one per state); got {type(states).__name__}")
        layer["states"] = list(states)
    return layer


def points(x, y, color="#0072B2", size=3.0, label=None, name=None, states=None):
    """Points at ``(x, y)``; ``color`` is one colour or one per point; ``size`` the radius in px.

    For a state-dependent layer pass ``states``: a list with, for each state, a dict of the
    fields that change (``{"color": [...]}``; build the values with :func:`to_hex`).
    """
    x = _real_array("x", x, ndim=1)
    y = _real_array("y", y, ndim=1, length=x.size)
    color = to_hex(color)
    if isinstance(color, list) and len(color) != x.size:
        raise ValueError(f"color must be one colour or {x.size} colours; got {len(color)}")
    return _layer("points", {"x": _nums(x), "y": _nums(y), "color": color, "size": float(size),
                             "label": _string("label", label)}, states, name)


def ellipses(cx, cy, rx, ry, color, name=None, states=None):
    """Ellipses (unfilled, axis-aligned) centred at ``(cx, cy)`` with radii ``(rx, ry)`` in data units."""
    cx = _real_array("cx", cx, ndim=1)
    arrays = {k: _nums(_real_array(k, v, ndim=1, length=cx.size))
              for k, v in (("cy", cy), ("rx", rx), ("ry", ry))}
    return _layer("ellipses", {"cx": _nums(cx), **arrays, "color": to_hex(color)}, states, name)


def line(x, y, color="#0072B2", width=1.8, dash=False, label=None, name=None, states=None):
    """A polyline through ``(x, y)``."""
    x = _real_array("x", x, ndim=1)
    y = _real_array("y", y, ndim=1, length=x.size)
    return _layer("line", {"x": _nums(x), "y": _nums(y), "color": to_hex(color), "width": float(width),
                           "dash": bool(dash), "label": _string("label", label)}, states, name)


def vline(x, color="0.3", label=None, name=None, states=None):
    """A vertical line at ``x`` across the panel (a marker on a curve)."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"x must be a number; got {type(x).__name__}")
    return _layer("vline", {"x": float(x), "color": to_hex(color), "label": _string("label", label)},
                  states, name)


def image(picture, extent, name=None, states=None):
    """An image (from :func:`rgb_bytes`) stretched over ``extent = (left, right, bottom, top)``."""
    if not isinstance(picture, dict) or not {"rows", "cols", "rgb"} <= set(picture):
        raise TypeError("picture must be the dict that rgb_bytes returns")
    extent = _real_array("extent", extent, ndim=1, length=4)
    return _layer("image", {**picture, "extent": _nums(extent, 6)}, states, name)


def cells(mask, extent, color="#0072B2", stroke=None, name=None, states=None):
    """Filled cells of a ``rows x cols`` grid over ``extent``: those where ``mask`` is true.

    ``mask`` (row 0 at the top) is stored as the list of flat indices of its true cells;
    state-dependent masks go in ``states`` as ``{"on": cell_indices(mask)}``.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-dimensional (rows, cols); got shape {mask.shape}")
    extent = _real_array("extent", extent, ndim=1, length=4)
    return _layer("cells", {"rows": int(mask.shape[0]), "cols": int(mask.shape[1]),
                            "on": cell_indices(mask), "extent": _nums(extent, 6),
                            "color": to_hex(color), "stroke": None if stroke is None else to_hex(stroke)},
                  states, name)


def cell_indices(mask):
    """The flat (row-major) indices of the true cells of a 2-D boolean mask."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-dimensional (rows, cols); got shape {mask.shape}")
    return [int(i) for i in np.flatnonzero(mask.astype(bool))]


def bars(values, labels, color="#0072B2", name=None, states=None):
    """Horizontal bars, the first at the top (y = 0, 1, ...), each with its label after it."""
    values = _real_array("values", values, ndim=1)
    if not isinstance(labels, (list, tuple)) or not all(isinstance(s, str) for s in labels):
        raise TypeError("labels must be a list of str")
    if len(labels) != values.size:
        raise ValueError(f"labels must have {values.size} entries; got {len(labels)}")
    return _layer("bars", {"values": _nums(values), "labels": list(labels), "color": to_hex(color)},
                  states, name)


def text(x, y, s, name=None, states=None):
    """A text at ``(x, y)`` in data units (left-aligned)."""
    for key, v in (("x", x), ("y", y)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"{key} must be a number; got {type(v).__name__}")
    return _layer("text", {"x": float(x), "y": float(y), "text": _string("s", s, optional=False)},
                  states, name)


def panel(layers, xlim, ylim, title=None, xlabel=None, ylabel=None, axes=True, size=PANEL_SIZE,
          yticks=True):
    """One axes: its layers, limits (``ylim`` may run downwards, for images) and labels.

    Parameters
    ----------
    layers : list of dict
        From :func:`points`, :func:`line`, :func:`image`, ...
    xlim, ylim : (float, float)
    title, xlabel, ylabel : str, optional
    axes : bool
        Draw the frame and ticks (off for pictures).
    yticks : bool
        Number the y axis (off for bars, whose labels say what they are).
    size : (int, int)
        Width and height in the SVG's units.
    """
    if not isinstance(layers, (list, tuple)) or not all(isinstance(lay, dict) for lay in layers):
        raise TypeError("layers must be a list of layer dicts")
    for lay in layers:
        if lay.get("type") not in _LAYER_TYPES:
            raise ValueError(f"layers must be made by this module's layer functions; got type {lay.get('type')!r}")
    xlim = _real_array("xlim", xlim, ndim=1, length=2)
    ylim = _real_array("ylim", ylim, ndim=1, length=2)
    if xlim[0] == xlim[1] or ylim[0] == ylim[1]:
        raise ValueError(f"xlim and ylim must be ranges of non-zero width; got {xlim}, {ylim}")
    _pair("size", size)
    w, h = (_positive_int("size[0]", size[0]), _positive_int("size[1]", size[1]))
    return {"layers": list(layers), "xlim": _nums(xlim, 6), "ylim": _nums(ylim, 6),
            "title": _string("title", title), "xlabel": _string("xlabel", xlabel),
            "ylabel": _string("ylabel", ylabel), "axes": bool(axes), "width": w, "height": h,
            "yticks": bool(yticks)}


# ---------------------------------------------------------------------------
# Controls
# ---------------------------------------------------------------------------

def _labels(name, labels, n):
    if labels is None:
        return [str(i) for i in range(n)]
    if not isinstance(labels, (list, tuple)) or not all(isinstance(s, str) for s in labels):
        raise TypeError(f"{name} must be a list of str")
    if len(labels) != n:
        raise ValueError(f"{name} must have {n} entries (one per state); got {len(labels)}")
    return list(labels)


def slider(n_states, label, values=None, initial=0):
    """A range input (with previous/next buttons, arrow keys) over ``n_states`` frames.

    Parameters
    ----------
    n_states : int
    label : str
        What the slider moves ("EM iteration").
    values : list of str, optional
        The value shown for each state ("0", "1", ... by default).
    initial : int
    """
    n = _positive_int("n_states", n_states)
    return {"type": "slider", "n": n, "label": _string("label", label, optional=False),
            "values": _labels("values", values, n), "initial": _initial(initial, n)}


def grid_picker(rows, cols, panel_index, extent, label, values=None, initial=0):
    """A grid of ``rows x cols`` cells laid over ``extent`` of panel ``panel_index``.

    Tapping a cell, or moving with the arrow keys once the figure has focus, selects state
    ``row * cols + col`` (row 0 at the top of ``extent = (left, right, bottom, top)``).
    """
    rows, cols = _positive_int("rows", rows), _positive_int("cols", cols)
    if isinstance(panel_index, bool) or not isinstance(panel_index, numbers.Integral) or panel_index < 0:
        raise TypeError(f"panel_index must be a non-negative int; got {panel_index!r}")
    extent = _real_array("extent", extent, ndim=1, length=4)
    n = rows * cols
    return {"type": "grid", "n": n, "rows": rows, "cols": cols, "panel": int(panel_index),
            "extent": _nums(extent, 6), "label": _string("label", label, optional=False),
            "values": _labels("values", values, n), "initial": _initial(initial, n)}


def _initial(initial, n):
    if isinstance(initial, bool) or not isinstance(initial, numbers.Integral):
        raise TypeError(f"initial must be an int; got {type(initial).__name__}")
    if not 0 <= initial < n:
        raise ValueError(f"initial must be in [0, {n}); got {initial}")
    return int(initial)


# ---------------------------------------------------------------------------
# The figure
# ---------------------------------------------------------------------------

class InteractiveFigure:
    """A figure whose state the reader picks; drawn in SVG on the page, as a PNG elsewhere.

    Parameters
    ----------
    panels : list of dict
        From :func:`panel`.
    control : dict
        From :func:`slider` or :func:`grid_picker`.
    alt : str
        Alternative text: what the figure shows and how it responds.
    readout : list of str, optional
        A line of text for each state, shown under the figure (and announced to screen
        readers).
    legend : list of (str, colour), optional
        What the colours mean.
    checks : list of dict, optional
        Facts about given states that the browser test verifies on the page, e.g.
        ``{"state": 5, "layer": "field", "count": 17}``: once state 5 is selected, layer
        ``field`` draws 17 marks.
    ncols : int
        Panels per row in the static figure.
    """

    def __init__(self, panels, control, alt, readout=None, legend=None, checks=None, ncols=2):
        if not isinstance(panels, (list, tuple)) or not panels or not all(isinstance(p, dict) for p in panels):
            raise TypeError("panels must be a non-empty list of dicts from panel()")
        if not isinstance(control, dict) or control.get("type") not in ("slider", "grid"):
            raise TypeError("control must be the dict that slider() or grid_picker() returns")
        n = control["n"]
        if control["type"] == "grid" and control["panel"] >= len(panels):
            raise ValueError(f"control's panel_index must be below {len(panels)}; got {control['panel']}")
        for p, pan in enumerate(panels):
            for lay in pan["layers"]:
                if "states" in lay and len(lay["states"]) != n:
                    raise ValueError(f"panel {p}, layer {lay['type']}: states must have {n} entries "
                                     f"(one per control state); got {len(lay['states'])}")
        alt = _string("alt", alt, optional=False)
        if not alt.strip():
            raise ValueError("alt must describe the figure; got an empty string")
        self.panels, self.control, self.alt = list(panels), control, alt
        self.readout = _labels("readout", readout, n) if readout is not None else None
        self.legend = []
        for item in legend or []:
            if not isinstance(item, (list, tuple)) or len(item) != 2 or not isinstance(item[0], str):
                raise TypeError(f"legend must be a list of (label, colour) pairs; got {item!r}")
            self.legend.append([item[0], to_hex(item[1])])
        self.checks = []
        for check in checks or []:
            if not isinstance(check, dict) or not {"state", "layer", "count"} <= set(check):
                raise TypeError(f"checks must be dicts with 'state', 'layer' and 'count'; got {check!r}")
            if not 0 <= check["state"] < n:
                raise ValueError(f"a check's state must be in [0, {n}); got {check['state']}")
            self.checks.append({"state": int(check["state"]), "layer": str(check["layer"]),
                                "count": int(check["count"])})
        self.ncols = _positive_int("ncols", ncols)

    @property
    def n_states(self):
        """How many states the control selects between."""
        return self.control["n"]

    def spec(self):
        """The figure as a JSON-ready dict (what the page's script draws)."""
        return {"version": 1, "panels": self.panels, "control": self.control, "alt": self.alt,
                "readout": self.readout, "legend": self.legend, "checks": self.checks}

    def to_json(self):
        """The JSON embedded in the page (``</`` escaped so that it cannot close the script)."""
        return json.dumps(self.spec(), separators=(",", ":")).replace("</", "<\\/")

    # -- the static rendering (PDF, JavaScript off, Jupyter) -------------------------------

    def static_figure(self, state=None):
        """The figure in ``state`` (the control's initial one by default), drawn by matplotlib.

        The figure is not registered with pyplot (it is not shown twice); its text is checked
        with :func:`latent_notes.plotting.check_figure_text`.

        Returns
        -------
        matplotlib.figure.Figure
        """
        import matplotlib as mpl
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from .plotting import _book_rc, check_figure_text

        with mpl.rc_context(_book_rc()):
            return self._static_figure(state, Figure, FigureCanvasAgg, check_figure_text)

    def _static_figure(self, state, Figure, FigureCanvasAgg, check_figure_text):
        state = self.control["initial"] if state is None else _initial(state, self.n_states)
        ncols = min(self.ncols, len(self.panels))
        nrows = -(-len(self.panels) // ncols)
        width_in = min(6.6, sum(p["width"] for p in self.panels[:ncols]) / 85)
        heights = [max(p["height"] for p in self.panels[r * ncols:(r + 1) * ncols]) for r in range(nrows)]
        unit = width_in / sum(p["width"] for p in self.panels[:ncols])
        height_in = sum(heights) * unit + (0.5 if self.legend else 0) + (0.35 if self.readout else 0)
        fig = Figure(figsize=(width_in, height_in), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, pan in zip(axes, self.panels):
            _draw_panel(ax, pan, state)
        for ax in axes[len(self.panels):]:
            ax.set_visible(False)
        if self.control["type"] == "grid":
            _draw_selection(axes[self.control["panel"]], self.control, state)
        if self.legend:
            from matplotlib.patches import Patch

            fig.legend(handles=[Patch(facecolor=c, edgecolor="0.5", label=s) for s, c in self.legend],
                       loc="outside lower center", ncols=min(3, len(self.legend)))
        if self.readout:
            fig.suptitle(self.readout[state],
                         fontsize=10, x=0.02, ha="left", wrap=True)
        check_figure_text(fig)
        return fig

    def png(self, state=None):
        """The static figure as PNG bytes."""
        import matplotlib as mpl

        from .plotting import _book_rc

        buf = io.BytesIO()
        fig = self.static_figure(state)
        with mpl.rc_context(_book_rc()):
            fig.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()

    def html(self, png=None):
        """The page's markup: the data, and the static PNG that the script replaces."""
        png = self.png() if png is None else png
        src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        return (f'<div class="ln-interactive" role="group" aria-label="{html.escape(self.alt)}">'
                f'<script type="application/json" class="ln-data">{self.to_json()}</script>'
                f'<img class="ln-static" src="{src}" alt="{html.escape(self.alt)}" '
                f'style="max-width:100%;height:auto"></div>')

    def _repr_mimebundle_(self, include=None, exclude=None):
        png = self.png()
        return {"text/html": self.html(png), "image/png": base64.b64encode(png).decode("ascii"),
                "text/plain": f"<InteractiveFigure: {len(self.panels)} panels, {self.n_states} states>"}

    def nbytes(self):
        """Size in bytes of the page markup (data plus static image)."""
        return len(self.html().encode("utf-8"))


def _merged(layer, state):
    out = {k: v for k, v in layer.items() if k != "states"}
    if "states" in layer:
        out.update(layer["states"][state])
    return out


def _rgb_array(lay):
    data = np.frombuffer(base64.b64decode(lay["rgb"]), dtype=np.uint8)
    return data.reshape(lay["rows"], lay["cols"], 3)


def _draw_panel(ax, pan, state):
    from matplotlib.patches import Ellipse, Rectangle

    for raw in pan["layers"]:
        lay = _merged(raw, state)
        kind = lay["type"]
        if kind == "points":
            ax.scatter(lay["x"], lay["y"], c=lay["color"], s=(lay["size"] * 1.4) ** 2, linewidths=0,
                       label=lay.get("label"))
        elif kind == "ellipses":
            colors = lay["color"] if isinstance(lay["color"], list) else [lay["color"]] * len(lay["cx"])
            for cx, cy, rx, ry, c in zip(lay["cx"], lay["cy"], lay["rx"], lay["ry"], colors):
                ax.add_patch(Ellipse((cx, cy), 2 * rx, 2 * ry, fill=False, edgecolor=c, linewidth=2))
                ax.plot(cx, cy, marker="x", color="black", markersize=7, mew=2)
        elif kind == "line":
            ax.plot(lay["x"], lay["y"], color=lay["color"], linewidth=lay["width"],
                    linestyle="--" if lay["dash"] else "-", label=lay.get("label"))
        elif kind == "vline":
            ax.axvline(lay["x"], color=lay["color"], linewidth=1.2, linestyle=":")
        elif kind == "image":
            ax.imshow(_rgb_array(lay), extent=lay["extent"], interpolation="nearest", aspect="auto")
        elif kind == "cells":
            left, right, bottom, top = lay["extent"]
            w, h = (right - left) / lay["cols"], (top - bottom) / lay["rows"]
            for i in lay["on"]:
                r, c = divmod(i, lay["cols"])
                ax.add_patch(Rectangle((left + c * w, top - (r + 1) * h), w, h, facecolor=lay["color"],
                                       alpha=1 if lay.get("stroke") else 0.8,
                                       edgecolor=lay.get("stroke") or "none", linewidth=0.6))
        elif kind == "bars":
            ys = np.arange(len(lay["values"]))
            ax.barh(ys + 0.19, lay["values"], color=lay["color"], height=0.42)
            for yv, s in zip(ys, lay["labels"]):
                ax.text(0, yv - 0.1, f" {s}", va="bottom", fontsize=10)
        elif kind == "text":
            ax.text(lay["x"], lay["y"], lay["text"], fontsize=10)
    ax.set_xlim(pan["xlim"])
    ax.set_ylim(pan["ylim"])
    if pan["title"]:
        ax.set_title(pan["title"], fontsize=11)
    if pan["xlabel"]:
        ax.set_xlabel(pan["xlabel"])
    if pan["ylabel"]:
        ax.set_ylabel(pan["ylabel"])
    if not pan.get("yticks", True):
        ax.set_yticks([])
    if not pan["axes"]:
        ax.set_aspect("equal", adjustable="box")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    if any(lay.get("label") for lay in pan["layers"]):
        ax.legend(loc="best", fontsize=10)


def _draw_selection(ax, control, state):
    from matplotlib.patches import Rectangle

    left, right, bottom, top = control["extent"]
    w, h = (right - left) / control["cols"], (top - bottom) / control["rows"]
    r, c = divmod(state, control["cols"])
    ax.add_patch(Rectangle((left + c * w, top - (r + 1) * h), w, h, fill=False, edgecolor="black",
                           linewidth=2.5))


# ---------------------------------------------------------------------------
# The chapters' interactive figures
# ---------------------------------------------------------------------------

def _limits(values, pad=0.05):
    values = np.asarray(values, dtype=float)
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo if hi > lo else 1.0
    return [lo - pad * span, hi + pad * span]


def _gaussian_pdf(x, mean, var):
    return np.exp(-0.5 * (x - mean) ** 2 / var) / np.sqrt(2 * np.pi * var)


def mixture_weight_figure(x, means, variances, weight, xlabel, n_steps=21):
    """Intro: a two-component mixture along one variable, with a slider over ``P(Z = 1)``.

    Each state draws the two weighted components ``(1 - pi) N(mu_0, s_0^2)`` and
    ``pi N(mu_1, s_1^2)`` and their sum, the density of the observed variable, over the
    data's histogram. The slider starts at the fitted ``weight``.

    Parameters
    ----------
    x : array-like of shape (n,)
        The observed variable (its histogram is drawn).
    means, variances : array-like of shape (2,)
        The components' means and variances along ``x``.
    weight : float
        The fitted ``P(Z = 1)``, in [0, 1].
    xlabel : str
    n_steps : int
        Slider positions from 0 to 1 (the fitted weight is added).
    """
    from .plotting import OKABE_ITO

    x = _real_array("x", x, ndim=1)
    means = _real_array("means", means, ndim=1, length=2)
    variances = _real_array("variances", variances, ndim=1, length=2)
    if np.any(variances <= 0):
        raise ValueError(f"variances must be positive; got {variances}")
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not 0 <= weight <= 1:
        raise ValueError(f"weight must be a number in [0, 1]; got {weight!r}")
    _string("xlabel", xlabel, optional=False)
    n_steps = _positive_int("n_steps", n_steps)
    weights = np.unique(np.round(np.r_[np.linspace(0, 1, max(n_steps, 2)), weight], 6))
    initial = int(np.argmin(np.abs(weights - weight)))
    grid = np.linspace(*_limits(x, 0.1), 160)
    hist, edges = np.histogram(x, bins=40, density=True)
    step_x = np.repeat(edges, 2)[1:-1]
    step_y = np.repeat(hist, 2)
    ymax = 1.15 * max(hist.max(), max(_gaussian_pdf(means[k], means[k], variances[k]) for k in range(2)))
    comp = [_gaussian_pdf(grid, means[k], variances[k]) for k in range(2)]
    states0, states1, states_sum, readout = [], [], [], []
    for pi in weights:
        a, b = (1 - pi) * comp[0], pi * comp[1]
        states0.append({"y": _nums(a)})
        states1.append({"y": _nums(b)})
        states_sum.append({"y": _nums(a + b)})
        mean = (1 - pi) * means[0] + pi * means[1]
        readout.append(f"P(Z = 1) = {pi:.2f}: the mixture's mean is {mean:.1f}"
                       + (" (the fitted weight)" if np.isclose(pi, weight, atol=5e-7) else ""))
    zeros = np.zeros_like(grid)
    layers = [line(step_x, step_y, color="0.6", width=1.2, name="data"),
              line(grid, zeros, color=OKABE_ITO[0], dash=True, name="group-1", states=states0),
              line(grid, zeros, color=OKABE_ITO[1], dash=True, name="group-2", states=states1),
              line(grid, zeros, color="black", width=2.2, name="mixture",
                   states=states_sum)]
    pan = panel(layers, [grid[0], grid[-1]], [0, ymax], title="density of the observed variable",
                xlabel=xlabel, ylabel="density", size=(340, 260))
    values = [f"{w:.2f}" for w in weights]
    return InteractiveFigure(
        [pan], slider(len(weights), "P(Z = 1)", values, initial),
        alt=(f"The histogram of {xlabel} with the two weighted components of the mixture and "
             "their sum; a slider changes the weight P(Z = 1) of the second group, and the "
             "mixture density moves from one group's bell curve to the other's."),
        readout=readout, legend=[("data (histogram)", "0.6"), ("group 1, weighted", OKABE_ITO[0]),
                                 ("group 2, weighted", OKABE_ITO[1]), ("mixture density", "black")],
        ncols=1)


def _history_panel(per_sample, marker_states, xlabel):
    """The log-likelihood per sample against the iteration, with a marker that moves per state."""
    ts = np.arange(per_sample.size)
    return panel([line(ts, per_sample, color="#0072B2", name="curve"),
                  vline(0.0, color="black", name="marker", states=marker_states)],
                 [-0.5, per_sample.size - 0.5], _limits(per_sample, 0.08),
                 title="log-likelihood per sample", xlabel=xlabel, size=(320, 320))


def em_steps_figure(X, snapshots, history):
    """EM chapter: a slider over EM iterations; points, ellipses and the log-likelihood move together.

    Parameters
    ----------
    X : ndarray of shape (n, 2)
    snapshots : dict or list
        For iterations ``t = 0, 1, ...``: ``(resp, means, variances)`` (responsibilities of
        shape (n, K), means (K, 2), spherical variances (K,) or diagonal (K, 2)).
    history : array-like
        The log-likelihood at each of those iterations (at least as many as snapshots).
    """
    from .plotting import component_colors

    X = _real_array("X", X, ndim=2)
    if X.shape[1] != 2:
        raise ValueError(f"X must have shape (n, 2); got {X.shape}")
    if isinstance(snapshots, dict):
        snapshots = [snapshots[t] for t in sorted(snapshots)]
    if not isinstance(snapshots, (list, tuple)) or not snapshots:
        raise TypeError("snapshots must be a non-empty dict or list of (resp, means, variances)")
    history = _real_array("history", history, ndim=1)
    if history.size < len(snapshots):
        raise ValueError(f"history must have at least {len(snapshots)} values; got {history.size}")
    n = X.shape[0]
    point_states, ellipse_states, marker_states, readout = [], [], [], []
    for t, snap in enumerate(snapshots):
        if len(snap) != 3:
            raise ValueError(f"snapshots[{t}] must be (resp, means, variances); got {len(snap)} items")
        resp = _real_array(f"snapshots[{t}] resp", snap[0], ndim=2, length=n)
        means = _real_array(f"snapshots[{t}] means", snap[1], ndim=2)
        var = _real_array(f"snapshots[{t}] variances", snap[2])
        if var.shape not in ((means.shape[0],), (means.shape[0], 2)) or np.any(var <= 0):
            raise ValueError(f"snapshots[{t}] variances must be positive, of shape (K,) or (K, 2); "
                             f"got shape {var.shape}")
        sd = np.sqrt(var)[:, None] * np.ones((1, 2)) if var.ndim == 1 else np.sqrt(var)
        colours = component_colors(means.shape[0])
        point_states.append({"color": to_hex(np.clip(resp @ colours, 0, 1))})
        ellipse_states.append({"cx": _nums(means[:, 0]), "cy": _nums(means[:, 1]),
                               "rx": _nums(2 * sd[:, 0]), "ry": _nums(2 * sd[:, 1])})
        marker_states.append({"x": float(t)})
        readout.append(f"iteration {t}: log-likelihood per sample {history[t] / n:.3f}")
    k = np.asarray(snapshots[0][1]).shape[0]
    lo, hi = _limits(np.r_[X[:, 0], X[:, 1]], 0.08)
    zeros = np.zeros(k)
    scatter = panel([points(X[:, 0], X[:, 1], size=2.5, name="points", states=point_states),
                     ellipses(zeros, zeros, zeros + 1, zeros + 1, list(component_colors(k)),
                              name="ellipses", states=ellipse_states)],
                    [lo, hi], [lo, hi], title="responsibilities and components",
                    xlabel="x1", ylabel="x2", size=(320, 320))
    curve = _history_panel(history[: len(snapshots)] / n, marker_states, "EM iteration t")
    return InteractiveFigure(
        [scatter, curve], slider(len(snapshots), "EM iteration", [str(t) for t in range(len(snapshots))], 0),
        alt=("A slider over EM iterations. Left, the data points coloured by their "
             "responsibilities with each component's two-standard-deviation circle; right, the "
             "log-likelihood per sample with a marker at the chosen iteration."),
        readout=readout, legend=[(f"component {j + 1}", c) for j, c in enumerate(component_colors(k))])


def gmlc_rounds_figure(X, y, models, rounds, history, resolution=48):
    """GMLC chapter: ``P(y = 1 | x)`` of the model after each EM round, with the log-likelihood.

    Parameters
    ----------
    X : ndarray of shape (n, 2)
    y : ndarray of shape (n,) in {0, 1}
    models : list
        Fitted models (``predict_proba``), one per entry of ``rounds``.
    rounds : list of int
        The EM round each model stopped at.
    history : array-like
        The log-likelihood per round of the full fit (drawn as a curve).
    resolution : int
        Grid points along each axis of the background.
    """
    from .plotting import OKABE_ITO, gmlc_proba_cmap

    X = _real_array("X", X, ndim=2)
    if X.shape[1] != 2:
        raise ValueError(f"X must have shape (n, 2); got {X.shape}")
    y = _real_array("y", y, ndim=1, length=X.shape[0])
    if not np.all(np.isin(y, (0, 1))):
        raise ValueError("y must hold labels 0 and 1")
    if not isinstance(models, (list, tuple)) or not models or not all(hasattr(m, "predict_proba") for m in models):
        raise TypeError("models must be a non-empty list of fitted models with predict_proba")
    if not isinstance(rounds, (list, tuple)) or len(rounds) != len(models):
        raise ValueError(f"rounds must be a list of {len(models)} ints (one per model)")
    history = _real_array("history", history, ndim=1)
    resolution = _positive_int("resolution", resolution)
    (x0, x1), (y0, y1) = _limits(X[:, 0]), _limits(X[:, 1])
    xx, yy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y1, y0, resolution))
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    cmap = gmlc_proba_cmap()
    from matplotlib import colormaps

    if "gmlc_proba" not in colormaps:
        colormaps.register(cmap)
    image_states, marker_states, readout = [], [], []
    n = X.shape[0]
    for model, t in zip(models, rounds):
        proba = model.predict_proba(grid)[:, 1].reshape(resolution, resolution)
        image_states.append(rgb_bytes(proba, cmap="gmlc_proba", vmin=0, vmax=1))
        marker_states.append({"x": float(t)})
        ll = history[min(int(t), history.size - 1)] / n
        readout.append(f"after EM round {t}: penalised log-likelihood per sample {ll:.3f}")
    first = image_states[0]
    data_layers = [image(first, [x0, x1, y0, y1], name="proba", states=image_states),
                   points(X[y == 0, 0], X[y == 0, 1], color=OKABE_ITO[0], size=2.2, name="y0"),
                   points(X[y == 1, 0], X[y == 1, 1], color=OKABE_ITO[1], size=2.2, name="y1")]
    regions = panel(data_layers, [x0, x1], [y0, y1], title="P(y = 1 | x)", xlabel="x1", ylabel="x2",
                    size=(320, 320))
    curve = _history_panel(history / n, marker_states, "EM round t")
    return InteractiveFigure(
        [regions, curve], slider(len(models), "EM round", [str(t) for t in rounds], 0),
        alt=("A slider over EM rounds of the Gaussian mixture linear classifier. Left, the data "
             "(blue label 0, orange label 1) on a background of P(y = 1 | x) after that round; "
             "right, the log-likelihood per sample with a marker at the chosen round."),
        readout=readout, legend=[("y = 0", OKABE_ITO[0]), ("y = 1", OKABE_ITO[1]),
                                 ("background: P(y=1|x) towards 0", "#bcd7ee"),
                                 ("towards 1", "#f6cfae")])


def elbo_grid_figure(model, x, direction, shifts, scales):
    """ELBO chapter: pick ``q = N(m* + t v, c S*)`` on a grid of shifts ``t`` and scales ``c``.

    The left panel is the ELBO over the grid (tap a cell or use the arrow keys); the right
    one the ELBO along the shift at the chosen scale, with ``log p(x)`` and a marker. The
    readout gives the ELBO, the KL divergence and ``log p(x)`` of the chosen ``q``.

    Parameters
    ----------
    model : latent_notes.linear_gaussian.LinearGaussianModel
    x : ndarray of shape (1, d)
        One observation.
    direction : array-like of shape (latent_dim,)
    shifts : array-like
        Values of ``t`` (columns of the grid).
    scales : array-like
        Values of ``c`` (rows of the grid, the first at the top), positive.
    """
    for attr in ("elbo", "posterior", "log_evidence"):
        if not hasattr(model, attr):
            raise TypeError(f"model must be a LinearGaussianModel (with {attr}); got {type(model).__name__}")
    x = _real_array("x", x, ndim=2, length=1)
    shifts = _real_array("shifts", shifts, ndim=1)
    scales = _real_array("scales", scales, ndim=1)
    if np.any(scales <= 0):
        raise ValueError(f"scales must be positive; got {scales}")
    post_mean, post_cov = model.posterior(x)
    direction = _real_array("direction", direction, ndim=1, length=np.shape(post_mean)[-1])
    log_px = float(model.log_evidence(x)[0])
    scales = np.sort(scales)[::-1]  # the largest at the top
    values = np.array([[model.elbo(x, post_mean + t * direction[None], c * np.asarray(post_cov))[0]
                        for t in shifts] for c in scales])
    rows, cols = values.shape
    dt = (shifts[-1] - shifts[0]) / max(cols - 1, 1)
    logc = np.log2(scales)
    dl = (logc[0] - logc[-1]) / max(rows - 1, 1) if rows > 1 else 1.0
    extent = [shifts[0] - dt / 2, shifts[-1] + dt / 2, logc[-1] - dl / 2, logc[0] + dl / 2]
    heat = rgb_bytes(np.maximum(values, np.percentile(values, 5)), cmap="viridis")
    curve_states, marker_states, readout = [], [], []
    lowest = float(values.min())
    for r in range(rows):
        for c in range(cols):
            curve_states.append({"y": _nums(values[r])})
            marker_states.append({"x": float(shifts[c])})
            kl = log_px - values[r, c]
            readout.append(f"t = {shifts[c]:.2f}, c = {scales[r]:.3g}: ELBO = {values[r, c]:.2f}, "
                           f"KL(q || p(z|x)) = {kl:.2f}, log p(x) = {log_px:.2f} nats")
    best = int(np.argmax(values))
    grid_panel = panel([image(heat, extent, name="heat")], [extent[0], extent[1]], [extent[2], extent[3]],
                       title="ELBO of q (brighter: higher)", xlabel="t (shift of q's mean)",
                       ylabel="log2 c (scale of q's covariance)", size=(320, 300))
    curve_panel = panel([line(shifts, values[0], name="elbo", states=curve_states),
                         line(shifts, np.full(cols, log_px), color="black", dash=True, name="log-px"),
                         vline(float(shifts[0]), color="black", name="marker", states=marker_states)],
                        [float(shifts[0]), float(shifts[-1])], [lowest, log_px + 0.05 * (log_px - lowest)],
                        title="ELBO along t at the chosen c", xlabel="t (shift of q's mean)",
                        ylabel="nats", size=(320, 300))
    labels = [f"t = {shifts[c]:.2f}, c = {scales[r]:.3g}" for r in range(rows) for c in range(cols)]
    return InteractiveFigure(
        [grid_panel, curve_panel],
        grid_picker(rows, cols, 0, extent, "q", labels, initial=best),
        alt=("Left, a heat map of the ELBO over a grid of q's mean shift t (columns) and "
             "covariance scale c (rows, largest at the top); picking a cell shows, right, the "
             "ELBO along t at that scale below the dashed line log p(x), with the ELBO, the KL "
             "divergence and log p(x) of that q written under the figure."),
        readout=readout, legend=[("ELBO of q", "#0072B2"), ("log p(x) (dashed)", "black")])


def latent_space_figure(codes, labels, grid_codes, decoded, image_shape=(8, 8)):
    """Reparameterization chapter: tap a cell of the latent grid to see the decoded digit.

    Parameters
    ----------
    codes : ndarray of shape (n, 2)
        Encoded test images (drawn as points coloured by ``labels``).
    labels : ndarray of shape (n,) of int
    grid_codes : ndarray of shape (rows * cols, 2)
        A regular grid of codes, row by row from the top left (as in the chapter's figure).
    decoded : ndarray of shape (rows * cols, height * width)
        The decoder's output for each grid code, in [0, 1].
    image_shape : (int, int)
    """
    from .plotting import component_colors

    codes = _real_array("codes", codes, ndim=2)
    if codes.shape[1] != 2:
        raise ValueError(f"codes must have shape (n, 2); got {codes.shape}")
    labels = np.asarray(labels)
    if labels.shape != (codes.shape[0],):
        raise ValueError(f"labels must have shape ({codes.shape[0]},); got {labels.shape}")
    grid_codes = _real_array("grid_codes", grid_codes, ndim=2)
    decoded = _real_array("decoded", decoded, ndim=2, length=grid_codes.shape[0])
    h, w = (_positive_int(f"image_shape[{i}]", v) for i, v in enumerate(_pair("image_shape", image_shape)))
    if decoded.shape[1] != h * w:
        raise ValueError(f"decoded must have {h * w} columns (image_shape {image_shape}); got {decoded.shape[1]}")
    xs, ys = np.unique(grid_codes[:, 0]), np.unique(grid_codes[:, 1])
    cols, rows = xs.size, ys.size
    if rows * cols != grid_codes.shape[0]:
        raise ValueError("grid_codes must be a full regular grid")
    dx, dy = (xs[-1] - xs[0]) / max(cols - 1, 1), (ys[-1] - ys[0]) / max(rows - 1, 1)
    extent = [xs[0] - dx / 2, xs[-1] + dx / 2, ys[0] - dy / 2, ys[-1] + dy / 2]
    classes = np.unique(labels)
    colours = component_colors(classes.size)
    colour_of = {c: to_hex([colours[i]])[0] for i, c in enumerate(classes)}
    lo, hi = _limits(np.r_[codes.ravel(), extent], 0.03)
    layers = [points(codes[:, 0], codes[:, 1], color=[colour_of[v] for v in labels], size=2.2, name="codes")]
    for c in classes:
        centre = np.median(codes[labels == c], axis=0)
        layers.append(text(float(centre[0]), float(centre[1]), str(c), name=f"label-{c}"))
    scatter = panel(layers, [lo, hi], [lo, hi], title="codes of the test digits", xlabel="z1", ylabel="z2",
                    size=(320, 320))
    pics = [rgb_bytes(d.reshape(h, w), vmin=0, vmax=1) for d in decoded]
    picture = panel([image(pics[0], [0, w, 0, h], name="decoded", states=pics)], [0, w], [0, h],
                    title="decoded digit", axes=False, size=(240, 260))
    values = [f"z = ({a:.2f}, {b:.2f})" for a, b in grid_codes]
    order_ok = np.allclose(grid_codes[:, 0].reshape(rows, cols), np.tile(xs, (rows, 1))) and \
        np.allclose(grid_codes[:, 1].reshape(rows, cols)[:, 0], ys[::-1])
    if not order_ok:
        raise ValueError("grid_codes must run row by row from the top left (z2 decreasing, z1 increasing)")
    return InteractiveFigure(
        [scatter, picture], grid_picker(rows, cols, 0, extent, "code", values, initial=(rows // 2) * cols + cols // 2),
        alt=("Left, the two-dimensional codes of the test digits, coloured and labelled by digit, "
             "with a grid of cells over the square of codes; picking a cell shows, right, what "
             "the decoder draws for that code."),
        readout=[f"the decoder's pixel probabilities at {v}" for v in values])


def codebook_figure(usage, decoded, example, example_codes, image_shape=(8, 8), ncols=8):
    """VQ-VAE chapter: tap a code to see what it draws and where an example image uses it.

    Parameters
    ----------
    usage : array-like of shape (K,)
        Fraction of code positions that use each code.
    decoded : ndarray of shape (K, height * width)
        The decoder's output for a grid filled with each code.
    example : ndarray of shape (height * width,)
        One image.
    example_codes : ndarray of int, shape (grid_h, grid_w)
        The codes its encoder chose.
    image_shape : (int, int)
    ncols : int
        Codes per row of the picker.
    """
    usage = _real_array("usage", usage, ndim=1)
    k = usage.size
    decoded = _real_array("decoded", decoded, ndim=2, length=k)
    h, w = (_positive_int(f"image_shape[{i}]", v) for i, v in enumerate(_pair("image_shape", image_shape)))
    if decoded.shape[1] != h * w:
        raise ValueError(f"decoded must have {h * w} columns; got {decoded.shape[1]}")
    example = _real_array("example", example, ndim=1, length=h * w)
    example_codes = np.asarray(example_codes)
    if example_codes.ndim != 2 or not np.issubdtype(example_codes.dtype, np.integer):
        raise ValueError(f"example_codes must be a 2-D array of ints; got {example_codes.dtype} {example_codes.shape}")
    ncols = _positive_int("ncols", ncols)
    rows = -(-k // ncols)
    table = np.zeros(rows * ncols)
    table[:k] = usage
    heat = rgb_bytes(table.reshape(rows, ncols), cmap="Blues", vmin=0, vmax=max(usage.max(), 1e-12))
    extent = [0, ncols, 0, rows]
    pics, where, checks, readout = [], [], [], []
    gh, gw = example_codes.shape
    for j in range(rows * ncols):
        code = j if j < k else None
        pics.append(rgb_bytes(decoded[code].reshape(h, w) if code is not None else np.zeros((h, w)), vmin=0, vmax=1))
        mask = example_codes == code if code is not None else np.zeros((gh, gw), bool)
        where.append({"on": cell_indices(mask)})
        checks.append({"state": j, "layer": "where", "count": int(mask.sum())})
        readout.append(f"code {code}: {usage[code]:.1%} of all code positions; "
                       f"{int(mask.sum())} of the example's {gh * gw} positions"
                       if code is not None else "no code here")
    grid_panel = panel([image(heat, extent, name="usage")], [0, ncols], [0, rows],
                       title="codes (shade: how often used)", axes=False, size=(320, 40 * rows + 40))
    code_panel = panel([image(pics[0], [0, w, 0, h], name="decoded", states=pics)], [0, w], [0, h],
                       title="a grid of this code", axes=False, size=(200, 220))
    example_panel = panel([image(rgb_bytes(example.reshape(h, w), vmin=0, vmax=1), [0, w, 0, h], name="example"),
                           cells(np.zeros((gh, gw), bool), [0, w, 0, h], color="#D55E00", name="where",
                                 states=where)], [0, w], [0, h], title="used in the digit",
                          axes=False, size=(200, 220))
    initial = int(np.argmax(usage))
    return InteractiveFigure(
        [grid_panel, code_panel, example_panel],
        grid_picker(rows, ncols, 0, extent, "code", [f"code {j}" for j in range(rows * ncols)], initial),
        alt=("A grid of the codebook's codes shaded by how often they are used; picking one shows "
             "what the decoder draws from a grid filled with that code, and highlights the "
             "positions of one example image whose encoding uses it."),
        readout=readout, checks=checks, ncols=3)


def receptive_field_figure(dependence, shape, initial=None):
    """PixelCNN chapter: tap an output pixel to see the inputs it depends on, per model.

    Parameters
    ----------
    dependence : dict of str to array of bool, shape (H * W, H * W)
        For each model, ``dependence[name][i, j]``: output ``i`` depends on input ``j``
        (:func:`latent_notes.pixelcnn.input_dependence`).
    shape : (int, int)
    initial : int, optional
        The output pixel selected first (the centre by default).
    """
    if not isinstance(dependence, dict) or not dependence:
        raise TypeError("dependence must be a non-empty dict of model name to (d, d) arrays")
    _pair("shape", shape)
    height, width = _positive_int("shape[0]", shape[0]), _positive_int("shape[1]", shape[1])
    d = height * width
    deps = {}
    for name, dep in dependence.items():
        dep = np.asarray(dep.detach().cpu() if hasattr(dep, "detach") else dep).astype(bool)
        if dep.shape != (d, d):
            raise ValueError(f"dependence[{name!r}] must have shape ({d}, {d}); got {dep.shape}")
        deps[name] = dep
    initial = (height // 2) * width + width // 2 if initial is None else _initial(initial, d)
    extent = [0, width, 0, height]
    panels, checks = [], []
    order = np.arange(d)
    readout = []
    for name, dep in deps.items():
        seen_states, blind_states, out_states = [], [], []
        key = "-".join(name.split())
        for i in range(d):
            seen = dep[i]
            blind = (order < i) & ~seen
            seen_states.append({"on": [int(j) for j in np.flatnonzero(seen)]})
            blind_states.append({"on": [int(j) for j in np.flatnonzero(blind)]})
            out_states.append({"on": [i]})
            checks.append({"state": i, "layer": f"seen-{key}", "count": int(seen.sum())})
        empty = np.zeros((height, width), bool)
        layers = [cells(~empty, extent, color="#ffffff", stroke="#999999", name=f"grid-{key}"),
                  cells(empty, extent, color="#0072B2", stroke="#999999", name=f"seen-{key}", states=seen_states),
                  cells(empty, extent, color="#D55E00", stroke="#999999", name=f"unseen-{key}", states=blind_states),
                  cells(empty, extent, color="#000000", stroke="#999999", name=f"output-{key}", states=out_states)]
        panels.append(panel(layers, [0, width], [0, height], title=name, axes=False, size=(300, 320)))
    for i in range(d):
        r, c = divmod(i, width)
        counts = ", ".join(f"{name} sees {int(dep[i].sum())} of the {i} earlier pixels"
                           for name, dep in deps.items())
        readout.append(f"output pixel (row {r}, column {c}): {counts}")
    values = [f"row {i // width}, column {i % width}" for i in range(d)]
    return InteractiveFigure(
        panels, grid_picker(height, width, 0, extent, "output pixel", values, initial),
        alt=("Grids of pixels, one per model. Picking an output pixel (black) in the first grid "
             "colours, in every grid, the inputs it depends on (blue) and the earlier inputs it "
             "does not see (orange-red); later pixels stay white."),
        readout=readout, checks=checks,
        legend=[("output pixel", "#000000"), ("earlier, seen", "#0072B2"),
                ("earlier, not seen", "#D55E00"), ("later (never seen)", "#ffffff")])


def community_figure(labels, proportions, taxa, embedding, groups, n_taxa=6):
    """Microbiota chapter: tap a community type to see its composition and its samples.

    Parameters
    ----------
    labels : array of int, shape (n,)
        The community type (class) of each sample.
    proportions : ndarray of shape (n, p)
        Each sample's relative abundances (rows sum to 1).
    taxa : list of str, length p
    embedding : ndarray of shape (n, 2)
        Where each sample is drawn (e.g. two principal components).
    groups : array-like of str, shape (n,)
        A known grouping (e.g. the body site) summarised for each class.
    n_taxa : int
        How many of a class's most abundant taxa to show.
    """
    from .plotting import component_colors

    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D array of ints; got {labels.dtype} {labels.shape}")
    n = labels.size
    proportions = _real_array("proportions", proportions, ndim=2, length=n)
    if not isinstance(taxa, (list, tuple)) or len(taxa) != proportions.shape[1]:
        raise ValueError(f"taxa must be a list of {proportions.shape[1]} names")
    embedding = _real_array("embedding", embedding, ndim=2, length=n)
    groups = np.asarray(groups).astype(str)
    if groups.shape != (n,):
        raise ValueError(f"groups must have shape ({n},); got {groups.shape}")
    n_taxa = _positive_int("n_taxa", n_taxa)
    classes = np.unique(labels)
    k = classes.size
    colours = to_hex(component_colors(k))
    sizes = np.array([np.sum(labels == c) for c in classes])
    strip = np.array([to_hex_rgb(c) for c in colours])[None]
    bar_states, member_states, checks, readout = [], [], [], []
    for j, c in enumerate(classes):
        members = labels == c
        mean = proportions[members].mean(axis=0)
        top = np.argsort(mean)[::-1][:n_taxa]
        bar_states.append({"values": _nums(mean[top]),
                           "labels": [f"{_short(taxa[t])} {mean[t]:.0%}" for t in top],
                           "color": colours[j]})
        member_states.append({"x": _nums(embedding[members, 0]), "y": _nums(embedding[members, 1]),
                              "color": colours[j]})
        checks.append({"state": j, "layer": "members", "count": int(members.sum())})
        share = ", ".join(f"{g} {np.sum(groups[members] == g)}" for g in np.unique(groups))
        readout.append(f"class {c}: {int(members.sum())} samples ({share})")
    picker = panel([image({"rows": 1, "cols": k, "rgb": base64.b64encode(
        np.round(strip * 255).astype(np.uint8).tobytes()).decode("ascii")}, [0, k, 0, 1], name="classes")]
        + [text(j + 0.35, 0.4, str(c), name=f"class-{c}") for j, c in enumerate(classes)],
        [0, k], [0, 1], title="community type (tap one)", axes=False, size=(320, 64))
    top_max = max(float(np.max(s["values"])) for s in bar_states)
    composition = panel([bars(bar_states[0]["values"], bar_states[0]["labels"], name="composition",
                              states=bar_states)],
                        [0, top_max * 1.05], [n_taxa - 0.5, -0.5], title="mean composition (top taxa)",
                        xlabel="mean proportion", size=(320, 300), yticks=False)
    lo0, hi0 = _limits(embedding[:, 0])
    lo1, hi1 = _limits(embedding[:, 1])
    scatter = panel([points(embedding[:, 0], embedding[:, 1], color="#c8c8c8", size=2.2, name="all"),
                     points(member_states[0]["x"], member_states[0]["y"], color=colours[0], size=3,
                            name="members", states=member_states)],
                    [lo0, hi0], [lo1, hi1], title="its samples", xlabel="PC 1", ylabel="PC 2",
                    size=(320, 300))
    return InteractiveFigure(
        [picker, composition, scatter],
        grid_picker(1, k, 0, [0, k, 0, 1], "community type", [f"class {c}" for c in classes],
                    int(np.argmax(sizes))),
        alt=("A strip of the community types; picking one shows its mean composition (the most "
             "abundant taxa as bars) and highlights its samples among all samples on two principal "
             "components, with how many come from each body site written under the figure."),
        readout=readout, checks=checks, ncols=2)


def _short(name, limit=32):
    name = str(name)
    return name if len(name) <= limit else name[: limit - 1] + "\u2026"


def to_hex_rgb(color):
    """A ``#rrggbb`` colour as three numbers in [0, 1]."""
    from matplotlib.colors import to_rgb

    try:
        return np.array(to_rgb(color))
    except ValueError:
        raise ValueError(f"color must be a matplotlib colour; got {color!r}") from None
