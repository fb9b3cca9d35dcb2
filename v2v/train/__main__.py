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
import sys
import textwrap
from pathlib import Path

import torch
import yaml

from v2v.config import DEFAULT_CONFIG, RunConfig, available_configs, load_config, run_config, run_keys
from v2v.config_engine import ConfigError, field_docs, flatten, plain_text, to_dict
from v2v.data import build_dataset
from v2v.losses import discriminator_loss, residual_errors, spatial_loss, temporal_loss
from v2v.models import build_discriminator, build_generator, dataset_processors, read_checkpoint
from v2v.runtime import ThreadsOption, command_name, require_kernels, resolve_device, run_command
from v2v.train.data import collate_clips
from v2v.train.loop import latest_run, train


def _yaml_value(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def config_keys_help() -> str:
    """Every config key with the value a bare run uses (the default config's) and its meaning,
    generated from the config dataclasses."""
    bare = flatten(to_dict(load_config(DEFAULT_CONFIG)))
    lines = [f"config keys (key=value overrides); the value shown is what a bare run uses (the {DEFAULT_CONFIG} config "
             "over the dataclass defaults):"]
    for entry in run_keys():
        lines.append(f"  {entry.key} = {_yaml_value(bare[entry.key])}")
        lines.extend(textwrap.wrap(plain_text(entry.meaning), width=96, initial_indent="      ", subsequent_indent="      "))
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=command_name("v2v.train"),
        description="Train a video-to-video translation GAN (Wei et al., MM 2018). "
        "Overrides are dotted key=value pairs, e.g. train.steps=200 model.preset=small task=segmentation.",
        epilog=config_keys_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-c",
        "--config",
        default=None,
        help=f"shipped config name or YAML path (default: {DEFAULT_CONFIG}); shipped: " + ", ".join(available_configs()),
    )
    parser.add_argument(
        "--resume",
        default=None,
        metavar="RUN",
        help="run directory or checkpoint file to continue; 'auto': the newest run of this config's name "
        "(train.run_name when set) under train.runs_dir, or a new run when there is none",
    )
    parser.add_argument("--dry-run", action="store_true", help="resolve the config, build everything, run one clip; write nothing")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help=f"the same as the override train.threads=N: {plain_text(field_docs(ThreadsOption)['threads'])}")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    return parser


def _dry_run(config: RunConfig) -> None:
    """Build the networks and data sets and push the first training clip through one step's
    computation without updating anything."""
    print(yaml.safe_dump(to_dict(config), sort_keys=False), end="")
    print("---")
    generator = build_generator(config.model, config.task, config.setting_switches)
    discriminator = build_discriminator(config.model, config.task, config.setting_switches)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    print(f"generator:     {type(generator).__name__}, {count(generator):,} parameters")
    print(f"discriminator: {type(discriminator).__name__}, {count(discriminator):,} parameters")
    processors = dataset_processors(config.data, config.task)
    train_set = build_dataset(config.data, "train", config.task, processors=processors)
    val_set = build_dataset(config.data, "val", config.task, processors=processors)
    print(f"data:          {len(train_set)} training clips, {len(val_set)} validation videos")
    batch = collate_clips([train_set[0]])
    with torch.no_grad():
        generated = generator(batch["input"])
        residual_generated, residual_target = residual_errors(
            generated, batch["temporal_target"], batch["flow_fwd"], batch["flow_bwd"], check_flows=False
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


def _config(args: argparse.Namespace) -> tuple[RunConfig, str | Path | None]:
    """The run's config and what it resumes (None: a new run)."""
    if args.threads is not None:
        args.overrides = [*args.overrides, f"train.threads={args.threads}"]
    if args.resume == "auto":
        config = load_config(args.config or DEFAULT_CONFIG, args.overrides)
        resume = latest_run(config)
        print(f"--resume auto: {f'continuing {resume}' if resume else 'no run to continue, starting a new one'}", file=sys.stderr)
        return config, resume
    if args.resume is not None:
        if args.config is not None:
            raise ConfigError("--config", "a resumed run keeps its own config; pass only key=value overrides (or use --resume auto)")
        return run_config(read_checkpoint(args.resume)["config"], args.overrides), args.resume
    return load_config(args.config or DEFAULT_CONFIG, args.overrides), None


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status: 0 done, 2 bad arguments or missing data, 128 + the
    signal number when SIGTERM or SIGINT stopped the run (after a checkpoint; ``--resume`` continues)."""
    args = _parser().parse_args(argv)

    def work() -> int:
        config, resume = _config(args)
        require_kernels(resolve_device(config.train.device))  # before any heavy work
        if args.dry_run:
            _dry_run(config)
            return 0
        result = train(config, resume=resume)
        if result.stopped_by is not None:
            print(f"stopped by {result.stopped_by.name} after step {result.step}: continue with --resume {result.run_dir}", file=sys.stderr)
            return 128 + int(result.stopped_by)
        means = ", ".join(f"{k} {v:.4g}" for k, v in result.metrics["mean"].items()) if result.metrics else "none"
        print(f"done: {result.run_dir} (step {result.step}); validation: {means}")
        flow = config.data.flow
        if flow.resolve(config.data.has_exact_flow) != "exact" and flow.cache_root() is not None:
            print(flow.build_cache().usage().describe(), file=sys.stderr)
        return 0

    return run_command(work)


if __name__ == "__main__":
    sys.exit(main())
