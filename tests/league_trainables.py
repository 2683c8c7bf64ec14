"""Trainables of the league tests; importable by worker processes (tests/ is on sys.path)."""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

import popbt

SKILL_SPACE = popbt.Space({"lr": popbt.LogUniform(1e-3, 1.0)})


class Skill(popbt.Trainable):
    """A player whose strength is one number `s`, which grows by `lr` per step. After each
    interval it plays `GAMES` games against an opponent the league draws, winning each with
    probability 1 / (1 + exp(s_opponent - s)), and reports their mean as one match.

    With $POPBT_TEST_LEAGUE set, each draw appends "member step opponent opponent_s
    loaded_s" to that file, where loaded_s is the `s` of the opponent's checkpoint file."""

    GAMES = 8

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.s = 0.0

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        self.s += hparams["lr"] * steps
        opponent = self.league.sample()
        other = opponent.trainable
        assert isinstance(other, Skill) and other is not self
        p = 1.0 / (1.0 + math.exp(other.s - self.s))
        wins = self.rng.random(self.GAMES) < p
        self.league.report(opponent, float(wins.mean()), payoff=float(wins.sum()),
                           seed=int(self.rng.integers(1 << 30)))
        log = os.environ.get("POPBT_TEST_LEAGUE")
        if log:
            with open(log, "a") as out:
                out.write(f"{self.member_id} {self.member_step} {opponent.key} {other.s}\n")

    def evaluate(self) -> dict[str, float]:
        return {"skill": self.s}

    def state_dict(self) -> dict[str, Any]:
        return {"s": self.s, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.s = float(state["s"])
        self.rng.bit_generator.state = state["rng"]


class BadResult(Skill):
    """Reports a result of 1.5."""

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        self.league.report(self.league.sample(), 1.5)


class UnknownOpponent(Skill):
    """Reports a match against an entry that does not exist."""

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        self.league.report("entry:99", 1.0)


class NoLeagueUser(Skill):
    """Uses self.league in a population without one."""

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        self.league.sample()


class MatchPerStep(Skill):
    """Plays one match per step, 20 ms apart: a worker killed mid-interval leaves some of
    its matches recorded and one unreported."""

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        for _ in range(steps):
            self.s += hparams["lr"]
            opponent = self.league.sample()
            p = 1.0 / (1.0 + math.exp(opponent.trainable.s - self.s))
            time.sleep(0.02)
            self.league.report(opponent, float(self.rng.random() < p))
