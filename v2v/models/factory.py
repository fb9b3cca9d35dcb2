"""Networks of a run, built from its :class:`~v2v.config.RunConfig` (task, setting, resolved model)."""

from __future__ import annotations

from torch import nn

from v2v.config import ConfigError, RunConfig
from v2v.data import task_channels

from .discriminator import PatchDiscriminator, TwoChannelDiscriminator
from .generator import RecurrentUNet

__all__ = ["build_generator", "build_discriminator"]


def _require_resolved(config: RunConfig) -> None:
    unresolved = [k for k, v in vars(config.model).items() if v is None]
    if unresolved:
        raise ConfigError(
            f"model.{unresolved[0]} is null: resolve the config first (v2v.config.load_config or resolve_config)"
        )


def build_generator(config: RunConfig) -> RecurrentUNet:
    """The RNN U-Net (or, for ``image2image``, the per-frame U-Net) of the task's channels."""
    _require_resolved(config)
    in_channels, out_channels = task_channels(config.task)
    model = config.model
    return RecurrentUNet(
        in_channels,
        out_channels,
        channels=model.gen_channels,
        max_channels=model.gen_max_channels,
        depth=model.gen_depth,
        dropout_layers=model.gen_dropout_layers,
        recurrent=config.setting_switches.recurrent_generator,
        norm=model.norm,
    )


def build_discriminator(config: RunConfig) -> nn.Module:
    """The setting's discriminator: two-channel (or spatial-only) recurrent, or per-frame PatchGAN."""
    _require_resolved(config)
    in_channels, out_channels = task_channels(config.task)
    model = config.model
    arch = dict(channels=model.disc_channels, max_channels=model.disc_max_channels, depth=model.disc_depth, norm=model.norm)
    switches = config.setting_switches
    if switches.per_frame_discriminator:
        return PatchDiscriminator(in_channels, out_channels, **arch)
    return TwoChannelDiscriminator(in_channels, out_channels, temporal=switches.temporal_discriminator, **arch)
