"""The training loop of paper section 3.3: alternate one Adam step on D, then one on G.

:func:`train_step` is one iteration (read it for the objective); :func:`train` is the whole run:
set-up, resume, the loop with logging and checkpoints, and the end-of-run validation. Single
process, or one process per GPU (or CPU) under ``torchrun`` with DistributedDataParallel.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from v2v.config import RESUMABLE_KEYS, RunConfig, save_config
from v2v.config_engine import ConfigError, diff, to_dict
from v2v.data import build_dataset
from v2v.losses import discriminator_loss, generator_adversarial_loss, residual_errors, spatial_loss, temporal_loss
from v2v.models import build_discriminator, build_generator, dataset_processors
from v2v.models.checkpoint import (
    capture_rng_state,
    export_generator,
    find_checkpoint,
    list_checkpoints,
    new_checkpoint,
    prune_checkpoints,
    read_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from v2v.runtime import resolve_precision, use_threads
from v2v.tasks import get_task

from .data import CLIP_KEYS, ResumableBatchSampler, make_loader
from .distributed import Distributed, broadcast_object, gather_objects, setup_distributed, teardown_distributed
from .reporting import RunReporter, plot_scalars, side_by_side, validation_strip, write_json, write_png, write_video
from .validation import ValidationSample, validate

__all__ = [
    "train",
    "train_step",
    "TrainResult",
    "seed_everything",
    "check_resume",
    "latest_run",
    "StopSignals",
    "ResumeError",
]

STRIP_FRAMES = 8
"""Frames shown in an image strip (a validation video may be long)."""

LOSS_TAGS = ["loss/spatial", "loss/temporal", "loss/d", "loss/g_adversarial"]
"""The curves of ``loss.png`` (followed by the best metric's validation curve)."""


class ResumeError(ValueError):
    """A run cannot continue from its checkpoint: missing or unreadable, written by another number
    of processes or for other networks, or holding the random state of devices this process lacks."""


@dataclass
class TrainResult:
    """What :func:`train` leaves: the run directory, the last step, the raw networks, on rank 0 the
    last validation's metrics, and the signal that stopped the run early (None: it finished)."""

    run_dir: Path
    step: int
    generator: nn.Module
    discriminator: nn.Module
    metrics: dict[str, Any] | None
    stopped_by: signal.Signals | None = None


class StopSignals:
    """While active, SIGTERM and SIGINT only ask the run to stop (``requested`` holds the first
    signal); the loop finishes its step, writes a checkpoint and returns. A second signal gets the
    handler that was there before (for SIGINT: KeyboardInterrupt at once).

    Installed only in the main thread (Python delivers signals there); elsewhere it does nothing.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.requested: signal.Signals | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = signal.Signals(signum)
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        return self

    def __exit__(self, *exc: Any) -> None:
        self._restore()


def _stop_agreed(env: Distributed, stop: StopSignals) -> signal.Signals | None:
    """The stop signal any rank received (SIGTERM before SIGINT), or None: every rank gets the same
    answer, so all stop after the same step (one all-reduce of a number per step under DDP)."""
    received = 0 if stop.requested is None else int(stop.requested)
    if env.enabled:
        number = torch.tensor([received], dtype=torch.int64, device=env.device)
        dist.all_reduce(number, op=dist.ReduceOp.MAX)  # SIGTERM (15) outranks SIGINT (2)
        received = int(number.item())
    return signal.Signals(received) if received else None


def latest_run(config: RunConfig) -> Path | None:
    """The run ``--resume auto`` continues: ``train.run_name`` under ``train.runs_dir`` when set,
    else the run of name ``<name>-<YYYYmmdd-HHMMSS>`` whose newest checkpoint was written last;
    None when no such run has a checkpoint."""
    runs_dir = Path(config.train.runs_dir)
    if config.train.run_name:
        candidates = [runs_dir / config.train.run_name]
    else:
        pattern = re.compile(rf"^{re.escape(config.name)}-\d{{8}}-\d{{6}}$")
        candidates = [path for path in runs_dir.glob(f"{config.name}-*") if pattern.match(path.name)]
    newest = [(checkpoints[-1][1].stat().st_mtime, path) for path in candidates if (checkpoints := list_checkpoints(path))]
    return max(newest)[1] if newest else None


def seed_everything(seed: int) -> None:
    """Seed torch (all devices), NumPy and Python's ``random``."""
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
        batch: ``input`` ``[B,T,Cin,H,W]``, ``target`` and ``temporal_target`` ``[B,T,Cout,H,W]``
            (the clip whose residuals E^g the temporal critic reads as real: the target itself,
            but for stabilisation the temporally consistent processing), ``flow_fwd``/``flow_bwd``
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
        batch["temporal_target"],
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
    loss_adversarial = generator_adversarial_loss(fake_logits, weights.temporal_gan_weight)
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
        ResumeError: a different number of processes than the checkpointed run.
    """
    changed = [key for key in diff(checkpoint["config"], config) if key not in RESUMABLE_KEYS]
    if changed:
        raise ConfigError("--resume", f"{', '.join(changed)} differ(s) from the checkpointed run's config; a resumed run "
                          f"may change only {', '.join(sorted(RESUMABLE_KEYS))}")
    if checkpoint["step"] > config.train.steps:
        raise ConfigError("train.steps", f"{config.train.steps} is below the checkpoint's step {checkpoint['step']}; "
                          "pass train.steps=<larger> to continue")
    if checkpoint["world_size"] != world_size:
        raise ResumeError(
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


def _checkpoint(
    run_dir: Path, step: int, config: RunConfig, env: Distributed, networks, optimizers, scaler, best: dict[str, Any] | None, *, as_best: bool = False
) -> Path | None:
    """Write the checkpoint of ``step`` (``best.pt`` with ``as_best``) on rank 0; returns its path
    there. A collective: every rank calls it and contributes its random state (dropout streams
    differ per rank)."""
    rng_states = gather_objects(env, capture_rng_state())
    if not env.is_main:
        return None
    generator, discriminator = networks
    optimizer_generator, optimizer_discriminator = optimizers
    state = new_checkpoint(
        step,
        to_dict(config),
        generator=generator.state_dict(),
        discriminator=discriminator.state_dict(),
        optimizer_generator=optimizer_generator.state_dict(),
        optimizer_discriminator=optimizer_discriminator.state_dict(),
        scaler=scaler.state_dict(),
        rng=rng_states,
        world_size=env.world_size,
        best=best,
    )
    path = save_checkpoint(run_dir, state, best=as_best)
    if not as_best:
        prune_checkpoints(run_dir, config.train.keep_checkpoints)
    return path


def _validate(run: _Run, step: int) -> tuple[dict[str, Any], ValidationSample | None]:
    """Validation on rank 0: scores, ``metrics.json``, the picture strip (TensorBoard and
    ``images/val_<step>.png``) and the scalars. Leaves every random stream as it found it, so a
    run with validations trains exactly like one without.

    Returns:
        ``(metrics, sample)``: the ``metrics.json`` dict and the first video.
    """
    config = run.config
    rng = capture_rng_state()
    result = validate(run.generator, run.val_set, config.task, run.env.device, max_videos=config.train.val_videos,
                      max_frames=config.train.val_max_frames)
    metrics = {"step": step, "task": config.task, "setting": config.setting, "mean": result.mean, "videos": result.per_video}
    write_json(run.run_dir / "metrics.json", metrics)
    run.reporter.scalars(step, {f"val/{k}": v for k, v in result.mean.items()})
    sample = result.sample
    if sample is not None:
        frames = min(STRIP_FRAMES, sample.input.shape[0])
        shown = get_task(config.task).shown_input(sample.input[:frames])
        strip = validation_strip(shown, sample.output[:frames], sample.target[:frames],
                                 sample.flow_fwd[: frames - 1], sample.flow_bwd[: frames - 1], height=config.train.image_height)
        run.reporter.image("val/input_output_target_residual_mask_flow", step, strip)
        write_png(run.run_dir / "images" / f"val_{step:07d}.png", strip)
    restore_rng_state(rng)
    return metrics, sample


def _improves(metrics: dict[str, Any], config: RunConfig, best: dict[str, Any] | None) -> bool:
    """Whether ``metrics`` beat the best validation so far on ``config.best_metric``."""
    name, direction = config.best_metric
    if name not in metrics["mean"]:
        raise ConfigError("train.best_metric", f"validation reported no {name!r} (it reported {', '.join(metrics['mean'])})")
    value = metrics["mean"][name]
    if value != value:  # NaN (e.g. T of masks without contours) never counts as better
        return False
    if best is None:
        return True
    return value > best["value"] if direction == "max" else value < best["value"]


def train(config: RunConfig, *, resume: str | Path | None = None) -> TrainResult:
    """Train the generator and discriminator of ``config``; returns when ``train.steps`` are done,
    or after the step during which SIGTERM or SIGINT arrived (then with a checkpoint of that step
    and ``stopped_by`` set).

    Args:
        config: a resolved config (:func:`v2v.config.load_config`).
        resume: a run directory (its newest checkpoint) or a checkpoint file to continue from; the
            run then continues in that directory with identical networks, optimiser and scaler
            states, data order and random streams (see :func:`check_resume` for what may change).

    Under ``torchrun`` every process calls this; rank 0 writes the run directory:
    ``config.yaml``, ``checkpoints/step_*.pt`` and ``best.pt``, ``best/generator.{safetensors,yaml}``,
    ``generator.{safetensors,yaml}``, ``tensorboard/``, ``scalars.jsonl``, ``train.log``,
    ``images/val_*.png``, ``loss.png``, ``samples/<video>.mp4`` and ``metrics.json``.
    """
    env = setup_distributed(config.train.device)
    try:
        run = _set_up(config, env, resume)
        step, stopped_by, metrics, sample = _loop(run)
        _finish(run, step, stopped_by, sample)
        return TrainResult(run_dir=run.run_dir, step=step, generator=run.generator, discriminator=run.discriminator,
                           metrics=metrics, stopped_by=stopped_by)
    finally:
        teardown_distributed(env)


@dataclass
class _Run:
    """What :func:`_set_up` builds for the loop: the resolved config, the networks (raw, and as
    trained: compiled and/or DDP-wrapped), their optimisers, the data, and rank 0's reporter."""

    config: RunConfig
    env: Distributed
    run_dir: Path
    autocast: torch.dtype | None
    generator: nn.Module
    discriminator: nn.Module
    generator_view: nn.Module
    discriminator_view: nn.Module
    frozen_discriminator: nn.Module
    optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer]
    scaler: torch.amp.GradScaler
    loader: Any
    val_set: Any
    start_step: int
    best: dict[str, Any] | None
    reporter: RunReporter | None


def _set_up(config: RunConfig, env: Distributed, resume: str | Path | None) -> _Run:
    """Everything before the first step: the run directory (a new one, or the resumed run's), the
    networks, optimisers and data, their states when resuming, and on rank 0 the reporter."""
    device = env.device
    use_threads(config.train.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    checkpoint = None
    if resume is not None:
        try:
            checkpoint_file = find_checkpoint(resume)
            checkpoint = read_checkpoint(checkpoint_file)
        except (FileNotFoundError, ValueError) as error:
            raise ResumeError(f"--resume: {error}") from error
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
    generator = build_generator(config.model, config.task, config.setting_switches).to(device)
    discriminator = build_discriminator(config.model, config.task, config.setting_switches).to(device)
    processors = dataset_processors(config.data, config.task)  # None unless the task processes its clips
    train_set = build_dataset(config.data, "train", config.task, progress=config.train.progress and env.is_main,
                              processors=processors)
    # Built now so that a broken validation split fails before hours of training, not after.
    val_set = (build_dataset(config.data, "val", config.task, progress=config.train.progress, processors=processors)
               if env.is_main and config.train.val_videos > 0 else None)
    optim = config.optim
    optimizer_generator = torch.optim.Adam(generator.parameters(), lr=optim.lr_generator, betas=(optim.beta1, optim.beta2))
    optimizer_discriminator = torch.optim.Adam(
        discriminator.parameters(), lr=optim.lr_discriminator, betas=(optim.beta1, optim.beta2)
    )
    autocast = resolve_precision(config.train.precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=autocast == torch.float16)

    start_step = 0
    if checkpoint is not None:
        try:
            generator.load_state_dict(checkpoint["generator"])
            discriminator.load_state_dict(checkpoint["discriminator"])
        except RuntimeError as error:
            raise ResumeError(f"--resume: the checkpoint's networks do not match this config: {error}") from error
        optimizer_generator.load_state_dict(checkpoint["optimizer_generator"])
        optimizer_discriminator.load_state_dict(checkpoint["optimizer_discriminator"])
        scaler.load_state_dict(checkpoint["scaler"])
        try:
            restore_rng_state(checkpoint["rng"][env.rank])
        except RuntimeError as error:
            raise ResumeError(f"--resume: {error}") from error
        start_step = checkpoint["step"]
    else:
        seed_everything(config.seed * 1_000_003 + 7919 * (env.rank + 1))

    sampler = ResumableBatchSampler(len(train_set), config.train.batch_size, seed=config.seed, rank=env.rank,
                                    world_size=env.world_size, start_step=start_step)
    loader = make_loader(train_set, sampler, num_workers=config.train.num_workers, pin_memory=device.type == "cuda", seed=config.seed)
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
        best_name, _ = config.best_metric
        reporter.describe(
            yaml.safe_dump(to_dict(config), sort_keys=False),
            {"task": config.task, "setting": config.setting, "preset": config.model.preset, "seed": config.seed},
            [f"val/{best_name}"],
        )
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        reporter.log(
            f"v2v.train: {run_dir} | {config.task} / {config.setting} / preset {config.model.preset} | "
            f"G {count(generator) / 1e6:.2f}M D {count(discriminator) / 1e6:.2f}M params | {len(train_set)} clips | "
            f"{device}{f' x{env.world_size}' if env.enabled else ''} {autocast or torch.float32} | "
            f"steps {start_step} -> {config.train.steps}{' (resumed)' if checkpoint is not None else ''}"
        )
    return _Run(
        config=config, env=env, run_dir=run_dir, autocast=autocast, generator=generator, discriminator=discriminator,
        generator_view=generator_view, discriminator_view=discriminator_view, frozen_discriminator=frozen_discriminator,
        optimizers=(optimizer_generator, optimizer_discriminator), scaler=scaler, loader=loader, val_set=val_set,
        start_step=start_step, best=checkpoint["best"] if checkpoint is not None else None, reporter=reporter,
    )


def _loop(run: _Run) -> tuple[int, signal.Signals | None, dict[str, Any] | None, ValidationSample | None]:
    """The steps from ``run.start_step`` to ``train.steps``, with logging, validation and checkpoints.

    Returns:
        ``(last step, the signal that stopped the run or None, the last validation's metrics and
        sample on rank 0)``.
    """
    config, env, reporter = run.config, run.env, run.reporter
    networks = (run.generator, run.discriminator)
    run.generator.train()
    run.discriminator.train()
    progress = tqdm(total=config.train.steps, initial=run.start_step, disable=not (env.is_main and config.train.progress),
                    desc=run.run_dir.name, unit="step", dynamic_ncols=True)
    window: dict[str, torch.Tensor] = {}
    window_steps, window_start = 0, time.perf_counter()
    metrics, sample = None, None
    batches = iter(run.loader)
    step, stopped_by, best = run.start_step, None, run.best
    with StopSignals() as stop:
        while step < config.train.steps:
            batch = _to_device(next(batches), env.device)
            losses, generated = train_step(
                batch, config=config, generator=run.generator_view, discriminator=run.discriminator_view,
                frozen_discriminator=run.frozen_discriminator, optimizer_generator=run.optimizers[0],
                optimizer_discriminator=run.optimizers[1], scaler=run.scaler, autocast=run.autocast,
            )
            step += 1
            progress.update(1)
            for key, value in losses.items():
                window[key] = window.get(key, 0) + value
            window_steps += 1

            last = step == config.train.steps
            # At the last step a stop request changes nothing: the run is complete.
            stopped_by = None if last else _stop_agreed(env, stop)
            if step % config.train.log_every == 0 or last or stopped_by:
                if reporter is not None:
                    elapsed = time.perf_counter() - window_start
                    scalars = {f"loss/{k}": float(v) / window_steps for k, v in window.items()}
                    scalars["perf/steps_per_s"] = window_steps / elapsed
                    reporter.scalars(step, scalars)
                    progress.set_postfix(
                        spatial=f"{scalars['loss/spatial']:.3f}", temporal=f"{scalars['loss/temporal']:.3f}", d=f"{scalars['loss/d']:.3f}"
                    )
                window, window_steps, window_start = {}, 0, time.perf_counter()
            if reporter is not None and (step % config.train.image_every == 0 or last):
                reporter.strip("train/input_output_target", step, get_task(config.task).shown_input(batch["input"][0]), generated[0], batch["target"][0],
                               height=config.train.image_height)

            # Validation on rank 0, skipped when stopping (a preempted job has seconds, not minutes);
            # a new best is checkpointed by all ranks, as the checkpoint gathers their random states.
            if config.train.val_videos > 0 and (step % config.train.val_every == 0 or last) and not stopped_by:
                new_best = None
                if reporter is not None:
                    metrics, sample = _validate(run, step)
                    if _improves(metrics, config, best):
                        name, _ = config.best_metric
                        new_best = {"metric": name, "value": metrics["mean"][name], "step": step}
                    means = ", ".join(f"{k} {v:.4g}" for k, v in metrics["mean"].items())
                    reporter.log(f"step {step}: validation: {means}{' (new best)' if new_best else ''}")
                    if config.train.plot_losses:
                        plot_scalars(reporter.jsonl, run.run_dir / "loss.png", [*LOSS_TAGS, f"val/{config.best_metric[0]}"])
                new_best = broadcast_object(env, new_best)
                if new_best is not None:
                    best = new_best
                    _checkpoint(run.run_dir, step, config, env, networks, run.optimizers, run.scaler, best, as_best=True)
                    if env.is_main:
                        export_generator(run.run_dir / "best", run.generator.state_dict(), to_dict(config), step)

            if step % config.train.checkpoint_every == 0 or last or stopped_by:
                path = _checkpoint(run.run_dir, step, config, env, networks, run.optimizers, run.scaler, best)
                if reporter is not None and stopped_by:
                    reporter.log(f"{stopped_by.name}: stopped after step {step}, checkpoint {path}; continue with --resume {run.run_dir}")
            if stopped_by:
                break
    progress.close()
    return step, stopped_by, metrics, sample


def _finish(run: _Run, step: int, stopped_by: signal.Signals | None, sample: ValidationSample | None) -> None:
    """On rank 0, after a run that was not stopped: the generator export, the last validation's
    sample video and the loss plot; then the reporter is closed."""
    reporter = run.reporter
    if reporter is None:
        return
    if not stopped_by:
        config = run.config
        export_generator(run.run_dir, run.generator.state_dict(), to_dict(config), step)
        if sample is not None:
            safe_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in sample.name)
            write_video(run.run_dir / "samples" / f"{safe_name}.mp4", side_by_side(get_task(config.task).shown_input(sample.input), sample.output, sample.target))
        if config.train.plot_losses:
            plot_scalars(reporter.jsonl, run.run_dir / "loss.png", [*LOSS_TAGS, f"val/{config.best_metric[0]}"])
        reporter.log(f"finished: {run.run_dir} (step {step}); generator export {run.run_dir / 'generator.safetensors'}")
    reporter.close()
