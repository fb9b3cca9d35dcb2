"""python -m v2v.precompute_flows: the flows training will look up, computed once with a progress bar."""

import torch

from v2v.config import load_config
from v2v.data import build_dataset, synthetic_clip, write_davis_layout
from v2v.precompute_flows import main


def davis(tmp_path):
    sequences = {}
    for index, name in enumerate(["bear", "goat", "cat"]):
        clip = synthetic_clip(index, size=(40, 72), num_frames=6)
        sequences[name] = (clip["frames"], (clip["masks"] > 0.5).to(torch.uint8))
    return write_davis_layout(tmp_path / "DAVIS", sequences, {"train": ["bear", "goat"], "val": ["cat"]})


def test_precompute_fills_the_cache_training_reads(tmp_path, capsys):
    overrides = [f"data.root={davis(tmp_path)}", f"data.flow.cache_dir={tmp_path / 'flows'}"]
    assert main(["--config", "paper", *overrides]) == 0
    out, err = capsys.readouterr()
    # Two training clips of 4 frame pairs; the validation video's 6 frames: 5 pairs.
    assert "train: 2 items, 8 pairs computed, 0 already cached" in out and "val: 1 items, 5 pairs computed" in out
    assert "flows train" in err  # the progress bar
    stored = sum(path.stat().st_size for path in (tmp_path / "flows").rglob("*.safetensors"))
    assert f"flow cache {tmp_path / 'flows'}: " in out and " in 13 entries (limit 40 GB), float32" in out  # paper.yaml's limit
    assert "warning" not in err
    assert main(["--config", "paper", "--split", "val", "--quiet", *overrides]) == 0
    assert "val: 1 items, 0 pairs computed, 5 already cached" in capsys.readouterr().out
    # A limit below what the data needs: entries are evicted, and the command says so.
    assert main(["--config", "paper", "--quiet", *overrides, f"data.flow.cache_dir={tmp_path / 'small'}",
                 f"data.flow.cache_max_gb={stored / 2 / 1e9}"]) == 0
    assert "warning: the flows did not fit in the cache's limit" in capsys.readouterr().err
    # Training builds the same keys: every flow is a hit.
    config = load_config("paper", overrides)
    dataset = build_dataset(config.data, "train", config.task)
    dataset[0], dataset[1]
    assert dataset.flow_cache.hits == 8 and dataset.flow_cache.misses == 0


def test_nothing_to_precompute_and_missing_data_are_one_line_errors(tmp_path, capsys):
    assert main(["--config", "quickstart"]) == 2
    assert "exact flows come with the data" in capsys.readouterr().err
    assert main(["--config", "paper", f"data.root={tmp_path / 'nowhere'}"]) == 2
    assert "davischallenge.org" in capsys.readouterr().err
