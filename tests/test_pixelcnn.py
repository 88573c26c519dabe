"""PixelCNN: causal masks, the blind spot and its fix, exact likelihood, sampling."""

import itertools

import pytest
import torch
from torch.nn import functional as F

import checks
from latent_notes.pixelcnn import (
    GatedPixelCNN,
    MaskedConv2d,
    PixelCNN,
    input_dependence,
    mask_offsets,
    pixelcnn_nll,
)

CONFIGS = [(1, 3), (2, 3), (4, 3), (2, 5), (3, 5)]
# The predicted fields come from masks written out by hand in checks.py, not from the
# package's mask_offsets: a wrong mask must not move the prediction along with it.
_plain_field, _gated_field = checks.plain_field, checks.gated_field
_offset_sets, _inside = checks.offset_sets, checks.inside


def _model(cls, n_layers, kernel_size):
    torch.manual_seed(0)
    return cls(4, hidden=16, n_layers=n_layers, kernel_size=kernel_size).double()


@pytest.mark.parametrize("kind", ["plain", "gated"])
@pytest.mark.parametrize("n_layers,kernel_size", CONFIGS)
def test_output_never_depends_on_present_or_future(kind, n_layers, kernel_size):
    """Eq. px-chain: dep[i, j] for j >= i (the upper triangle with the diagonal) is empty."""
    checks.check_causal(kind, n_layers, kernel_size)


@pytest.mark.parametrize("kind", ["plain", "gated"],
                         ids=["plain: the sum of its masks", "gated: no hole"])
@pytest.mark.parametrize("n_layers,kernel_size", CONFIGS)
def test_receptive_field_is_exactly_the_predicted_one(kind, n_layers, kernel_size):
    checks.check_receptive_field(kind, n_layers, kernel_size)


@pytest.mark.parametrize("n_layers,kernel_size", [(2, 3), (4, 3), (3, 5)])
def test_plain_stack_has_a_blind_spot_above_right(n_layers, kernel_size):
    """Pixels the gated model of the same size sees but the plain one never does (errata 15)."""
    reach = n_layers * (kernel_size // 2)
    window = {(dr, dc) for dr in range(-reach, 1) for dc in range(-reach, reach + 1)
              if dr < 0 or dc < 0}  # the past inside the plain stack's own bounding box
    plain = _plain_field(n_layers, kernel_size)
    assert plain <= window
    blind = window - plain
    assert blind, "the plain stack should miss some past pixels"
    assert blind <= _gated_field(n_layers, kernel_size)  # the gated one sees them all
    # all of them lie in rows above, strictly to the right of the current column
    assert all(dr < 0 and dc > 0 for dr, dc in blind)
    # and the measured dependence agrees: the centre pixel really does not see them
    dep = input_dependence(_model(PixelCNN, n_layers, kernel_size), (9, 9))
    centre = _offset_sets(dep, (9, 9))[(4, 4)]
    assert not (centre & _inside(4, 4, blind, (9, 9)))


def test_deep_gated_stack_sees_every_earlier_pixel():
    dep = input_dependence(_model(GatedPixelCNN, 8, 3), (8, 8))
    past = torch.tril(torch.ones(64, 64, dtype=torch.bool), diagonal=-1)
    assert torch.equal(dep, past)


def test_mask_types():
    a = MaskedConv2d(1, 1, 5, "A").mask[0, 0]
    b = MaskedConv2d(1, 1, 5, "B").mask[0, 0]
    assert a[2, 2] == 0 and b[2, 2] == 1
    assert a.sum() == 12 and b.sum() == 13  # (25 - 1) / 2 earlier positions
    assert torch.equal(a[3:], torch.zeros(2, 5)) and torch.equal(b[2, 3:], torch.zeros(2))
    for k in (1, 3, 5, 7):
        assert mask_offsets(k, "A") == checks.mask_by_hand(k, centre=False)
        assert mask_offsets(k, "B") == checks.mask_by_hand(k, centre=True)


def test_masked_weights_get_no_gradient():
    conv = MaskedConv2d(2, 3, 3, "A")
    conv(torch.randn(1, 2, 5, 5)).sum().backward()
    assert torch.all(conv.weight.grad[:, :, conv.mask[0, 0] == 0] == 0)


@pytest.mark.parametrize("cls", [PixelCNN, GatedPixelCNN])
def test_log_prob_is_the_sum_of_gathered_log_softmax(cls):
    torch.manual_seed(1)
    model = cls(6, hidden=8, n_layers=2)
    x = torch.randint(0, 6, (5, 4, 3))
    logits = model(x)
    expected = torch.zeros(5)
    for b, r, c in itertools.product(range(5), range(4), range(3)):
        expected[b] += torch.log_softmax(logits[b, :, r, c], dim=0)[x[b, r, c]]
    assert torch.allclose(model.log_prob(x), expected, atol=1e-5)
    assert torch.allclose(pixelcnn_nll(model, x), -expected.mean(), atol=1e-5)


@pytest.mark.parametrize("kind", ["plain", "gated"])
def test_log_prob_is_a_normalised_distribution(kind):
    """Summing p(x) over all 3^4 grids of a 2 x 2 model gives one."""
    checks.check_log_prob_is_normalised(kind)


@pytest.mark.parametrize("cls", [PixelCNN, GatedPixelCNN])
def test_sampling_is_seeded_and_respects_the_levels(cls):
    torch.manual_seed(3)
    model = cls(5, hidden=8, n_layers=2)
    a = model.sample(6, (3, 4), generator=11)
    b = model.sample(6, (3, 4), generator=torch.Generator().manual_seed(11))
    c = model.sample(6, (3, 4), generator=12)
    assert a.shape == (6, 3, 4) and a.dtype == torch.int64
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 4


def test_sampling_follows_the_model():
    """A 1 x 2 grid: sample frequencies match the model's exact joint probabilities."""
    torch.manual_seed(4)
    model = GatedPixelCNN(3, hidden=8, n_layers=2)
    draws = model.sample(20000, (1, 2), generator=0).view(-1, 2)
    freq = torch.bincount(draws[:, 0] * 3 + draws[:, 1], minlength=9).double() / 20000
    grids = torch.tensor(list(itertools.product(range(3), repeat=2))).view(-1, 1, 2)
    prob = model.log_prob(grids).double().exp()
    assert torch.allclose(freq, prob, atol=0.015)


def test_low_temperature_concentrates_on_the_mode():
    torch.manual_seed(5)
    model = PixelCNN(4, hidden=8, n_layers=1)
    with torch.no_grad():
        model.head[-1].bias.copy_(torch.tensor([0.0, 2.0, 0.0, 0.0]))
    cold = model.sample(200, (2, 2), generator=0, temperature=0.01)
    assert (cold == 1).float().mean() > 0.99


def test_class_conditioning_changes_the_model_but_stays_causal():
    torch.manual_seed(6)
    for cls in (PixelCNN, GatedPixelCNN):
        model = cls(4, hidden=8, n_layers=3, num_classes=3)
        x = torch.randint(0, 4, (2, 5, 5))
        lp0 = model.log_prob(x, torch.tensor([0, 0]))
        lp1 = model.log_prob(x, torch.tensor([1, 1]))
        assert not torch.allclose(lp0, lp1)
        assert not torch.triu(input_dependence(model, (5, 5))).any()
        grids = model.sample(3, (2, 2), generator=0, y=torch.tensor([0, 1, 2]))
        assert grids.shape == (3, 2, 2)
        with pytest.raises(ValueError, match="pass y"):
            model.log_prob(x)


def test_training_lowers_the_nll():
    torch.manual_seed(7)
    x = torch.zeros(64, 4, 4, dtype=torch.long)
    x[:, :, ::2] = 2  # a deterministic pattern: columns alternate 2, 0
    model = GatedPixelCNN(3, hidden=8, n_layers=2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = pixelcnn_nll(model, x).item()
    for _ in range(100):
        opt.zero_grad()
        loss = pixelcnn_nll(model, x)
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * before


@pytest.mark.parametrize("bad,error,match", [
    (torch.zeros(2, 3, 3), TypeError, "integer"),
    (torch.zeros(2, 9, dtype=torch.long), ValueError, "shape"),
    (torch.full((2, 3, 3), 5), ValueError, "levels 0..4"),
    (torch.full((2, 3, 3), -1), ValueError, "levels 0..4"),
    ([[0]], TypeError, "torch.Tensor"),
])
def test_bad_inputs_raise_clear_errors(bad, error, match):
    model = PixelCNN(5, hidden=4, n_layers=1)
    with pytest.raises(error, match=match):
        model.log_prob(bad)


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_levels=1), "n_levels"),
    (dict(n_levels=4, kernel_size=4), "odd"),
    (dict(n_levels=4, n_layers=0), "n_layers"),
    (dict(n_levels=4, hidden=2.5), "hidden"),
])
def test_bad_constructor_arguments(kwargs, match):
    for cls in (PixelCNN, GatedPixelCNN):
        with pytest.raises(ValueError, match=match):
            cls(**kwargs)


def test_bad_sampling_arguments():
    model = PixelCNN(3, hidden=4, n_layers=1)
    with pytest.raises(ValueError, match="temperature"):
        model.sample(2, (2, 2), temperature=0.0)
    with pytest.raises(ValueError, match="shape"):
        model.sample(2, (2,))
    with pytest.raises(ValueError, match="n must"):
        model.sample(0, (2, 2))
    with pytest.raises(TypeError, match="generator"):
        model.sample(2, (2, 2), generator="seed")
    with pytest.raises(ValueError, match="num_classes=None"):
        model.log_prob(torch.zeros(1, 2, 2, dtype=torch.long), torch.zeros(1, dtype=torch.long))


def test_one_hot_forward_matches_logits_from_inputs():
    model = GatedPixelCNN(4, hidden=8, n_layers=2)
    x = torch.randint(0, 4, (2, 3, 3))
    onehot = F.one_hot(x, 4).permute(0, 3, 1, 2).float()
    assert torch.equal(model(x), model.logits_from_inputs(onehot))


# ------------------------------------------------------- incremental sampling
# Configurations whose reach L * (k // 2) is smaller than the grid (windows cut inside the
# image on every side), as large as it (one window edge on the border), and a 1-row grid.
FAST_CASES = [
    (PixelCNN, dict(n_levels=4, hidden=8, n_layers=2), (9, 11)),
    (PixelCNN, dict(n_levels=3, hidden=8, n_layers=3, kernel_size=5, num_classes=3), (12, 7)),
    (GatedPixelCNN, dict(n_levels=4, hidden=8, n_layers=3), (10, 13)),
    (GatedPixelCNN, dict(n_levels=5, hidden=8, n_layers=2, kernel_size=5, num_classes=3), (9, 9)),
    (GatedPixelCNN, dict(n_levels=2, hidden=8, n_layers=4), (1, 12)),
]
FAST_IDS = [f"{cls.__name__}-{kw.get('kernel_size', 3)}x-{kw['n_layers']}layers-"
            f"{'y' if 'num_classes' in kw else 'noy'}-{h}x{w}" for cls, kw, (h, w) in FAST_CASES]


def _fast_case(cls, kwargs, batch):
    torch.manual_seed(8)
    model = cls(**kwargs)
    with torch.no_grad():  # larger weights than the default init: sharper, more varied logits
        for p in model.parameters():
            p.mul_(2.0)
    y = None if "num_classes" not in kwargs else torch.arange(batch) % kwargs["num_classes"]
    return model, y


@pytest.mark.parametrize("cls,kwargs,shape", FAST_CASES, ids=FAST_IDS)
def test_incremental_logits_equal_the_full_network(cls, kwargs, shape):
    """Every position's conditional, computed the incremental way, is the full network's."""
    model, y = _fast_case(cls, kwargs, 6)
    x = torch.randint(0, kwargs["n_levels"], (6, *shape), generator=torch.Generator().manual_seed(1))
    full = model(x, y)
    fast = model._incremental_logits(x, y)
    assert fast.shape == full.shape
    assert torch.allclose(fast, full, atol=1e-4, rtol=0), (fast - full).abs().max()


@pytest.mark.parametrize("cls,kwargs,shape", FAST_CASES, ids=FAST_IDS)
def test_incremental_and_naive_sampling_draw_the_same_grids(cls, kwargs, shape):
    """Same seed, same grids: float rounding may flip a rare draw, so >= 99.9% must agree."""
    model, y = _fast_case(cls, kwargs, 32)
    fast = model.sample(32, shape, generator=5, y=y)
    naive = model.sample(32, shape, generator=5, y=y, naive=True)
    assert (fast == naive).double().mean() >= 0.999
    assert not torch.equal(fast, model.sample(32, shape, generator=6, y=y))
    # the grids are not degenerate: several levels occur
    assert fast.unique().numel() >= 2


@pytest.mark.parametrize("cls", [PixelCNN, GatedPixelCNN])
def test_a_window_one_step_too_small_is_caught(cls, monkeypatch):
    """The equality test can fail, and the windows are no larger than needed."""
    model, _ = _fast_case(cls, dict(n_levels=4, hidden=8, n_layers=3), 4)
    x = torch.randint(0, 4, (4, 10, 10), generator=torch.Generator().manual_seed(2))
    assert torch.allclose(model._incremental_logits(x), model(x), atol=1e-4)
    reach = model._reach()
    monkeypatch.setattr(model, "_reach", lambda: reach - 1)
    assert not torch.allclose(model._incremental_logits(x), model(x), atol=1e-4)


def test_sample_leaves_the_training_mode_as_it_was():
    model = GatedPixelCNN(3, hidden=4, n_layers=1).train()
    model.sample(2, (2, 2), generator=0)
    assert model.training
    model.eval().sample(2, (2, 2), generator=0, naive=True)
    assert not model.training


def test_sample_refuses_a_non_bool_naive():
    with pytest.raises(TypeError, match="naive"):
        PixelCNN(3, hidden=4, n_layers=1).sample(2, (2, 2), naive="yes")


def test_incremental_sampling_restores_the_thread_count():
    before = torch.get_num_threads()
    GatedPixelCNN(3, hidden=4, n_layers=1).sample(2, (2, 3), generator=0)
    assert torch.get_num_threads() == before
