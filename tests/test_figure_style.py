"""The house style for figures, and the check that a figure's text is readable in the book."""

import matplotlib

matplotlib.use("Agg")

import matplotlib as mpl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from latent_notes import plotting  # noqa: E402
from latent_notes.plotting import (  # noqa: E402
    COLUMN_PX,
    MIN_TEXT_PX,
    FigureTextTooSmall,
    check_figure_text,
    check_open_figures,
    integer_ticks,
    smallest_text_px,
    text_sizes_px,
    use_book_style,
)


@pytest.fixture
def book_style():
    with mpl.rc_context():
        use_book_style(check=False)
        yield
    plt.close("all")


def _line_figure(figsize, ticks_pt=None):
    fig, ax = plt.subplots(figsize=figsize)
    ax.plot([0, 1, 2], [3, 1, 2], label="$Q_k$")
    ax.set(xlabel="$z_1$", ylabel=r"$P(y=1\mid x)$", title="a title")
    ax.legend()
    if ticks_pt is not None:
        ax.tick_params(labelsize=ticks_pt)
    return fig, ax


def test_small_ticks_on_a_wide_figure_fail(book_style):
    # 6-pt ticks on a 10-inch figure: the PNG is scaled down to the column and
    # the ticks end up near 7 CSS px (the Fig. 5.1).
    fig, _ = _line_figure((10, 4), ticks_pt=6)
    assert smallest_text_px(fig) < 8
    with pytest.raises(FigureTextTooSmall, match=r"below 11 CSS px.*6 pt"):
        check_figure_text(fig)


def test_the_house_style_passes_and_its_arithmetic_is_the_documented_one(book_style):
    fig, _ = _line_figure(None)
    # default size: narrower than the column, shown unscaled, 10-pt ticks at 100 dpi
    assert smallest_text_px(fig) == pytest.approx(10 / 72 * 100)
    assert check_figure_text(fig) >= MIN_TEXT_PX
    # the same figure twice as wide in the same column: every text scales down with it
    wide, _ = _line_figure((16, 4))
    sizes = text_sizes_px(wide)
    png_px = (wide.get_tightbbox(wide.canvas.get_renderer()).width
              + 2 * mpl.rcParams["savefig.pad_inches"]) * wide.dpi
    assert sizes[0][0] == pytest.approx(10 / 72 * wide.dpi * COLUMN_PX / png_px)
    with pytest.raises(FigureTextTooSmall):
        check_figure_text(wide)


def test_every_kind_of_text_is_measured(book_style):
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(6, 3))
    ax.plot([0, 1], [0, 1], label="line")
    ax.legend(fontsize=5)
    assert "line" in [t.get_text() for px, t in text_sizes_px(fig) if px < MIN_TEXT_PX]
    ax.get_legend().remove()
    image = ax2.imshow([[0, 1], [1, 0]])
    cbar = fig.colorbar(image, ax=ax2)
    cbar.ax.tick_params(labelsize=4)
    assert smallest_text_px(fig) == pytest.approx(4 / 72 * 100)
    cbar.ax.tick_params(labelsize=10)
    ax.annotate("note", (0.5, 0.5), fontsize=5)
    assert smallest_text_px(fig) == pytest.approx(5 / 72 * 100)
    # invisible text (an axis turned off) is not shown, so not measured
    ax.texts[0].remove()
    ax2.tick_params(labelsize=3)
    ax2.set_axis_off()
    assert smallest_text_px(fig) >= MIN_TEXT_PX


def test_a_figure_without_text_has_no_smallest_text(book_style):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_axis_off()
    assert smallest_text_px(fig) == float("inf")


def test_the_style_is_colour_blind_safe_and_readable(book_style):
    rc = mpl.rcParams
    assert rc["axes.prop_cycle"].by_key()["color"][:3] == ["#0072B2", "#D55E00", "#009E73"]
    for key in ("xtick.labelsize", "ytick.labelsize", "legend.fontsize", "font.size"):
        assert rc[key] / 72 * rc["figure.dpi"] >= MIN_TEXT_PX, key


def test_integer_ticks(book_style):
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [0.5, 0.2, 0.1])
    integer_ticks(ax)
    fig.draw_without_rendering()
    ticks = [t for t in ax.get_xticks() if 1 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks)
    with pytest.raises(ValueError, match="axis"):
        integer_ticks(ax, "z")


def test_check_open_figures_closes_a_failing_figure(book_style):
    plt.close("all")
    good, _ = _line_figure(None)
    assert check_open_figures() == [pytest.approx(10 / 72 * 100)]
    bad, _ = _line_figure((12, 4), ticks_pt=5)
    with pytest.raises(FigureTextTooSmall):
        check_open_figures()
    assert plt.get_fignums() == [good.number]


@pytest.fixture
def shell(book_style):
    """An IPython shell (the chapters' kernel) with the end-of-cell check installed."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    plotting._install_cell_check(shell)
    plotting._install_cell_check(shell)  # idempotent
    assert sum(isinstance(t, plotting._CellFigureCheck) for t in shell.ast_transformers) == 1
    shell.run_cell("import matplotlib.pyplot as plt")
    yield shell
    shell.ast_transformers[:] = [t for t in shell.ast_transformers
                                 if not isinstance(t, plotting._CellFigureCheck)]
    InteractiveShell.clear_instance()
    plt.close("all")


def test_a_chapter_cell_with_unreadable_figure_text_fails(shell):
    result = shell.run_cell("fig, ax = plt.subplots(figsize=(10, 4))\n"
                            "ax.plot([1, 2])\n"
                            "ax.tick_params(labelsize=6)")
    assert isinstance(result.error_in_exec, FigureTextTooSmall)
    assert plt.get_fignums() == []  # not shown, not failing the next cell again
    assert shell.run_cell("x = 1").success


def test_a_readable_figure_passes_and_the_cell_value_is_still_shown(shell):
    result = shell.run_cell("fig, ax = plt.subplots()\nax.plot([1, 2])\n6 * 7")
    assert result.success and result.result == 42
    plt.close("all")
    quiet = shell.run_cell("fig, ax = plt.subplots()\nax.plot([1, 2]);", store_history=True)
    assert quiet.success and quiet.result is None
