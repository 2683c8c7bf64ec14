"""A known small population, trained deterministically in this process, for the report's
tests; the folder their artifacts (screenshots, reports) go to; and a real headless Chromium
(Debian's `chromium` and `chromium-driver`, installed by tests/system-deps.sh; driven by
selenium, which is pointed at /usr/bin/chromedriver so that it never downloads anything)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import popbt
from trainables import SPACE, Quadratic

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
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


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for binary in (CHROMIUM, CHROMEDRIVER):
        assert binary.is_file(), f"{binary} is missing: run bash tests/system-deps.sh"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--window-size=1280,2200"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
