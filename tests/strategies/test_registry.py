"""The strategy registry: each CLI-selectable strategy named once, and the CLI reads it."""

from __future__ import annotations

import argparse

import pytest

import popbt
from popbt.cli import COMMANDS, build_parser
from popbt.strategies import registry


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
