"""Unit tests of cnncompare.train.models, cnncompare.train.augment and the learning-rate schedule."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnncompare.train import augment
from cnncompare.train.augment import crop_flip, epoch_batches, to_float
from cnncompare.train.models import build_model, count_parameters
from cnncompare.train.training import lr_factor

CUSTOM_BLOCK = {"arch": "custom_cnn", "dropout": 0.25, "image_size": 32}  # as the schema completes it


def random_images(n: int, seed: int = 0, low: int = 1) -> torch.Tensor:
    """uint8 NHWC images with no zero pixel (so zero padding is recognisable)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(low, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=g)


# --- models --------------------------------------------------------------------------------


def test_custom_cnn_has_about_300k_parameters():
    total, trainable = count_parameters(build_model(CUSTOM_BLOCK, num_classes=10))
    assert abs(total - 300_000) <= 30_000, total
    assert trainable == total  # trained from scratch: nothing frozen


def test_custom_cnn_gives_one_logit_per_class():
    torch.manual_seed(0)
    model = build_model(CUSTOM_BLOCK, num_classes=10).eval()
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (3, 10)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_custom_cnn_trains_on_a_batch_and_accepts_channels_last_input():
    torch.manual_seed(0)
    model = build_model(CUSTOM_BLOCK, num_classes=7).train()
    x = to_float(random_images(4))  # the permuted NHWC view the training loop feeds
    out = model(x)
    assert out.shape == (4, 7)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_normalisation_statistics_travel_in_the_state_dict():
    model = build_model(CUSTOM_BLOCK, 10, mean=(0.1, 0.2, 0.3), std=(0.4, 0.5, 0.6))
    state = model.state_dict()
    mean_keys = [k for k in state if k.endswith("mean") and state[k].numel() == 3]
    assert mean_keys, list(state)
    assert torch.allclose(state[mean_keys[0]].flatten(), torch.tensor([0.1, 0.2, 0.3]))


def test_unknown_arch_is_refused():
    with pytest.raises(ValueError, match="custom_cnn"):
        build_model({"arch": "custm_cnn", "dropout": 0.25, "image_size": 32}, 10)


# --- augmentation: crop ----------------------------------------------------------------------


def matching_offsets(out: torch.Tensor, padded: torch.Tensor, padding: int) -> list[tuple[int, int]]:
    """Offsets (dy, dx) at which `out` equals a window of the padded image."""
    h, w = out.shape[:2]
    return [
        (dy, dx)
        for dy in range(2 * padding + 1)
        for dx in range(2 * padding + 1)
        if torch.equal(padded[dy:dy + h, dx:dx + w], out)
    ]


def test_crop_keeps_shape_dtype_and_device():
    images = random_images(8)
    out = crop_flip(images, padding=4, flip=True, generator=torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    assert out.dtype == torch.uint8
    assert out.device == images.device


def test_crop_gives_shifted_windows_of_the_zero_padded_input():
    images = random_images(32)
    out = crop_flip(images, padding=4, flip=False, generator=torch.Generator().manual_seed(1))
    padded = F.pad(images, (0, 0, 4, 4, 4, 4))  # pad H and W with zeros

    offsets = []
    for i in range(len(images)):
        found = matching_offsets(out[i], padded[i], 4)
        assert found, f"image {i} is not a window of its padded input"
        offsets.append(found[0])

    changed = [i for i in range(len(images)) if not torch.equal(out[i], images[i])]
    assert changed, "cropping left every image unchanged"
    assert len(set(offsets)) > 1  # offsets vary between images
    # Some crop reaches into the zero padding.
    assert (out == 0).any()


def test_no_padding_and_no_flip_is_the_identity():
    images = random_images(4)
    out = crop_flip(images, padding=0, flip=False, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, images)


# --- augmentation: flip ----------------------------------------------------------------------


def test_flip_gives_each_image_or_its_horizontal_mirror_and_both_occur():
    images = random_images(64)
    out = crop_flip(images, padding=0, flip=True, generator=torch.Generator().manual_seed(2))

    same, mirrored = 0, 0
    for i in range(len(images)):
        mirror = torch.flip(images[i], dims=[1])  # HWC: dim 1 is the column
        if torch.equal(out[i], images[i]):
            same += 1
        elif torch.equal(out[i], mirror):
            mirrored += 1
        else:
            pytest.fail(f"image {i} is neither the input nor its horizontal mirror")
    assert same > 0 and mirrored > 0, (same, mirrored)


def test_flip_mirrors_columns_not_rows():
    # A single image whose value is its column index: a horizontal flip
    # reverses the columns, and rows stay as they were.
    cols = torch.arange(32, dtype=torch.uint8).view(1, 1, 32, 1).expand(64, 32, 32, 3).contiguous()
    out = crop_flip(cols, padding=0, flip=True, generator=torch.Generator().manual_seed(0))
    reversed_cols = torch.flip(cols, dims=[2])
    assert any(torch.equal(o, r) for o, r in zip(out, reversed_cols))
    for o in out:
        assert torch.equal(o, o[:1].expand_as(o))  # every row the same: no vertical flip


# --- augmentation: determinism -----------------------------------------------------------------


def test_crop_flip_is_deterministic_for_a_seeded_generator():
    images = random_images(16)
    a = crop_flip(images, 4, True, torch.Generator().manual_seed(123))
    b = crop_flip(images, 4, True, torch.Generator().manual_seed(123))
    c = crop_flip(images, 4, True, torch.Generator().manual_seed(124))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_crop_flip_is_each_image_s_window_and_mirror_from_the_same_draws():
    """Pixel for pixel each image's window of its zero-padded self at its drawn offset, mirrored
    when its draw says, with the generator's draws in the same order and number (offsets, then
    flips): how the gather is computed never changes an augmented image or a later draw."""
    n, h, w, pad = 64, 9, 7, 2  # not square: rows and columns cannot be swapped unnoticed
    images = torch.randint(0, 256, (n, h, w, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(7)
    out = crop_flip(images, pad, True, generator)
    draws = torch.Generator().manual_seed(7)
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n, 1), generator=draws)
    flipped = torch.rand(n, 1, generator=draws) < 0.5
    padded = F.pad(images, (0, 0, pad, pad, pad, pad))
    for i in range(n):
        window = padded[i, dy[i, 0]:dy[i, 0] + h, dx[i, 0]:dx[i, 0] + w]
        assert torch.equal(out[i], window.flip(1) if flipped[i, 0] else window), i
    assert torch.equal(generator.get_state(), draws.get_state())
    assert out.is_contiguous()


def test_crop_flip_does_not_touch_the_global_rng():
    images = random_images(8)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    crop_flip(images, 4, True, torch.Generator().manual_seed(0))
    assert torch.equal(torch.rand(3), expected)


# --- to_float ------------------------------------------------------------------------------------


def test_to_float_gives_float32_nchw_in_unit_range():
    images = random_images(5, low=0)
    images[0, 0, 0] = torch.tensor([0, 128, 255], dtype=torch.uint8)
    out = to_float(images)

    assert out.dtype == torch.float32
    assert out.shape == (5, 3, 32, 32)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([0.0, 128 / 255, 1.0]))
    assert torch.allclose(out, images.permute(0, 3, 1, 2).float() / 255)
    assert images.dtype == torch.uint8  # the input is left alone


@pytest.mark.parametrize("chunk_bytes", [10**9, 2 * 4 * 32 * 32 * 3, 1])  # one chunk; 2 batches; 1 batch
def test_epoch_batches_cover_a_shuffled_epoch_once_with_matching_labels(monkeypatch, chunk_bytes):
    monkeypatch.setattr(augment, "CHUNK_BYTES", chunk_bytes)
    # Each image one flat value (its index) with no augmentation: every batch says which images it holds.
    n, batch, steps = 22, 4, 5  # the last 2 images of the shuffled order are dropped
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 32, 32, 3).contiguous()
    labels = torch.arange(n) * 10
    batches = list(epoch_batches(images, labels, batch, steps, {"crop_padding": 0, "flip": False},
                                 torch.Generator().manual_seed(3)))
    assert len(batches) == steps and all(x.shape == (batch, 3, 32, 32) for x, _ in batches)
    ids = torch.cat([(x[:, 0, 0, 0] * 255).round().long() for x, _ in batches])
    assert torch.equal(torch.cat([y for _, y in batches]), ids * 10)  # labels travel with their images
    assert len(set(ids.tolist())) == steps * batch  # no image twice
    assert ids.tolist() != sorted(ids.tolist())  # shuffled
    expected = torch.randperm(n, generator=torch.Generator().manual_seed(3))[:steps * batch]
    assert torch.equal(ids, expected)


def test_epoch_batches_augment_with_crop_and_flip():
    images = random_images(8)
    x, _ = next(epoch_batches(images, torch.zeros(8, dtype=torch.long), 8, 1, {"crop_padding": 4, "flip": True},
                              torch.Generator().manual_seed(9)))
    generator = torch.Generator().manual_seed(9)
    order = torch.randperm(8, generator=generator)
    assert torch.equal(x, to_float(crop_flip(images[order], 4, True, generator)))


# --- learning-rate schedule ------------------------------------------------------------------------


def test_onecycle_rises_during_warmup_and_falls_to_near_zero():
    total, warmup = 100, 10
    factors = [lr_factor("onecycle", s, total, warmup) for s in range(total)]

    rising, falling = factors[:warmup], factors[warmup:]
    assert all(a < b for a, b in zip(rising, rising[1:]))
    assert factors[0] < 0.2
    assert max(factors) == pytest.approx(1.0)
    assert all(a > b for a, b in zip(falling, falling[1:]))
    assert factors[-1] < 0.05
    assert all(f >= 0 for f in factors)


def test_step_schedule_is_one_then_tenth_then_hundredth():
    total = 100
    factors = [lr_factor("step", s, total, warmup_steps=0) for s in range(total)]
    assert factors[0] == 1.0 and factors[49] == 1.0
    assert factors[50] == pytest.approx(0.1) and factors[74] == pytest.approx(0.1)
    assert factors[75] == pytest.approx(0.01) and factors[99] == pytest.approx(0.01)
    assert sorted(set(round(f, 6) for f in factors)) == [0.01, 0.1, 1.0]


def test_cosine_warms_up_then_falls_to_near_zero():
    factors = [lr_factor("cosine", s, 200, 20) for s in range(200)]
    assert factors[19] == pytest.approx(1.0)
    assert factors[-1] < 0.01
    assert all(a >= b for a, b in zip(factors[20:], factors[21:]))


def test_constant_schedule_and_unknown_schedule():
    assert [lr_factor("constant", s, 10, 2) for s in range(10)] == [1.0] * 10
    with pytest.raises(ValueError, match="linear"):
        lr_factor("linear", 5, 10, 2)
