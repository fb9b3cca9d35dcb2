"""A tiny randomly initialised generator checkpoint for the translate/evaluate tests."""

from __future__ import annotations

from pathlib import Path

import torch

from v2v.config import ModelConfig, RunConfig, resolve_config
from v2v.config_engine import to_dict
from v2v.data import DataConfig
from v2v.models import build_generator
from v2v.models.checkpoint import new_checkpoint, save_checkpoint


def make_run(run_dir: Path, task: str, setting: str = "video2video+local+global", seed: int = 0, **data) -> Path:
    """Write ``run_dir/checkpoints/step_0000001.pt`` with a 3-level generator of width 4-8; returns the run dir."""
    data_config = DataConfig(frame_size=(32, 40), num_val_sequences=2, eval_clip_length=5, num_train_sequences=2, **data)
    config = RunConfig(
        task=task,
        setting=setting,
        model=ModelConfig(preset="small", gen_channels=4, gen_max_channels=8, gen_depth=3,
                          disc_channels=4, disc_max_channels=8, disc_depth=2),
        data=data_config,
    )
    config = resolve_config(config)
    torch.manual_seed(seed)
    generator = build_generator(config.model, config.task, config.setting_switches)
    with torch.no_grad():
        # larger weights than the training initialisation, so that outputs vary with the input
        # and with the recurrent state; non-trivial batch-norm statistics exercise eval mode
        for name, parameter in generator.named_parameters():
            if name.endswith("weight") and parameter.dim() == 4:
                fan_in = parameter.shape[1] * parameter.shape[2] * parameter.shape[3]
                parameter.normal_(0.0, 1.5 / fan_in**0.5)
        for module in generator.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    save_checkpoint(run_dir, new_checkpoint(1, to_dict(config), generator=generator.state_dict()))
    return run_dir
