"""Trainables of the bounded-asynchrony and synchronous-generation tests (importable by
worker processes: tests/ is on sys.path).

`$POPBT_TEST_LEAD_DB` names the run's SQLite file; `$POPBT_TEST_LEAD_LOG` the file each
`train` call appends "member step least_live_step" to, the least-advanced live member's
step read from the database when the interval starts. The first worker process to train
creates `$POPBT_TEST_LEAD_LOG.slow` and is the slow one.
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Any

import popbt

SPACE = popbt.Space({"rate": popbt.Uniform(0.0, 1.0)})
FAST_S, SLOW_S = 0.005, 0.12  # seconds per step


def least_live_step(db: str) -> int:
    """The step of the least-advanced member still training (idle or running)."""
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT MIN(step) FROM popbt_members "
                           "WHERE state IN ('idle', 'running')").fetchone()
    return int(row[0])


class Climb(popbt.Trainable):
    """Score grows by `rate` per step (a higher rate is better, deterministically); with
    $POPBT_TEST_LEAD_LOG set, logs every interval it starts and is slow in one worker."""

    slow: bool | None = None  # per process: whether this worker is the slow one

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.score = 0.0

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        log = os.environ.get("POPBT_TEST_LEAD_LOG")
        if log:
            db = os.environ["POPBT_TEST_LEAD_DB"]
            with open(log, "a") as out:
                out.write(f"{self.member_id} {self.member_step} {least_live_step(db)}\n")
            if Climb.slow is None:
                try:
                    os.close(os.open(log + ".slow", os.O_CREAT | os.O_EXCL))
                    Climb.slow = True
                except FileExistsError:
                    Climb.slow = False
            time.sleep(steps * (SLOW_S if Climb.slow else FAST_S))
        self.score += hparams["rate"] * steps

    def evaluate(self) -> dict[str, float]:
        return {"score": self.score}

    def state_dict(self) -> dict[str, Any]:
        return {"score": self.score}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.score = float(state["score"])
