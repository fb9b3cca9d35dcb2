"""The paper's RNN U-Net generator (section 3.2.1, docs/training.md) and its per-frame variant.

Encoder ``C64-C128-C256-C512-C512-C512-C512``, an RNN at the bottleneck that carries the previous
frame's bottleneck feature to the current frame, decoder ``CD512-CD512-CD512-C512-C256-C128-C64``
with U-Net skips, and a 3x3 output convolution with tanh. Without the RNN it is the image2image
baseline's U-Net. With ``residual=True`` the output convolution's result is added to the input
instead (no tanh): the network learns a correction of its input (docs/training.md#residual-output).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import LEAKY_SLOPE, ConvRNNCell, channel_widths, conv_block, init_weights, up_block

__all__ = ["RecurrentUNet"]


class RecurrentUNet(nn.Module):
    """U-Net over video frames with a convolutional RNN at the bottleneck.

    Args:
        in_channels: channels of an input frame (the task's ``cin``).
        out_channels: channels of an output frame (the task's ``cout``).
        channels: width of the first encoder layer; each further layer doubles it.
        max_channels: cap on the width.
        depth: number of stride-2 encoder layers (and of decoder layers); frames are padded to a
            multiple of ``2**depth`` and the output is cropped back, so any frame size works.
        dropout_layers: how many of the first decoder layers are ``CDk`` (50% dropout).
        recurrent: False gives the per-frame U-Net of the image2image setting.
        norm: ``"batch"`` (the paper) or ``"instance"``.
        residual: output = the input's last ``out_channels`` channels (a one-channel input
            repeated over the output channels) + the output convolution, not bounded by tanh: for
            superres the whole input, for stabilize the processed frame after the original; needs
            ``in_channels`` of 1 or at least ``out_channels``. False: tanh of the output
            convolution (the paper).

    Frames of a clip go through the convolutions as one batch; only the 1x1 RNN runs frame by
    frame. ``forward`` and repeated ``step`` calls agree in eval mode.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        channels: int,
        max_channels: int,
        depth: int,
        dropout_layers: int,
        norm: str,
        recurrent: bool = True,
        residual: bool = False,
    ):
        super().__init__()
        if residual and not (in_channels == 1 or in_channels >= out_channels):
            raise ValueError(
                f"residual=True adds the input's last channels to the output, so in_channels must be 1 or at least "
                f"out_channels={out_channels}, got {in_channels}"
            )
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if not 0 <= dropout_layers <= depth:
            raise ValueError(f"dropout_layers must be in [0, depth={depth}], got {dropout_layers}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.depth = depth
        self.recurrent = recurrent
        self.norm = norm
        self.residual = residual
        widths = channel_widths(channels, max_channels, depth)

        self.encoder = nn.ModuleList(
            conv_block(in_channels if i == 0 else widths[i - 1], widths[i], norm=None if i == 0 else norm)
            for i in range(depth)
        )
        bottleneck = widths[-1]
        self.rnn = (
            ConvRNNCell(bottleneck, bottleneck, bottleneck, output_activation=nn.LeakyReLU(LEAKY_SLOPE))
            if recurrent
            else None
        )
        # Decoder layer j doubles the resolution to that of encoder layer d-2-j, whose output it is
        # concatenated with before layer j+1 (the U-Net skip).
        self.decoder = nn.ModuleList()
        for j in range(depth):
            skip_in = 0 if j == 0 else widths[depth - 1 - j]
            previous = widths[depth - 1] if j == 0 else widths[depth - j]
            self.decoder.append(
                up_block(previous + skip_in, widths[depth - 1 - j], norm=norm, dropout=j < dropout_layers)
            )
        # The decoder already restores full resolution (depth up-samplings for depth down-samplings),
        # so the output layer maps channels without resampling.
        output_conv = nn.Conv2d(widths[0], out_channels, 3, padding=1)
        self.output = output_conv if residual else nn.Sequential(output_conv, nn.Tanh())
        init_weights(self)

    @property
    def stride(self) -> int:
        """Total down-sampling factor; frames are padded to a multiple of it."""
        return 2**self.depth

    def _pad(self, frames: torch.Tensor) -> torch.Tensor:
        height, width = frames.shape[-2:]
        pad_h, pad_w = -height % self.stride, -width % self.stride
        if self.norm == "instance" and min(height + pad_h, width + pad_w) < 2 * self.stride:
            # The last encoder layer's instance norm would normalise a single value per channel.
            raise ValueError(
                f"frames of {height}x{width} reach a 1x1 bottleneck at depth {self.depth}, where instance norm "
                f"is undefined: use frames larger than {self.stride} pixels on each side, a smaller "
                f"model.gen_depth, or model.norm=batch"
            )
        if pad_h == 0 and pad_w == 0:
            return frames
        # Replicate (not reflect) padding works for frames smaller than the padding itself.
        return F.pad(frames, (0, pad_w, 0, pad_h), mode="replicate")

    def _encode(self, frames: torch.Tensor) -> list[torch.Tensor]:
        features = []
        x = frames
        for layer in self.encoder:
            x = layer(x)
            features.append(x)
        return features

    def _decode(self, bottleneck: torch.Tensor, features: list[torch.Tensor], frames: torch.Tensor) -> torch.Tensor:
        """The output of ``frames`` ``[N, Cin, H, W]`` (unpadded) from its padded features."""
        x = bottleneck
        for j, layer in enumerate(self.decoder):
            if j > 0:
                x = torch.cat([x, features[self.depth - 1 - j]], dim=1)
            x = layer(x)
        height, width = frames.shape[-2:]
        output = self.output(x)[..., :height, :width]
        if self.residual:
            base = frames.expand(-1, self.out_channels, -1, -1) if self.in_channels == 1 else frames[:, -self.out_channels :]
            output = output + base
        return output

    def _check_channels(self, channels: int, what: str) -> None:
        if channels != self.in_channels:
            raise ValueError(f"{what} has {channels} channels, the generator expects {self.in_channels}")

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Translate a clip: ``[B, T, Cin, H, W]`` in [-1, 1] to ``[B, T, Cout, H, W]`` (in [-1, 1]
        unless ``residual``, whose corrections may overshoot; displays and metrics clamp)."""
        if video.dim() != 5:
            raise ValueError(f"video must be [B, T, C, H, W], got shape {tuple(video.shape)}")
        batch, frames, channels = video.shape[:3]
        self._check_channels(channels, "video")
        flat = video.flatten(0, 1)
        features = self._encode(self._pad(flat))
        bottleneck = features[-1]
        if self.rnn is not None:
            per_frame = bottleneck.unflatten(0, (batch, frames))
            hidden = None
            outputs = []
            for t in range(frames):
                out, hidden = self.rnn(per_frame[:, t], hidden)
                outputs.append(out)
            bottleneck = torch.stack(outputs, dim=1).flatten(0, 1)
        return self._decode(bottleneck, features, flat).unflatten(0, (batch, frames))

    def step(self, frame: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Translate one frame of a stream: ``[B, Cin, H, W]`` -> ``([B, Cout, H, W], state)``.

        Pass ``state=None`` at the start of a shot and the returned state with the next frame.
        The state is the RNN's hidden map (None for the per-frame generator); memory stays
        constant however long the video.
        """
        if frame.dim() != 4:
            raise ValueError(f"frame must be [B, C, H, W], got shape {tuple(frame.shape)}")
        self._check_channels(frame.shape[1], "frame")
        features = self._encode(self._pad(frame))
        bottleneck = features[-1]
        if self.rnn is not None:
            bottleneck, state = self.rnn(bottleneck, state)
        return self._decode(bottleneck, features, frame), state
