"""``python -m v2v.train``: train a video-to-video translation model.

    python -m v2v.train                                   # the quickstart (CPU, a few minutes)
    python -m v2v.train --config paper train.steps=1000   # a shipped config or a YAML path, with overrides
    python -m v2v.train --resume runs/quickstart-...      # continue a run exactly where it stopped
    python -m v2v.train --config paper --resume auto      # continue the newest run of this name, or start one
    python -m v2v.train --dry-run setting=image2image     # print the resolved config, check one clip, write nothing
    torchrun --nproc_per_node 8 -m v2v.train --config paper   # one process per GPU (DDP)

See docs/training.md for the settings, tasks, presets and every config key.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path

import torch
import yaml

from v2v.config import (
    ConfigError,
    RunConfig,
    apply_overrides,
    available_configs,
    config_from_dict,
    config_reference,
    config_to_dict,
    load_config,
    resolve_config,
)
from v2v.data.davis import DatasetNotFoundError


def _yaml_value(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def _plain_text(meaning: str) -> str:
    """A docstring fragment without its reStructuredText markup (``x``, :data:`x`)."""
    return re.sub(r":\w+:`~?([^`]+)`", r"\1", meaning).replace("``", "")


def config_keys_help() -> str:
    """Every config key with its default and meaning, generated from the config dataclasses."""
    lines = [
        "config keys (key=value overrides; the defaults are those of the dataclasses, which a --config "
        "file, quickstart by default, partly replaces):"
    ]
    for entry in config_reference():
        lines.append(f"  {entry.key} = {_yaml_value(entry.default)}")
        lines.extend(textwrap.wrap(_plain_text(entry.meaning), width=96, initial_indent="      ", subsequent_indent="      "))
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m v2v.train",
        description="Train a video-to-video translation GAN (Wei et al., MM 2018). "
        "Overrides are dotted key=value pairs, e.g. train.steps=200 model.preset=small task=segmentation.",
        epilog=config_keys_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-c",
        "--config",
        default=None,
        help="shipped config name or YAML path (default: quickstart); shipped: " + ", ".join(available_configs()),
    )
    parser.add_argument(
        "--resume",
        default=None,
        metavar="RUN",
        help="run directory or checkpoint file to continue; 'auto': the newest run of this config's name "
        "(train.run_name when set) under train.runs_dir, or a new run when there is none",
    )
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
    generator, discriminator = build_generator(config.model, config.task, config.setting_switches), build_discriminator(config.model, config.task, config.setting_switches)
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
    """Entry point; returns the exit status: 0 done, 2 bad arguments or missing data, 128 + the
    signal number when SIGTERM or SIGINT stopped the run (after a checkpoint; ``--resume`` continues)."""
    args = _parser().parse_args(argv)
    resume = args.resume
    try:
        if resume == "auto":
            from v2v.train.loop import latest_run

            config = load_config(args.config or "quickstart", args.overrides)
            resume = latest_run(config)
            print(f"--resume auto: {f'continuing {resume}' if resume else 'no run to continue, starting a new one'}", file=sys.stderr)
        elif resume is not None:
            if args.config is not None:
                raise ConfigError("--config: a resumed run keeps its own config; pass only key=value overrides (or use --resume auto)")
            config = _resume_config(resume, args.overrides)
        else:
            config = load_config(args.config or "quickstart", args.overrides)
    except (ConfigError, FileNotFoundError, ValueError) as error:  # bad arguments, unreadable checkpoint
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:  # before any heavy work: the compiled op must have kernels for the run's device
        import v2vcore
        from v2v.inference import resolve_device

        v2vcore.check_device(resolve_device(config.train.device))
    except (ConfigError, RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from v2v.train.loop import ResumeError, train

    try:
        if args.dry_run:
            _dry_run(config)
            return 0
        result = train(config, resume=resume)
    except (ConfigError, ResumeError, FileExistsError, DatasetNotFoundError) as error:
        # An incompatible resume, a taken run directory, a missing data set: one line, no traceback.
        print(f"error: {error}", file=sys.stderr)
        return 2
    if result.stopped_by is not None:
        print(f"stopped by {result.stopped_by.name} after step {result.step}: continue with --resume {result.run_dir}", file=sys.stderr)
        return 128 + int(result.stopped_by)
    if result.metrics is not None:
        means = ", ".join(f"{k} {v:.4g}" for k, v in result.metrics["mean"].items())
        print(f"done: {result.run_dir} (step {result.step}); validation: {means}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
