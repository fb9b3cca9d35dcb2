"""Discriminators (paper section 3.2.2, docs/training.md).

* :class:`TwoChannelDiscriminator`: the paper's discriminator. Each channel is
  ``C64-C128-C256-C512-RNN-AvePool``: a Markovian (PatchGAN) encoder applied to every frame, a 1x1
  convolutional RNN over the frames giving a logit per patch, and the average over patches and
  frames. The spatial channel sees the input and output videos together (conditional GAN, eq. 5);
  the temporal channel sees residual errors (E^o or E^g), without normalisation by default (a norm
  would divide out their scale, the thing it judges). Their logits, concatenated, are the decision
  ``[B, 2]`` (``[B, 1]`` with the spatial channel only).
* :class:`PatchDiscriminator`: pix2pix's per-frame 70x70 PatchGAN for the image2image setting.

Both return logits; every entry of the returned tensor is one real/fake decision, so the GAN loss
is a binary cross-entropy averaged over all entries (see :mod:`v2v.losses`).
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import ConvRNNCell, channel_widths, conv_block, init_weights

__all__ = ["RecurrentPatchChannel", "TwoChannelDiscriminator", "PatchDiscriminator"]


def _conv_output_size(size: int, layers: int, stride: int) -> int:
    for _ in range(layers):
        size = (size + 2 - 4) // stride + 1
    return size


def _check_frame_size(module: str, height: int, width: int, minimum: int) -> None:
    if height < minimum or width < minimum:
        raise ValueError(f"{module} needs frames of at least {minimum}x{minimum} pixels, got {height}x{width}")


class RecurrentPatchChannel(nn.Module):
    """One channel of the paper's discriminator: per-frame PatchGAN convolutions, an RNN over frames,
    average pooling over patches and frames.

    Args:
        in_channels: channels of the frames this channel reads.
        channels, max_channels, depth: widths of the ``depth`` stride-2 ``Ck`` layers.
        norm: ``"batch"``, ``"instance"`` or None (no layer normalised); the first layer has none.
    """

    def __init__(self, in_channels: int, *, channels: int, max_channels: int, depth: int, norm: str | None):
        super().__init__()
        widths = channel_widths(channels, max_channels, depth)
        self.depth = depth
        self.convs = nn.Sequential(
            *(
                conv_block(in_channels if i == 0 else widths[i - 1], widths[i], norm=None if i == 0 else norm)
                for i in range(depth)
            )
        )
        # The RNN's output is one logit per patch; its hidden state keeps the full width.
        self.rnn = ConvRNNCell(widths[-1], widths[-1], 1, output_activation=nn.Identity())

    @property
    def min_frame_size(self) -> int:
        """Smallest frame side that leaves at least one patch."""
        return 2**self.depth

    def patch_logits(self, video: torch.Tensor) -> torch.Tensor:
        """Per-patch, per-frame logits ``[B, T, 1, h, w]`` of a video ``[B, T, C, H, W]``."""
        batch, frames = video.shape[:2]
        _check_frame_size(type(self).__name__, *video.shape[-2:], self.min_frame_size)
        features = self.convs(video.flatten(0, 1)).unflatten(0, (batch, frames))
        hidden = None
        logits = []
        for t in range(frames):
            out, hidden = self.rnn(features[:, t], hidden)
            logits.append(out)
        return torch.stack(logits, dim=1)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """One logit per video, ``[B]``: the average of the patch logits over patches and frames."""
        return self.patch_logits(video).mean(dim=(1, 2, 3, 4))


class TwoChannelDiscriminator(nn.Module):
    """The paper's discriminator: a spatial channel and, optionally, a temporal channel.

    Args:
        in_channels: channels of an input frame (the task's ``cin``).
        out_channels: channels of an output frame (the task's ``cout``); also the channels of a
            residual error.
        temporal: build the temporal channel (setting ``video2video+local+global``).
        channels, max_channels, depth, norm: architecture of each channel.
        temporal_norm: the temporal channel's ``norm`` (None: no normalisation). A norm after the
            first convolution (bias-free at initialisation) and leaky ReLU, which both scale with
            their input, divides out the residuals' scale wherever the features' variance dominates
            the norm's epsilon, so the channel judges their pattern and not their size.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        temporal: bool,
        channels: int,
        max_channels: int,
        depth: int,
        norm: str,
        temporal_norm: str | None = None,
    ):
        super().__init__()
        arch = dict(channels=channels, max_channels=max_channels, depth=depth)
        self.spatial = RecurrentPatchChannel(in_channels + out_channels, **arch, norm=norm)
        self.temporal = RecurrentPatchChannel(out_channels, **arch, norm=temporal_norm) if temporal else None
        init_weights(self)

    def forward(
        self, input_video: torch.Tensor, output_video: torch.Tensor, residual: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Decision logits ``[B, 2]`` (spatial, temporal), or ``[B, 1]`` without the temporal channel.

        Args:
            input_video: ``[B, T, Cin, H, W]``, the condition.
            output_video: ``[B, T, Cout, H, W]``, generated or ground truth.
            residual: ``[B, T-1, Cout, H, W]``, the residual errors of ``output_video``; required
                exactly when the temporal channel exists.
        """
        if input_video.shape[:2] != output_video.shape[:2] or input_video.shape[-2:] != output_video.shape[-2:]:
            raise ValueError(
                f"input_video {tuple(input_video.shape)} and output_video {tuple(output_video.shape)} "
                "must share batch, frames and frame size"
            )
        logits = [self.spatial(torch.cat([input_video, output_video], dim=2))]
        if self.temporal is not None:
            if residual is None:
                raise ValueError("the temporal channel needs the residual errors: pass residual")
            logits.append(self.temporal(residual))
        elif residual is not None:
            raise ValueError("residual given, but this discriminator has no temporal channel")
        return torch.stack(logits, dim=1)


class PatchDiscriminator(nn.Module):
    """pix2pix's conditional PatchGAN, applied to every frame independently (image2image setting).

    ``depth - 1`` stride-2 ``Ck`` layers, one stride-1 ``Ck`` layer and a stride-1 convolution to
    one logit per patch; with the paper preset (depth 4) that is the 70x70 PatchGAN
    ``C64-C128-C256-C512``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        channels: int,
        max_channels: int,
        depth: int,
        norm: str,
    ):
        super().__init__()
        if depth < 2:
            raise ValueError(f"depth must be >= 2, got {depth}")
        widths = channel_widths(channels, max_channels, depth)
        layers = [
            conv_block(
                in_channels + out_channels if i == 0 else widths[i - 1],
                widths[i],
                norm=None if i == 0 else norm,
                stride=2 if i < depth - 1 else 1,
            )
            for i in range(depth)
        ]
        layers.append(nn.Conv2d(widths[-1], 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)
        self.depth = depth
        init_weights(self)

    @property
    def min_frame_size(self) -> int:
        """Smallest frame side that leaves at least one patch."""
        size = 1
        while _conv_output_size(_conv_output_size(size, self.depth - 1, 2), 2, 1) < 1:
            size += 1
        return size

    def forward(
        self, input_video: torch.Tensor, output_video: torch.Tensor, residual: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Patch logits ``[B, T, 1, h, w]`` of every frame, conditioned on the input frame."""
        if residual is not None:
            raise ValueError("the per-frame PatchGAN has no temporal channel: residual must be None")
        if input_video.shape[:2] != output_video.shape[:2] or input_video.shape[-2:] != output_video.shape[-2:]:
            raise ValueError(
                f"input_video {tuple(input_video.shape)} and output_video {tuple(output_video.shape)} "
                "must share batch, frames and frame size"
            )
        _check_frame_size(type(self).__name__, *input_video.shape[-2:], self.min_frame_size)
        batch, frames = input_video.shape[:2]
        pairs = torch.cat([input_video, output_video], dim=2).flatten(0, 1)
        return self.net(pairs).unflatten(0, (batch, frames))
