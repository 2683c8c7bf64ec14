"""Trainables whose state is data (`popbt.datastate`), for the tests of storage, exploit and
the report; importable by worker processes (tests/ is on sys.path)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import popbt
from popbt.checkpoints import CheckpointStore


def exact(value: Any) -> str:
    """A text that differs whenever a type or a value does (1 vs 1.0 vs True, -0.0 vs 0.0)."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True)


def digest(state: dict[str, Any]) -> str:
    """The sha256 of `exact(state)`."""
    return hashlib.sha256(exact(state).encode()).hexdigest()


class Ledger(popbt.Trainable):
    """A database of rows, one per step trained, that keeps its last `cap` rows; its state
    says which state it was last restored from (the digest of what `load_state_dict` got)."""

    def setup(self, hparams: dict[str, Any], seed: int) -> None:
        self.rows: list[dict[str, Any]] = []
        self.total = 0.0
        self.restored: str | None = None

    def train(self, hparams: dict[str, Any], steps: int) -> None:
        for i in range(steps):
            self.total += hparams["gain"]
            self.rows.append({"member": self.member_id, "step": self.member_step + i + 1,
                              "gain": hparams["gain"], "note": f"m{self.member_id} ✓ ünï"})
        self.rows = self.rows[-int(hparams["cap"]):]

    def evaluate(self) -> float:
        return self.total

    def state_dict(self) -> dict[str, Any]:
        return {"rows": list(self.rows), "total": self.total, "restored": self.restored}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.restored = digest(state)
        self.rows = [dict(r) for r in state["rows"]]
        self.total = float(state["total"])


LEDGER_SPACE = popbt.Space({"gain": popbt.Uniform(0.0, 1.0), "cap": popbt.IntUniform(6, 12)})


def ledger_population(tmp_path: Path, *, keep: int = 1000, steps: int = 30
                      ) -> popbt.Population:
    """Four `Ledger` members in `tmp_path/x.db`, seed 0, ready every 5 steps, truncation
    25 % and perturb, each keeping its last `keep` checkpoints, trained `steps` steps by one
    in-process worker."""
    pop = popbt.create_population(
        name="ledger", storage=f"sqlite:///{tmp_path}/x.db", space=LEDGER_SPACE, size=4,
        metric="score", seed=0, ready=popbt.Every(steps=5),
        exploit=popbt.Truncation(fraction=0.25), explore=popbt.Perturb(),
        keep_checkpoints=keep)
    pop.train(Ledger, steps=steps, workers=1, progress=False, strict=True)
    return pop


def stored_state(pop: popbt.Population, checkpoint_id: int) -> dict[str, Any]:
    """The state checkpoint `checkpoint_id` of `pop` holds."""
    row = pop.storage.checkpoint(pop.row, checkpoint_id)
    return CheckpointStore(pop.row.checkpoint_root).load(row.path, row.checksum)
