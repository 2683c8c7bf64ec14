"""Every docstring example in `popbt` runs as a doctest.

Each module's examples run in a fresh folder that holds `popbt.db`, a SQLite storage with
the population "toy" (the paper's toy problem, trained 40 steps). The examples see their
module's globals plus `pop` (that population, loaded from the folder), `popbt` and
`ToyTrainable`, as a user who has just trained it would. No example may be skipped: one
that cannot run in about a second belongs in the README or an example script instead.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import shutil
from pathlib import Path
from typing import Any

import pytest

import popbt
from popbt.demos.toy_trainable import INITIAL, SPACE, ToyTrainable

MODULES = sorted(m.name for m in pkgutil.walk_packages(popbt.__path__, "popbt.")
                 if not m.name.endswith("__main__"))  # __main__ runs the CLI on import

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with `popbt.db` holding the population "toy", trained 40 steps."""
    folder = tmp_path_factory.mktemp("doctest-population")
    pop = popbt.create_population(
        name="toy", storage=f"sqlite:///{folder / 'popbt.db'}", space=SPACE, size=4,
        metric="Q", ready=popbt.Every(steps=4), initial=INITIAL,
        checkpoints=folder / "checkpoints")
    pop.train(ToyTrainable, steps=40, progress=False)
    pop.storage.close()
    return folder


def examples(name: str) -> list[doctest.DocTest]:
    """The doctests of module `name` that hold at least one example."""
    return [t for t in doctest.DocTestFinder().find(importlib.import_module(name))
            if t.examples]


def test_every_module_is_found() -> None:
    assert len(MODULES) > 40 and {"popbt.population", "popbt.storage.contract",
                                  "popbt.strategies.registry"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str, trained: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    tests = examples(name)
    skipped = [f"{t.name}:{e.lineno}" for t in tests for e in t.examples
               if e.options.get(doctest.SKIP)]
    assert not skipped, f"examples marked +SKIP in {name}: {skipped}"
    if not tests:
        return
    folder = tmp_path / "work"
    shutil.copytree(trained, folder)
    monkeypatch.chdir(folder)
    pop = popbt.load_population(name="toy", storage="sqlite:///popbt.db")
    extra: dict[str, Any] = {"pop": pop, "popbt": popbt, "ToyTrainable": ToyTrainable}
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    try:
        for test in tests:
            test.globs = {**extra, **test.globs}
            runner.run(test, out=report.append)
    finally:
        pop.storage.close()
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)
    assert result.attempted == sum(len(t.examples) for t in tests)
