"""latent_notes.interactive: the data behind the book's interactive figures, and their static PNG.

What the page's script does with the data is checked in a browser by tests/test_rendered_book.py.
"""

import base64
import io
import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from latent_notes import interactive as I  # noqa: E402
from latent_notes.plotting import COLUMN_PX, MIN_TEXT_PX, smallest_text_px  # noqa: E402


def _toy(n_states=3):
    x = np.linspace(0, 1, 5)
    states = [{"y": list(x * (s + 1))} for s in range(n_states)]
    pan = I.panel([I.line(x, x, name="curve", states=states)], [0, 1], [0, n_states], title="toy",
                  xlabel="x", ylabel="y")
    return I.InteractiveFigure([pan], I.slider(n_states, "step"), alt="a line that steepens",
                               readout=[f"slope {s + 1}" for s in range(n_states)])


def test_the_bundle_carries_the_widget_and_a_static_png():
    fig = _toy()
    bundle = fig._repr_mimebundle_()
    assert set(bundle) == {"text/html", "image/png", "text/plain"}
    png = base64.b64decode(bundle["image/png"])
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and image.width <= 700
    page = bundle["text/html"]
    assert 'class="ln-interactive"' in page and 'alt="a line that steepens"' in page
    data = page.split('class="ln-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["readout"] == ["slope 1", "slope 2", "slope 3"]
    assert "data:image/png;base64," + bundle["image/png"] in page  # the fallback is that same PNG


def test_json_cannot_close_its_script_element():
    fig = I.InteractiveFigure([I.panel([], [0, 1], [0, 1], title="</script><b>")], I.slider(1, "s"),
                              alt="x")
    assert "</script>" not in fig.to_json() and json.loads(fig.to_json())["panels"][0]["title"] == "</script><b>"


def test_the_static_figure_shows_the_chosen_state_and_is_readable():
    fig = _toy()
    first, last = fig.png(0), fig.png(2)
    assert first != last
    static = fig.static_figure(2)
    assert smallest_text_px(static, COLUMN_PX) >= MIN_TEXT_PX
    (line,) = static.axes[0].lines
    assert np.allclose(line.get_ydata(), np.linspace(0, 1, 5) * 3)


@pytest.mark.parametrize("call, error, words", [
    (lambda: I.slider(0, "s"), ValueError, "n_states"),
    (lambda: I.slider(2.5, "s"), TypeError, "n_states"),
    (lambda: I.slider(3, "s", initial=3), ValueError, "initial"),
    (lambda: I.slider(3, "s", values=["a"]), ValueError, "values"),
    (lambda: I.points([0, 1], [0]), ValueError, "y"),
    (lambda: I.points("ab", [0]), TypeError, "x"),
    (lambda: I.points([0, 1], [0, 1], color=["red"]), ValueError, "color"),
    (lambda: I.panel([{"type": "pie"}], [0, 1], [0, 1]), ValueError, "layers"),
    (lambda: I.panel([], [0, 0], [0, 1]), ValueError, "xlim"),
    (lambda: I.rgb_bytes(np.zeros((2, 2, 2))), ValueError, "values"),
    (lambda: I.rgb_bytes(np.zeros((2, 2)), cmap="no-such-map"), ValueError, "cmap"),
    (lambda: I.to_hex("not a colour"), ValueError, "colors"),
    (lambda: I.grid_picker(2, 2, -1, [0, 1, 0, 1], "g"), TypeError, "panel_index"),
    (lambda: I.InteractiveFigure([], I.slider(1, "s"), alt="x"), TypeError, "panels"),
    (lambda: I.InteractiveFigure([I.panel([], [0, 1], [0, 1])], I.slider(1, "s"), alt=" "), ValueError, "alt"),
    (lambda: I.InteractiveFigure([I.panel([I.vline(0.5, states=[{}, {}])], [0, 1], [0, 1])],
                                 I.slider(3, "s"), alt="x"), ValueError, "states"),
    (lambda: I.mixture_weight_figure([1, 2], [0, 1], [1, 1], 1.5, "x"), ValueError, "weight"),
    (lambda: I.receptive_field_figure({"m": np.zeros((4, 4))}, (3, 3)), ValueError, "dependence"),
    (lambda: I.em_steps_figure(np.zeros((5, 3)), {0: None}, [0]), ValueError, "X"),
])
def test_bad_input_names_the_argument(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_receptive_field_data_is_the_dependence_table():
    rng = np.random.default_rng(0)
    d = 16
    dep = np.tril(rng.random((d, d)) < 0.5, -1)
    fig = I.receptive_field_figure({"a model": dep}, (4, 4))
    spec = json.loads(fig.to_json())
    assert spec["control"]["initial"] == 2 * 4 + 2
    seen = next(lay for lay in spec["panels"][0]["layers"] if lay["name"] == "seen-a-model")
    for i in range(d):
        assert seen["states"][i]["on"] == list(np.flatnonzero(dep[i]))
    counts = {c["state"]: c["count"] for c in spec["checks"] if c["layer"] == "seen-a-model"}
    assert counts == {i: int(dep[i].sum()) for i in range(d)}
    # a non-causal table (an output that sees itself) is drawn as it is, and the count says so
    dep[5, 5] = True
    spec = json.loads(I.receptive_field_figure({"a model": dep}, (4, 4)).to_json())
    assert {c["state"]: c["count"] for c in spec["checks"]}[5] == int(dep[5].sum())


def test_em_steps_colours_follow_the_responsibilities():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 2))
    snaps = []
    for t in range(3):
        resp = np.zeros((20, 2))
        resp[:, t % 2] = 1
        snaps.append((resp, np.array([[0.0, 0], [1, 1]]), np.array([1.0, 2.0])))
    fig = I.em_steps_figure(X, snaps, [-3.0, -2.0, -1.0])
    spec = fig.spec()
    pts = spec["panels"][0]["layers"][0]
    assert set(pts["states"][0]["color"]) == {"#0072b2"} and set(pts["states"][1]["color"]) == {"#d55e00"}
    ell = spec["panels"][0]["layers"][1]["states"][0]
    assert np.allclose(ell["rx"], [2, 2 * np.sqrt(2)], rtol=1e-3)
    assert fig.readout[2] == "iteration 2: log-likelihood per sample -0.050"
    with pytest.raises(ValueError, match="history"):
        I.em_steps_figure(X, snaps, [-3.0, -2.0])


def test_codebook_and_community_checks_count_what_is_highlighted():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 5, (4, 4))
    fig = I.codebook_figure(rng.dirichlet(np.ones(5)), rng.random((5, 64)), rng.random(64), codes, ncols=3)
    counts = {c["state"]: c["count"] for c in fig.checks}
    assert counts == {j: int((codes == j).sum()) if j < 5 else 0 for j in range(6)}
    labels = rng.integers(0, 3, 50)
    fig = I.community_figure(labels, rng.dirichlet(np.ones(4), 50), list("abcd"), rng.normal(size=(50, 2)),
                             rng.choice(["B", "L"], 50))
    assert {c["state"]: c["count"] for c in fig.checks} == {k: int((labels == k).sum()) for k in range(3)}
    members = next(lay for lay in fig.panels[2]["layers"] if lay.get("name") == "members")
    assert [len(s["x"]) for s in members["states"]] == [int((labels == k).sum()) for k in range(3)]


def test_the_elbo_grid_starts_at_the_posterior():
    from latent_notes.linear_gaussian import LinearGaussianModel

    rng = np.random.default_rng(0)
    model = LinearGaussianModel(W=rng.normal(size=(5, 2)), b=rng.normal(size=5), noise_var=0.5)
    x = rng.normal(size=(1, 5))
    fig = I.elbo_grid_figure(model, x, [1.0, 0.5], np.linspace(-1, 1, 5), [0.5, 1.0, 2.0])
    start = fig.control["initial"]
    assert fig.control["values"][start] == "t = 0.00, c = 1"
    kl = float(fig.readout[start].split("KL(q || p(z|x)) = ")[1].split(",")[0])
    assert abs(kl) < 0.005
    assert all(float(r.split("KL(q || p(z|x)) = ")[1].split(",")[0]) > 0 for i, r in enumerate(fig.readout)
               if i != start)


def test_each_builder_picks_its_output():
    """The HTML page gets the widget; the PDF (LaTeX) and plain-text builders the static PNG."""
    from myst_nb.core.render import get_mime_priority

    bundle = _toy()._repr_mimebundle_()

    def chosen(builder):
        return next(m for m in get_mime_priority(builder, []) if m in bundle)

    assert chosen("html") == "text/html"
    assert chosen("latex") == "image/png"


def test_a_static_figure_with_small_text_fails(monkeypatch):
    from latent_notes.plotting import FigureTextTooSmall

    original = I._draw_panel

    def tiny_ticks(ax, pan, state):  # a planted bug: 5-pt tick labels
        original(ax, pan, state)
        ax.tick_params(labelsize=5)

    monkeypatch.setattr(I, "_draw_panel", tiny_ticks)
    with pytest.raises(FigureTextTooSmall):
        _toy().static_figure()
