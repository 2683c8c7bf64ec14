"""Strategies of the user's own classes: stored by reference, rebuilt by importing them when
they are first used, and never imported by merely reading what was stored."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import popbt
from popbt.records import Peer
from popbt.settings import Settings
from popbt.strategies import (
    DeferredExploit,
    DeferredExplore,
    Every,
    Exploit,
    Explore,
    Perturb,
    from_config,
)

SPACE = popbt.Space({"lr": popbt.LogUniform(1e-3, 1.0)})
GONE = {"type": "class", "kind": "exploit", "ref": "popbt_no_such_module:Gone", "args": {}}


@dataclass(frozen=True)
class CopyFirst(Exploit):
    """Copies the first peer listed, after `wait` ready points' worth of history."""

    factors: tuple[float, ...] = (1.0, 2.0)
    wait: int = 3

    def __post_init__(self) -> None:  # stored as a list: the constructor takes one too
        object.__setattr__(self, "factors", tuple(self.factors))

    @property
    def history_window(self) -> int:  # type: ignore[override]
        return self.wait

    def select(self, member: Peer, peers: Any, rng: np.random.Generator) -> int | None:
        return peers[0].member_id


@dataclass(frozen=True)
class Halve(Explore):
    """Halves lr; records whether it was given the population's history."""

    uses_history = True

    def explore(self, hparams: Any, space: Any, rng: Any, history: Any = None) -> Any:
        return {"lr": hparams["lr"] / 2}, {"lr": f"history={history!r}"}


@dataclass(frozen=True)
class Steady(Every):
    """A ready strategy of the user's."""


class Unstorable(Exploit):
    def __init__(self, fraction: float) -> None:
        self.fraction = fraction


def test_a_user_class_is_stored_by_reference_and_rebuilt_on_first_use() -> None:
    strategy = CopyFirst(factors=(0.5, 3.0), wait=4)
    config = strategy.to_config()
    assert config == {"type": "class", "kind": "exploit",
                      "ref": f"{__name__}:CopyFirst",
                      "args": {"factors": [0.5, 3.0], "wait": 4}}
    assert json.loads(json.dumps(config)) == config
    rebuilt = from_config(json.loads(json.dumps(config)))
    assert isinstance(rebuilt, DeferredExploit) and rebuilt.to_config() == config
    assert rebuilt.history_window == 4
    assert rebuilt.resolve() == strategy
    peers = [Peer(2, 10, 1.0), Peer(0, 10, 0.0)]
    assert rebuilt.select(peers[1], peers, np.random.default_rng(0)) == 2


def test_a_deferred_explore_passes_the_history_on() -> None:
    rebuilt = from_config(Halve().to_config())
    assert isinstance(rebuilt, DeferredExplore) and rebuilt.uses_history
    new, ops = rebuilt.apply({"lr": 0.5}, SPACE, np.random.default_rng(0), lambda: "H")
    assert new == {"lr": 0.25} and ops == {"lr": "history='H'"}


def test_a_ready_class_is_rebuilt_at_once() -> None:
    config = Steady(steps=3).to_config()
    assert config["kind"] == "ready" and config["args"] == {"steps": 3, "burn_in": 0}
    assert from_config(config) == Steady(steps=3)


def test_reading_a_stored_class_imports_nothing() -> None:
    rebuilt = from_config(GONE)
    assert rebuilt.to_config() == GONE
    assert repr(rebuilt) == "DeferredExploit('popbt_no_such_module:Gone')"
    with pytest.raises(popbt.ConfigError,
                       match=r"exploit strategy class 'popbt_no_such_module:Gone' cannot be "
                             r"imported .*wherever the population is trained"):
        _ = rebuilt.history_window


def test_settings_round_trip_with_user_classes() -> None:
    settings = Settings(space=SPACE, size=2, metric="score", ready=Every(steps=5),
                        exploit=CopyFirst(), explore=Halve())
    stored = json.loads(json.dumps(settings.to_config()))
    again = Settings.from_config(stored, lazy_explore=True)
    assert isinstance(again.exploit, DeferredExploit)
    assert isinstance(again.explore, DeferredExplore)
    assert again.differences(settings) == []


def test_a_deferred_strategy_is_pickled_unresolved() -> None:
    rebuilt = from_config(CopyFirst().to_config())
    assert rebuilt.resolve() == CopyFirst()
    copied = pickle.loads(pickle.dumps(rebuilt))
    assert copied._built is None and copied.to_config() == rebuilt.to_config()


def test_what_cannot_be_stored_or_rebuilt_says_why() -> None:
    with pytest.raises(popbt.ConfigError, match="Unstorable cannot be stored: make it a "
                                                "dataclass"):
        Unstorable(0.5).to_config()

    @dataclass(frozen=True)
    class Inline(Exploit):
        pass

    with pytest.raises(popbt.ConfigError, match="defined inside a function"):
        Inline().to_config()
    wrong_kind = {**Halve().to_config(), "kind": "exploit"}
    with pytest.raises(popbt.ConfigError, match="Halve' is not a Exploit subclass"):
        from_config(wrong_kind).resolve()
    wrong_args = {**CopyFirst().to_config(), "args": {"patience": 2}}
    with pytest.raises(popbt.ConfigError, match=r"cannot rebuild CopyFirst from the stored "
                                                r"arguments \{'patience': 2\}"):
        from_config(wrong_args).resolve()
    with pytest.raises(popbt.ConfigError, match="malformed stored strategy"):
        from_config({"type": "class", "kind": "fitness", "ref": "m:C"})
    with pytest.raises(popbt.ConfigError, match=r"cannot rebuild Perturb .*'factor'"):
        from_config({"type": "Perturb", "factor": 2.0})
    assert from_config(Perturb().to_config()) == Perturb()
