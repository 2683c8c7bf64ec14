"""Hugging Face Transformers without boilerplate (extra `huggingface`): a Trainable that runs
a `transformers.Trainer` (or `Seq2SeqTrainer`).

Subclass `HuggingFaceTrainable` and return the Trainer's keyword arguments from
`build(hparams, seed)`: at least `model` and `train_dataset`, usually `eval_dataset`,
`data_collator` and `compute_metrics` (or the tuple `(model, train_dataset, eval_dataset)`).
Settings of `TrainingArguments` go in `training_args(hparams)`; set `trainer_class` to
`Seq2SeqTrainer` for generation-based metrics (then `Seq2SeqTrainingArguments` are used).

Each `train(hparams, steps)` call is one `Trainer.train()` that resumes from the Trainer's
own checkpoint of the previous interval and stops after `steps` more optimizer steps, so a
member trains as one uninterrupted `Trainer.train()` would: the same optimizer and
learning-rate scheduler state, global step, position in the data and random state. Set
`max_steps` in `training_args` to at least the steps the population trains each member: it
is the horizon of the learning-rate schedule, and a Trainer that stops before an interval
ends (at `max_steps`, or after `num_train_epochs` by default) stops the run with
`ConfigError`.

Hyperparameters applied before every interval, after any restore (so an exploit's copied
optimizer never keeps the donor's values):
- `learning_rate`: the scheduler's base learning rates, and each param group's current
  rate as the schedule gives it at the current step;
- `weight_decay` (the param groups that decay), `adam_beta1`, `adam_beta2`, `adam_epsilon`
  (param groups that have `betas`, `eps`);
- `max_grad_norm`, `label_smoothing_factor`, and `warmup_steps` / `warmup_ratio` (when
  the installed version has it, and the Trainer builds the scheduler itself);
- dropout-type values of the model's config (a float attribute whose name holds
  "dropout": `dropout`, `attention_dropout`, `dropout_rate`, `hidden_dropout_prob`, ...):
  set on the config, and on the model's dropout modules and rates as a model built from the
  new config would have them.
Any other name of the space is not applied, and popbt reports it with an
`UnusedHyperparameterWarning` unless the subclass reads it in `train`.

`evaluate()` returns the numbers of `trainer.evaluate()` without their `eval_` prefix
(`bleu`, `loss`), its timings left out. `state_dict()` holds the files of the Trainer's
checkpoint (weights, optimizer, scheduler, random state, trainer state) and the seed that
orders the training data (the first member of the lineage's), so a restored member resumes
exactly where the original would. Nothing is reported (`report_to="none"`),
printed or shown as a progress bar, transformers' messages below errors are silenced while
it runs (unless the class sets `quiet = False`), and checkpoints live in a temporary folder,
deleted with the object. Devices: the class attribute `device` as in
`popbt.torch.TorchTrainable` (by default the GPU a worker process was given, else the CPU);
the Trainer uses the first GPU it sees.
"""

from popbt.huggingface._trainable import HuggingFaceTrainable

__all__ = ["HuggingFaceTrainable"]
