"""GPUs for local worker processes: which devices each process of `popbt.Processes(gpus=...)`
sees, through the `CUDA_VISIBLE_DEVICES` it starts with (before it imports torch or any
other CUDA library).

Contract:
- `gpus` is a non-empty list of GPU ids, given out round-robin (worker slot i gets
  `gpus[i % len(gpus)]`), or a number f in (0, 1]: the share of one GPU each worker uses,
  so floor(1/f) workers share each GPU, filled in order (0.5 with 4 workers: 0, 0, 1, 1).
- An id is an integer >= 0, or a device name CUDA accepts ("GPU-<uuid>", "MIG-<uuid>").
  When this process has `CUDA_VISIBLE_DEVICES` itself (a scheduler's allocation), integer
  ids index that list, so no worker escapes it, and ids beyond it are refused; otherwise
  they are the machine's own numbering, passed on unchecked.
- A worker process given a GPU also has `ASSIGNED_VAR` set, to the same value: a
  `popbt.torch.TorchTrainable` with the default device trains there, and stops the run with
  `ConfigError` when torch sees no CUDA device rather than train on the CPU unnoticed.
This module imports no CUDA library.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from popbt.errors import ConfigError

__all__ = ["ASSIGNED_VAR", "VISIBLE_VAR", "Gpus", "check_gpus", "parse_gpus", "slot_devices"]

VISIBLE_VAR = "CUDA_VISIBLE_DEVICES"
ASSIGNED_VAR = "POPBT_ASSIGNED_GPUS"
Gpus = tuple[int | str, ...] | float  # a checked `gpus`: ids, or the share of a GPU per worker
_NAMES = ("GPU-", "MIG-")
_VALID = ("a list of GPU ids such as [0, 1] (worker i gets gpus[i % len(gpus)]), or the "
          "share of one GPU each worker uses, in (0, 1], such as 0.5 (two workers per GPU)")


def _check_id(gpu: object, gpus: object) -> int | str:
    if isinstance(gpu, int) and not isinstance(gpu, bool) and gpu >= 0:
        return gpu
    if isinstance(gpu, str) and gpu.startswith(_NAMES) and "," not in gpu \
            and not any(c.isspace() for c in gpu):
        return gpu
    raise ConfigError(f"gpus={gpus!r}: {gpu!r} is not a GPU id; an id is an integer >= 0 or "
                      f"a CUDA device name such as 'GPU-<uuid>' or 'MIG-<uuid>'")


def check_gpus(gpus: object) -> Gpus:
    """`gpus` checked: a tuple of ids, or the share of one GPU per worker as a float.

    Raises:
        ConfigError: naming the value and what is valid.
    """
    if isinstance(gpus, int | float) and not isinstance(gpus, bool):
        if not (math.isfinite(gpus) and 0 < gpus <= 1):
            raise ConfigError(f"gpus={gpus!r}: a number is the share of one GPU each worker "
                              f"uses, in (0, 1] (0.5: two workers share each GPU); give GPU "
                              f"ids as a list, such as [0, 1]")
        return float(gpus)
    if isinstance(gpus, Sequence) and not isinstance(gpus, str | bytes):
        if not gpus:
            raise ConfigError(f"gpus={gpus!r}: give at least one GPU id, such as [0]")
        return tuple(_check_id(gpu, gpus) for gpu in gpus)
    raise ConfigError(f"gpus={gpus!r}: expected {_VALID}")


def parse_gpus(text: str, *, name: str = "--gpus") -> Gpus:
    """The `gpus` a command-line value stands for: a number with a decimal point is the share
    of one GPU each worker uses ("0.5", "1.0"); anything else is a comma-separated list of
    ids ("0,1", "3", "GPU-8f2c...,GPU-91ab...").

    Raises:
        ConfigError: naming `name`, the text, and what is valid.
    """
    try:
        if "." in text and "," not in text:
            return check_gpus(float(text))
        return check_gpus(tuple(int(p) if p.strip().isdigit() else p.strip()
                                for p in text.split(",")))
    except (ConfigError, ValueError):
        raise ConfigError(f"{name} {text!r}: expected GPU ids separated by commas, such as "
                          f"0,1 (worker i gets the i-th, round-robin), or the share of one "
                          f"GPU each worker uses, such as 0.5 (two workers per GPU)") from None


def _visible(value: str) -> list[str]:
    """The devices a `CUDA_VISIBLE_DEVICES` value lets a process see, as CUDA reads it: the
    entries up to the first negative one ("-1" hides every GPU)."""
    entries = []
    for part in value.split(","):
        part = part.strip()
        if not part or part.startswith("-"):
            break
        entries.append(part)
    return entries


def slot_devices(gpus: Sequence[int | str] | float, workers: int,
                 visible: str | None) -> list[str]:
    """The `CUDA_VISIBLE_DEVICES` value of each of `workers` worker slots, for `gpus` as
    `check_gpus` returns it; `visible` is this process's own value (None when unset).

    Raises:
        ConfigError: an id, or a number of GPUs, beyond the `visible` list.
    """
    if isinstance(gpus, float):
        per_gpu = math.floor(1 / gpus + 1e-9)
        ids: list[int | str] = [slot // per_gpu for slot in range(workers)]
        asked = f"gpus={gpus!r} with {workers} workers needs {(workers - 1) // per_gpu + 1} GPUs"
    else:
        ids = [gpus[slot % len(gpus)] for slot in range(workers)]
        asked = f"gpus={list(gpus)!r}"
    if visible is None:
        return [str(gpu) for gpu in ids]
    allowed = _visible(visible)
    beyond = [gpu for gpu in ids if isinstance(gpu, int) and gpu >= len(allowed)]
    if beyond:
        ids_are = (f"so ids run 0..{len(allowed) - 1} (they index that list)" if allowed
                   else "so no worker can be given one")
        raise ConfigError(f"{asked}, but this process sees {len(allowed)} GPUs "
                          f"({VISIBLE_VAR}={visible!r}), {ids_are}; give fewer, or change "
                          f"{VISIBLE_VAR}")
    return [allowed[gpu] if isinstance(gpu, int) else gpu for gpu in ids]
