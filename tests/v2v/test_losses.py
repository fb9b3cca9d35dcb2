"""The objective's terms (docs/training.md) and the one fused residual-error call per step."""

import math

import pytest
import torch

import v2vcore
from v2v import losses
from v2v.losses import (
    discriminator_loss,
    generator_adversarial_loss,
    residual_errors,
    spatial_loss,
    temporal_loss,
)


def translating_video(frames=4, channels=3, size=(17, 33), shift=(2, 1), seed=0):
    """A video whose every frame is an exact integer translation of the previous one, and its exact
    forward and backward flows (constant, so no motion boundary; consistent, so no occlusion).

    Sides of 2**k + 1 pixels make align_corners coordinate normalisation exact in float32, so
    that even a grid_sample-based warp reproduces the frames bit for bit."""
    generator = torch.Generator().manual_seed(seed)
    height, width = size
    dx, dy = shift
    big = torch.rand(channels, height + frames * abs(dy), width + frames * abs(dx), generator=generator) * 2 - 1
    video = torch.stack([big[:, t * dy : t * dy + height, t * dx : t * dx + width] for t in range(frames)])
    # Frame t's pixel p shows the content of frame t-1 at p + (dx, dy): that is the backward flow.
    flow_bwd = torch.empty(frames - 1, 2, height, width)
    flow_bwd[:, 0], flow_bwd[:, 1] = dx, dy
    return video.unsqueeze(0), -flow_bwd.unsqueeze(0), flow_bwd.unsqueeze(0)


def test_temporal_loss_is_zero_for_an_exact_warp_and_positive_otherwise():
    video, flow_fwd, flow_bwd = translating_video()
    # Sanity: the construction really is a warp of itself (checked with the reference warp).
    warped = v2vcore.reference.warp(video[0, :-1], flow_bwd[0])
    assert torch.equal(warped[..., :-2, :-2], video[0, 1:, :, :-2, :-2])

    noisy = video + 0.05 * torch.randn_like(video)
    residual_generated, residual_target = residual_errors(noisy, video, flow_fwd, flow_bwd)
    assert residual_generated.shape == residual_target.shape == (1, 3, 3, 17, 33)
    assert temporal_loss(residual_target).item() == 0.0
    assert temporal_loss(residual_generated).item() > 0.01

    # Also positive when only one frame breaks the warp.
    broken = video.clone()
    broken[:, 2] += 0.1
    assert temporal_loss(residual_errors(broken, video, flow_fwd, flow_bwd)[0]).item() > 0


def test_temporal_loss_averages_over_valid_and_invalid_pixels():
    residual = torch.zeros(1, 2, 1, 4, 4)
    residual[0, 0, 0, 0, 0] = 3.2  # one non-zero pixel among 32
    assert temporal_loss(residual).item() == pytest.approx(0.1)


def test_residual_errors_uses_one_fused_call(monkeypatch):
    calls = []
    op = v2vcore.residual_error

    def counting(video, flow_fwd, flow_bwd, **kwargs):
        calls.append(video.shape)
        return op(video, flow_fwd, flow_bwd, **kwargs)

    monkeypatch.setattr(losses.v2vcore, "residual_error", counting)
    video, flow_fwd, flow_bwd = translating_video(channels=1)
    generated = (video + 0.1 * torch.randn_like(video)).requires_grad_(True)
    residual_generated, residual_target = residual_errors(generated, video + 1, flow_fwd, flow_bwd)
    assert calls == [torch.Size([1, 4, 2, 17, 33])]  # the two videos stacked along channels
    # E^o carries the gradient to the generated video only.
    temporal_loss(residual_generated).backward()
    assert generated.grad is not None and generated.grad.abs().sum() > 0
    assert not residual_target.requires_grad


def test_residual_errors_rejects_mismatched_videos():
    video, flow_fwd, flow_bwd = translating_video()
    with pytest.raises(ValueError, match="one shape"):
        residual_errors(video[:, :, :1], video, flow_fwd, flow_bwd)


def test_spatial_loss_is_mean_absolute_error():
    output = torch.tensor([[0.5, -0.5], [1.0, 0.0]])
    target = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    assert spatial_loss(output, target).item() == pytest.approx((0.5 + 0.5 + 0 + 1) / 4)


def test_gan_losses():
    zeros = torch.zeros(3, 2)
    assert discriminator_loss(zeros, zeros).item() == pytest.approx(math.log(2))
    assert generator_adversarial_loss(zeros).item() == pytest.approx(math.log(2))
    confident_real, confident_fake = torch.full((3, 2), 20.0), torch.full((3, 2), -20.0)
    assert discriminator_loss(confident_real, confident_fake).item() < 1e-6
    assert generator_adversarial_loss(confident_fake).item() == pytest.approx(20.0, rel=1e-4)
    # bf16 logits are scored in float32.
    assert generator_adversarial_loss(zeros.bfloat16()).dtype == torch.float32


def test_temporal_gan_weight_scales_only_the_temporal_decision():
    logits = torch.tensor([[0.3, -1.2], [-0.4, 2.0]])
    spatial = generator_adversarial_loss(logits[:, :1])
    temporal = generator_adversarial_loss(logits[:, 1:])
    assert torch.equal(generator_adversarial_loss(logits, 1.0), generator_adversarial_loss(logits))
    assert generator_adversarial_loss(logits).item() == pytest.approx(0.5 * (spatial + temporal).item())
    assert generator_adversarial_loss(logits, 0.1).item() == pytest.approx(0.5 * (spatial + 0.1 * temporal).item())
    assert generator_adversarial_loss(logits, 0.0).item() == pytest.approx(0.5 * spatial.item())
    # One channel (image2image, video2video, +local): nothing to weight.
    assert torch.equal(generator_adversarial_loss(logits[:, :1], 0.1), spatial)
