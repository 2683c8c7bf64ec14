"""The strategy registry: each strategy class registered once; stored configs and the CLI
read it."""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
from dataclasses import dataclass

import pytest

import popbt
import popbt.strategies
from popbt.cli import COMMANDS, build_parser
from popbt.strategies import Every, Exploit, Explore, from_config, register, registry


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry as it is, restored after the test."""
    monkeypatch.setattr(registry, "_ENTRIES", dict(registry._ENTRIES))


@dataclass(frozen=True)
class Keep(Exploit):
    """Never copies (a user's exploit for these tests)."""

    def select(self, member, peers, rng):
        return None


@dataclass(frozen=True)
class Same(Explore):
    """Changes nothing (a user's explore for these tests)."""

    def explore(self, hparams, space, rng):
        return dict(hparams), {}


def _popbt_strategy_classes() -> set[type]:
    """Every strategy class of popbt's own that is stored by the generic `to_config`."""
    found = set()
    for info in pkgutil.walk_packages(popbt.strategies.__path__, "popbt.strategies."):
        for _, cls in inspect.getmembers(importlib.import_module(info.name), inspect.isclass):
            generic = (Exploit, Explore, Every)
            if (issubclass(cls, generic) and cls not in (Exploit, Explore)
                    and cls.__module__.startswith("popbt.")
                    and any(cls.to_config is base.to_config for base in generic)):
                found.add(cls)
    return found


def _choices(option: str) -> tuple[str, ...]:
    run = next(a for a in build_parser()._subparsers._actions
               if isinstance(a, argparse._SubParsersAction)).choices["run"]
    action = next(a for a in run._actions if option in a.option_strings)
    return tuple(action.choices)


def test_the_cli_offers_exactly_the_registered_strategies():
    assert _choices("--exploit") == tuple(registry.EXPLOITS)
    assert _choices("--explore") == tuple(registry.EXPLORES)
    assert [c.name for c in COMMANDS][:2] == ["run", "worker"]


def test_make_builds_from_the_parsed_options():
    assert registry.make("exploit", "truncation", {"fraction": 0.3}) == \
        popbt.Truncation(fraction=0.3)
    assert registry.make("exploit", "truncation", {}) == popbt.Truncation()
    assert isinstance(registry.make("exploit", "ttest", {}), popbt.TTest)
    assert registry.make("explore", "resample", {}) == popbt.Resample(probability=1.0)
    for kind, name in registry.DEFAULTS.items():
        assert name in registry.CHOICES[kind]


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(popbt.ConfigError, match=r"'nope' is unknown.*truncation, tournament"):
        registry.make("exploit", "nope", {})
    with pytest.raises(popbt.ConfigError, match=r"fraction must be in \(0, 0.5\]"):
        registry.make("exploit", "truncation", {"fraction": 0.9})


def test_every_popbt_strategy_class_is_registered_and_round_trips():
    registered = {entry.cls for entry in registry._ENTRIES.values()}
    classes = _popbt_strategy_classes()
    assert len(classes) >= 8 and classes <= registered
    for cls in classes:
        config = {"type": cls.__name__, **({"steps": 3} if cls is Every else {})}
        assert type(from_config(config)) is cls


def test_register_adds_a_choice_that_the_cli_offers(table: None):
    register(Keep, name="keep", help="never copy")
    register(Same, name="same", help="change nothing", make=lambda options: Same())
    assert list(registry.EXPLOITS)[-1] == "keep" and list(registry.EXPLORES)[-1] == "same"
    assert registry.make("exploit", "keep", {}) == Keep()
    assert _choices("--exploit")[-1] == "keep"
    register(Keep, name="keep", help="never copy, again")  # the same class: replaced
    assert list(registry.EXPLOITS).count("keep") == 1
    assert registry.EXPLOITS["keep"].help == "never copy, again"
    before = dict(registry._ENTRIES)
    register(Every)  # popbt's own, again: nothing changes
    assert before == registry._ENTRIES


def test_a_stored_user_class_is_not_looked_up_by_name(table: None):
    register(Keep, name="keep", help="never copy")
    with pytest.raises(popbt.ConfigError, match=r"unknown strategy type 'Keep'.*'Truncation'"):
        from_config({"type": "Keep"})


@pytest.mark.parametrize(("args", "message"), [
    ((int,), "not an Exploit, Explore or Every subclass"),
    ((Every, "every", "ready"), "only an Exploit or Explore subclass is chosen by name"),
    ((Keep, "keep", ""), "with a line of help"),
    ((Keep, "truncation", "never copy"), "exploit 'truncation' is already registered for "
                                         "popbt.strategies.exploit:Truncation"),
])
def test_register_refuses_what_it_cannot_offer(table: None, args: tuple, message: str):
    cls, *rest = args
    kwargs = dict(zip(("name", "help"), rest, strict=False))
    with pytest.raises(popbt.ConfigError, match=message):
        register(cls, **kwargs)


def test_register_refuses_a_second_popbt_class_of_the_same_name(table: None):
    twin = type("Truncation", (Exploit,), {"__module__": "popbt.strategies.twin"})
    with pytest.raises(popbt.ConfigError, match="already has a strategy class named "
                                                "'Truncation'"):
        register(twin)
