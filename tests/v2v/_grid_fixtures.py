"""A tiny grid budget the grid, reproduce and figures tests share: two settings, one seed, a study weight."""

from __future__ import annotations

from v2v.grid import Budget

TINY = Budget(
    name="tiny",
    description="test grid",
    base_config="quickstart",
    overrides=(
        "train.steps=2", "data.frame_size=[32,32]", "data.num_train_sequences=2", "data.num_val_sequences=1",
        "data.eval_clip_length=4", "train.num_workers=0", "train.log_every=1", "train.image_every=2",
        "train.checkpoint_every=2", "model.gen_depth=3",
    ),
    tasks=("colorization",),
    settings=("image2image", "video2video+local+global"),
    seeds=(0,),
    test_videos=1,
    tradeoff_task="colorization",
    tradeoff_weights=(3.0,),
)
