"""The strategies a user can choose by name (the `popbt run --exploit/--explore` choices).

Contract:
- Each selectable strategy is named here once: its name, one line of help, and a factory
  that builds it from the parsed options (a mapping of option name → value; a factory reads
  only the options it documents and falls back to the strategy's default when one is
  missing). The command line reads its choices, help and construction from `EXPLOITS` and
  `EXPLORES`; nothing else keeps a list of strategy names.
- `DEFAULTS` names what a population uses when neither an option nor the user's file
  chooses. `make(kind, name, options)` builds one; an unknown name raises `ConfigError`
  that quotes it and lists the known ones. Strategies whose settings have no option (a
  `TTest` window, say) are built with their defaults; a file given to `popbt run` can
  define any strategy.
- Pure: importing this module imports only the strategy modules (numpy), nothing heavy.

Adding one is one `Choice(...)` line in `EXPLOITS` or `EXPLORES`.

Example:
    >>> sorted(EXPLOITS)
    ['tournament', 'truncation', 'ttest']
    >>> make("exploit", "truncation", {"fraction": 0.25})
    Truncation(fraction=0.25)
    >>> make("explore", "resample", {})
    Resample(probability=1.0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from popbt.errors import ConfigError
from popbt.strategies.exploit import Exploit, Tournament, Truncation, TTest
from popbt.strategies.explore import Explore, Perturb, Resample

__all__ = ["CHOICES", "DEFAULTS", "EXPLOITS", "EXPLORES", "Choice", "Kind", "make"]

Options = Mapping[str, Any]


@dataclass(frozen=True)
class Choice:
    """One selectable strategy: `name` (as typed on the command line), `help` (one line),
    and `make`, which builds it from the parsed options.

    Example:
        >>> Choice("tournament", "binary tournament", lambda options: Tournament()).name
        'tournament'
    """

    name: str
    help: str
    make: Callable[[Options], Exploit | Explore]


def _registry(*choices: Choice) -> dict[str, Choice]:
    return {choice.name: choice for choice in choices}


def _truncation(options: Options) -> Exploit:
    fraction = options.get("fraction")
    return Truncation() if fraction is None else Truncation(fraction=fraction)


EXPLOITS: Mapping[str, Choice] = _registry(
    Choice("truncation", "the bottom --fraction copies a member of the top --fraction",
           _truncation),
    Choice("tournament", "copy one other member drawn at random if it scores higher",
           lambda options: Tournament()),
    Choice("ttest", "copy one other member drawn at random if Welch's t-test over recent "
                    "scores says it is better", lambda options: TTest()),
)

EXPLORES: Mapping[str, Choice] = _registry(
    Choice("perturb", "multiply each hyperparameter by 0.8 or 1.2, resampling some",
           lambda options: Perturb()),
    Choice("resample", "draw every hyperparameter afresh from its prior",
           lambda options: Resample(probability=1.0)),
)

Kind = Literal["exploit", "explore"]
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
