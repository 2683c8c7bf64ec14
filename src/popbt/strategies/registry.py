"""The one table of strategy classes: how stored configs name them, and which of them a user
can choose by name (the `popbt run --exploit/--explore` choices).

Contract:
- Each strategy class is registered once, by `register(cls, name=..., help=..., make=...)`:
  popbt's own by the lines at the end of this module, a class of the user's by the same call
  in its own module. Nothing else keeps a list of strategy names.
- `from_config` (also `popbt.strategies.from_config`) rebuilds a stored strategy: a class of
  popbt's own from its registered name; any other class from its stored reference, imported
  when it is first used (`popbt.strategies.deferred`), so a worker process need not have
  registered it; a custom explore function from its reference. An unknown type raises
  `ConfigError` listing the known ones.
- An exploit or explore registered with a `name` is selectable: `help` is its one line for
  `--help`, and `make` builds it from the parsed options (a mapping of option name → value;
  a factory reads only the options it documents and falls back to the strategy's default
  when one is missing; without `make` the class is built with its defaults). `EXPLOITS` and
  `EXPLORES` are live views of the table (name → `Choice`, in registration order); the
  command line reads its choices, help and construction from them when it builds its parser.
- `DEFAULTS` names what a population uses when neither an option nor the user's file
  chooses. `make(kind, name, options)` builds one; an unknown name raises `ConfigError`
  that quotes it and lists the known ones.
- Pure: importing this module imports only the strategy modules (numpy), nothing heavy.

Examples:
    >>> sorted(EXPLOITS)
    ['backtrack', 'tournament', 'truncation', 'ttest']
    >>> make("exploit", "truncation", {"fraction": 0.25})
    Truncation(fraction=0.25)
    >>> make("explore", "resample", {})
    Resample(probability=1.0)
    >>> from_config({"type": "Perturb", "factors": [0.5, 2.0], "resample_probability": 0.0})
    Perturb(factors=(0.5, 2.0), resample_probability=0.0)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from popbt.errors import ConfigError
from popbt.strategies._config import StrategyKind, is_builtin, rebuild
from popbt.strategies.backtrack import Backtrack
from popbt.strategies.deferred import DeferredExploit, DeferredExplore, build
from popbt.strategies.elo_tournament import EloTournament
from popbt.strategies.exploit import Exploit, NoExploit, Tournament, Truncation, TTest
from popbt.strategies.explore import (
    Explore,
    GaussianNoise,
    Perturb,
    Resample,
    StoredExplore,
    callable_from_ref,
)
from popbt.strategies.genetic import GeneticSelection
from popbt.strategies.pb2 import PB2
from popbt.strategies.pb2_mix import PB2Mix
from popbt.strategies.ready import Every

__all__ = ["CHOICES", "DEFAULTS", "EXPLOITS", "EXPLORES", "Choice", "Entry", "Kind",
           "from_config", "make", "register"]

Options = Mapping[str, Any]
Kind = Literal["exploit", "explore"]


@dataclass(frozen=True)
class Choice:
    """One selectable strategy: `name` (as typed on the command line), `help` (one line),
    and `make`, which builds it from the parsed options.

    Examples:
        >>> Choice("tournament", "binary tournament", lambda options: Tournament()).name
        'tournament'
    """

    name: str
    help: str
    make: Callable[[Options], Exploit | Explore]


@dataclass(frozen=True)
class Entry:
    """One registered class, with its `Choice` when it can be chosen by name."""

    cls: type
    choice: Choice | None = None

    @property
    def kind(self) -> StrategyKind:
        """What the class decides: "exploit", "explore" or "ready"."""
        if issubclass(self.cls, Exploit):
            return "exploit"
        return "explore" if issubclass(self.cls, Explore) else "ready"


_ENTRIES: dict[str, Entry] = {}
"""The table: every registered class by "module:qualname", in registration order."""


def register(cls: type[Exploit] | type[Explore] | type[Every], *, name: str | None = None,
             help: str | None = None,
             make: Callable[[Options], Exploit | Explore] | None = None) -> None:
    """Register the strategy class `cls`, selectable as `name` when one is given.

    `help` is the choice's one line for `--help`; `make` builds it from the parsed options
    (default: `cls()`). Registering a class of the same module and name again (its module
    reloaded) replaces its entry.

    Raises:
        ConfigError: `cls` is not an Exploit, Explore or Every subclass; `name` is given for
            an Every, or without `help`; another class of its kind is registered as `name`;
            or another class of popbt's own has its class name.
    """
    if not (isinstance(cls, type) and issubclass(cls, Exploit | Explore | Every)):
        raise ConfigError(f"cannot register {cls!r}: not an Exploit, Explore or Every subclass")
    choice = None
    if name is not None:
        if not issubclass(cls, Exploit | Explore) or not name or not help:
            raise ConfigError(f"cannot register {cls.__qualname__} as {name!r}: only an "
                              f"Exploit or Explore subclass is chosen by name, with a line "
                              f"of help")
        choice = Choice(name, help, make or (lambda options: cls()))
    entry, key = Entry(cls, choice), f"{cls.__module__}:{cls.__qualname__}"
    for other_key, other in _ENTRIES.items():
        if other_key == key:
            continue
        if choice and other.choice and other.kind == entry.kind and other.choice.name == name:
            raise ConfigError(f"{entry.kind} {name!r} is already registered for "
                              f"{other_key}; choose another name")
        if is_builtin(cls) and is_builtin(other.cls) and other.cls.__name__ == cls.__name__:
            raise ConfigError(f"popbt already has a strategy class named {cls.__name__!r}")
    _ENTRIES[key] = entry


class _Choices(Mapping[str, Choice]):
    """The selectable strategies of one kind as registered now: name → `Choice`."""

    def __init__(self, kind: Kind) -> None:
        self._kind = kind

    def _now(self) -> dict[str, Choice]:
        return {e.choice.name: e.choice for e in _ENTRIES.values()
                if e.choice is not None and e.kind == self._kind}

    def __getitem__(self, name: str) -> Choice:
        return self._now()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._now())

    def __len__(self) -> int:
        return len(self._now())

    def __repr__(self) -> str:
        return f"<{self._kind} choices: {', '.join(self)}>"


EXPLOITS: Mapping[str, Choice] = _Choices("exploit")
EXPLORES: Mapping[str, Choice] = _Choices("explore")
CHOICES: Mapping[Kind, Mapping[str, Choice]] = {"exploit": EXPLOITS, "explore": EXPLORES}
DEFAULTS: Mapping[Kind, str] = {"exploit": "truncation", "explore": "perturb"}
"""What a population uses when neither an option nor the user's file chooses."""


def make(kind: Kind, name: str, options: Options) -> Exploit | Explore:
    """Build the `kind` strategy registered as `name` from the parsed `options`.

    Raises:
        ConfigError: no `kind` strategy is registered as `name` (the message lists those
            that are), or the options are invalid for it (the strategy's own message).
    """
    choices = CHOICES[kind]
    if name not in choices:
        raise ConfigError(f"{kind} {name!r} is unknown; choose one of {', '.join(choices)}")
    return choices[name].make(options)


_DEFERRED: dict[Any, Callable[[Mapping[str, Any]], Any]] = {
    "exploit": DeferredExploit, "explore": DeferredExplore}


def from_config(config: Mapping[str, Any] | None, *, lazy: bool = False) -> Any:
    """Rebuild a strategy from what its `to_config()` returned (None stays None).

    An exploit or explore of a class outside popbt is imported when it is first used (see
    `popbt.strategies.deferred`); a ready strategy of one, now. A custom explore function is
    imported now, or with `lazy=True` left as a `StoredExplore` that imports it only when it
    is applied.

    Raises:
        ConfigError: an unknown type (the message lists the known ones), arguments its class
            refuses, or a class or (not `lazy`) a custom explore function imported now that
            cannot be.
    """
    if config is None:
        return None
    spec = dict(config)
    kind = spec.pop("type", None)
    if kind == "callable" and lazy:
        return StoredExplore(spec.get("ref"), spec.get("name", "?"))
    if kind == "callable":
        return callable_from_ref(spec.get("ref"), spec.get("name", "?"))
    if kind == "class":
        return _DEFERRED.get(spec.get("kind"), build)(config)
    named = {e.cls.__name__: e.cls for e in _ENTRIES.values() if is_builtin(e.cls)}
    if not isinstance(kind, str) or kind not in named:
        raise ConfigError(f"unknown strategy type {kind!r}; known: {sorted(named)!r}")
    return rebuild(named[kind], spec)


def _given(options: Options, *names: str) -> dict[str, Any]:
    """The options among `names` that were given (not None)."""
    return {name: options[name] for name in names if options.get(name) is not None}


MARGINS = ("margin", "margin_se", "window")


# The table of popbt's own strategies (a new one: its module, and one line here).
register(Every)
register(Truncation, name="truncation",
         make=lambda options: Truncation(**_given(options, "fraction", *MARGINS)),
         help="the bottom --fraction copies a member of the top --fraction")
register(Tournament, name="tournament",
         make=lambda options: Tournament(**_given(options, *MARGINS)),
         help="copy one other member drawn at random if it scores higher")
register(TTest, name="ttest", make=lambda options: TTest(**_given(options, "window", "margin")),
         help="copy one other member drawn at random if Welch's t-test over recent scores "
              "(or the samples of its last evaluation) says it is better")
register(NoExploit)
register(EloTournament)
register(GeneticSelection)
register(Backtrack, name="backtrack",
         make=lambda options: Backtrack(**_given(options, "fraction", *MARGINS)),
         help="as truncation, but the best checkpoint ever seen stays a donor even after "
              "its member moved on (the member may go back to its step)")
register(Perturb, name="perturb",
         help="multiply each hyperparameter by 0.8 or 1.2, resampling some")
register(Resample, name="resample", make=lambda options: Resample(probability=1.0),
         help="draw every hyperparameter afresh from its prior")
register(GaussianNoise)
register(PB2, name="pb2", help="Population-Based Bandits: a time-varying GP bandit on every "
                               "member's score changes picks the hyperparameters (use with "
                               "--exploit truncation --fraction 0.25)")
register(PB2Mix, name="pb2mix", help="PB2 for categorical hyperparameters too: unordered "
                                     "choices by an EXP3 bandit, the rest by the GP")
