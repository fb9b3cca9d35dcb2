"""Training (paper section 3.3): ``python -m v2v.train`` or :func:`train` from Python.

* :func:`train`: a whole run (resume, DDP under ``torchrun``, checkpoints, logs, validation).
* :func:`train_step`: one discriminator step then one generator step.
"""

from .loop import TrainResult, train, train_step

__all__ = ["train", "train_step", "TrainResult"]
