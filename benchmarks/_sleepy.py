"""Trainables for benchmarks/overhead.py; a module of its own so worker processes import it.

`Sleepy` sleeps `$POPBT_BENCH_INTERVAL` seconds per step and, when `$POPBT_BENCH_LOG` names a
folder, appends one line per `train` call to `<folder>/<pid>.log`: "start end steps" in
`time.time()` seconds, so the benchmark can see when each worker process trained. Both
variables are read at call time and inherited by spawned worker processes.

`Instant` does no work at all: it only gives every member a score, cheaply.

Scores come from one unseeded generator per process, not from the member's seed: a member
restored after an exploit is set up afresh, and a seeded generator would hand it the same
"random" score every time (pinning the same members to the bottom of the population).
"""

from __future__ import annotations

import os
import random
import time
from typing import IO, Any

import popbt

INTERVAL_ENV = "POPBT_BENCH_INTERVAL"
LOG_ENV = "POPBT_BENCH_LOG"

_log: tuple[str, IO[str]] | None = None
_rng = random.Random()


def _write_log(start: float, end: float, steps: int) -> None:
    global _log
    folder = os.environ.get(LOG_ENV)
    if not folder:
        return
    if _log is None or _log[0] != folder:
        if _log is not None:
            _log[1].close()
        path = os.path.join(folder, f"{os.getpid()}.log")
        _log = (folder, open(path, "a", buffering=1, encoding="utf-8"))  # noqa: SIM115
    _log[1].write(f"{start!r} {end!r} {steps}\n")


class Sleepy(popbt.Trainable):
    """Sleeps `interval * steps` seconds per `train`; a random-ish score; a one-float state."""

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.value = 0.0

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        interval = float(os.environ.get(INTERVAL_ENV, "1.0"))
        start = time.time()
        time.sleep(interval * steps)
        end = time.time()
        self.value += _rng.random() * hparams["lr"] * steps
        _write_log(start, end, steps)

    def evaluate(self) -> float:
        return self.value + 1e-3 * _rng.random()

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = float(state["value"])


class Instant(popbt.Trainable):
    """Trains instantly; scores are random per member and interval; a one-float state."""

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.value = 0.0

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        self.value = _rng.random()

    def evaluate(self) -> float:
        return self.value

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = float(state["value"])
