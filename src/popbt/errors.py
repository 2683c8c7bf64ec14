"""The exceptions popbt raises; every message names the bad value and what would be valid."""

from __future__ import annotations


class PopbtError(Exception):
    """Base class of every error popbt raises on purpose."""


class ConfigError(PopbtError, ValueError):
    """A setting, search space, strategy or trainable result is invalid."""


class PopulationExists(ConfigError):
    """A population of that name already exists (creating it again was asked for)."""


class StorageError(PopbtError):
    """The storage URL cannot be opened, or the storage refused an operation."""


class CheckpointError(PopbtError):
    """A checkpoint is missing, corrupt (checksum mismatch) or cannot be serialised safely."""


class TrainingError(PopbtError):
    """A run stopped: a fatal error was recorded or no member could go on."""
