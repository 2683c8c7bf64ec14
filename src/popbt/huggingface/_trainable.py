"""`HuggingFaceTrainable`: the Trainer run interval by interval (see `popbt.huggingface`)."""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import inspect
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from popbt.errors import ConfigError
from popbt.hparams import mark_read, plain
from popbt.huggingface._apply import ARGUMENTS, apply_before, apply_optimizer
from popbt.torch import resolve_device
from popbt.trainable import Trainable

try:
    import torch
    import transformers
    from transformers.trainer_callback import PrinterCallback
    from transformers.utils import logging as hf_logging
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("popbt.huggingface needs Hugging Face Transformers: "
                      "pip install 'popbt[huggingface]'") from exc

_OWNED = ("output_dir", "seed")  # TrainingArguments popbt sets for every member
# Files of a checkpoint the Trainer does not read when it resumes: the arguments (a pickle)
# and the configurations, which `build` makes again (and generating rewrites).
_NOT_STATE = ("training_args.bin", "config.json", "generation_config.json")
_TIMINGS = ("_runtime", "_per_second", "_time")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """transformers' messages below errors and its progress bars off, then put back."""
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


class _Interval(transformers.TrainerCallback):
    """Stops and checkpoints training at the interval's last step, and applies the member's
    optimizer settings once the Trainer has restored its optimizer and scheduler."""

    def __init__(self, trainable: HuggingFaceTrainable) -> None:
        self.trainable = trainable
        self.target = 0  # the global step the interval ends at
        self.values: dict[str, Any] = {}  # the member's hyperparameters for the interval
        self.applied: list[str] = []  # the names of `values` applied to the optimizer

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.applied = apply_optimizer(self.trainable.trainer, self.trainable.model,
                                       self.values)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step >= self.target:
            control.should_training_stop = True
            control.should_save = True


class HuggingFaceTrainable(Trainable):
    """A Trainable that trains `self.trainer`, a `transformers.Trainer`, interval by interval.

    Implement `build`; optionally `training_args`, and set `trainer_class` and `device`.
    `self.trainer`, `self.model` (the Trainer's model) and `self.seed` are set in `setup`;
    `self.step` is the member's global step. See the module's help for what is applied and
    saved.

    Examples:
        >>> class Tagger(HuggingFaceTrainable):
        ...     def build(self, hparams, seed):
        ...         model = transformers.BertForTokenClassification(transformers.BertConfig(
        ...             vocab_size=50, hidden_size=16, num_hidden_layers=1,
        ...             num_attention_heads=2, intermediate_size=32))
        ...         data = [{"input_ids": [1, 2, 3], "labels": [0, 1, 0]}] * 8
        ...         return model, data, data
        ...     def training_args(self, hparams):
        ...         return {"max_steps": 100, "per_device_train_batch_size": 4}
        >>> tagger = Tagger()
        >>> tagger.setup({"learning_rate": 1e-3, "hidden_dropout_prob": 0.2}, seed=0)
        >>> tagger.train({"learning_rate": 1e-3, "hidden_dropout_prob": 0.2}, steps=2)
        >>> sorted(tagger.evaluate()), tagger.step
        (['loss'], 2)
    """

    trainer_class: ClassVar[type[transformers.Trainer]] = transformers.Trainer
    device: str | torch.device | None = None  # a `torch.device` once `setup` has run
    quiet: ClassVar[bool] = True
    unread_hint = ("a HuggingFaceTrainable applies only TrainingArguments it can change between "
                   "intervals (learning_rate, weight_decay, adam_beta1, adam_beta2, "
                   "adam_epsilon, max_grad_norm, label_smoothing_factor, warmup_steps, "
                   "warmup_ratio) and the model config's dropout values; rename {them}, or "
                   "override train() to apply {them} before calling super().train()")
    trainer: transformers.Trainer
    model: torch.nn.Module
    seed: int
    step: int

    @abc.abstractmethod
    def build(self, hparams: dict[str, Any], seed: int) -> Mapping[str, Any] | tuple[Any, ...]:
        """The Trainer's keyword arguments (`model` and `train_dataset` at least; not `args`
        nor `model_init`), or `(model, train_dataset, eval_dataset)`. Called once per live
        object, with the global random generators seeded by `seed`."""

    def training_args(self, hparams: dict[str, Any]) -> Mapping[str, Any]:
        """Settings of the `TrainingArguments` (by name) over popbt's: no reporting, no
        logging or saving strategy, no progress bars; `output_dir` and `seed` are popbt's.
        Called once per live object: values read here from `hparams` are fixed for it."""
        return {}

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        """Build the model and data (`build`), the `TrainingArguments` and the Trainer.

        Raises:
            ConfigError: `build` returned something else than the Trainer's keyword arguments
                with a model and a training set; `training_args` names a setting the
                arguments do not have, or one popbt owns; `device` names a device that does
                not exist here, or a GPU other than the first one the process sees.
        """
        self.device = resolve_device(self.device)
        self.seed, self.step = seed, 0
        self._data_seed = seed  # orders the data; an exploit copies the donor's
        self._folder = Path(tempfile.mkdtemp(prefix="popbt-hf-"))
        weakref.finalize(self, shutil.rmtree, self._folder, ignore_errors=True)
        self._checkpoint: Path | None = None
        self._interval = _Interval(self)
        with self._silenced():
            transformers.set_seed(seed)
            kwargs = self._trainer_kwargs(self.build(hparams, seed))
            args = self._arguments(hparams)
            self.trainer = self.trainer_class(args=args, **kwargs)
        self.trainer.remove_callback(PrinterCallback)
        self.trainer.add_callback(self._interval)
        assert self.trainer.model is not None
        self.model = self.trainer.model
        self._user_scheduler = kwargs.get("optimizers", (None, None))[1] is not None

    def _silenced(self) -> contextlib.AbstractContextManager[None]:
        return _quiet() if self.quiet else contextlib.nullcontext()

    def _trainer_kwargs(self, built: Any) -> dict[str, Any]:
        name = f"{type(self).__name__}.build"
        if isinstance(built, tuple) and len(built) == 3:
            built = dict(zip(("model", "train_dataset", "eval_dataset"), built, strict=True))
        if not isinstance(built, Mapping) or not all(isinstance(k, str) for k in built):
            raise ConfigError(f"{name} returned a {type(built).__name__}; return "
                              f"the Trainer's keyword arguments as a dict (model, "
                              f"train_dataset, eval_dataset, ...) or the tuple (model, "
                              f"train_dataset, eval_dataset)")
        accepted = set(inspect.signature(self.trainer_class.__init__).parameters) - {
            "self", "args", "model_init"}
        unknown = sorted(set(built) - accepted)
        if unknown:
            raise ConfigError(f"{name} returned {', '.join(map(repr, unknown))}, which "
                              f"{self.trainer_class.__name__} does not take here (popbt builds "
                              f"args from training_args(); the model comes from build); "
                              f"valid: {', '.join(sorted(accepted))}")
        if not isinstance(built.get("model"), torch.nn.Module):
            raise ConfigError(f"{name} returned model={built.get('model')!r:.80}; expected a "
                              f"torch.nn.Module (a transformers PreTrainedModel)")
        if built.get("train_dataset") is None:
            raise ConfigError(f"{name} returned no train_dataset; the Trainer needs one")
        return dict(built)

    def _arguments(self, hparams: dict[str, Any]) -> transformers.TrainingArguments:
        cls: Any = (transformers.Seq2SeqTrainingArguments
                    if issubclass(self.trainer_class, transformers.Seq2SeqTrainer)
                    else transformers.TrainingArguments)
        fields = {f.name for f in dataclasses.fields(cls)}
        overrides = dict(self.training_args(hparams))
        for key in overrides:
            if key in _OWNED:
                raise ConfigError(f"{type(self).__name__}.training_args() sets {key!r}, which "
                                  f"popbt sets for each member; leave it out")
            if key not in fields:
                raise ConfigError(f"{type(self).__name__}.training_args() sets {key!r}, which "
                                  f"{cls.__name__} does not have")
        assert isinstance(self.device, torch.device)
        if self.device.type == "cuda" and self.device.index not in (None, 0):
            raise ConfigError(f"device={str(self.device)!r}: the Trainer uses the first GPU a "
                              f"process sees; give workers GPUs with popbt.Processes(gpus=...)")
        values = plain(hparams)
        settings = {"report_to": "none", "disable_tqdm": True, "logging_strategy": "no",
                    "save_strategy": "no", "use_cpu": self.device.type == "cpu", **overrides,
                    **{k: values[k] for k in ARGUMENTS if k in values and k in fields},
                    "output_dir": str(self._folder / "output"), "seed": self.seed}
        return cls(**settings)  # type: ignore[no-any-return]

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        """Train `steps` more optimizer steps under `hparams` (one `Trainer.train()`, resumed
        from the last checkpoint); logs `train_loss`, the interval's mean training loss.

        Raises:
            ConfigError: the Trainer stopped before the interval's end (raise `max_steps`).
        """
        values = plain(hparams)
        applied = apply_before(self.trainer, self.model, values,
                               own_scheduler=not self._user_scheduler)
        self._interval.values, self._interval.target = values, self.step + steps
        # Seeds the first interval; later ones restore the checkpoint's random state, and
        # the order of the data follows torch's initial seed, set here, in every interval.
        transformers.set_seed(self._data_seed)
        with self._silenced():
            output = self.trainer.train(
                resume_from_checkpoint=None if self._checkpoint is None else str(self._checkpoint))
        mark_read(hparams, applied + self._interval.applied)
        self._keep(self._interval.target)
        self.log(train_loss=output.training_loss)

    def _keep(self, target: int) -> None:
        """Make the checkpoint the Trainer saved at `target` the member's, deleting others.

        Raises:
            ConfigError: the Trainer stopped before `target`.
        """
        reached = self.trainer.state.global_step
        output = self._folder / "output"
        saved = output / f"checkpoint-{target}"
        if reached != target or not saved.is_dir():
            args = self.trainer.args
            raise ConfigError(f"the Trainer stopped at step {reached}, before this interval's "
                              f"end at step {target} (max_steps={args.max_steps}, "
                              f"num_train_epochs={args.num_train_epochs}); set max_steps in "
                              f"training_args() to at least the steps the population trains "
                              f"each member")
        for old in [*output.iterdir(), self._folder / "restored"]:
            if old != saved:
                shutil.rmtree(old, ignore_errors=True)
        self._checkpoint, self.step = saved, target

    def evaluate(self) -> dict[str, float]:
        """The numbers `trainer.evaluate()` returns, without their `eval_` prefix (`loss`,
        and what `compute_metrics` gives), timings and `epoch` left out."""
        with self._silenced():
            metrics = self.trainer.evaluate()
        return {k.removeprefix("eval_"): float(v) for k, v in metrics.items()
                if k != "epoch" and not k.endswith(_TIMINGS)
                and isinstance(v, int | float) and not isinstance(v, bool)}

    def state_dict(self) -> dict[str, Any]:
        """The files of the Trainer's last checkpoint, by path (but `_NOT_STATE`), the global
        step and the seed that orders the data.

        Raises:
            RuntimeError: before the first `train`.
        """
        if self._checkpoint is None:
            raise RuntimeError(f"{type(self).__name__}.state_dict(): nothing is trained yet; "
                               f"call train() first")
        files = {str(p.relative_to(self._checkpoint)): p.read_bytes()
                 for p in sorted(self._checkpoint.rglob("*"))
                 if p.is_file() and p.name not in _NOT_STATE}
        return {"files": files, "step": self.step, "data_seed": self._data_seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Write the checkpoint's files where the next `train` resumes from, and load its
        weights into `self.model` now (for `evaluate`).

        Raises:
            ValueError: a file name that leads out of the checkpoint's folder.
        """
        folder = self._folder / "restored"
        shutil.rmtree(folder, ignore_errors=True)
        for name, data in state["files"].items():
            path = (folder / name).resolve()
            if not path.is_relative_to(folder.resolve()):
                raise ValueError(f"checkpoint file {name!r} is outside the checkpoint")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        self.step, self._data_seed = int(state["step"]), int(state["data_seed"])
        self.trainer.args.seed = self._data_seed  # seeds samplers the Trainer builds itself
        self._checkpoint = folder
        with self._silenced():
            self.trainer._load_from_checkpoint(str(folder))
