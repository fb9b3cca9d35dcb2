"""One training iteration (D step then G step) in every setting, and whole tiny runs."""

import json
import os
import stat

import cv2
import pytest
import torch

import v2vcore
from v2v.config import SETTINGS, ConfigError, load_config
from v2v.data import build_dataset
from v2v.losses import residual_errors
from v2v.models import build_discriminator, build_generator, list_checkpoints, read_checkpoint, read_generator
from v2v.runtime import resolve_precision
from v2v.tasks import TASK_REGISTRY
from v2v.train import loop
from v2v.train.data import collate_clips
from v2v.train.loop import train, train_step


def setup(config, seed=0):
    torch.manual_seed(seed)
    generator, discriminator = build_generator(config.model, config.task, config.setting_switches), build_discriminator(config.model, config.task, config.setting_switches)
    batch = collate_clips([build_dataset(config.data, "train", config.task)[0]])
    optimizers = (
        torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999)),
        torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999)),
    )
    return generator, discriminator, batch, optimizers


def run_step(config, generator, discriminator, batch, optimizers, autocast=None):
    scaler = torch.amp.GradScaler("cpu", enabled=autocast == torch.float16)
    return train_step(
        batch,
        config=config,
        generator=generator,
        discriminator=discriminator,
        frozen_discriminator=discriminator,
        optimizer_generator=optimizers[0],
        optimizer_discriminator=optimizers[1],
        scaler=scaler,
        autocast=autocast,
    )


@pytest.mark.parametrize("task", tuple(TASK_REGISTRY))
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_one_step_in_every_setting_and_task(tiny_config, setting, task):
    config = tiny_config(f"setting={setting}", f"task={task}")
    generator, discriminator, batch, optimizers = setup(config)
    before_g = [p.detach().clone() for p in generator.parameters()]
    before_d = [p.detach().clone() for p in discriminator.parameters()]
    losses, generated = run_step(config, generator, discriminator, batch, optimizers)
    assert generated.shape == batch["target"].shape
    assert set(losses) == {"d", "g", "g_adversarial", "spatial", "temporal"}
    assert all(torch.isfinite(v) for v in losses.values())
    assert any(not torch.equal(a, b) for a, b in zip(before_g, generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(before_d, discriminator.parameters()))
    assert all(p.requires_grad for p in discriminator.parameters())  # unfrozen after the G step
    decision_width = {"image2image": None, "video2video+local+global": 2}.get(setting, 1)
    real = discriminator(batch["input"], batch["target"], torch.zeros_like(batch["target"][:, 1:]) if decision_width == 2 else None)
    if decision_width is None:
        assert real.dim() == 5 and real.shape[:3] == (1, config.data.clip_length, 1)  # patches per frame
    else:
        assert real.shape == (1, decision_width)


def generator_gradient_norms(config):
    """|dD_channel/dθ_G| for each decision channel, through the one fused residual call."""
    generator, discriminator, batch, _ = setup(config)
    generated = generator(batch["input"])
    residual_generated, _ = residual_errors(generated, batch["target"], batch["flow_fwd"], batch["flow_bwd"])
    temporal = config.setting_switches.temporal_discriminator
    decision = discriminator(batch["input"], generated, residual_generated if temporal else None)
    norms = []
    for channel in range(decision.shape[1]):
        grads = torch.autograd.grad(decision[:, channel].sum(), list(generator.parameters()), retain_graph=True)
        norms.append(sum(float(g.abs().sum()) for g in grads))
    return norms


def test_gradients_reach_the_generator_through_both_channels_only_in_the_full_setting(tiny_config):
    spatial, temporal = generator_gradient_norms(tiny_config("setting=video2video+local+global"))
    assert spatial > 0 and temporal > 0
    for setting in ("video2video", "video2video+local"):
        norms = generator_gradient_norms(tiny_config(f"setting={setting}"))
        assert len(norms) == 1 and norms[0] > 0  # the spatial channel only: no temporal channel exists


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_residual_gradient_reaches_the_generator_only_with_a_temporal_term(tiny_config, monkeypatch, setting):
    """Spy on the one fused call per step: in image2image and video2video its output carries no
    gradient back; with the local loss or the temporal channel it does."""
    calls, gradients = [], []
    op = v2vcore.residual_error

    def spy(video, *args, **kwargs):
        residual = op(video, *args, **kwargs)
        calls.append(video.shape)
        if residual.requires_grad:
            residual.register_hook(lambda grad: gradients.append(float(grad.abs().sum())))
        return residual

    monkeypatch.setattr(v2vcore, "residual_error", spy)
    config = tiny_config(f"setting={setting}")
    generator, discriminator, batch, optimizers = setup(config)
    run_step(config, generator, discriminator, batch, optimizers)
    channels = batch["target"].shape[2]
    assert len(calls) == 1 and calls[0][2] == 2 * channels  # generated and target stacked
    switches = config.setting_switches
    if switches.temporal_loss or switches.temporal_discriminator:
        assert gradients and gradients[0] > 0
    else:
        assert gradients == []


@pytest.mark.parametrize("setting", ["image2image", "video2video", "video2video+local"])
def test_temporal_weight_matters_exactly_when_the_setting_has_the_temporal_loss(tiny_config, setting):
    results = []
    for weight in (0.0, 1000.0):
        config = tiny_config(f"setting={setting}", f"loss.temporal_weight={weight}")
        generator, discriminator, batch, optimizers = setup(config)
        torch.manual_seed(1)  # same dropout masks
        run_step(config, generator, discriminator, batch, optimizers)
        results.append([p.detach().clone() for p in generator.parameters()])
    same = all(torch.equal(a, b) for a, b in zip(*results))
    assert same == (not SETTINGS[setting].temporal_loss)


@pytest.mark.parametrize("setting", ["video2video+local", "video2video+local+global"])
def test_temporal_gan_weight_matters_exactly_when_the_setting_has_the_temporal_critic(tiny_config, setting):
    losses = []
    for weight in (0.0, 1.0):
        config = tiny_config(f"setting={setting}", f"loss.temporal_gan_weight={weight}")
        generator, discriminator, batch, optimizers = setup(config)
        torch.manual_seed(1)
        losses.append(run_step(config, generator, discriminator, batch, optimizers)[0]["g_adversarial"])
    assert torch.equal(*losses) == (not SETTINGS[setting].temporal_discriminator)


@pytest.mark.parametrize("setting", ["video2video+local", "video2video+local+global"])
def test_the_temporal_critic_reads_the_temporal_target_as_real(tiny_config, setting):
    """E^g comes from ``temporal_target`` (for stabilisation the consistent processing, not the
    flickering target): changing it changes the critic's loss exactly when the setting has it."""
    losses = []
    for shift in (0.0, 0.5):
        config = tiny_config(f"setting={setting}")
        generator, discriminator, batch, optimizers = setup(config)
        batch["temporal_target"] = (batch["target"] + shift * torch.rand_like(batch["target"])).clamp(-1, 1)
        torch.manual_seed(1)
        step_losses, _ = run_step(config, generator, discriminator, batch, optimizers)
        losses.append((step_losses["d"], step_losses["spatial"], step_losses["temporal"]))
    (d0, spatial0, temporal0), (d1, spatial1, temporal1) = losses
    assert torch.equal(d0, d1) == (not SETTINGS[setting].temporal_discriminator)
    assert torch.equal(spatial0, spatial1) and torch.equal(temporal0, temporal1)  # L_spatial reads the target


@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_step_on_cpu(tiny_config, precision, residual):
    """The bf16 autocast path of CUDA (and fp16 with its gradient scaler), exercised on the CPU."""
    config = tiny_config(f"train.precision={precision}", f"model.residual={str(residual).lower()}")
    dtype = resolve_precision(precision, torch.device("cpu"))
    generator, discriminator, batch, optimizers = setup(config)
    losses, generated = run_step(config, generator, discriminator, batch, optimizers, autocast=dtype)
    # A residual generator adds its correction to the float32 input: the sum stays float32.
    assert generated.dtype == (torch.float32 if residual else dtype)
    assert all(torch.isfinite(v) and v.dtype == torch.float32 for v in losses.values())


def test_a_tiny_run_leaves_everything(tiny_config):
    config = tiny_config("train.steps=4", "train.checkpoint_every=2", "train.val_every=2", "train.run_name=tiny")
    previous_umask = os.umask(0o022)
    try:
        result = train(config)
    finally:
        os.umask(previous_umask)
    run_dir = result.run_dir
    assert run_dir.name == "tiny" and result.step == 4 and result.stopped_by is None
    assert (run_dir / "config.yaml").is_file()
    assert [step for step, _ in list_checkpoints(run_dir)] == [2, 4]
    checkpoint = read_checkpoint(run_dir)
    assert checkpoint["step"] == 4 and checkpoint["config"]["train"]["run_name"] == "tiny"
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    scalars = [json.loads(line) for line in (run_dir / "scalars.jsonl").read_text().splitlines()]
    assert [s["step"] for s in scalars if "loss/spatial" in s] == [1, 2, 3, 4]
    assert [s["step"] for s in scalars if "val/psnr" in s] == [2, 4]  # periodic validation
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["step"] == 4 and {"psnr", "warping_error", "l1"} <= set(metrics["mean"])
    assert len(list((run_dir / "samples").glob("*.mp4"))) == 1
    assert sorted(p.name for p in (run_dir / "images").iterdir()) == ["val_0000002.png", "val_0000004.png"]
    assert cv2.imread(str(run_dir / "loss.png")).std() > 10  # drawn (tests/v2v/train/test_reporting.py checks the curves)
    log = (run_dir / "train.log").read_text()
    assert "step 2: validation: " in log and "finished: " in log
    exported = read_generator(run_dir / "generator.safetensors")
    assert exported.step == 4
    assert all(torch.equal(exported.generator.state_dict()[k], v) for k, v in checkpoint["generator"].items())
    assert read_generator(run_dir / "best").step == checkpoint["best"]["step"]
    # Under umask 022 every file is readable by others, as a plain open() would make it, folders too.
    written = [path for path in run_dir.rglob("*") if path.is_file()]
    assert {path.relative_to(run_dir).as_posix() for path in written} >= {
        "config.yaml", "checkpoints/step_0000004.pt", "generator.safetensors", "metrics.json", "loss.png"}
    assert {path.relative_to(run_dir).as_posix(): oct(stat.S_IMODE(path.stat().st_mode)) for path in written
            if stat.S_IMODE(path.stat().st_mode) != 0o644} == {}
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o755 for path in [run_dir, *run_dir.rglob("*")] if path.is_dir())
    with pytest.raises(FileExistsError, match="--resume"):
        train(config)


def test_periodic_validation_leaves_training_bit_identical(tiny_config):
    """Validating every step (eval mode, its own data) changes no parameter and no random stream."""
    plain = read_checkpoint(train(tiny_config("train.steps=3", "train.run_name=plain", "train.val_videos=0")).run_dir)
    validated = read_checkpoint(train(tiny_config("train.steps=3", "train.run_name=val", "train.val_every=1")).run_dir)
    for network in ("generator", "discriminator"):
        for name, value in plain[network].items():
            assert torch.equal(value, validated[network][name]), f"{network}.{name}"
    assert all(torch.equal(a, b) for a, b in zip(plain["rng"][0]["torch"], validated["rng"][0]["torch"]))


@pytest.mark.parametrize("task, metric", [("colorization", "psnr"), ("segmentation", "J"), ("colorization", "warping_error")])
def test_best_checkpoint_is_the_best_validation(tiny_config, task, metric):
    best_key = "auto" if metric in ("psnr", "J") else metric
    config = tiny_config(f"task={task}", "train.steps=5", "train.val_every=1", f"train.best_metric={best_key}", "train.run_name=b")
    run_dir = train(config).run_dir
    rows = [json.loads(line) for line in (run_dir / "scalars.jsonl").read_text().splitlines()]
    curve = [(row["step"], row[f"val/{metric}"]) for row in rows if f"val/{metric}" in row]
    assert len(curve) == 5
    pick = max if metric != "warping_error" else min
    # The first of equal values wins: only a strict improvement replaces the best.
    expected_step, expected_value = pick(curve, key=lambda point: (point[1], -point[0]) if pick is max else (point[1], point[0]))
    best = read_checkpoint(run_dir / "checkpoints" / "best.pt")
    assert best["best"] == {"metric": metric, "value": expected_value, "step": expected_step}
    assert best["step"] == expected_step and read_generator(run_dir / "best").step == expected_step
    assert read_checkpoint(run_dir)["best"] == best["best"]  # carried in every later checkpoint


def test_stabilize_trains_on_processed_clips_and_keeps_its_steadiest_checkpoint(tiny_config):
    run_dir = train(tiny_config("task=stabilize", "data.processors=[contrast,hue]", "train.steps=2", "train.val_every=1",
                                "train.run_name=stabilize")).run_dir
    rows = [json.loads(line) for line in (run_dir / "scalars.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows if "val/warping_error" in row] == [1, 2] and all("val/psnr" in row for row in rows if "val/warping_error" in row)
    assert read_checkpoint(run_dir / "checkpoints" / "best.pt")["best"]["metric"] == "warping_error"
    assert read_generator(run_dir).config.data.processors == ("contrast", "hue")


def test_improvement_rule():
    config = load_config("quickstart")
    assert config.best_metric == ("psnr", "max")
    assert load_config("quickstart", ["task=segmentation"]).best_metric == ("J", "max")
    assert loop._improves({"mean": {"psnr": 20.0}}, config, None)
    assert not loop._improves({"mean": {"psnr": float("nan")}}, config, None)
    assert not loop._improves({"mean": {"psnr": 20.0}}, config, {"metric": "psnr", "value": 20.0, "step": 1})
    lower = load_config("quickstart", ["train.best_metric=warping_error"])
    assert loop._improves({"mean": {"warping_error": 0.1}}, lower, {"metric": "warping_error", "value": 0.2, "step": 1})
    with pytest.raises(ConfigError, match="reported no 'psnr'"):
        loop._improves({"mean": {"J": 0.5}}, config, None)


def test_run_names_default_to_config_name_and_time(tiny_config):
    result = train(tiny_config("train.steps=1", "train.val_videos=0"))
    assert result.run_dir.name.startswith("quickstart-") and not (result.run_dir / "metrics.json").exists()


def test_image_strips_reach_tensorboard(tiny_config):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = train(tiny_config("train.steps=2", "train.run_name=strips"))
    events = EventAccumulator(str(result.run_dir / "tensorboard"))
    events.Reload()
    assert {"train/input_output_target", "val/input_output_target_residual_mask_flow"} <= set(events.Tags()["images"])
    assert {"loss/spatial", "loss/temporal", "loss/d", "loss/g_adversarial", "val/psnr"} <= set(events.Tags()["scalars"])
    assert "config/text_summary" in events.Tags()["tensors"]  # the resolved config as text
    hparams = events.summary_metadata.get("_hparams_/session_start_info") or events.SummaryMetadata("_hparams_/session_start_info")
    assert b"video2video+local+global" in hparams.plugin_data.content and b"colorization" in hparams.plugin_data.content


def test_overfits_one_clip(tiny_config):
    """The small preset on one fixed clip: L_spatial falls by half within a few dozen steps."""
    config = tiny_config("model.preset=small", *[f"model.{k}=null" for k in ("gen_channels", "gen_max_channels", "disc_channels", "disc_max_channels")], "data.frame_size=[64,64]", "data.hflip=false")
    assert config.model.gen_channels == 16  # the small preset itself, not the tiny test network
    generator, discriminator, batch, optimizers = setup(config)
    curve = [float(run_step(config, generator, discriminator, batch, optimizers)[0]["spatial"]) for _ in range(40)]
    assert min(curve[-5:]) <= 0.5 * curve[0], curve


@pytest.mark.slow
def test_compiled_networks_train_like_eager_ones(tiny_config):
    """train.compile=true (torch.compile of G and D, the fused op through its fake kernels)."""
    curves = {}
    for compiled in (False, True):
        # No dropout: compiled code draws its random masks from its own generator.
        config = tiny_config(
            "train.steps=2", f"train.compile={str(compiled).lower()}", f"train.run_name=c{int(compiled)}", "train.val_videos=0", "model.gen_dropout_layers=0"
        )
        run_dir = train(config).run_dir
        rows = [json.loads(line) for line in (run_dir / "scalars.jsonl").read_text().splitlines()]
        curves[compiled] = [(row["loss/spatial"], row["loss/temporal"], row["loss/d"]) for row in rows]
    # Same initial weights and data: the first step's losses agree up to kernel rounding.
    assert curves[True][0] == pytest.approx(curves[False][0], rel=1e-4, abs=1e-5)
    assert curves[True][1] == pytest.approx(curves[False][1], rel=1e-2, abs=1e-3)


def test_stop_signals_ask_once_then_fall_back_to_the_previous_handler():
    import os
    import signal

    # The handlers StopSignals falls back to, set here: a process started in the background by a
    # non-interactive shell inherits SIGINT ignored, and would then never raise KeyboardInterrupt.
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler), signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with loop.StopSignals() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.requested == signal.SIGINT  # no KeyboardInterrupt: the loop decides
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C interrupts at once
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, inherited[0])
        signal.signal(signal.SIGTERM, inherited[1])
