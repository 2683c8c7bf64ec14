"""Members whose state is data: a trainable whose `state_dict` holds plain records.

Contract: a state of plain values alone (dicts with string keys, lists, str, int, float,
bool, None), such as an example database `{"examples": [{"episode": "m3-e41", "x": 0.1,
"action": 1}, ...], "episodes": 41}`, is stored as JSON inside the checkpoint's `.npz`
archive, written and read without pickle (`popbt.checkpoints`); it comes back exactly: the
same types, the same strings (any Unicode), the same integers and floats bit for bit, the
same key order. An exploit copies the donor's checkpoint, so the member resumes with exactly
the donor's records.

The JSON of a state (everything in it but NumPy arrays and torch tensors, which are stored
beside it) may be at most `data_limit()` bytes: `MAX_DATA_BYTES` (32 MiB), or the value of
the environment variable `POPBT_MAX_DATA_BYTES` (set it for every worker). A state over the
limit raises `ConfigError` when its checkpoint is saved, naming its size and the limit, so
the run stops before a member's records grow past what every restore and every report reads
quickly: prune them, hold bulk numbers in NumPy arrays, or raise the limit.

The records of a state are its top-level values that are lists of dicts (`record_lists`);
`records_diff(old, new)` says which records one list gained and lost, and the HTML report
shows that for each member (`popbt.report`).

Examples:
    >>> old = [{"obs": 0.1, "action": 1}, {"obs": 0.2, "action": 0}]
    >>> new = [{"action": 0, "obs": 0.2}, {"obs": 0.3, "action": 1}]
    >>> diff = records_diff(old, new)
    >>> diff.added, diff.removed, diff.kept
    (({'obs': 0.3, 'action': 1},), ({'obs': 0.1, 'action': 1},), 1)
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from popbt.errors import ConfigError

MAX_DATA_BYTES = 32 * 2**20
LIMIT_VARIABLE = "POPBT_MAX_DATA_BYTES"


def data_limit() -> int:
    """The most bytes the JSON of a state may take: `POPBT_MAX_DATA_BYTES` when set, else
    `MAX_DATA_BYTES`.

    Raises:
        ConfigError: the variable is set to something other than a positive integer.
    """
    text = os.environ.get(LIMIT_VARIABLE)
    if text is None:
        return MAX_DATA_BYTES
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if limit <= 0:
        raise ConfigError(f"{LIMIT_VARIABLE}={text!r}: must be a positive integer (a number "
                          f"of bytes; the default is {MAX_DATA_BYTES})")
    return limit


def is_data(value: Any) -> bool:
    """Whether `value` is plain data only: dicts with string keys, lists, str, int, float,
    bool and None, nested to any depth."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if not all(isinstance(k, str) for k in item):
                return False
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif not (item is None or type(item) in (bool, int, float, str)):
            return False
    return True


def record_lists(state: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The records of a state: its top-level values that are lists of dicts (an empty list
    counts), by key, in the state's order."""
    return {k: v for k, v in state.items()
            if isinstance(v, list) and all(isinstance(r, dict) for r in v)}


def canonical(record: Mapping[str, Any]) -> str:
    """The record as canonical JSON (keys sorted, no spaces, Unicode kept): two records are
    the same record when their canonical texts are equal (so 1 and 1.0 differ, as do True
    and 1).

    Raises:
        ConfigError: the record holds something JSON cannot write, or keys of mixed types.
    """
    try:
        return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"record {record!r} is not plain data ({exc}); records are dicts "
                          f"of strings, numbers, bools, None, lists and dicts") from None


@dataclass(frozen=True)
class RecordsDiff:
    """What a list of records gained and lost: `added` (in the new list's order),
    `removed` (in the old list's order) and `kept`, the number of records in both.

    Examples:
        >>> RecordsDiff(added=({"a": 1},), removed=(), kept=2).changed
        True
    """

    added: tuple[dict[str, Any], ...]
    removed: tuple[dict[str, Any], ...]
    kept: int

    @property
    def changed(self) -> bool:
        """Whether anything was added or removed."""
        return bool(self.added or self.removed)


def _keys(records: Sequence[Any], name: str) -> list[str]:
    if isinstance(records, str | bytes | Mapping) or not isinstance(records, Sequence):
        raise ConfigError(f"records_diff: {name} must be a list of dicts, got "
                          f"{type(records).__name__}")
    keys = []
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise ConfigError(f"records_diff: {name}[{i}] is {record!r}, not a dict; records "
                              f"are dicts")
        keys.append(canonical(record))
    return keys


def records_diff(old: Sequence[Mapping[str, Any]],
                 new: Sequence[Mapping[str, Any]]) -> RecordsDiff:
    """Which records `new` has that `old` has not, and the reverse, as multisets: a record
    twice in `new` and once in `old` is added once. Records are compared by `canonical`
    JSON, so their keys' order does not matter. A pure function.

    Examples:
        >>> records_diff([{"a": 1}, {"a": 1}], [{"a": 1}, {"b": 2}])
        RecordsDiff(added=({'b': 2},), removed=({'a': 1},), kept=1)

    Raises:
        ConfigError: `old` or `new` is not a list of dicts, or a record is not plain data.
    """
    old_keys, new_keys = _keys(old, "old"), _keys(new, "new")
    left = Counter(old_keys)
    added = []
    for key, record in zip(new_keys, new, strict=True):
        if left[key] > 0:
            left[key] -= 1
        else:
            added.append(dict(record))
    removed = []
    for key, record in zip(old_keys, old, strict=True):
        if left[key] > 0:
            left[key] -= 1
            removed.append(dict(record))
    return RecordsDiff(added=tuple(added), removed=tuple(removed),
                       kept=len(new_keys) - len(added))
