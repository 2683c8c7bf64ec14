"""PyTorch Lightning (extra `lightning`): a Trainable around a `LightningModule` and a `Trainer`.

Subclass `LightningTrainable` and return your `LightningModule` from `build(hparams, seed)`;
the data comes from the module's own `train_dataloader` / `val_dataloader`, or from the
`LightningDataModule` that `data(hparams, seed)` returns. Then:

- `train(hparams, steps)` runs `Trainer.fit` for `steps` more optimizer steps (Lightning's
  global steps), resumed from the checkpoint Lightning itself writes at the end of the last
  interval (or of the donor's, after an exploit): weights, optimizers, LR schedulers, loop
  progress (global step, epoch), callbacks' and the precision plugin's state. It is held in
  memory (no file) and is what `state_dict()` returns, with the member's random state. Every
  interval after the first resumes this way, so a restored member trains as the original.
- After Lightning has restored the optimizers (which brings back the learning rate stored in
  the checkpoint: the mutation lost in ray-project/ray#36660), the member's current
  hyperparameters are applied, in `on_train_start`: those named like optimizer settings
  (`lr`, `momentum`, `weight_decay`, `eps`, `beta1`/`beta2`, ...) to every param group of
  every optimizer, as `popbt.torch.apply_hparams` does (name several optimizers in
  `optimizer_names`; then `NAME_SETTING` sets one optimizer's setting). With an LR scheduler
  on the optimizer, `lr` is the schedule's base learning rate: the scheduler's `base_lrs` (and
  the group's `initial_lr`, OneCycleLR's `max_lr`/`min_lr`, CyclicLR's `max_lrs`) move to the
  new value and the current learning rate is scaled by the same ratio, so the schedule goes on
  from where it was, from the new base, instead of bringing the old one back at its next step.
  (A scheduler that sets momentum, as OneCycleLR does, still overrides a `momentum` value.)
- The module's `on_hparams(hparams)` (and the data module's), where it has one, is called
  with the member's hyperparameters in every interval, once Lightning has restored them from
  the checkpoint (`on_load_checkpoint` included) and before it asks for the training data:
  set there what the module reads itself (a dropout rate, a loss weight, the batch size its
  `train_dataloader` uses). popbt never writes `module.hparams`: what `save_hyperparameters`
  saved stays the values the module was built with.
- `evaluate()` runs `Trainer.validate` and returns what the module logs there
  (`trainer.callback_metrics`, as floats). What it logs while training (`self.log` in
  `training_step`) is recorded with the interval's evaluation too (see `popbt.Trainable.log`).
- Each member owns its random state: Python's, NumPy's and torch's global generators (CPU,
  and the CUDA device it trains on), which Lightning code uses for initialisation, dropout
  and shuffling, hold the member's state while it builds, trains and evaluates, and are put
  back afterwards.

Each interval and each evaluation makes a new `Trainer`. Defaults (`trainer_kwargs()`
overrides them): no logger, checkpointing, progress bar, model summary or sanity validation,
and no validation inside `fit` (`evaluate` validates once per interval) unless
`val_check_interval` or `check_val_every_n_epoch` is given. A logger given there is made per
interval too: give it a fixed name and version per member (`self.member_id`). Lightning's
informational log lines are silenced while popbt calls it. The device comes from the class
attribute `device`, as for `popbt.torch.TorchTrainable` (see `popbt.torch.resolve_device`).

Intervals and epochs: an interval that ends inside an epoch resumes as Lightning resumes a
checkpoint saved there: the epoch's remaining batches come from a new iterator over the data
(a new shuffle) unless the data loader is resumable (has `state_dict`), and `current_epoch`
counts each of the two parts as an epoch. Epoch-interval LR schedulers step on whole epochs
only. Make `ready` a multiple of the epoch's length where this matters.
"""

from __future__ import annotations

try:
    import lightning.pytorch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("popbt.lightning needs PyTorch Lightning: "
                      "pip install 'popbt[lightning]'") from exc

from popbt.lightning._trainable import LightningTrainable

__all__ = ["LightningTrainable"]
