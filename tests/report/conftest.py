"""A known small population, trained deterministically in this process, for the report's
tests; and the folder their artifacts (screenshots, reports) go to."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

import popbt
from trainables import SPACE, Quadratic

SIZE = 6
STEPS = 40


def _make_known(storage: str, *, name: str = "known", steps: int = STEPS) -> popbt.Population:
    """Six Quadratic members, seed 0, ready every 5 steps, truncation 25 % and perturb,
    trained to `steps` steps by one in-process worker (deterministic)."""
    pop = popbt.create_population(
        name=name, storage=storage, space=SPACE, size=SIZE, metric="score", seed=0,
        ready=popbt.Every(steps=5), exploit=popbt.Truncation(0.25), explore=popbt.Perturb())
    pop.train(Quadratic, steps=steps, workers=1, progress=False)
    return pop


@pytest.fixture(scope="session")
def known_pop(tmp_path_factory: pytest.TempPathFactory) -> popbt.Population:
    """The known population (read only: tests must not train it further)."""
    folder = tmp_path_factory.mktemp("known")
    return _make_known(f"sqlite:///{folder / 'known.db'}")


@pytest.fixture
def make_known() -> Callable[..., popbt.Population]:
    """`make_known(storage, name=..., steps=...)`: a new known population in `storage`."""
    return _make_known


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where tests leave screenshots and reports: $POPBT_TEST_ARTIFACTS, else a folder
    under pytest's temporary directory."""
    where = os.environ.get("POPBT_TEST_ARTIFACTS")
    folder = Path(where) if where else tmp_path_factory.mktemp("artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
