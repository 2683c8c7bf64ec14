"""Which hyperparameters a trainable reads, and the warning for those it never reads.

A name in the search space that the trainable never reads while it trains is a schedule that
lies: PBT explores its value, records it and reports it, and training goes on as before (a
`learning_rate` that a `TorchTrainable` never applies to its optimizer, say). The worker loop
and `popbt.check_trainable` find such names:

- `Hyperparameters` is the dict a trainable is given: an ordinary `dict` that notes the names
  read from it (`hp["lr"]`, `hp.get`, `hp.pop`, `hp.setdefault`; iterating over it, or over
  its keys, values or items, counts as reading every name).
- `mark_read` lets code that reads hyperparameters without going through the dict (the
  optimizer settings `popbt.torch.apply_hparams` applies) say which names it used.
- `Unread` describes what one check found; `UnusedHyperparameterWarning` carries its message.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Hyperparameters", "Unread", "UnusedHyperparameterWarning", "find_unread",
           "mark_read", "plain", "warn_unread"]

_PACKAGE = str(Path(__file__).resolve().parent)


class UnusedHyperparameterWarning(UserWarning):
    """A hyperparameter of the search space that the trainable never reads while it trains:
    exploring it changes nothing but the record. Raised as `ConfigError` instead under
    `strict=True`."""


class Hyperparameters(dict[str, Any]):
    """A member's hyperparameters: a plain `dict` to its user, which notes the names read.

    Copies made with `copy()` or `|` share the record; `dict(hp)`, `{**hp}`, `f(**hp)`,
    pickling and the `copy` module read every name (and give a plain dict).

    Examples:
        >>> hp = Hyperparameters({"lr": 0.1, "momentum": 0.9})
        >>> hp["lr"], isinstance(hp, dict), sorted(hp.read)
        (0.1, True, ['lr'])
        >>> _ = dict(hp); sorted(hp.read)
        ['lr', 'momentum']
    """

    def __init__(self, values: Mapping[str, Any] | None = None, /, *,
                 _log: set[str] | None = None) -> None:
        super().__init__(values or {})
        self._log: set[str] = set() if _log is None else _log

    @property
    def read(self) -> frozenset[str]:
        """The names read so far, from this dict or the copies that share its record."""
        return frozenset(self._log)

    def mark(self, names: Iterable[str]) -> None:
        """Note `names` as read."""
        self._log.update(names)

    def _plain(self) -> dict[str, Any]:
        return dict(dict.items(self))  # dict's own view: no name is noted

    def _all(self) -> None:
        self._log.update(dict.keys(self))

    def __getitem__(self, name: str) -> Any:
        self._log.add(name)
        return super().__getitem__(name)

    def get(self, name: str, default: Any = None) -> Any:
        self._log.add(name)
        return super().get(name, default)

    def pop(self, name: str, *default: Any) -> Any:
        self._log.add(name)
        return super().pop(name, *default)

    def setdefault(self, name: str, default: Any = None) -> Any:
        self._log.add(name)
        return super().setdefault(name, default)

    def __iter__(self) -> Iterator[str]:
        self._all()
        return super().__iter__()

    def keys(self) -> Any:
        self._all()
        return super().keys()

    def values(self) -> Any:
        self._all()
        return super().values()

    def items(self) -> Any:
        self._all()
        return super().items()

    def copy(self) -> Hyperparameters:
        return Hyperparameters(self._plain(), _log=self._log)

    def __or__(self, other: Any) -> Any:
        if not isinstance(other, Mapping):
            return NotImplemented
        return Hyperparameters({**self._plain(), **other}, _log=self._log)

    def __reduce__(self) -> tuple[Callable[..., dict[str, Any]], tuple[dict[str, Any]]]:
        self._all()  # the copy's reads cannot be followed
        return dict, (self._plain(),)


def mark_read(hparams: Mapping[str, Any], names: Iterable[str]) -> None:
    """Note `names` as read from `hparams`, when it records reads (a `Hyperparameters`)."""
    if isinstance(hparams, Hyperparameters):
        hparams.mark(names)


def plain(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict of `hparams`, copied without noting any name as read."""
    return dict(dict.items(hparams)) if isinstance(hparams, dict) else dict(hparams)


DEFAULT_HINT = "read {them} in train()"


@dataclass(frozen=True)
class Unread:
    """What a check of one trainable found: names of the space it never reads in `train`.

    Attributes:
        trainable: the trainable class's name.
        unread: the names of the space never read while it trained, sorted.
        read: the names it did read, sorted.
        setup_only: those of `unread` read from the hyperparameters given to `setup` (whose
            values an explore never reaches: a member trains on without a new `setup`).
        hint: what to do about them, from the trainable class's `unread_hint` (see
            `popbt.Trainable`).
    """

    trainable: str
    unread: tuple[str, ...]
    read: tuple[str, ...]
    setup_only: tuple[str, ...] = ()
    hint: str = DEFAULT_HINT

    @property
    def message(self) -> str:
        """One line: the names, the names read, and what to do."""
        names = ", ".join(repr(n) for n in self.unread)
        plural = "s" if len(self.unread) > 1 else ""
        read = ", ".join(repr(n) for n in self.read) or "none"
        text = (f"{self.trainable} never reads hyperparameter{plural} {names} of the space "
                f"while it trains (it reads {read}), so the values PBT explores and records "
                f"for {'them' if plural else 'it'} never take effect")
        if self.setup_only:
            text += (f"; {', '.join(repr(n) for n in self.setup_only)} "
                     f"{'are' if len(self.setup_only) > 1 else 'is'} read only in setup(), "
                     f"which an explore does not run again")
        them = "them" if plural else "it"
        return f"{text}; {self.hint.format(them=them)}, or remove {them} from the space"


def find_unread(trainable: type, space: Collection[str], read: Collection[str],
           setup_read: Collection[str] = ()) -> Unread | None:
    """The finding for `trainable` when it read `read` of the names in `space` while it
    trained (and `setup_read` in `setup`); None when it read them all."""
    missing = tuple(sorted(n for n in space if n not in read))
    if not missing:
        return None
    return Unread(trainable=trainable.__name__, unread=missing,
                  read=tuple(sorted(n for n in space if n in read)),
                  setup_only=tuple(n for n in missing if n in setup_read),
                  hint=getattr(trainable, "unread_hint", None) or DEFAULT_HINT)


def warn_unread(finding: Unread) -> None:
    """Warn with `finding`'s message, attributed to the first caller outside popbt."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        level += 1
        frame = frame.f_back  # type: ignore[assignment]
    warnings.warn(finding.message, UnusedHyperparameterWarning, stacklevel=level)
