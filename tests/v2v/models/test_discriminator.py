"""Discriminators: the paper's two channels (docs/training.md) and pix2pix's per-frame PatchGAN."""

import pytest
import torch
from torch import nn

from v2v.config import PRESETS
from v2v.models import PatchDiscriminator, TwoChannelDiscriminator

ARCH = dict(channels=8, max_channels=16, depth=3, norm="batch")


def videos(batch=2, frames=4, cin=1, cout=3, size=(32, 40)):
    torch.manual_seed(0)
    return (
        torch.rand(batch, frames, cin, *size) * 2 - 1,
        torch.rand(batch, frames, cout, *size) * 2 - 1,
        torch.randn(batch, frames - 1, cout, *size) * 0.1,
    )


def test_paper_channel_architecture():
    paper = PRESETS["paper"]
    discriminator = TwoChannelDiscriminator(3, 1, temporal=True, channels=paper.disc_channels, max_channels=paper.disc_max_channels,
                                            depth=paper.disc_depth, norm="batch")
    for channel, in_channels in ((discriminator.spatial, 4), (discriminator.temporal, 1)):
        convs = [block[0] for block in channel.convs]
        assert [c.out_channels for c in convs] == [64, 128, 256, 512]
        assert convs[0].in_channels == in_channels
        assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
        assert not isinstance(channel.convs[0][1], nn.BatchNorm2d)
        assert channel.rnn.to_output.out_channels == 1 and channel.rnn.to_hidden.out_channels == 512


def test_decision_shapes():
    input_video, output_video, residual = videos()
    two = TwoChannelDiscriminator(1, 3, temporal=True, **ARCH)
    assert two(input_video, output_video, residual).shape == (2, 2)
    spatial = TwoChannelDiscriminator(1, 3, temporal=False, **ARCH)
    assert spatial.temporal is None
    assert spatial(input_video, output_video).shape == (2, 1)
    patch = PatchDiscriminator(1, 3, **ARCH)
    logits = patch(input_video, output_video)
    assert logits.shape[:3] == (2, 4, 1) and logits.shape[3] > 1


def test_channels_read_what_the_paper_says():
    """Spatial channel: input and output videos. Temporal channel: residual errors only."""
    input_video, output_video, residual = videos()
    discriminator = TwoChannelDiscriminator(1, 3, temporal=True, **ARCH).eval()
    with torch.no_grad():
        base = discriminator(input_video, output_video, residual)
        other_residual = discriminator(input_video, output_video, residual.flip(0))
        other_input = discriminator(input_video.flip(0), output_video, residual)
        other_output = discriminator(input_video, output_video.flip(0), residual)
    assert torch.equal(base[:, 0], other_residual[:, 0]) and not torch.allclose(base[:, 1], other_residual[:, 1])
    assert torch.equal(base[:, 1], other_input[:, 1]) and not torch.allclose(base[:, 0], other_input[:, 0])
    assert torch.equal(base[:, 1], other_output[:, 1]) and not torch.allclose(base[:, 0], other_output[:, 0])


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_a_normalised_temporal_channel_is_blind_to_the_residuals_scale(norm):
    """Why the temporal channel has no norm by default: after the bias-free first convolution and
    leaky ReLU, a norm divides out the residuals' scale, so D(E) = D(4 E) and the channel cannot
    tell that E^o is larger than E^g (exactly so where the features' variance dominates the norm's
    epsilon); unnormalised, the decision follows the scale."""
    input_video, output_video, residual = videos()
    residual = 10 * residual  # features well above the norm's epsilon, where the invariance is exact
    normalised = TwoChannelDiscriminator(1, 3, temporal=True, temporal_norm=norm, **ARCH)
    plain = TwoChannelDiscriminator(1, 3, temporal=True, temporal_norm=None, **ARCH)
    assert any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) for m in normalised.temporal.modules())
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) for m in plain.temporal.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in plain.spatial.modules())  # the spatial channel keeps its norm
    with torch.no_grad():
        blind = normalised(input_video, output_video, residual)[:, 1], normalised(input_video, output_video, 4 * residual)[:, 1]
        seeing = plain(input_video, output_video, residual)[:, 1], plain(input_video, output_video, 4 * residual)[:, 1]
    torch.testing.assert_close(blind[0], blind[1], rtol=1e-3, atol=1e-6)
    assert not torch.allclose(seeing[0], seeing[1], rtol=0.5, atol=0)


def test_rnn_carries_information_across_frames():
    input_video, output_video, _ = videos(frames=3)
    channel = TwoChannelDiscriminator(1, 3, temporal=False, **ARCH).spatial.eval()
    video = torch.cat([input_video, output_video], dim=2)
    changed = video.clone()
    changed[:, 0] = 0
    with torch.no_grad():
        last = channel.patch_logits(video)[:, 2]
        last_changed = channel.patch_logits(changed)[:, 2]
    assert not torch.allclose(last, last_changed)


def test_patch_discriminator_is_per_frame():
    input_video, output_video, _ = videos(frames=3)
    patch = PatchDiscriminator(1, 3, **ARCH).eval()
    changed = output_video.clone()
    changed[:, 0] = 0
    with torch.no_grad():
        base, other = patch(input_video, output_video), patch(input_video, changed)
    assert torch.equal(base[:, 1:], other[:, 1:]) and not torch.allclose(base[:, 0], other[:, 0])


def test_paper_patchgan_is_pix2pix_70x70():
    paper = PRESETS["paper"]
    patch = PatchDiscriminator(3, 3, channels=paper.disc_channels, max_channels=paper.disc_max_channels, depth=paper.disc_depth,
                               norm="batch")
    convs = [m for m in patch.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 1]
    assert [c.stride[0] for c in convs] == [2, 2, 2, 1, 1]


def test_bad_inputs_are_named():
    input_video, output_video, residual = videos()
    two = TwoChannelDiscriminator(1, 3, temporal=True, **ARCH)
    with pytest.raises(ValueError, match="residual"):
        two(input_video, output_video)
    with pytest.raises(ValueError, match="residual"):
        TwoChannelDiscriminator(1, 3, temporal=False, **ARCH)(input_video, output_video, residual)
    with pytest.raises(ValueError, match="residual"):
        PatchDiscriminator(1, 3, **ARCH)(input_video, output_video, residual)
    with pytest.raises(ValueError, match="share"):
        two(input_video[:, :2], output_video, residual)
    with pytest.raises(ValueError, match="at least 8x8"):
        two(input_video[..., :4, :4], output_video[..., :4, :4], residual[..., :4, :4])
    with pytest.raises(ValueError, match="at least"):
        PatchDiscriminator(1, 3, **ARCH)(input_video[..., :4, :4], output_video[..., :4, :4])
