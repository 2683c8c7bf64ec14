"""The exceptions popbt raises; every message names the bad value and what would be valid.

Contract:
- Every error popbt raises on purpose is a `PopbtError`; the `popbt` command prints one as a
  single `popbt: error: ...` line and exits with status 1 for a `TrainingError` (a run that
  failed), else 2 (bad input, a storage that cannot be opened).
- What each type means, so callers catch what they can handle:

  ====================  =============================================================
  `ConfigError`         a bad argument: a setting, search space, strategy, name or
                        trainable result that is invalid (also a `ValueError`)
  `PopulationExists`    creating a population under a name that is taken (a ConfigError)
  `PopulationNotFound`  no population of that name, or none at all, in the storage
                        (a ConfigError)
  `StorageError`        the storage cannot be opened, or refused an operation
  `CheckpointError`     a checkpoint is missing, corrupt, or cannot be serialised
  `TrainingError`       a run stopped without reaching its target
  `FatalRunError`       a run stopped because of an error every worker would meet; it is
                        recorded in the storage and stops every worker (a TrainingError)
  ====================  =============================================================

Examples:
    >>> from popbt.errors import ConfigError, PopulationNotFound
    >>> issubclass(PopulationNotFound, ConfigError)
    True
    >>> issubclass(FatalRunError, TrainingError) and not issubclass(FatalRunError, ConfigError)
    True
"""

from __future__ import annotations

__all__ = [
    "CheckpointError", "ConfigError", "FatalRunError", "PopbtError", "PopulationExists",
    "PopulationNotFound", "StorageError", "TrainingError",
]


class PopbtError(Exception):
    """Base class of every error popbt raises on purpose."""


class ConfigError(PopbtError, ValueError):
    """A bad argument: a setting, search space, strategy, name or trainable result is
    invalid. The message quotes the bad value and says what would be valid."""


class PopulationExists(ConfigError):
    """A population of that name already exists (creating it again was asked for; pass
    `load_if_exists=True` to resume it instead)."""


class PopulationNotFound(ConfigError):
    """No population of that name is in the storage, or (when no name was given) the storage
    holds none. The message lists the populations there are."""


class StorageError(PopbtError):
    """The storage URL cannot be opened, or the storage refused an operation."""


class CheckpointError(PopbtError):
    """A checkpoint is missing, corrupt (checksum mismatch) or cannot be serialised safely."""


class TrainingError(PopbtError):
    """A run stopped: a fatal error was recorded or no member could go on."""


class FatalRunError(TrainingError):
    """The signal that stops every worker of a population: an error that any worker would
    meet again (a result without the metric, a checkpoint folder that is full or read-only,
    a state that cannot be read back, an explore function that raises, a member that keeps
    failing after its re-seeds).

    Contract: the worker that meets it records the message in the storage (the population's
    `error`), so every other worker stops at its next claim, and the run that started the
    workers raises it again with that message. Nothing already reported is changed. It is a
    `TrainingError`, so `except TrainingError` and the command's exit status 1 still apply;
    it is not a `ConfigError`, so a bad argument is never mistaken for it.
    """


class CallbackError(TrainingError):
    """A callback given to `Population.train` raised. The run was stopped (the population's
    stop reason names the callback and the error, its workers reported what they were
    training, so nothing trained is lost) and every callback's `on_end` was called; the
    callback's exception is the `__cause__`. Training again resumes."""
