"""Distinct error types: each says what happened, and the old `except` clauses still catch
them."""

from __future__ import annotations

from pathlib import Path

import pytest

from popbt.errors import (
    ConfigError,
    FatalRunError,
    PopbtError,
    PopulationExists,
    PopulationNotFound,
    TrainingError,
)


def test_the_hierarchy_keeps_old_except_clauses_working():
    assert issubclass(PopulationExists, ConfigError)
    assert issubclass(PopulationNotFound, ConfigError)
    assert issubclass(FatalRunError, TrainingError)
    assert not issubclass(FatalRunError, ConfigError)
    assert all(issubclass(e, PopbtError) for e in (ConfigError, TrainingError))


def test_a_missing_population_is_population_not_found(tmp_path: Path):
    import popbt
    from popbt.storage.sql import SQLStorage

    url = f"sqlite:///{tmp_path}/p.db"
    popbt.create_population(name="known", storage=url, space=popbt.Space({
        "lr": popbt.LogUniform(1e-4, 1e-1)}), size=2, metric="score", ready=popbt.Every(
        steps=1))
    storage = SQLStorage(url, create=False)
    try:
        with pytest.raises(PopulationNotFound, match=r"no population 'nope'.*\['known'\]"):
            storage.find_population("nope")
        assert storage.find_population(None).name == "known"
    finally:
        storage.close()
