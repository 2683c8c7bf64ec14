"""The Hugging Face adapter: after every exploit, the Trainer's optimizer and scheduler use the
member's current learning rate (and warmup, dropout, label smoothing) at every step; the
example passes `check_trainable`; hyperparameters it does not apply are reported; bad builds
are refused; the translation pieces work offline."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: nothing is downloaded

import numpy as np
import pytest
import torch
import transformers

import popbt
from checks import intervals_after_exploits
from popbt._refs import load_file
from popbt.demos import translation
from popbt.errors import ConfigError
from popbt.hparams import Hyperparameters, UnusedHyperparameterWarning
from popbt.huggingface import HuggingFaceTrainable

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "translation.py"
HORIZON = 1000  # the linear schedule's max_steps


example = load_file(EXAMPLE)


@pytest.fixture(autouse=True)
def offline_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No connection can be opened (so nothing is downloaded), and small models train
    fastest on one thread (popbt's worker processes use one too)."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError(f"network access during a test: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Tiny(example.EnglishToFrench):
    """The example, smaller: 16 validation sentences, a model of width 16, batches of 8."""

    validation_size = 16
    d_model = 16

    def training_args(self, hparams: dict[str, Any]) -> dict[str, Any]:
        return {**super().training_args(hparams), "per_device_train_batch_size": 8,
                "warmup_steps": 0}


class Recorder(transformers.TrainerCallback):
    """Before each optimizer step: the step, each param group's learning rate, the
    scheduler's base rates, the model's dropout rate and the label smoothing in use."""

    def __init__(self, trainable: HuggingFaceTrainable) -> None:
        self.trainable = trainable
        self.used: list[tuple[int, list[float], list[float], float, float]] = []

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any,
                              **kwargs: Any) -> None:
        smoother = self.trainable.trainer.label_smoother
        self.used.append((state.global_step,
                          [group["lr"] for group in kwargs["optimizer"].param_groups],
                          list(kwargs["lr_scheduler"].base_lrs),
                          self.trainable.model.model.encoder.layers[0].dropout,
                          0.0 if smoother is None else smoother.epsilon))


class Observed(Tiny):
    """Tiny under a linear schedule with warmup (`warmup_steps` a hyperparameter), logging
    what its optimizer and scheduler used at each step of an interval."""

    def build(self, hparams: dict[str, Any], seed: int) -> dict[str, Any]:
        self.recorder = Recorder(self)
        return {**super().build(hparams, seed), "callbacks": [self.recorder]}

    def training_args(self, hparams: dict[str, Any]) -> dict[str, Any]:
        return {**super().training_args(hparams), "lr_scheduler_type": "linear",
                "max_steps": HORIZON}

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        self.recorder.used.clear()
        super().train(hparams, steps)
        self.log(updates=len(self.recorder.used))
        for i, (step, lrs, base_lrs, dropout, smoothing) in enumerate(self.recorder.used):
            self.log(**{f"step_{i}": step, f"lr_{i}_min": min(lrs), f"lr_{i}_max": max(lrs),
                        f"base_{i}_min": min(base_lrs), f"base_{i}_max": max(base_lrs),
                        f"dropout_{i}": dropout, f"smoothing_{i}": smoothing})


SPACE = popbt.Space({
    "learning_rate": popbt.LogUniform(1e-4, 1e-2),
    "warmup_steps": popbt.IntUniform(2, 20),
    "dropout": popbt.Uniform(0.0, 0.3),
    "label_smoothing_factor": popbt.Uniform(0.0, 0.2),
})


def _linear(step: int, warmup: int) -> float:
    """transformers' linear schedule with warmup, at `step`, over `HORIZON` steps."""
    if step < warmup:
        return step / warmup
    return max(0.0, (HORIZON - step) / (HORIZON - warmup))


@pytest.mark.slow  # 24 Trainer.train() calls: about 25 s on a busy 2-core machine
def test_the_trainer_uses_the_members_hyperparameters_at_every_step_after_every_exploit(
        tmp_path: Path):
    pop = popbt.create_population(
        name="hf", storage=f"sqlite:///{tmp_path / 'h.db'}", space=SPACE, size=4,
        metric="loss", mode="min", seed=0, ready=popbt.Every(steps=2),  # BLEU ties at 0
        exploit=popbt.Truncation(fraction=0.25),
        explore=popbt.Perturb(factors=(0.8, 1.2), resample_probability=0.25))
    pop.train(Observed, steps=12, progress=False)

    expected = intervals_after_exploits(pop, interval=2, explored="learning_rate")
    for score in pop.scores():
        hp, used = expected[score.member_id, score.step], score.metrics
        where = f"member {score.member_id}, interval ending at step {score.step}"
        assert used["updates"] == 2, where
        for i in range(2):
            step = int(used[f"step_{i}"])
            assert step == score.step - 2 + i, where  # continues the donor's global step
            lr = hp["learning_rate"] * _linear(step, hp["warmup_steps"])
            assert used[f"lr_{i}_min"] == pytest.approx(lr, rel=1e-9, abs=1e-15), where
            assert used[f"lr_{i}_max"] == pytest.approx(lr, rel=1e-9, abs=1e-15), where
            assert used[f"base_{i}_min"] == used[f"base_{i}_max"] == pytest.approx(
                hp["learning_rate"], rel=1e-12), where
            assert used[f"dropout_{i}"] == pytest.approx(hp["dropout"], rel=1e-12), where
            assert used[f"smoothing_{i}"] == pytest.approx(
                hp["label_smoothing_factor"], rel=1e-12), where


def test_the_example_passes_check_trainable():
    result = popbt.check_trainable(Tiny, example.space, steps=2)
    assert result.ok, str(result)


def test_a_hyperparameter_the_trainer_does_not_apply_is_reported(tmp_path: Path):
    space = popbt.Space({"learning_rate": popbt.LogUniform(1e-4, 1e-2),
                         "momentum": popbt.Uniform(0.5, 0.99)})  # AdamW has none
    pop = popbt.create_population(name="hf", storage=f"sqlite:///{tmp_path / 'h.db'}",
                                  space=space, size=2, metric="bleu", mode="max", seed=0,
                                  ready=popbt.Every(steps=1))
    with pytest.warns(UnusedHyperparameterWarning) as caught:
        pop.train(Tiny, steps=1, progress=False)
    message = str(caught[0].message)
    assert "'momentum'" in message and "it reads 'learning_rate'" in message


def test_state_restores_weights_step_and_optimizer_settings():
    hp = {"learning_rate": 2e-3, "dropout": 0.1, "attention_dropout": 0.0,
          "label_smoothing_factor": 0.1, "adam_beta2": 0.99, "weight_decay": 0.01}
    original = Tiny()
    original.setup(dict(hp), seed=0)
    read = Hyperparameters(hp)
    original.train(read, 3)
    assert sorted(read.read) == sorted(hp)
    state = original.state_dict()
    assert {"model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth",
            "trainer_state.json"} <= set(state["files"]) and state["step"] == 3

    copy = Tiny()
    copy.setup({**hp, "dropout": 0.25}, seed=7)
    copy.load_state_dict(state)
    assert copy.evaluate() == original.evaluate()  # the weights are loaded at once
    copy.train({**hp, "learning_rate": 5e-4, "dropout": 0.25, "weight_decay": 0.05}, 1)
    groups = copy.trainer.optimizer.param_groups
    assert copy.step == 4 and copy.trainer.state.global_step == 4
    assert all(g["lr"] == 5e-4 and g["betas"] == (0.9, 0.99) for g in groups)
    assert sorted(g["weight_decay"] for g in groups) == [0.0, 0.05]  # no decay for biases
    assert copy.model.config.dropout == 0.25
    assert all(m.dropout == 0.25 for m in copy.model.model.encoder.layers)


def test_a_trainer_that_stops_before_the_interval_ends_stops_the_run():
    class Short(Tiny):
        def training_args(self, hparams: dict[str, Any]) -> dict[str, Any]:
            return {**super().training_args(hparams), "max_steps": 2}

    trainable = Short()
    trainable.setup({"learning_rate": 1e-3}, seed=0)
    with pytest.raises(ConfigError, match=r"stopped at step 2, before this interval's end at "
                                          r"step 3 \(max_steps=2"):
        trainable.train({"learning_rate": 1e-3}, 3)


@pytest.mark.parametrize(("built", "message"), [
    (lambda model: model, r"returned a BartForConditionalGeneration; return the Trainer's "
                          r"keyword arguments as a dict"),
    (lambda model: {"model": model, "train_dataset": [], "args": None},
     r"returned 'args', which Seq2SeqTrainer does not take here"),
    (lambda model: {"model": "facebook/bart-base", "train_dataset": []},
     r"returned model='facebook/bart-base'; expected a torch.nn.Module"),
    (lambda model: {"model": model}, r"returned no train_dataset"),
])
def test_a_bad_build_is_refused_with_what_to_return(built: Any, message: str):
    class Bad(Tiny):
        def build(self, hparams: dict[str, Any], seed: int) -> Any:
            return built(translation.model(translation.tokenizer().get_vocab_size(),
                                           d_model=16))

    with pytest.raises(ConfigError, match=message):
        Bad().setup({}, seed=0)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"output_dir": "runs"}, r"sets 'output_dir', which popbt sets for each member"),
    ({"learning_rte": 1e-3}, r"sets 'learning_rte', which Seq2SeqTrainingArguments does not "
                             r"have"),
])
def test_bad_training_args_are_refused(overrides: dict[str, Any], message: str):
    class Bad(Tiny):
        def training_args(self, hparams: dict[str, Any]) -> dict[str, Any]:
            return {**super().training_args(hparams), **overrides}

    with pytest.raises(ConfigError, match=message):
        Bad().setup({}, seed=0)


def test_the_translation_data_tokenizer_and_bleu_work_offline():
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    pairs = translation.corpus()
    numbers = [{p for p in getattr(pairs, name)} for name in ("train", "validation", "test")]
    assert [len(n) for n in numbers] == list(translation.SIZES.values())
    assert not (numbers[0] & numbers[1] or numbers[0] & numbers[2] or numbers[1] & numbers[2])
    assert translation.corpus() is pairs
    tok = translation.tokenizer()
    french = [fr for _, fr in pairs.validation + pairs.test]
    assert all(translation.decode(tok, translation.encode(tok, s)) == s for s in french)
    assert translation.UNK not in {i for s in french for i in translation.encode(tok, s)}
    batch = translation.collate(translation.dataset(pairs.train[:4], tok))
    assert batch["decoder_input_ids"][:, 0].eq(translation.BOS).all()
    assert (batch["labels"][:, :-1].clamp(min=0) == batch["decoder_input_ids"][:, 1:]).all()

    torch.manual_seed(0)
    model = translation.model(tok.get_vocab_size(), d_model=16, dropout=0.2)
    assert model.config.d_model == 16 and model.config.dropout == 0.2
    generated = model.generate(batch["input_ids"], attention_mask=batch["attention_mask"])
    assert generated.shape[0] == 4 and generated.shape[1] <= 24
    references = [fr for _, fr in pairs.train[:4]]
    compute = translation.metrics(tok)
    perfect = compute(transformers.EvalPrediction(predictions=batch["labels"].numpy(),
                                                  label_ids=batch["labels"].numpy()))
    assert perfect == {"bleu": pytest.approx(100.0), "exact": 1.0}
    assert translation.bleu(references[::-1], references) < 100.0
    hypotheses = [translation.decode(tok, row) for row in np.asarray(generated)]
    assert 0.0 <= translation.bleu(hypotheses, references) < 100.0  # untrained
