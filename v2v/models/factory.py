"""Networks built from a resolved :class:`~v2v.config.ModelConfig`, a task and a setting."""

from __future__ import annotations

import dataclasses

from torch import nn

from v2v.config import ModelConfig, Setting
from v2v.config_engine import ConfigError
from v2v.tasks import Task, get_task

from .discriminator import PatchDiscriminator, TwoChannelDiscriminator
from .generator import RecurrentUNet

__all__ = ["build_generator", "build_discriminator"]


def _require_resolved(model: ModelConfig) -> None:
    unresolved = [f.name for f in dataclasses.fields(model) if getattr(model, f.name) is None]
    if unresolved:
        raise ConfigError(f"model.{unresolved[0]}", "is null: resolve the config first (v2v.config.load_config or resolve_config)")


def build_generator(model: ModelConfig, task: str | Task, setting: Setting) -> RecurrentUNet:
    """The RNN U-Net (or, for a setting without a recurrent generator, the per-frame U-Net) of the
    task's channels.

    Args:
        model: a resolved model config (``config.model`` of :func:`v2v.config.load_config`).
        task: a task name or :class:`~v2v.tasks.Task`.
        setting: the setting's switches (``config.setting_switches``).
    """
    _require_resolved(model)
    in_channels, out_channels = get_task(task).channels
    return RecurrentUNet(
        in_channels,
        out_channels,
        channels=model.gen_channels,
        max_channels=model.gen_max_channels,
        depth=model.gen_depth,
        dropout_layers=model.gen_dropout_layers,
        recurrent=setting.recurrent_generator,
        norm=model.norm,
        residual=model.residual,
    )


def build_discriminator(model: ModelConfig, task: str | Task, setting: Setting) -> nn.Module:
    """The setting's discriminator: two-channel (or spatial-only) recurrent, or per-frame PatchGAN.

    Args:
        model: a resolved model config.
        task: a task name or :class:`~v2v.tasks.Task`.
        setting: the setting's switches.
    """
    _require_resolved(model)
    in_channels, out_channels = get_task(task).channels
    arch = dict(channels=model.disc_channels, max_channels=model.disc_max_channels, depth=model.disc_depth, norm=model.norm)
    if setting.per_frame_discriminator:
        return PatchDiscriminator(in_channels, out_channels, **arch)
    temporal_norm = None if model.temporal_channel_norm == "none" else model.temporal_channel_norm
    return TwoChannelDiscriminator(
        in_channels, out_channels, temporal=setting.temporal_discriminator, temporal_norm=temporal_norm, **arch
    )
