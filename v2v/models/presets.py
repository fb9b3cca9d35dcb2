"""Named network sizes: the one home of the numbers behind ``model.preset``.

``paper`` is the architecture of the paper's section 3.2.3 (docs/training.md): a seven-layer encoder
``C64-C128-C256-C512-C512-C512-C512`` mirrored by the decoder, three dropout layers, and a
``C64-C128-C256-C512`` discriminator. ``small`` keeps the same topology at a width and depth that
train on a laptop CPU in minutes (the quickstart).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ArchitecturePreset", "PRESETS"]


@dataclass(frozen=True)
class ArchitecturePreset:
    """Width and depth of the generator and of each discriminator channel.

    Channel counts double from ``*_channels`` at every layer, capped at ``*_max_channels``.
    """

    gen_channels: int
    gen_max_channels: int
    gen_depth: int
    gen_dropout_layers: int
    disc_channels: int
    disc_max_channels: int
    disc_depth: int


PRESETS: dict[str, ArchitecturePreset] = {
    # C64-C128-C256-C512-C512-C512-C512 / CD512-CD512-CD512-C512-C256-C128-C64; D: C64-C128-C256-C512.
    "paper": ArchitecturePreset(
        gen_channels=64,
        gen_max_channels=512,
        gen_depth=7,
        gen_dropout_layers=3,
        disc_channels=64,
        disc_max_channels=512,
        disc_depth=4,
    ),
    # C16-C32-C64-C64-C64 / CD64-CD64-C64-C32-C16; D: C16-C32-C64. 64x64 frames reach a 2x2 bottleneck.
    "small": ArchitecturePreset(
        gen_channels=16,
        gen_max_channels=64,
        gen_depth=5,
        gen_dropout_layers=2,
        disc_channels=16,
        disc_max_channels=64,
        disc_depth=3,
    ),
}
