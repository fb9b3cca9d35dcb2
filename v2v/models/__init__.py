"""Networks of the paper (section 3.2, docs/training.md) and checkpoint loading for inference.

* :class:`RecurrentUNet`: the generator (``forward`` over clips, streaming ``step``).
* :class:`TwoChannelDiscriminator`: spatial + temporal recurrent PatchGAN channels.
* :class:`PatchDiscriminator`: pix2pix's per-frame PatchGAN (image2image).
* :func:`build_generator`, :func:`build_discriminator`: from a resolved model config, a task and a
  setting.
* :func:`load_generator`: ``(generator in eval mode, config)`` from a run directory, a checkpoint or
  a generator export (:mod:`v2v.models.checkpoint`: the checkpoint format, writers and readers).
* :func:`checkpoint_processor`, :func:`build_processors`: a checkpoint run frame by frame as the
  learned member of the flickering processors (:mod:`v2v.processors`).
"""

from .checkpoint import find_checkpoint, list_checkpoints, load_generator, read_checkpoint, read_generator
from .discriminator import PatchDiscriminator, RecurrentPatchChannel, TwoChannelDiscriminator
from .factory import build_discriminator, build_generator
from .generator import RecurrentUNet
from .per_frame import build_processors, checkpoint_processor, dataset_processors

__all__ = [
    "RecurrentUNet",
    "TwoChannelDiscriminator",
    "RecurrentPatchChannel",
    "PatchDiscriminator",
    "build_generator",
    "build_discriminator",
    "load_generator",
    "read_generator",
    "read_checkpoint",
    "find_checkpoint",
    "list_checkpoints",
    "checkpoint_processor",
    "build_processors",
    "dataset_processors",
]
