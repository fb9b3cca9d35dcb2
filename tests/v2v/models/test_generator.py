"""RecurrentUNet: the architecture of docs/training.md, any frame size, forward/step agreement."""

import pytest
import torch
from torch import nn

from v2v.config import PRESETS
from v2v.models import RecurrentUNet


def small(in_channels=1, out_channels=3, **kwargs):
    preset = PRESETS["small"]
    arch = dict(
        channels=preset.gen_channels,
        max_channels=preset.gen_max_channels,
        depth=preset.gen_depth,
        dropout_layers=preset.gen_dropout_layers,
        norm="batch",
    )
    arch.update(kwargs)
    return RecurrentUNet(in_channels, out_channels, **arch)


def test_paper_preset_has_the_papers_layers():
    preset = PRESETS["paper"]
    generator = RecurrentUNet(
        3,
        1,
        channels=preset.gen_channels,
        max_channels=preset.gen_max_channels,
        depth=preset.gen_depth,
        dropout_layers=preset.gen_dropout_layers,
        norm="batch",
    )
    encoder = [block[0] for block in generator.encoder]
    assert [conv.out_channels for conv in encoder] == [64, 128, 256, 512, 512, 512, 512]
    assert all(conv.kernel_size == (4, 4) and conv.stride == (2, 2) for conv in encoder)
    # The first encoder layer has no norm; the others have batch norm; all encoder ReLUs are leaky 0.2.
    assert not any(isinstance(m, nn.BatchNorm2d) for m in generator.encoder[0])
    assert all(isinstance(block[1], nn.BatchNorm2d) for block in generator.encoder[1:])
    assert all(block[-1].negative_slope == 0.2 for block in generator.encoder)
    decoder = [block[0] for block in generator.decoder]
    assert [conv.out_channels for conv in decoder] == [512, 512, 512, 512, 256, 128, 64]
    assert all(isinstance(conv, nn.ConvTranspose2d) and conv.stride == (2, 2) for conv in decoder)
    dropout = [any(isinstance(m, nn.Dropout) for m in block) for block in generator.decoder]
    assert dropout == [True, True, True, False, False, False, False]
    assert all(type(block[-1]) is nn.ReLU for block in generator.decoder)
    # RNN: two 1x1 convolutions over [input, hidden].
    assert generator.rnn.to_output.kernel_size == (1, 1) and generator.rnn.to_hidden.kernel_size == (1, 1)
    assert generator.rnn.to_output.in_channels == 1024
    assert isinstance(generator.output[-1], nn.Tanh) and generator.output[0].out_channels == 1


@pytest.mark.parametrize("size", [(64, 64), (37, 50), (5, 3)])
@pytest.mark.parametrize("channels", [(1, 3), (3, 1), (3, 3)])
def test_any_frame_size_round_trips(size, channels):
    generator = small(*channels)
    video = torch.rand(2, 3, channels[0], *size) * 2 - 1
    output = generator(video)
    assert output.shape == (2, 3, channels[1], *size)
    assert output.abs().max() <= 1


@pytest.mark.parametrize("recurrent", [True, False])
def test_step_streams_the_same_output_as_forward_in_eval_mode(recurrent):
    torch.manual_seed(0)
    generator = small(recurrent=recurrent).eval()
    video = torch.rand(2, 4, 1, 40, 24) * 2 - 1
    with torch.no_grad():
        whole = generator(video)
        state = None
        streamed = []
        for t in range(video.shape[1]):
            frame, state = generator.step(video[:, t], state)
            streamed.append(frame)
    torch.testing.assert_close(torch.stack(streamed, dim=1), whole, rtol=1e-5, atol=1e-5)
    assert (state is None) == (not recurrent)


def test_recurrent_output_depends_on_earlier_frames_per_frame_does_not():
    torch.manual_seed(0)
    video = torch.rand(1, 3, 1, 64, 64) * 2 - 1
    changed = video.clone()
    changed[:, 0] = -changed[:, 0]
    for recurrent, expect_change in ((True, True), (False, False)):
        # Instance norm: no statistics shared between frames, so only the RNN links them.
        generator = small(recurrent=recurrent, norm="instance").eval()
        with torch.no_grad():
            difference = (generator(video)[:, 2] - generator(changed)[:, 2]).abs().max()
        assert (difference > 1e-3) == expect_change, difference


def test_gradients_reach_every_parameter():
    generator = small()
    generator(torch.rand(1, 3, 1, 32, 32)).square().mean().backward()
    missing = [name for name, p in generator.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_bad_inputs_are_named():
    generator = small()
    with pytest.raises(ValueError, match="expects 1"):
        generator(torch.rand(1, 2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\[B, T, C, H, W\]"):
        generator(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        generator.step(torch.rand(1, 1, 1, 32, 32))
    _, state = generator.eval().step(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="recurrent state"):
        generator.step(torch.rand(1, 1, 64, 64), state)
    with pytest.raises(ValueError, match="dropout_layers"):
        RecurrentUNet(1, 3, channels=8, max_channels=16, depth=2, dropout_layers=3, norm="batch")


def test_instance_norm_option():
    generator = small(norm="instance")
    assert any(isinstance(m, nn.InstanceNorm2d) for m in generator.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in generator.modules())
    with pytest.raises(ValueError, match="norm"):
        small(norm="layer")


def test_instance_norm_refuses_frames_that_reach_a_1x1_bottleneck():
    generator = RecurrentUNet(3, 1, channels=4, max_channels=8, depth=3, dropout_layers=1, norm="instance")
    with pytest.raises(ValueError, match=r"8x8 reach a 1x1 bottleneck at depth 3.*model.gen_depth"):
        generator(torch.zeros(1, 2, 3, 8, 8))
    with pytest.raises(ValueError, match="1x1 bottleneck"):
        generator.step(torch.zeros(1, 3, 8, 5))
    assert generator(torch.zeros(1, 2, 3, 9, 9)).shape == (1, 2, 1, 9, 9)  # padded to 16: a 2x2 bottleneck


@pytest.mark.parametrize("channels", [(1, 3), (3, 3)])
@pytest.mark.parametrize("recurrent", [False, True])
def test_residual_output_is_the_input_plus_a_correction(channels, recurrent):
    torch.manual_seed(0)
    generator = small(*channels, residual=True, recurrent=recurrent).eval()
    assert isinstance(generator.output, nn.Conv2d)  # no tanh
    video = torch.rand(1, 4, channels[0], 37, 50) * 2 - 1
    with torch.no_grad():
        generator.output.weight.zero_()
        generator.output.bias.zero_()
        assert torch.equal(generator(video), video.expand(-1, -1, channels[1], -1, -1))
        generator.output.bias.fill_(0.25)
        assert torch.allclose(generator(video), video.expand(-1, -1, channels[1], -1, -1) + 0.25)
        torch.nn.init.normal_(generator.output.weight, std=0.5)
        state, stepped = None, []
        for t in range(4):
            out, state = generator.step(video[:, t], state)
            stepped.append(out)
        assert torch.allclose(torch.stack(stepped, dim=1), generator(video), atol=1e-5)


def test_residual_output_needs_enough_input_channels():
    with pytest.raises(ValueError, match="in_channels must be 1 or at least out_channels=3"):
        small(2, 3, residual=True)
    small(3, 1, residual=True)  # the last channel is the base


def test_residual_base_is_the_input_s_last_channels():
    """Six input channels (an original and a processed frame): the output corrects the processed one."""
    generator = small(6, 3, residual=True).eval()
    video = torch.rand(1, 2, 6, 32, 32) * 2 - 1
    with torch.no_grad():
        generator.output.weight.zero_()
        generator.output.bias.zero_()
        assert torch.equal(generator(video), video[:, :, 3:])
