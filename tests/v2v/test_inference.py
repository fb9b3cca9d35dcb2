"""The one translation path: a generator streamed frame by frame, shots reset at scene cuts."""

from __future__ import annotations

import numpy as np
import torch

from v2v.inference import StreamingTranslator, stream_translate, translate_video
from v2v.models import RecurrentUNet
from v2v.tasks import get_task

CPU = torch.device("cpu")


def _generator(cin=1, cout=3, seed=0) -> RecurrentUNet:
    torch.manual_seed(seed)
    generator = RecurrentUNet(cin, cout, channels=8, max_channels=16, depth=3, dropout_layers=1, norm="batch").eval()
    with torch.no_grad():  # weights larger than the initialisation: outputs depend on the state
        for name, parameter in generator.named_parameters():
            if name.endswith("weight") and parameter.dim() == 4:
                parameter.normal_(0.0, 1.5 / parameter[0].numel() ** 0.5)
    return generator


def test_streaming_translation_matches_forward():
    generator = _generator()
    video = torch.rand(6, 1, 20, 28) * 2 - 1
    with torch.no_grad():
        whole = generator(video.unsqueeze(0))[0]
    torch.testing.assert_close(translate_video(generator, video, CPU), whole, rtol=1e-5, atol=1e-5)


def test_a_new_shot_starts_from_an_empty_state():
    generator = _generator()
    video = torch.rand(6, 1, 16, 16) * 2 - 1
    translator = StreamingTranslator(generator, CPU)
    first = translator.step(video[0])
    translator.step(video[1])
    torch.testing.assert_close(translator.step(video[0], new_shot=True), first, rtol=0, atol=0)


def _two_shots(frames=20, cut=16, size=(16, 16)):
    """Frames of two flat scenes, a cut before frame ``cut`` (uint8 [H, W, 3]; shots last at least 15 frames)."""
    generator = np.random.default_rng(0)
    first, second = generator.integers(20, 60, 3), generator.integers(190, 235, 3)
    noise = lambda: generator.integers(-3, 4, (*size, 3))  # noqa: E731
    return [np.clip(np.broadcast_to(first if t < cut else second, (*size, 3)) + noise(), 0, 255).astype(np.uint8) for t in range(frames)]


def test_stream_translate_resets_at_scene_cuts_and_shows_the_task_output():
    generator = _generator()
    task = get_task("colorization")
    images = _two_shots()
    streamed = list(stream_translate(generator, task, images, CPU, scene_cut_threshold=0.12))
    assert [t for t, frame in enumerate(streamed) if frame.new_shot] == [16]
    inputs = torch.stack([task.input(torch.from_numpy(image).permute(2, 0, 1)) for image in images])
    shots = torch.cat([translate_video(generator, inputs[:16], CPU), translate_video(generator, inputs[16:], CPU)])
    for t, frame in enumerate(streamed):
        assert frame.image is images[t] and torch.equal(frame.model_input, inputs[t])
        torch.testing.assert_close(frame.output, task.display(shots[t]), rtol=0, atol=0)
    continuous = list(stream_translate(generator, task, images, CPU, scene_cut_threshold=None))
    assert not any(frame.new_shot for frame in continuous)
    assert (continuous[16].output - streamed[16].output).abs().max() > 1e-3  # the reset changed frame 16
