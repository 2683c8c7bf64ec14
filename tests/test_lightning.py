"""popbt.lightning: a Lightning module trained by PBT uses, in every interval after every
exploit, the member's own hyperparameters (optimizer settings, LR schedules, the module's own
values), and a restored member continues exactly as the original."""

from __future__ import annotations

import importlib.util
import signal
from collections import defaultdict
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

import popbt
from popbt.errors import ConfigError
from popbt.hparams import UnusedHyperparameterWarning
from popbt.lightning import LightningTrainable
from popbt.records import EventKind

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "lightning_digits.py"
SPACE = popbt.Space({"lr": popbt.LogUniform(1e-3, 0.3), "momentum": popbt.Uniform(0.0, 0.9),
                     "weight_decay": popbt.LogUniform(1e-5, 1e-2),
                     "dropout": popbt.Uniform(0.0, 0.5)})
X = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
Y = (X[:, 0] + X[:, 1] > 0).long()


class Probe(pl.LightningModule):
    """A small classifier that records, at every training step, the settings its optimizer
    and its dropout layer actually use."""

    def __init__(self, lr: float = 0.1, dropout: float = 0.0, gamma: float | None = None,
                 momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.drop = nn.Dropout(dropout)
        self.net = nn.Linear(8, 2)
        self.used: list[dict[str, float]] = []

    def on_hparams(self, hparams: dict[str, Any]) -> None:
        self.drop.p = hparams["dropout"]

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["dropout"] = self.drop.p  # restored before on_hparams: the member's wins

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.drop.p = checkpoint["dropout"]

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        group = self.trainer.optimizers[0].param_groups[0]
        self.used.append({"step": self.global_step, "lr": group["lr"],
                          "initial_lr": group.get("initial_lr", group["lr"]),
                          "momentum": group["momentum"],
                          "weight_decay": group["weight_decay"], "dropout": self.drop.p})
        return F.cross_entropy(self.net(self.drop(x)), y)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("score", -F.cross_entropy(self.net(x), y))

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        optimizer = torch.optim.SGD(self.parameters(), lr=hp.lr, momentum=hp.momentum,
                                    weight_decay=hp.weight_decay)
        if hp.gamma is None:
            return optimizer
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=hp.gamma)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(X, Y), batch_size=16, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(X, Y), batch_size=200)


class ProbeTrainable(LightningTrainable):
    """Reports, with each interval's score, the range of every setting the module used."""

    gamma: float | None = None

    def build(self, hparams: dict[str, Any], seed: int) -> Probe:
        return Probe(lr=hparams["lr"], dropout=hparams["dropout"], gamma=self.gamma)

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        module = self.module
        assert isinstance(module, Probe)
        module.used.clear()
        super().train(hparams, steps)
        for name in ("lr", "initial_lr", "momentum", "weight_decay", "dropout"):
            values = [used[name] for used in module.used]
            self.log(**{f"{name}_min": min(values), f"{name}_max": max(values)})
        if self.gamma is not None:  # how far each step's lr is off initial_lr * schedule
            self.log(schedule_error=max(abs(u["lr"] / (u["initial_lr"] * self.gamma ** (
                u["step"] // 7)) - 1) for u in module.used))


class ScheduledProbe(ProbeTrainable):
    gamma = 0.8


Interval = tuple[int, int, dict[str, Any], bool, dict[str, float]]


def intervals(pop: popbt.Population) -> list[Interval]:
    """Every interval as (member, step it ended at, the member's hyperparameters in it,
    whether an exploit or explore came before it, the metrics reported). The hyperparameters
    come from the events: CREATED's, then each EXPLOIT's and EXPLORE's, hold for the
    intervals reported after them."""
    current: dict[int, tuple[dict[str, Any], bool]] = {}
    ready: dict[int, list[tuple[int, dict[str, Any], bool]]] = defaultdict(list)
    for event in sorted(pop.events(), key=lambda e: e.event_id):
        if event.kind is EventKind.CREATED:
            current[event.member_id] = event.data["hparams"], False
        elif event.kind in (EventKind.EXPLOIT, EventKind.EXPLORE):
            current[event.member_id] = event.data["new"], True
        elif event.kind is EventKind.READY:
            ready[event.member_id].append((event.step, *current[event.member_id]))
    found = []
    for member in pop.members:
        scores = sorted(pop.scores(member_id=member.member_id), key=lambda s: s.score_id)
        assert [s.step for s in scores] == [step for step, _, _ in ready[member.member_id]]
        for score, (step, hparams, after) in zip(scores, ready[member.member_id], strict=True):
            found.append((member.member_id, step, hparams, after, score.metrics))
    return found


def exploited(pop: popbt.Population) -> int:
    return len(pop.events(kinds=[EventKind.EXPLOIT]))


@pytest.mark.slow  # worker processes import Lightning: about 15 s on an idle 2-core machine
def test_every_interval_after_every_exploit_uses_the_members_hyperparameters(db_url: str):
    pop = popbt.create_population(
        name="lightning", storage=db_url, space=SPACE, size=4, metric="score", seed=1,
        ready=popbt.Every(steps=15), exploit=popbt.Truncation(0.25),
        explore=popbt.Perturb(factors=(0.8, 1.2)))
    pop.train(ProbeTrainable, steps=75, workers=2)  # worker processes, 5 ready points
    assert exploited(pop) >= 3
    found = intervals(pop)
    assert len(found) == 4 * 5 and sum(after for _, _, _, after, _ in found) >= 3
    for member_id, step, hparams, _, metrics in found:  # each step's settings, min and max
        for name in ("lr", "momentum", "weight_decay", "dropout"):
            for end in ("min", "max"):
                assert metrics[f"{name}_{end}"] == pytest.approx(hparams[name], rel=1e-9), (
                    member_id, step, name)


def test_an_lr_schedule_follows_the_new_base_lr_after_every_exploit(db_url: str):
    pop = popbt.create_population(
        name="scheduled", storage=db_url, space=SPACE, size=4, metric="score", seed=2,
        ready=popbt.Every(steps=10), exploit=popbt.Truncation(0.25),
        explore=popbt.Perturb(factors=(0.5, 2.0)))
    pop.train(ScheduledProbe, steps=50, workers=1)
    found = intervals(pop)
    assert exploited(pop) >= 3 and sum(after for _, _, _, after, _ in found) >= 3
    for member_id, step, hparams, _, metrics in found:
        assert metrics["initial_lr_min"] == pytest.approx(hparams["lr"], rel=1e-9)
        assert metrics["initial_lr_max"] == pytest.approx(hparams["lr"], rel=1e-9)
        assert metrics["schedule_error"] < 1e-9, (member_id, step)  # the schedule went on


SCHEDULERS = {
    "step": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.5),
    "lambda": lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda s: 1 / (1 + s)),
    "cosine": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=30),
    "warmup+cosine": lambda o: torch.optim.lr_scheduler.SequentialLR(o, [
        torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=5),
        torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=25)], milestones=[5]),
}


class Scheduled(Probe):
    def __init__(self, make: str) -> None:
        super().__init__(lr=0.1)
        self.make = make

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": SCHEDULERS[self.make](optimizer),
                                 "interval": "step"}}


@pytest.mark.parametrize("make", sorted(SCHEDULERS))
def test_a_new_lr_scales_the_schedule_in_a_restored_member(make: str):
    class Member(ProbeTrainable):
        def build(self, hparams: dict[str, Any], seed: int) -> Probe:
            return Scheduled(make)

    reference = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = SCHEDULERS[make](reference)
    factors = []
    for _ in range(24):
        factors.append(reference.param_groups[0]["lr"])
        reference.step()
        schedule.step()
    hp = {"lr": 0.1, "momentum": 0.0, "weight_decay": 0.0, "dropout": 0.0}
    first = Member()
    first.setup(hp, seed=0)
    first.train(hp, 12)
    restored = Member()  # as after an exploit: a new object, the donor's state, a new lr
    restored.setup(hp, seed=1)
    restored.load_state_dict(first.state_dict())
    restored.train({**hp, "lr": 0.3}, 12)
    used = [(u["step"], u["lr"]) for u in restored.module.used]
    assert [step for step, _ in used] == list(range(12, 24))
    assert [lr for _, lr in used] == pytest.approx([0.3 * f for f in factors[12:]], rel=1e-9)


def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("lightning_digits", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_check_trainable_finds_nothing_in_the_example():
    example = load_example()
    result = popbt.check_trainable(example.LightningDigits, example.space, steps=5)
    assert result.ok, str(result)


class Smoothed(ProbeTrainable):
    """Never applies `label_smoothing`: no optimizer setting, no on_hparams reads it."""


def test_a_hyperparameter_nothing_applies_is_warned(db_url: str):
    space = popbt.Space({**SPACE, "label_smoothing": popbt.Uniform(0.0, 0.2)})
    pop = popbt.create_population(name="unread", storage=db_url, space=space, size=2,
                                  metric="score", seed=0, ready=popbt.Every(steps=5))
    with pytest.warns(UnusedHyperparameterWarning) as caught:
        pop.train(Smoothed, steps=5, workers=1)
    assert [str(w.message).split(" (")[0] for w in caught
            if w.category is UnusedHyperparameterWarning] == [
        "Smoothed never reads hyperparameter 'label_smoothing' of the space while it trains"]
    found = popbt.check_trainable(Smoothed, space, steps=2)
    assert [f.kind for f in found.findings] == ["unread", "inert"]


class NotAModule(LightningTrainable):
    def build(self, hparams: dict[str, Any], seed: int) -> Any:
        return nn.Linear(8, 2)


class NotADataModule(ProbeTrainable):
    def data(self, hparams: dict[str, Any], seed: int) -> Any:
        return DataLoader(TensorDataset(X, Y))


class Unvalidated(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(8, 2)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return F.cross_entropy(self.net(batch[0]), batch[1])

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(X, Y), batch_size=16)


class NoValidation(LightningTrainable):
    def build(self, hparams: dict[str, Any], seed: int) -> pl.LightningModule:
        return Unvalidated()


def test_a_bad_build_or_data_return_or_lightning_setup_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"NotAModule.build returned Linear\(.*expected a "
                                          r"lightning.pytorch.LightningModule"):
        NotAModule().setup({}, seed=0)
    with pytest.raises(ConfigError, match=r"NotADataModule.data returned .*DataLoader.*"
                                          r"expected a lightning.pytorch.LightningDataModule"):
        NotADataModule().setup({"lr": 0.1, "dropout": 0.0}, seed=0)
    member = NoValidation()
    member.setup({"lr": 0.1}, seed=0)
    member.train({"lr": 0.1}, 3)
    with pytest.raises(ConfigError, match=r"NoValidation: Lightning refused its configuration: "
                                          r".*validation_step"):
        member.evaluate()


class OwnLength(ProbeTrainable):
    def trainer_kwargs(self) -> dict[str, Any]:
        return {"max_epochs": 3, "gradient_clip_val": 1.0}


class EarlyStop(ProbeTrainable):
    def trainer_kwargs(self) -> dict[str, Any]:
        return {"callbacks": [pl.callbacks.EarlyStopping("score", mode="max", patience=0,
                                                         check_on_train_epoch_end=False)],
                "val_check_interval": 2, "check_val_every_n_epoch": None}


HP = {"lr": 0.1, "momentum": 0.5, "weight_decay": 1e-4, "dropout": 0.1}


def test_trainer_settings_popbt_owns_and_early_stopping_are_refused():
    member = OwnLength()
    member.setup(HP, seed=0)
    with pytest.raises(ConfigError, match="sets 'max_epochs': popbt sets the Trainer's length"):
        member.train(HP, 5)
    member = EarlyStop()
    member.setup({**HP, "lr": 0.0}, seed=0)  # no progress: the second check stops it
    with pytest.raises(RuntimeError, match=r"stopped at global step 4 instead of 40.*"
                                           r"trainer.should_stop"):
        member.train({**HP, "lr": 0.0}, 40)


class Stop(KeyboardInterrupt):
    """Like popbt's SIGTERM interruption: a KeyboardInterrupt of its own type."""


class Interrupted(Probe):
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        if self.global_step == 3:
            raise Stop
        return super().training_step(batch, batch_idx)


class InterruptedTrainable(ProbeTrainable):
    def build(self, hparams: dict[str, Any], seed: int) -> Probe:
        return Interrupted()


def test_ctrl_c_in_training_stays_a_keyboard_interrupt():
    member = InterruptedTrainable()
    member.setup(HP, seed=0)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(Stop):  # not Lightning's SystemExit(1), nor a fit that returns
        member.train(HP, 10)
    assert signal.getsignal(signal.SIGINT) is handler


def test_the_members_random_state_is_its_own_and_the_callers_is_untouched():
    torch.manual_seed(123)
    np.random.seed(123)
    outside = torch.get_rng_state(), np.random.get_state()[1].copy()
    runs = []
    for _ in range(2):
        member = ProbeTrainable()
        member.setup(HP, seed=7)
        member.train(HP, 10)
        runs.append(member.module.net.weight.detach().clone())
        assert torch.equal(torch.get_rng_state(), outside[0])
        assert np.array_equal(np.random.get_state()[1], outside[1])
    assert torch.equal(runs[0], runs[1])


class TwoOptimizers(Probe):
    """Manual optimization with two optimizers, as in a GAN."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.other = nn.Linear(8, 2)

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        for optimizer, net in zip(self.optimizers(), (self.net, self.other), strict=True):
            group = optimizer.optimizer.param_groups[0]
            self.used.append({"lr": group["lr"], "momentum": group["momentum"]})
            optimizer.zero_grad()
            self.manual_backward(F.cross_entropy(net(x), y))
            optimizer.step()

    def configure_optimizers(self) -> Any:
        return (torch.optim.SGD(self.net.parameters(), lr=0.5),
                torch.optim.SGD(self.other.parameters(), lr=0.5, momentum=0.1))


class Pair(LightningTrainable):
    optimizer_names = ("first", "second")

    def build(self, hparams: dict[str, Any], seed: int) -> Probe:
        return TwoOptimizers()


def test_named_optimizers_take_their_own_and_shared_settings():
    member = Pair()
    hp = {"first_lr": 0.01, "second_lr": 0.02, "momentum": 0.3, "dropout": 0.0}
    member.setup(hp, seed=0)
    member.train(hp, 6)  # every optimizer.step() is a step: 3 batches
    assert member.global_step == 6
    assert member.module.used == [{"lr": 0.01, "momentum": 0.3},
                                  {"lr": 0.02, "momentum": 0.3}] * 3
    member.optimizer_names = ("first",)
    with pytest.raises(ConfigError, match=r"optimizer_names=\('first',\) names 1 optimizers, "
                                          r"but configure_optimizers returned 2"):
        member.train(hp, 2)
