"""``python -m v2v.train``: train a video-to-video translation model.

    python -m v2v.train                                   # the quickstart (CPU, a few minutes)
    python -m v2v.train --config paper train.steps=1000   # a shipped config or a YAML path, with overrides
    python -m v2v.train --resume runs/quickstart-...      # continue a run exactly where it stopped
    python -m v2v.train --dry-run setting=image2image     # print the resolved config, check one clip, write nothing
    torchrun --nproc_per_node 8 -m v2v.train --config paper   # one process per GPU (DDP)

See docs/training.md for the settings, tasks, presets and every config key.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import yaml

from v2v.config import ConfigError, RunConfig, apply_overrides, available_configs, config_from_dict, config_to_dict, load_config, resolve_config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m v2v.train",
        description="Train a video-to-video translation GAN (Wei et al., MM 2018).",
        epilog="Overrides are dotted key=value pairs, e.g. train.steps=200 model.preset=small task=segmentation.",
    )
    parser.add_argument(
        "-c",
        "--config",
        default=None,
        help="shipped config name or YAML path (default: quickstart); shipped: " + ", ".join(available_configs()),
    )
    parser.add_argument("--resume", default=None, metavar="RUN", help="run directory or checkpoint file to continue")
    parser.add_argument("--dry-run", action="store_true", help="resolve the config, build everything, run one clip; write nothing")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    return parser


def _resume_config(resume: str, overrides: list[str]) -> RunConfig:
    from v2v.models import read_checkpoint

    checkpoint = read_checkpoint(resume)
    values = apply_overrides(checkpoint["config"], overrides)
    return resolve_config(config_from_dict(RunConfig, values))


def _dry_run(config: RunConfig) -> None:
    """Build the networks and data sets and push the first training clip through one step's
    computation without updating anything."""
    from v2v.data import build_dataset
    from v2v.losses import discriminator_loss, residual_errors, spatial_loss, temporal_loss
    from v2v.models import build_discriminator, build_generator
    from v2v.train.data import collate_clips

    print(yaml.safe_dump(config_to_dict(config), sort_keys=False), end="")
    print("---")
    generator, discriminator = build_generator(config), build_discriminator(config)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    print(f"generator:     {type(generator).__name__}, {count(generator):,} parameters")
    print(f"discriminator: {type(discriminator).__name__}, {count(discriminator):,} parameters")
    train_set = build_dataset(config.data, "train", config.task)
    val_set = build_dataset(config.data, "val", config.task)
    print(f"data:          {len(train_set)} training clips, {len(val_set)} validation videos")
    batch = collate_clips([train_set[0]])
    with torch.no_grad():
        generated = generator(batch["input"])
        residual_generated, residual_target = residual_errors(
            generated, batch["target"], batch["flow_fwd"], batch["flow_bwd"], check_flows=False
        )
        judge = config.setting_switches.temporal_discriminator
        real = discriminator(batch["input"], batch["target"], residual_target if judge else None)
        fake = discriminator(batch["input"], generated, residual_generated if judge else None)
    print(
        f"one clip:      input {tuple(batch['input'].shape)} -> output {tuple(generated.shape)}, "
        f"residual {tuple(residual_generated.shape)}, decision {tuple(real.shape)}"
    )
    print(
        f"losses:        spatial {float(spatial_loss(generated, batch['target'])):.4f}, "
        f"temporal {float(temporal_loss(residual_generated)):.4f}, d {float(discriminator_loss(real, fake)):.4f}"
    )
    name = config.train.run_name or f"{config.name}-<timestamp>"
    print(f"run directory: {Path(config.train.runs_dir) / name} (dry run: nothing written)")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.resume is not None:
            if args.config is not None:
                raise ConfigError("--config: a resumed run keeps its own config; pass only key=value overrides")
            config = _resume_config(args.resume, args.overrides)
        else:
            config = load_config(args.config or "quickstart", args.overrides)
    except (ConfigError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.dry_run:
        _dry_run(config)
        return 0
    from v2v.train.loop import train

    try:
        result = train(config, resume=args.resume)
    except (ConfigError, FileExistsError) as error:  # incompatible resume, run directory taken
        print(f"error: {error}", file=sys.stderr)
        return 2
    if result.metrics is not None:
        means = ", ".join(f"{k} {v:.4g}" for k, v in result.metrics["mean"].items())
        print(f"done: {result.run_dir} (step {result.step}); validation: {means}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
