"""The training loop of paper section 3.3: alternate one Adam step on D, then one on G.

:func:`train_step` is one iteration (read it for the objective); :func:`train` is the whole run:
set-up, resume, the loop with logging and checkpoints, and the end-of-run validation. Single
process, or one process per GPU (or CPU) under ``torchrun`` with DistributedDataParallel.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from v2v.config import RESUMABLE_KEYS, ConfigError, RunConfig, config_to_dict, diff_configs, save_config
from v2v.data import build_dataset
from v2v.losses import discriminator_loss, generator_adversarial_loss, residual_errors, spatial_loss, temporal_loss
from v2v.models import build_discriminator, build_generator, find_checkpoint, read_checkpoint

from .checkpoint import capture_rng_state, new_checkpoint, prune_checkpoints, restore_rng_state, save_checkpoint
from .data import CLIP_KEYS, ResumableBatchSampler, make_loader
from .distributed import Distributed, broadcast_object, gather_objects, setup_distributed, teardown_distributed
from .reporting import RunReporter, side_by_side, write_json, write_video
from .validation import validate

__all__ = ["train", "train_step", "TrainResult", "autocast_dtype", "seed_everything", "check_resume"]

STRIP_FRAMES = 8
"""Frames shown in an image strip (a validation video may be long)."""


@dataclass
class TrainResult:
    """What :func:`train` leaves: the run directory, the last step, the raw networks and, on rank 0,
    the validation metrics."""

    run_dir: Path
    step: int
    generator: nn.Module
    discriminator: nn.Module
    metrics: dict[str, Any] | None


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``train.precision`` on ``device`` (None: full float32)."""
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def seed_everything(seed: int) -> None:
    """Seed torch (all devices), NumPy and Python's ``random``."""
    import random

    import numpy as np

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _set_requires_grad(module: nn.Module, flag: bool) -> None:
    for parameter in module.parameters():
        parameter.requires_grad_(flag)


def train_step(
    batch: dict[str, Any],
    *,
    config: RunConfig,
    generator: nn.Module,
    discriminator: nn.Module,
    frozen_discriminator: nn.Module,
    optimizer_generator: torch.optim.Optimizer,
    optimizer_discriminator: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    autocast: torch.dtype | None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One iteration: a discriminator step, then a generator step, on one batch of clips.

    Args:
        batch: ``input`` ``[B,T,Cin,H,W]``, ``target`` ``[B,T,Cout,H,W]``, ``flow_fwd``/``flow_bwd``
            ``[B,T-1,2,H,W]`` on the training device (flows already checked finite).
        generator, discriminator: the networks as trained (possibly compiled and/or DDP-wrapped).
        frozen_discriminator: the same discriminator without the DDP wrapper; the generator step
            goes through it with D's parameters frozen, so that neither D's weight gradients nor
            their all-reduce are computed for the generator's backward pass.
        autocast: dtype for ``torch.autocast`` on the batch's device, or None.

    Returns:
        The detached losses (``d``, ``g``, ``g_adversarial``, ``spatial``, ``temporal``) and the
        generated clip (detached).
    """
    switches = config.setting_switches
    weights = config.loss
    device_type = batch["input"].device.type

    def autocast_context():
        return torch.autocast(device_type, dtype=autocast) if autocast is not None else contextlib.nullcontext()

    with autocast_context():
        generated = generator(batch["input"])
    # One fused call gives E^o and E^g. Settings without a temporal term only log E^o, so they
    # pass the output detached and keep the op out of the generator's graph.
    uses_residual = switches.temporal_loss or switches.temporal_discriminator
    residual_generated, residual_target = residual_errors(
        generated if uses_residual else generated.detach(),
        batch["target"],
        batch["flow_fwd"],
        batch["flow_bwd"],
        check_flows=False,
    )
    judge_residual = switches.temporal_discriminator

    # Discriminator step: real (input, target, E^g) against fake (input, O, E^o), O held fixed.
    _set_requires_grad(frozen_discriminator, True)
    with autocast_context():
        real_logits = discriminator(batch["input"], batch["target"], residual_target if judge_residual else None)
        fake_logits = discriminator(
            batch["input"], generated.detach(), residual_generated.detach() if judge_residual else None
        )
    loss_discriminator = discriminator_loss(real_logits, fake_logits)
    optimizer_discriminator.zero_grad(set_to_none=True)
    scaler.scale(loss_discriminator).backward()
    scaler.step(optimizer_discriminator)

    # Generator step: L = w_t L_temporal + λ L_spatial + η L_cGAN (eq. 7).
    _set_requires_grad(frozen_discriminator, False)
    with autocast_context():
        fake_logits = frozen_discriminator(batch["input"], generated, residual_generated if judge_residual else None)
    loss_adversarial = generator_adversarial_loss(fake_logits)
    loss_spatial = spatial_loss(generated, batch["target"])
    loss_temporal = temporal_loss(residual_generated)
    loss_generator = weights.spatial_weight * loss_spatial + weights.gan_weight * loss_adversarial
    if switches.temporal_loss:
        loss_generator = loss_generator + weights.temporal_weight * loss_temporal
    optimizer_generator.zero_grad(set_to_none=True)
    scaler.scale(loss_generator).backward()
    scaler.step(optimizer_generator)
    scaler.update()
    _set_requires_grad(frozen_discriminator, True)

    losses = {
        "d": loss_discriminator,
        "g": loss_generator,
        "g_adversarial": loss_adversarial,
        "spatial": loss_spatial,
        "temporal": loss_temporal,
    }
    return {k: v.detach() for k, v in losses.items()}, generated.detach()


def check_resume(checkpoint: dict[str, Any], config: RunConfig, world_size: int) -> None:
    """Refuse a resume that could not continue the checkpointed run exactly.

    Raises:
        ConfigError: a config key other than :data:`~v2v.config.RESUMABLE_KEYS` differs from the
            checkpoint's (named), or ``train.steps`` is below the checkpoint's step.
        ValueError: a different number of processes than the checkpointed run.
    """
    changed = [key for key in diff_configs(checkpoint["config"], config) if key not in RESUMABLE_KEYS]
    if changed:
        raise ConfigError(
            f"--resume: {', '.join(changed)} differ(s) from the checkpointed run's config; a resumed run "
            f"may change only {', '.join(sorted(RESUMABLE_KEYS))}"
        )
    if checkpoint["step"] > config.train.steps:
        raise ConfigError(
            f"train.steps: {config.train.steps} is below the checkpoint's step {checkpoint['step']}; "
            "pass train.steps=<larger> to continue"
        )
    if checkpoint["world_size"] != world_size:
        raise ValueError(
            f"--resume: the checkpoint was written by {checkpoint['world_size']} process(es), this run has "
            f"{world_size}; the data order and per-rank random streams would not continue exactly"
        )


def _new_run_dir(config: RunConfig, env: Distributed) -> Path:
    name = config.train.run_name or f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    name = broadcast_object(env, name)
    run_dir = Path(config.train.runs_dir) / name
    if (run_dir / "checkpoints").is_dir() and any((run_dir / "checkpoints").glob("step_*.pt")):
        raise FileExistsError(
            f"run directory {run_dir} already holds checkpoints: continue it with --resume {run_dir}, "
            "or choose another train.run_name"
        )
    return run_dir


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if k in CLIP_KEYS else v for k, v in batch.items()}


def _wrap_for_training(module: nn.Module, config: RunConfig, env: Distributed) -> tuple[nn.Module, nn.Module]:
    """``(trained view, view without DDP)`` of a network: compiled if asked, then DDP if distributed."""
    compiled = torch.compile(module) if config.train.compile else module
    if not env.enabled:
        return compiled, compiled
    device_ids = [env.device] if env.device.type == "cuda" else None
    return DistributedDataParallel(compiled, device_ids=device_ids), compiled


def _checkpoint(run_dir: Path, step: int, config: RunConfig, env: Distributed, generator, discriminator, optimizers, scaler) -> None:
    # Every rank contributes its random state (dropout streams differ per rank); rank 0 writes.
    rng_states = gather_objects(env, capture_rng_state())
    if env.is_main:
        optimizer_generator, optimizer_discriminator = optimizers
        state = new_checkpoint(
            step,
            config_to_dict(config),
            generator=generator.state_dict(),
            discriminator=discriminator.state_dict(),
            optimizer_generator=optimizer_generator.state_dict(),
            optimizer_discriminator=optimizer_discriminator.state_dict(),
            scaler=scaler.state_dict(),
            rng=rng_states,
            world_size=env.world_size,
        )
        save_checkpoint(run_dir, state)
        prune_checkpoints(run_dir, config.train.keep_checkpoints)


def _finish(run_dir: Path, step: int, config: RunConfig, env: Distributed, generator: nn.Module, val_set, reporter: RunReporter) -> dict[str, Any]:
    """Validation on rank 0: metrics.json, a sample video, and TensorBoard entries."""
    result = validate(
        generator,
        val_set,
        config.task,
        env.device,
        max_videos=config.train.val_videos,
        max_frames=config.train.val_max_frames,
    )
    metrics = {
        "step": step,
        "task": config.task,
        "setting": config.setting,
        "mean": result.mean,
        "videos": result.per_video,
    }
    write_json(run_dir / "metrics.json", metrics)
    if result.sample is not None:
        name, video, output, target = result.sample
        safe_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        write_video(run_dir / "samples" / f"{safe_name}.mp4", side_by_side(video, output, target))
        reporter.strip("val/input_output_target", step, video[:STRIP_FRAMES], output[:STRIP_FRAMES], target[:STRIP_FRAMES])
        reporter.scalars(step, {f"val/{k}": v for k, v in result.mean.items()})
    return metrics


def train(config: RunConfig, *, resume: str | Path | None = None) -> TrainResult:
    """Train the generator and discriminator of ``config``; returns when ``train.steps`` are done.

    Args:
        config: a resolved config (:func:`v2v.config.load_config`).
        resume: a run directory (its newest checkpoint) or a checkpoint file to continue from; the
            run then continues in that directory with identical networks, optimiser and scaler
            states, data order and random streams (see :func:`check_resume` for what may change).

    Under ``torchrun`` every process calls this; rank 0 writes the run directory:
    ``config.yaml``, ``checkpoints/step_*.pt``, ``tensorboard/``, ``scalars.jsonl``,
    ``samples/<video>.mp4`` and ``metrics.json``.
    """
    env = setup_distributed(config.train.device)
    try:
        return _train(config, env, resume)
    finally:
        teardown_distributed(env)


def _train(config: RunConfig, env: Distributed, resume: str | Path | None) -> TrainResult:
    device = env.device
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    dtype = autocast_dtype(config.train.precision, device)

    checkpoint = None
    if resume is not None:
        checkpoint_file = find_checkpoint(resume)
        checkpoint = read_checkpoint(checkpoint_file)
        run_dir = checkpoint_file.parent.parent
        # The run may have moved since; its location is not part of the computation.
        config = dataclasses.replace(
            config, train=dataclasses.replace(config.train, runs_dir=str(run_dir.parent), run_name=run_dir.name)
        )
        check_resume(checkpoint, config, env.world_size)
    else:
        run_dir = _new_run_dir(config, env)
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, run_name=run_dir.name))

    # Everything built from the run seed comes first (weights, data set), identically on every
    # rank; only then the per-rank random stream starts (or is restored), so that a resumed run
    # draws the same dropout masks as the uninterrupted one.
    seed_everything(config.seed)
    generator = build_generator(config).to(device)
    discriminator = build_discriminator(config).to(device)
    train_set = build_dataset(config.data, "train", config.task)
    # Built now so that a broken validation split fails before hours of training, not after.
    val_set = build_dataset(config.data, "val", config.task) if env.is_main and config.train.val_videos > 0 else None
    optim = config.optim
    optimizer_generator = torch.optim.Adam(generator.parameters(), lr=optim.lr_generator, betas=(optim.beta1, optim.beta2))
    optimizer_discriminator = torch.optim.Adam(
        discriminator.parameters(), lr=optim.lr_discriminator, betas=(optim.beta1, optim.beta2)
    )
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    start_step = 0
    if checkpoint is not None:
        try:
            generator.load_state_dict(checkpoint["generator"])
            discriminator.load_state_dict(checkpoint["discriminator"])
        except RuntimeError as error:
            raise ValueError(f"--resume: the checkpoint's networks do not match this config: {error}") from error
        optimizer_generator.load_state_dict(checkpoint["optimizer_generator"])
        optimizer_discriminator.load_state_dict(checkpoint["optimizer_discriminator"])
        scaler.load_state_dict(checkpoint["scaler"])
        restore_rng_state(checkpoint["rng"][env.rank])
        start_step = checkpoint["step"]
    else:
        seed_everything(config.seed * 1_000_003 + 7919 * (env.rank + 1))

    sampler = ResumableBatchSampler(
        len(train_set),
        config.train.batch_size,
        seed=config.seed,
        rank=env.rank,
        world_size=env.world_size,
        start_step=start_step,
    )
    loader = make_loader(
        train_set, sampler, num_workers=config.train.num_workers, pin_memory=device.type == "cuda", seed=config.seed
    )
    generator_view, _ = _wrap_for_training(generator, config, env)
    discriminator_view, frozen_discriminator = _wrap_for_training(discriminator, config, env)

    reporter = None
    if env.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        if checkpoint is None:
            save_config(config, run_dir / "config.yaml")
        prune_checkpoints(run_dir, config.train.keep_checkpoints)
        # Hide events that a killed attempt logged after the step this run starts from.
        reporter = RunReporter(run_dir, purge_step=start_step + 1 if checkpoint is not None else 0)
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        tqdm.write(
            f"v2v.train: {run_dir} | {config.task} / {config.setting} / preset {config.model.preset} | "
            f"G {count(generator) / 1e6:.2f}M D {count(discriminator) / 1e6:.2f}M params | {len(train_set)} clips | "
            f"{device}{f' x{env.world_size}' if env.enabled else ''} {dtype or torch.float32} | "
            f"steps {start_step} -> {config.train.steps}"
        )

    generator.train()
    discriminator.train()
    progress = tqdm(
        total=config.train.steps,
        initial=start_step,
        disable=not (env.is_main and config.train.progress),
        desc=run_dir.name,
        unit="step",
        dynamic_ncols=True,
    )
    window: dict[str, torch.Tensor] = {}
    window_steps, window_start = 0, time.perf_counter()
    batches = iter(loader)
    step = start_step
    while step < config.train.steps:
        batch = _to_device(next(batches), device)
        losses, generated = train_step(
            batch,
            config=config,
            generator=generator_view,
            discriminator=discriminator_view,
            frozen_discriminator=frozen_discriminator,
            optimizer_generator=optimizer_generator,
            optimizer_discriminator=optimizer_discriminator,
            scaler=scaler,
            autocast=dtype,
        )
        step += 1
        progress.update(1)
        for key, value in losses.items():
            window[key] = window.get(key, 0) + value
        window_steps += 1

        last = step == config.train.steps
        if reporter is not None and (step % config.train.log_every == 0 or last):
            elapsed = time.perf_counter() - window_start
            scalars = {f"loss/{k}": float(v) / window_steps for k, v in window.items()}
            scalars["perf/steps_per_s"] = window_steps / elapsed
            reporter.scalars(step, scalars)
            progress.set_postfix(
                spatial=f"{scalars['loss/spatial']:.3f}", temporal=f"{scalars['loss/temporal']:.3f}", d=f"{scalars['loss/d']:.3f}"
            )
        if step % config.train.log_every == 0 or last:
            window, window_steps, window_start = {}, 0, time.perf_counter()
        if reporter is not None and (step % config.train.image_every == 0 or last):
            reporter.strip("train/input_output_target", step, batch["input"][0], generated[0], batch["target"][0])
        if step % config.train.checkpoint_every == 0 or last:
            _checkpoint(
                run_dir, step, config, env, generator, discriminator, (optimizer_generator, optimizer_discriminator), scaler
            )
    progress.close()

    # Only rank 0 validates; the other ranks are done (no collective follows the last checkpoint).
    metrics = None
    if reporter is not None:
        if val_set is not None:
            metrics = _finish(run_dir, step, config, env, generator, val_set, reporter)
        reporter.close()
    return TrainResult(run_dir=run_dir, step=step, generator=generator, discriminator=discriminator, metrics=metrics)
