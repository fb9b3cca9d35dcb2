"""Building blocks shared by the generator and the discriminators (docs/training.md).

``Ck`` is a 4x4 stride-2 convolution, a norm and a ReLU; ``CDk`` adds 50% dropout after the norm.
Encoder ReLUs are leaky (slope 0.2), decoder ReLUs are not; the first encoder layer has no norm.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["NORMS", "conv_block", "up_block", "ConvRNNCell", "channel_widths", "init_weights"]

NORMS = ("batch", "instance")
LEAKY_SLOPE = 0.2


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        # affine=True so that instance norm has the same learnable scale/shift as batch norm.
        return nn.InstanceNorm2d(channels, affine=True)
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


def channel_widths(channels: int, max_channels: int, depth: int) -> list[int]:
    """Widths of ``depth`` layers doubling from ``channels``, capped at ``max_channels``."""
    return [min(channels * 2**i, max_channels) for i in range(depth)]


def conv_block(in_channels: int, out_channels: int, *, norm: str | None, stride: int = 2) -> nn.Sequential:
    """Encoder ``Ck``: 4x4 convolution, optional norm, leaky ReLU (0.2)."""
    # A norm right after the convolution makes its bias redundant.
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, 4, stride=stride, padding=1, bias=norm is None)
    ]
    if norm is not None:
        layers.append(_norm(norm, out_channels))
    layers.append(nn.LeakyReLU(LEAKY_SLOPE))
    return nn.Sequential(*layers)


def up_block(in_channels: int, out_channels: int, *, norm: str, dropout: bool) -> nn.Sequential:
    """Decoder ``Ck``/``CDk``: 4x4 stride-2 transposed convolution, norm, optional 50% dropout, ReLU."""
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
        _norm(norm, out_channels),
    ]
    if dropout:
        layers.append(nn.Dropout(0.5))
    layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ConvRNNCell(nn.Module):
    """The paper's RNN layer: concatenate input and hidden state, two 1x1 convolutions give the
    output and the next hidden state.

    The hidden state goes through tanh so that it stays bounded over arbitrarily long videos
    (streaming inference); the output keeps the activation its consumer expects.
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, *, output_activation: nn.Module):
        super().__init__()
        self.hidden_channels = hidden_channels
        self.to_output = nn.Conv2d(in_channels + hidden_channels, out_channels, 1)
        self.to_hidden = nn.Conv2d(in_channels + hidden_channels, hidden_channels, 1)
        self.output_activation = output_activation

    def forward(self, x: torch.Tensor, hidden: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step: ``x`` ``[B, C, h, w]`` and the previous hidden state (None: zeros)."""
        if hidden is None:
            hidden = x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[2:])
        elif hidden.shape[0] != x.shape[0] or hidden.shape[2:] != x.shape[2:]:
            raise ValueError(
                f"recurrent state of shape {tuple(hidden.shape)} does not fit a feature map of shape "
                f"{tuple(x.shape)}: frames of a shot must share batch size and frame size"
            )
        joint = torch.cat([x, hidden.to(x.dtype)], dim=1)
        return self.output_activation(self.to_output(joint)), torch.tanh(self.to_hidden(joint))


def init_weights(module: nn.Module) -> None:
    """pix2pix initialisation: convolutions N(0, 0.02), norm scales N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
