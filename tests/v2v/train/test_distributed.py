"""DistributedDataParallel on CPU (gloo): ranks stay identical; only rank 0 writes."""

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from v2v.config import load_config
from v2v.config_engine import ConfigError
from v2v.models import list_checkpoints
from v2v.train.distributed import setup_distributed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank, world_size, port, overrides, out_dir):
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size)
    )
    from v2v.train.loop import train

    result = train(load_config("quickstart", overrides))
    torch.save(
        {
            "generator": result.generator.state_dict(),
            "discriminator": result.discriminator.state_dict(),
            "run_dir": str(result.run_dir),
            "step": result.step,
        },
        os.path.join(out_dir, f"rank{rank}.pt"),
    )


@pytest.mark.slow
def test_two_gloo_ranks_hold_identical_parameters(tiny_overrides, tmp_path):
    overrides = [*tiny_overrides, "train.steps=3", "train.run_name=ddp", "train.checkpoint_every=2", "train.val_videos=0"]
    mp.spawn(_rank_main, args=(2, free_port(), overrides, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert ranks[0]["step"] == ranks[1]["step"] == 3 and ranks[0]["run_dir"] == ranks[1]["run_dir"]
    for network in ("generator", "discriminator"):
        parameters = [dict(rank[network]) for rank in ranks]
        names = [n for n in parameters[0] if "running_" not in n and "num_batches" not in n]
        for name in names:
            assert torch.equal(parameters[0][name], parameters[1][name]), f"{network}.{name} differs between ranks"
    # The ranks trained (they left the shared initialisation) on different clips.
    torch.manual_seed(0)
    from v2v.models import build_generator

    config = load_config("quickstart", overrides)
    initial = build_generator(config.model, config.task, config.setting_switches).state_dict()
    assert any(not torch.equal(initial[n], ranks[0]["generator"][n]) for n in initial if "running_" not in n)
    run_dir = tmp_path / "runs" / "ddp"
    checkpoint = torch.load(run_dir / "checkpoints" / "step_0000003.pt", weights_only=True)
    assert checkpoint["world_size"] == 2 and len(checkpoint["rng"]) == 2  # both ranks' random states
    assert len(list((run_dir / "tensorboard").glob("events.out.tfevents.*"))) == 1  # rank 0 only


def test_a_device_this_process_cannot_use_is_a_config_error_naming_train_device():
    env = setup_distributed("cpu")
    assert env.device == torch.device("cpu") and not env.enabled
    if not torch.cuda.is_available():
        assert setup_distributed("auto").device == torch.device("cpu")
        with pytest.raises(ConfigError, match=r"train.device: device cuda:0 requested, but this process sees 0"):
            setup_distributed("cuda")


def _rank_main_stopped(rank, world_size, port, overrides, out_dir):
    """Rank 1 alone receives SIGTERM once rank 0 has logged two steps."""
    import signal
    import threading
    import time

    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size)
    )
    from v2v.train.loop import train

    def signal_when_under_way():
        jsonl = os.path.join(out_dir, "runs", "ddp-stop", "scalars.jsonl")
        while not (os.path.exists(jsonl) and len(open(jsonl).read().splitlines()) >= 2):
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    if rank == 1:
        threading.Thread(target=signal_when_under_way, daemon=True).start()
    result = train(load_config("quickstart", overrides))
    torch.save({"step": result.step, "stopped_by": int(result.stopped_by or 0)}, os.path.join(out_dir, f"rank{rank}.pt"))


@pytest.mark.slow
def test_a_signal_to_one_rank_stops_all_ranks_after_the_same_step(tiny_overrides, tmp_path):
    overrides = [*tiny_overrides, "train.steps=100000", "train.run_name=ddp-stop", "train.checkpoint_every=100000", "train.val_videos=0"]
    mp.spawn(_rank_main_stopped, args=(2, free_port(), overrides, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert ranks[0] == ranks[1] and ranks[0]["stopped_by"] == 15 and 0 < ranks[0]["step"] < 100000
    (step, path), = list_checkpoints(tmp_path / "runs" / "ddp-stop")
    checkpoint = torch.load(path, weights_only=True)
    assert step == ranks[0]["step"] and checkpoint["world_size"] == 2 and len(checkpoint["rng"]) == 2
