"""How much each term of the objective pulls on the generator, and what the temporal critic sees.

For a run directory (a full checkpoint with both networks), on training clips of its own data:

- the value of every term of ``L = w_t L_temporal + lambda L_spatial + eta L_cGAN`` (eq. 7), weighted
  as the run weights them, and the norm of each weighted term's gradient with respect to the
  generator's parameters (the adversarial term split into the spatial and the temporal channel of
  the two-channel discriminator);
- the discriminator's decisions on real (ground truth, E^g) and generated (E^o) clips per channel,
  the temporal channel's decisions on E^o scaled by 1/4 and E^g by 4 (does it judge the residuals'
  size?), and the scale of the residuals the temporal channel reads.

    python benchmarks/loss_balance.py runs/<name> [--clips 8] [--json out.json]

This is the check behind docs/reproduction.md's "why the paper's weights do nothing" finding.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch
import torch.nn.functional as F

from v2v.config import run_config
from v2v.data import build_dataset
from v2v.losses import residual_errors, spatial_loss, temporal_loss
from v2v.models import build_discriminator, build_generator, dataset_processors, find_checkpoint, read_checkpoint
from v2v.train.data import collate_clips


def _grad_norm(loss: torch.Tensor, parameters: list[torch.nn.Parameter]) -> float:
    grads = torch.autograd.grad(loss, parameters, retain_graph=True, allow_unused=True)
    return float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)))


def measure(run: str, clips: int) -> dict:
    """The terms, their gradient norms and the discriminator's decisions, averaged over ``clips``."""
    checkpoint = read_checkpoint(find_checkpoint(run))
    config = run_config(checkpoint["config"])
    generator, discriminator = build_generator(config.model, config.task, config.setting_switches), build_discriminator(config.model, config.task, config.setting_switches)
    generator.load_state_dict(checkpoint["generator"])
    discriminator.load_state_dict(checkpoint["discriminator"])
    generator.train()
    discriminator.train()
    parameters = [p for p in generator.parameters() if p.requires_grad]
    temporal = config.setting_switches.temporal_discriminator
    dataset = build_dataset(config.data, "train", config.task, processors=dataset_processors(config.data, config.task))
    rows = []
    for index in range(clips):
        batch = collate_clips([dataset[index]])
        generated = generator(batch["input"])
        e_o, e_g = residual_errors(generated, batch["temporal_target"], batch["flow_fwd"], batch["flow_bwd"])
        fake = discriminator(batch["input"], generated, e_o if temporal else None)
        real = discriminator(batch["input"], batch["target"], e_g if temporal else None)
        flat_fake = fake.reshape(fake.shape[0], -1) if temporal else fake.reshape(1, -1)
        spatial_adv = F.binary_cross_entropy_with_logits(flat_fake[:, :1] if temporal else flat_fake,
                                                         torch.ones_like(flat_fake[:, :1] if temporal else flat_fake))
        terms = {
            "spatial": config.loss.spatial_weight * spatial_loss(generated, batch["target"]),
            "temporal": config.loss.temporal_weight * temporal_loss(e_o),
            # the generator's adversarial loss averages the decisions: each channel carries half of eta
            "gan_spatial": config.loss.gan_weight * spatial_adv * (0.5 if temporal else 1.0),
        }
        if temporal:
            terms["gan_temporal"] = config.loss.gan_weight * 0.5 * F.binary_cross_entropy_with_logits(
                flat_fake[:, 1:], torch.ones_like(flat_fake[:, 1:]))
        row = {f"value/{k}": float(v.detach()) for k, v in terms.items()}
        row.update({f"grad_norm/{k}": _grad_norm(v, parameters) for k, v in terms.items()})
        real_p, fake_p = torch.sigmoid(real.detach()).reshape(-1), torch.sigmoid(fake.detach()).reshape(-1)
        channels = ("spatial", "temporal") if temporal else ("spatial",)
        for c, name in enumerate(channels):
            if temporal:
                row[f"D_real/{name}"], row[f"D_fake/{name}"] = float(real_p[c]), float(fake_p[c])
            else:
                row["D_real/spatial"], row["D_fake/spatial"] = float(real_p.mean()), float(fake_p.mean())
        if temporal:
            # Does the temporal channel judge the residuals' size? A critic that does calls a
            # quarter of E^o real and four times E^g fake; one that sees only their pattern does not.
            with torch.no_grad():
                row["D_temporal/generated_x0.25"] = float(torch.sigmoid(discriminator.temporal(0.25 * e_o.detach())).mean())
                row["D_temporal/target_x4"] = float(torch.sigmoid(discriminator.temporal(4 * e_g)).mean())
        row["residual_abs_mean/generated"] = float(e_o.detach().abs().mean())
        row["residual_abs_mean/target"] = float(e_g.abs().mean())
        rows.append(row)
    keys = rows[0].keys()
    return {
        "run": run,
        "setting": config.setting,
        "task": config.task,
        "weights": {"temporal": config.loss.temporal_weight, "spatial": config.loss.spatial_weight, "gan": config.loss.gan_weight},
        "clips": clips,
        "mean": {k: sum(r[k] for r in rows) / len(rows) for k in keys},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="run directory or checkpoint with both networks")
    parser.add_argument("--clips", type=int, default=8, help="training clips averaged over")
    parser.add_argument("--json", default=None, help="also write the result here")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    result = measure(args.run, args.clips)
    for key, value in result["mean"].items():
        print(f"{key:32s} {value:.4g}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
