"""A generator checkpoint as the learned processor: per frame, without recurrence, and named in a list of processors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from v2v.models import build_processors, checkpoint_processor, load_generator
from v2v.processors import LEARNED_PROCESSOR, PROCESSORS, process_clip
from v2v.tasks import get_task

from _run_fixtures import make_run


@pytest.fixture(scope="module")
def recurrent_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run") / "colorization", "colorization", setting="video2video+local+global")


def _frames(count: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (count, 32, 40, 3), dtype=np.uint8)


def test_each_frame_is_translated_on_its_own(recurrent_run):
    processor = checkpoint_processor(recurrent_run)
    assert processor.name == LEARNED_PROCESSOR and processor.kind == "learned" and processor.parameters == ()
    frames = _frames(3)
    clip = process_clip(frames, processor, seed=0, flicker="fresh")
    assert clip.shape == frames.shape and clip.dtype == np.uint8
    # No recurrent state: frame 2 comes out as it does alone, and every flicker mode gives the same.
    assert np.array_equal(clip[2], processor.apply(frames[2], {}))
    assert np.array_equal(clip, process_clip(frames, processor, seed=5, flicker="none"))
    generator, config = load_generator(recurrent_run)
    task = get_task(config.task)
    with torch.no_grad():
        output, _ = generator.step(task.input(torch.from_numpy(frames[1]).permute(2, 0, 1))[None], None)
    expected = np.rint(task.display(output[0]).clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    assert np.array_equal(clip[1], expected)


def test_a_config_names_the_learned_processor_with_its_checkpoint(recurrent_run):
    processors = build_processors(["gamma", LEARNED_PROCESSOR], checkpoint=recurrent_run)
    assert processors[0] is PROCESSORS["gamma"] and processors[1].name == LEARNED_PROCESSOR
    assert str(recurrent_run) in processors[1].description
    with pytest.raises(ValueError, match="no checkpoint path is given"):
        build_processors(["gamma", LEARNED_PROCESSOR])
    assert build_processors(["gamma"]) == [PROCESSORS["gamma"]]
    with pytest.raises(FileNotFoundError):
        checkpoint_processor(recurrent_run.parent / "missing")
