"""Data generators and shared figures."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from latent_notes.datasets import make_gaussian_mixture, make_weight_height  # noqa: E402
from latent_notes.plotting import component_colors, plot_log_likelihood, plot_mixture_state  # noqa: E402


def test_make_gaussian_mixture_is_seeded_and_follows_its_parameters():
    X, z = make_gaussian_mixture(30_000, random_state=0)
    X2, z2 = make_gaussian_mixture(30_000, random_state=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(z, z2)
    np.testing.assert_allclose(np.bincount(z) / z.size, [0.5, 0.3, 0.2], atol=0.01)
    np.testing.assert_allclose(X[z == 1].mean(axis=0), [3, 2], atol=0.03)
    assert np.isclose(X[z == 2].var(axis=0).mean(), 0.3, rtol=0.05)
    X3, z3 = make_gaussian_mixture(10, weights=[1.0], means=[[0, 0, 0]], variances=[4.0], random_state=1)
    assert X3.shape == (10, 3) and set(z3) == {0}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 10, "weights": [0.5, 0.6]}, "weights"),
        ({"n_samples": 10, "weights": [0.5, 0.5], "means": [[0, 0]]}, "means"),
        ({"n_samples": 10, "weights": [1.0], "means": [[0, 0]], "variances": [-1.0]}, "variances"),
    ],
)
def test_make_gaussian_mixture_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_gaussian_mixture(**kwargs)


def test_make_weight_height():
    people = make_weight_height(20_000, random_state=0)
    assert people.weight.shape == people.height.shape == people.sex.shape == (20_000,)
    assert set(np.unique(people.sex)) == {0, 1}
    assert np.isclose(people.height[people.sex == 0].mean(), 164, atol=0.3)
    assert np.isclose(people.height[people.sex == 1].mean(), 177, atol=0.3)
    # The latent sex shifts weight at equal height: the point of the example.
    assert people.weight[people.sex == 1].mean() > people.weight[people.sex == 0].mean() + 10
    np.testing.assert_array_equal(people.weight, make_weight_height(20_000, random_state=0).weight)
    with pytest.raises(ValueError, match="n_samples"):
        make_weight_height(-3)


def test_plot_mixture_state_draws_one_ellipse_per_component():
    X, z = make_gaussian_mixture(100, random_state=0)
    resp = np.eye(3)[z]
    fig, ax = plt.subplots()
    plot_mixture_state(ax, X, resp, np.zeros((3, 2)), np.ones((3, 2)), title="t")
    assert len(ax.patches) == 3 and ax.get_title() == "t"
    colours = ax.collections[0].get_facecolors()[:, :3]
    np.testing.assert_allclose(colours, component_colors(3)[z], atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        plot_mixture_state(ax, np.zeros((5, 3)), np.ones((5, 1)), np.zeros((1, 3)), np.ones(1))
    plt.close(fig)


def test_plot_log_likelihood():
    fig, ax = plt.subplots()
    plot_log_likelihood(ax, [-10.0, -5.0, -4.0], per_sample=2)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [-5.0, -2.5, -2.0])
    assert "per sample" in ax.get_ylabel()
    plt.close(fig)


def test_weight_height_sex_proba_is_the_true_posterior():
    """Checked against the bivariate normal each sex implies, written out by hand:
    mean (a + b m, m), covariance [[b^2 s^2 + sw^2, b s^2], [b s^2, s^2]]."""
    from scipy.stats import multivariate_normal

    from latent_notes.datasets import weight_height_sex_proba

    people = make_weight_height(500, random_state=3)
    params = {0: (164.0, 6.5, 0.8, -68.0), 1: (177.0, 7.0, 0.95, -85.0)}
    dens = {}
    for sex, (m, s, b, a) in params.items():
        cov = [[b**2 * s**2 + 64.0, b * s**2], [b * s**2, s**2]]
        dens[sex] = multivariate_normal([a + b * m, m], cov).pdf(np.c_[people.weight, people.height])
    expected = dens[1] / (dens[0] + dens[1])
    np.testing.assert_allclose(weight_height_sex_proba(people.weight, people.height), expected,
                               rtol=1e-9, atol=1e-12)
    # calibrated on a large sample: among people given 0.2-0.4, Z = 1 about 30% of the time
    big = make_weight_height(200_000, random_state=4)
    proba = weight_height_sex_proba(big.weight, big.height)
    band = (proba > 0.2) & (proba < 0.4)
    assert abs(big.sex[band].mean() - proba[band].mean()) < 0.01
    with pytest.raises(ValueError, match="same length"):
        weight_height_sex_proba([60.0, 70.0], [170.0])
    with pytest.raises(ValueError, match="finite"):
        weight_height_sex_proba([np.nan], [170.0])


def test_component_colours_are_okabe_ito_and_the_handles_name_them():
    from matplotlib.colors import to_rgb

    from latent_notes.plotting import OKABE_ITO, component_handles

    np.testing.assert_allclose(component_colors(3), [to_rgb(c) for c in OKABE_ITO[:3]])
    assert len({tuple(c) for c in component_colors(12)}) == 12  # distinct beyond the palette
    handles = component_handles(3)
    assert [h.get_label() for h in handles] == ["component 1", "component 2", "component 3"]
    np.testing.assert_allclose([h.get_facecolor()[:3] for h in handles], component_colors(3))
    with pytest.raises(ValueError, match="labels"):
        component_handles(2, ["one"])


def test_plot_log_likelihood_has_integer_iteration_ticks():
    fig, ax = plt.subplots()
    plot_log_likelihood(ax, [-10.0, -5.0, -4.0, -3.9])
    fig.draw_without_rendering()
    assert all(float(t).is_integer() for t in ax.get_xticks())
    plt.close(fig)


def test_plot_gmlc_regions_labels_what_it_draws():
    from latent_notes.plotting import plot_gmlc_regions

    class Halves:  # P(y = 1 | x) = 1 right of x = 0; two gates split at y = 0
        def predict_proba(self, X):
            p = (X[:, 0] > 0).astype(float)
            return np.column_stack([1 - p, p])

        def predict_cluster(self, X):
            return (X[:, 1] > 0).astype(int)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] > 0).astype(int)
    fig, ax = plt.subplots()
    background = plot_gmlc_regions(ax, Halves(), X, y, resolution=30, title="t")
    fig.colorbar(background, ax=ax)
    labels = ax.get_legend_handles_labels()[1]
    assert labels == [r"$P(y=1\mid x) = 0.5$", "gate boundary", "$y = 0$", "$y = 1$"]
    # the points are saturated, the background pale: they stay visible on it
    point = np.array(ax.collections[-1].get_facecolor()[0][:3])
    pale = np.array(background.cmap(1.0)[:3])
    assert pale.mean() > 0.75 and point.mean() < 0.5
    with pytest.raises(ValueError, match="shape"):
        plot_gmlc_regions(ax, Halves(), np.zeros((5, 3)), np.zeros(5))
    plt.close(fig)


def test_image_grid_and_plot_dependence():
    from latent_notes.plotting import dependence_handles, image_grid, plot_dependence

    fig, (ax, ax2) = plt.subplots(1, 2)
    image_grid(ax, np.eye(4, 64), ncols=2, title="digits")
    assert not any(s.get_visible() for s in ax.spines.values()) and ax.get_title() == "digits"
    with pytest.raises(ValueError, match="shape"):
        image_grid(ax, np.ones((2, 10)))
    seen = np.zeros((3, 3), dtype=bool)
    seen[0, :2] = True
    plot_dependence(ax2, seen, (1, 1))
    assert [h.get_label() for h in dependence_handles()] == [
        "later (never seen)", "earlier, seen", "earlier, not seen", "output position"]
    with pytest.raises(ValueError, match="causal"):
        plot_dependence(ax2, np.ones((3, 3), dtype=bool), (1, 1))
    plt.close(fig)
