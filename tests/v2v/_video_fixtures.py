"""Small videos that the command tests write themselves: a textured shot panning one pixel a frame,
frame folders, and an MP4 with an audio track."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from v2v.data.video_writer import VideoWriter


def texture(seed: int, height: int = 32, width: int = 40) -> np.ndarray:
    """A smooth random uint8 image [H, W, 3] (bicubic upsampling of noise at a quarter size)."""
    noise = np.random.default_rng(seed).random((height // 4, width // 4, 3)).astype(np.float32)
    return np.rint(cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 255).astype(np.uint8)


def shot(seed: int, frames: int) -> list[np.ndarray]:
    """One shot: :func:`texture` rolled right by t pixels at frame t."""
    image = texture(seed)
    return [np.roll(image, t, axis=1) for t in range(frames)]


def write_frames(path: Path, frames) -> Path:
    """Write uint8 [H, W, 3] frames with :class:`VideoWriter` (a folder of PNG frames for a name
    without an extension); returns ``path``."""
    with VideoWriter(path) as writer:
        for frame in frames:
            writer.write(frame)
    return path


def write_mp4_with_audio(path: Path, frames, fps: int = 10) -> Path:
    """Write frames as H.264 (MPEG-4 where libx264 is missing) with a 440 Hz AAC tone; returns ``path``."""
    container = av.open(str(path), mode="w")
    video = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=fps)
    video.height, video.width = frames[0].shape[:2]
    video.pix_fmt = "yuv420p"
    audio = container.add_stream("aac", rate=16000, layout="mono")
    samples = 16000 // fps
    for index, image in enumerate(frames):
        for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
        tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 16000)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(tone[None, :], format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 16000, index * samples, Fraction(1, 16000)
        for packet in audio.encode(frame):
            container.mux(packet)
    for stream in (video, audio):
        for packet in stream.encode(None):
            container.mux(packet)
    container.close()
    return path
