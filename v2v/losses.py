"""The objective of paper section 3.3 (docs/training.md).

``L = w_t L_temporal + λ L_spatial + η L_cGAN`` with

* ``L_temporal = mean |E^o|`` over valid and invalid pixels alike (eq. 4; invalid pixels are zero),
* ``L_spatial = mean |O - G|`` (eq. 6),
* ``L_cGAN`` the conditional GAN loss (eq. 5) on discriminator logits, in its non-saturating form
  for the generator (pix2pix): the generator maximises ``log D(I, O)``.

Each function takes tensors and returns a scalar; :func:`residual_errors` is the one call per step
to the fused op. The loop in :mod:`v2v.train.loop` reads these top to bottom.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import v2vcore

__all__ = [
    "residual_errors",
    "temporal_loss",
    "spatial_loss",
    "discriminator_loss",
    "generator_adversarial_loss",
]


def residual_errors(
    generated: torch.Tensor,
    target: torch.Tensor,
    flow_fwd: torch.Tensor,
    flow_bwd: torch.Tensor,
    *,
    check_flows: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Residual errors ``(E^o, E^g)`` of the generated and the ground-truth videos, one fused call.

    The two videos are stacked along channels so that the flows are read and the valid-pixel mask
    is computed once (docs/op.md). ``E^o`` is differentiable with respect to ``generated``
    (pass ``generated.detach()`` when no gradient is wanted); ``E^g`` is a constant.

    Args:
        generated: ``[B, T, C, H, W]``, the generator's output O.
        target: ``[B, T, C, H, W]``, the ground truth G.
        flow_fwd, flow_bwd: ``[B, T-1, 2, H, W]`` float32, from the input video.
        check_flows: let the op reject non-finite flows; the training loader validates flows when
            it loads them, so the loop passes False (which spares a device sync on CUDA).

    Returns:
        ``E^o`` and ``E^g``, each ``[B, T-1, C, H, W]``.
    """
    if generated.shape != target.shape:
        raise ValueError(f"generated {tuple(generated.shape)} and target {tuple(target.shape)} must have one shape")
    channels = generated.shape[2]
    stacked = torch.cat([generated, target.to(generated.dtype)], dim=2)
    residual = v2vcore.residual_error(stacked, flow_fwd, flow_bwd, check_flows=check_flows)
    residual_generated, residual_target = residual.split([channels, channels], dim=2)
    # E^g depends on the target only; detaching keeps D's real branch out of G's graph.
    return residual_generated, residual_target.detach()


def temporal_loss(residual_generated: torch.Tensor) -> torch.Tensor:
    """``L_temporal = mean |E^o|`` (eq. 4), in float32."""
    return residual_generated.float().abs().mean()


def spatial_loss(generated: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``L_spatial = mean |O - G|`` (eq. 6), in float32."""
    return (generated.float() - target.float()).abs().mean()


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    logits = logits.float()
    labels = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, labels)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The discriminator's side of eq. 5: ``-(log D(I, G) + log(1 - D(I, O))) / 2``.

    Every entry of the logits is one decision (a channel of the two-channel discriminator, or a
    patch of the PatchGAN); the cross-entropy is averaged over entries. Halved as in pix2pix, which
    slows D relative to G.
    """
    return 0.5 * (_bce(real_logits, True) + _bce(fake_logits, False))


def generator_adversarial_loss(fake_logits: torch.Tensor, temporal_weight: float = 1.0) -> torch.Tensor:
    """The generator's side of eq. 5, non-saturating: ``-log D(I, O)`` averaged over decisions.

    Args:
        fake_logits: ``[B, 1]`` (spatial channel) or ``[B, 2]`` (spatial, temporal).
        temporal_weight: with two channels, the temporal decision's weight, the spatial one's
            being 1: ``(BCE_spatial + w BCE_temporal) / 2`` (``loss.temporal_gan_weight``).
    """
    # At weight 1 the plain mean over both entries, which is what the paper's loss computed before
    # the weight existed (the same value, and the same bits as runs trained then).
    if fake_logits.shape[1] == 2 and temporal_weight != 1.0:
        return 0.5 * (_bce(fake_logits[:, :1], True) + temporal_weight * _bce(fake_logits[:, 1:], True))
    return _bce(fake_logits, True)
