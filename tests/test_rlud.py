"""helpers.models.rlud: masks keep their margins, each sweep is causal in its direction, shapes, scores,
baselines, and learner-readable errors on bad input. Runs in a few seconds on one CPU core."""

import pytest
import torch

from helpers.models import rlud


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return rlud.RLUD(hidden=8, band=3, head=8)


def test_rect_mask_keeps_margins():
    m = rlud.rect_mask(28, 20, mask_height=5, mask_width=3)
    assert m.shape == (1, 1, 28, 20)
    rows = m[0, 0].sum(1).nonzero().flatten()
    cols = m[0, 0].sum(0).nonzero().flatten()
    assert (rows.min(), rows.max()) == (5, 28 - 5 - 1), (
        "hidden rows must start/end mask_height from the border"
    )
    assert (cols.min(), cols.max()) == (3, 20 - 3 - 1), (
        "hidden columns must start/end mask_width from the border"
    )
    assert m.sum() == (28 - 10) * (20 - 6)


def test_random_masks_stay_inside_margins():
    g = torch.Generator().manual_seed(0)
    m = rlud.random_masks(500, 32, 30, mask_height=6, mask_width=4, min_side=3, generator=g)
    assert m.shape == (500, 1, 32, 30)
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    assert m[..., :6, :].sum() == 0 and m[..., -6:, :].sum() == 0, "border rows must stay visible"
    assert m[..., :4].sum() == 0 and m[..., -4:].sum() == 0, "border columns must stay visible"
    per_image = m.flatten(1).sum(1)
    assert per_image.min() >= 9, "each hole is at least min_side × min_side"
    # each hole is one full rectangle: its area equals (#hidden rows) × (#hidden columns)
    h = (m[:, 0].sum(2) > 0).sum(1)
    w = (m[:, 0].sum(1) > 0).sum(1)
    assert torch.equal(per_image, (h * w).float())
    # the sizes vary (not a fixed hole)
    assert len(per_image.unique()) > 20


@pytest.mark.parametrize("direction", rlud.DIRECTIONS)
def test_sweep_is_causal_in_its_direction(direction):
    torch.manual_seed(0)
    sweep = rlud.Sweep(direction, in_channels=2, hidden=4, band=3)
    H, W = 7, 9
    x = torch.randn(1, 2, H, W, requires_grad=True)
    out = sweep(x)
    assert out.shape == (1, 4, H, W)
    r, c = 3, 4
    (grad,) = torch.autograd.grad(out[0, :, r, c].sum(), x)
    g = grad[0].abs().sum(0)  # (H, W): how much each input pixel moves the output at (r, c)
    ahead = {"R": g[:, c + 1 :], "L": g[:, :c], "D": g[r + 1 :, :], "U": g[:r, :]}[direction]
    behind = {"R": g[:, :c], "L": g[:, c + 1 :], "D": g[:r, :], "U": g[r + 1 :, :]}[direction]
    assert ahead.abs().max() == 0, f"sweep {direction} at ({r}, {c}) must not see pixels ahead of it"
    assert behind.abs().max() > 0, f"sweep {direction} must carry information from pixels behind it"
    # across the direction of travel it sees only its band of 3 lines
    across = g[:, :] if direction in "RL" else g.T
    line = r if direction in "RL" else c
    far = torch.cat([across[: line - 1], across[line + 2 :]])
    assert far.abs().max() == 0, "a sweep sees only `band` lines around its own"


def test_model_shapes_and_inpaint_keeps_visible(model):
    x = torch.rand(5, 1, 16, 12)
    m = rlud.rect_mask(16, 12, 4, 3)
    pred = model(x, m.expand_as(x))
    assert pred.shape == x.shape and bool(((pred > 0) & (pred < 1)).all())
    out = model.inpaint(x, m)
    assert out.shape == x.shape
    assert torch.equal(out * (1 - m), x * (1 - m)), "visible pixels must be kept"
    assert not torch.equal(out * m, x * m)
    feats = model.features(x, m.expand_as(x))
    assert sorted(feats) == sorted(rlud.DIRECTIONS) and feats["R"].shape == (5, 8, 16, 12)


def test_model_ignores_hidden_pixel_values(model):
    x = torch.rand(3, 1, 16, 16)
    m = rlud.rect_mask(16, 16, 4, 4)
    y = x * (1 - m) + torch.rand_like(x) * m  # same visible pixels, different hidden ones
    assert torch.allclose(model.inpaint(x, m), model.inpaint(y, m)), (
        "the hole's true content must not leak in"
    )


def test_loss_is_the_masked_mse(model):
    x = torch.rand(4, 1, 16, 16)
    m = rlud.random_masks(4, 16, 16, 3, 3, generator=torch.Generator().manual_seed(1))
    loss = model.loss(x, m)
    with torch.no_grad():
        pred = model(x, m)
    pooled = ((pred - x) ** 2 * m).sum() / m.sum()
    assert torch.allclose(loss, pooled, atol=1e-6)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_masked_mse_psnr_and_baselines():
    x = torch.rand(6, 1, 10, 10)
    m = rlud.rect_mask(10, 10, 2, 3)
    assert torch.allclose(rlud.masked_mse(x, x, m), torch.zeros(6))
    off = (x + 0.1 * m).clamp(0, 1)  # every hidden pixel off by at most 0.1, visible ones exact
    mse = rlud.masked_mse(off, x, m)
    assert torch.all(mse <= 0.01 + 1e-6) and torch.all(mse > 0)
    assert torch.allclose(rlud.masked_mse(x + 0 * m, x, m), torch.zeros(6))
    assert torch.allclose(rlud.psnr(torch.tensor([0.01, 1.0])), torch.tensor([20.0, 0.0]))
    # mean fill (own visible mean) is constant in the hole and keeps the visible pixels
    f = rlud.mean_fill(x, m)
    assert torch.equal(f * (1 - m), x * (1 - m))
    hole = f[0, 0][m[0, 0] > 0]
    assert torch.allclose(hole, hole[0].expand_as(hole))
    vis = x[0, 0][m[0, 0] == 0]
    assert torch.allclose(hole[0], vis.mean())
    # training-set mean image
    train = torch.rand(20, 1, 10, 10)
    f2 = rlud.mean_fill(x, m, train)
    assert torch.allclose(f2[0, 0][m[0, 0] > 0], train.mean(0)[0][m[0, 0] > 0])
    # nearest neighbour: a test image equal to a training image on the visible pixels gets its hole
    test = train[[3, 7]] * (1 - m) + 0.5 * m
    nn = rlud.nearest_fill(test, m, train)
    assert torch.allclose(nn, train[[3, 7]])


def test_photo_patches():
    img = torch.rand(50, 60)
    p = rlud.photo_patches(img, 10, size=8, seed=0)
    assert p.shape == (10, 1, 8, 8)
    assert torch.equal(p, rlud.photo_patches(img, 10, size=8, seed=0))
    q = rlud.photo_patches(img, 10, size=8, seed=0, region=(0, 20, 30, 60))
    # every patch is a contiguous piece of the region
    sub = img[:20, 30:]
    windows = sub.unfold(0, 8, 1).unfold(1, 8, 1).reshape(-1, 8, 8)
    for patch in q[:, 0]:
        assert (windows - patch).abs().flatten(1).sum(1).min() == 0


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: rlud.rect_mask(28, 28, 14, 3), "less than half"),
        (lambda: rlud.rect_mask(28, 28, 0, 3), "mask_height"),
        (lambda: rlud.rect_mask(28, 28, 3, 2.5), "mask_width"),
        (lambda: rlud.random_masks(4, 10, 10, 3, 3, min_side=5), "min_side"),
        (lambda: rlud.Sweep("X"), "direction"),
        (lambda: rlud.Sweep("R", band=4), "odd"),
        (
            lambda: rlud.masked_mse(torch.rand(2, 1, 5, 5), torch.rand(2, 1, 5, 5), torch.zeros(1, 1, 5, 5)),
            "hides no pixel",
        ),
        (
            lambda: rlud.masked_mse(
                torch.rand(2, 1, 5, 5), torch.rand(2, 1, 5, 5), torch.full((1, 1, 5, 5), 0.5)
            ),
            "only 0",
        ),
        (
            lambda: rlud.masked_mse(torch.rand(2, 1, 5, 5), torch.rand(2, 1, 5, 5), torch.ones(1, 1, 4, 5)),
            "shape",
        ),
        (lambda: rlud.mean_fill(torch.rand(2, 5, 5), torch.ones(1, 1, 5, 5)), "dimension"),
        (lambda: rlud.mean_fill(torch.rand(2, 3, 5, 5), torch.ones(1, 1, 5, 5)), "grayscale"),
        (lambda: rlud.mean_fill(torch.rand(2, 1, 5, 5) * 255, torch.ones(1, 1, 5, 5)), "255"),
        (
            lambda: rlud.nearest_fill(torch.rand(2, 1, 5, 5), torch.ones(2, 1, 5, 5), torch.rand(3, 1, 5, 5)),
            "shared",
        ),
        (lambda: rlud.psnr(torch.tensor([-1.0])), "≥ 0"),
        (lambda: rlud.photo_patches(torch.rand(20, 20), 3, size=32), "do not fit"),
        (lambda: rlud.build("rlud_cats"), "name"),
    ],
)
def test_bad_input_raises_a_helpful_error(call, words):
    with pytest.raises(ValueError, match=words):
        call()


def test_sweep_rejects_wrong_channels():
    with pytest.raises(ValueError, match="expects input"):
        rlud.Sweep("R", in_channels=2)(torch.rand(1, 3, 5, 5))


def test_model_rejects_bad_images(model):
    with pytest.raises(ValueError, match="one-channel \\(grayscale\\)"):
        model.inpaint(torch.rand(2, 3, 8, 8), torch.ones(1, 1, 8, 8))


def test_shipped_configs_build():
    for name in rlud.CONFIGS:
        m = rlud.build(name)
        assert sum(p.numel() for p in m.parameters()) <= 100_000, "the shipped models must stay small"


def test_shipped_checkpoints_load_into_their_architecture():
    from helpers.train import checkpoint_path, load_checkpoint

    for name in rlud.CONFIGS:
        if not checkpoint_path(name).exists():
            pytest.skip(f"{name} not shipped yet")
        model = rlud.build(name)
        model.load_state_dict(load_checkpoint(name))  # strict: the config matches the weights
        assert checkpoint_path(name).stat().st_size < 1_000_000, "checkpoints must stay well under 1 MB"


def test_harmonic_fill_is_exact_on_linear_images_and_mean_of_neighbours():
    # a linear ramp is harmonic: the fill must reproduce it exactly
    ramp = torch.linspace(0.1, 0.9, 12)[None, None, None, :].expand(2, 1, 10, 12).clone()
    m = rlud.rect_mask(10, 12, 3, 3)
    torch.testing.assert_close(rlud.harmonic_fill(ramp, m), ramp, atol=1e-6, rtol=0)
    # on any image each hidden pixel is the mean of its four neighbours, visible pixels unchanged
    x = torch.rand(3, 1, 10, 12, generator=torch.Generator().manual_seed(0))
    f = rlud.harmonic_fill(x, m)
    torch.testing.assert_close(f * (1 - m), x * (1 - m))
    nb = (f[..., 2:, 1:-1] + f[..., :-2, 1:-1] + f[..., 1:-1, 2:] + f[..., 1:-1, :-2]) / 4
    inner = m[..., 1:-1, 1:-1] > 0
    torch.testing.assert_close(
        f[..., 1:-1, 1:-1][inner.expand_as(nb)], nb[inner.expand_as(nb)], atol=1e-5, rtol=0
    )


def test_biharmonic_fill_matches_skimage_per_image_and_keeps_visible_pixels():
    import numpy as np
    from skimage.restoration import inpaint_biharmonic

    x = torch.rand(3, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    m = rlud.rect_mask(12, 12, 4, 3)
    f = rlud.biharmonic_fill(x, m)
    torch.testing.assert_close(f * (1 - m), x * (1 - m))
    one = inpaint_biharmonic(x[1, 0].double().numpy(), m[0, 0].numpy().astype(bool))
    torch.testing.assert_close(f[1, 0], torch.from_numpy(np.clip(one, 0, 1)).float(), atol=1e-5, rtol=0)


def test_classical_fills_need_one_shared_mask():
    x = torch.rand(2, 1, 8, 8)
    masks = rlud.random_masks(2, 8, 8, 2, 2)
    for fill in (rlud.harmonic_fill, rlud.biharmonic_fill):
        with pytest.raises(ValueError, match="shared"):
            fill(x, masks)
