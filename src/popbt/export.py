"""Exporting a member: its weights as a file of their own, its schedule and record beside it
(`Population.export`, `popbt export`).

Contract:
- `export_member(pop, path, member=...)` (member "best" or an id, retired ones included)
  reads the member's latest checkpoint, its checksum checked, and writes three files:
  - `path`: for a state as `popbt.torch.TorchTrainable` saves it (a dict whose "model" entry
    maps names to torch tensors), that model's `state_dict` alone, saved with `torch.save`,
    so that `model.load_state_dict(torch.load(path))` restores it in plain PyTorch; any
    other state whole, in popbt's checkpoint format (NumPy arrays and JSON, or torch
    tensors; never pickled), read back by `load_state(path)`;
  - `path.schedule.json`: the member's schedule as `popbt schedule --json` writes it (what
    `popbt replay --schedule` and `popbt.schedules.read_schedule` read);
  - `path.json`: its record: population, member id, step, metric, mode, score, metrics,
    hyperparameters, what `path` holds (`contents`: "state_dict" or "state"; `format`:
    "pt" or "npz") and the checkpoint it came from (non-finite numbers as null).
  Each is written under a temporary name in its folder, then renamed: none is ever partial.
- It imports nothing of the user's code and changes nothing in the storage.
- A genetic population's member (`popbt.ga.GeneticPopulation.export`, which has the
  network's builder) is exported by `export_decoded`: `path` holds its decoded network's
  `state_dict` (torch.save), and the record names its genome (`"genome"`: the bytes of
  `popbt.genomes.Genome.to_bytes`, in hex) instead of a checkpoint. `popbt export`, which
  imports nothing of the user's code, refuses it and says so.
- `checkpoint_location` is where a member's checkpoint lies, as shown to people: an
  absolute path, or the URL of a remote root with any credentials hidden.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from popbt._serialize import deserialize, serialize
from popbt.checkpoints import CheckpointStore, redact_url
from popbt.errors import CheckpointError, ConfigError
from popbt.records import Member
from popbt.schedules import to_json

if TYPE_CHECKING:
    from popbt.population import Population

MODEL_KEY = "model"  # where `popbt.torch.TorchTrainable.state_dict` keeps the model's weights


@dataclass(frozen=True)
class Exported:
    """The files one export wrote, and what the state file holds ("state_dict": a torch
    model's; "state": the member's whole state)."""

    state: Path
    schedule: Path
    record: Path
    member_id: int
    contents: str


def model_state(state: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The model's `state_dict` in a state saved by a `TorchTrainable` (a non-empty mapping
    of names to torch tensors under "model"), or None for any other state."""
    torch = sys.modules.get("torch")  # loaded by the checkpoint's reader if it held tensors
    model = state.get(MODEL_KEY)
    if torch is None or not isinstance(model, Mapping) or not model:
        return None
    if all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items()):
        return model
    return None


def checkpoint_location(pop: Population, member: Member) -> str | None:
    """Where the member's latest checkpoint lies (see the module contract); None before its
    first checkpoint."""
    if member.checkpoint_id is None:
        return None
    rel = pop.storage.checkpoint(pop.row, member.checkpoint_id).path
    root = pop.row.checkpoint_root
    return f"{redact_url(root)}/{rel}" if "://" in root else str(Path(root) / rel)


def _chosen(pop: Population, member: int | str) -> Member:
    """The member `member` names: "best", or an id (checked by `Population.member`)."""
    if not isinstance(member, str):
        return pop.member(member)
    if member != "best":
        raise ConfigError(f"member={member!r}: give a member id or 'best'")
    best = pop.best
    if best is None:
        raise ConfigError(f"population {pop.name!r} has no scored member yet; train it "
                          f"first, or give a member id")
    return best


def _finite(obj: Any) -> Any:
    """`obj` with non-finite floats as None (JSON has no infinity)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    return obj


def _write(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder.

    Raises:
        ConfigError: the file cannot be written (the message names it and why).
    """
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {str(path)!r}: {exc.strerror or exc}; give a path "
                          f"in a folder that exists and can be written") from None


def export_member(pop: Population, path: str | os.PathLike[str], *,
                  member: int | str = "best") -> Exported:
    """Export `member` of `pop` to `path` and beside it (see the module contract).

    Raises:
        ConfigError: the population is trained by the vectorized trainer or is a genetic
            population (`GeneticPopulation.export` exports those); no such member,
            no scored member ("best"), no checkpoint yet; a file cannot be written.
        CheckpointError: the checkpoint file is missing or corrupt.
    """
    row = pop.row
    if row.settings.trainer == "ga":
        raise ConfigError(f"population {pop.name!r} is evolved by popbt.ga.GeneticPopulation:"
                          f" its members are genomes, which decode only with the network's "
                          f"model_fn; open it with GeneticPopulation(..., load_if_exists="
                          f"True) and call its export(path) (or member_model(id))")
    if row.settings.trainer != "workers":
        raise ConfigError(f"population {pop.name!r} is trained by the vectorized trainer; "
                          f"use VectorizedPopulation.member_model to get a member's model")
    chosen = _chosen(pop, member)
    if chosen.checkpoint_id is None:
        raise ConfigError(f"member {chosen.member_id} of population {pop.name!r} has no "
                          f"checkpoint yet; train first")
    ckpt = pop.storage.checkpoint(row, chosen.checkpoint_id)
    state = CheckpointStore(row.checkpoint_root).load(ckpt.path, ckpt.checksum)
    model = model_state(state)
    if model is not None:
        buf = io.BytesIO()
        sys.modules["torch"].save(model, buf)
        data, fmt, contents = buf.getvalue(), "pt", "state_dict"
    else:
        (data, fmt), contents = serialize(state), "state"
    return _write_files(pop, chosen, Path(path), data, fmt, contents,
                        {"checkpoint": checkpoint_location(pop, chosen)})


def export_decoded(pop: Population, path: str | os.PathLike[str], *, member: int | str,
                   state_dict_of: Callable[[int], Mapping[str, Any]],
                   genome_of: Callable[[int], bytes]) -> Exported:
    """Export `member` of a genetic population (see the module contract):
    `state_dict_of(id)` is its network's `state_dict`, `genome_of(id)` its genome's bytes.

    Raises:
        ConfigError: no such member, no scored member ("best"), or a file cannot be written.
    """
    chosen = _chosen(pop, member)
    buf = io.BytesIO()
    sys.modules["torch"].save(dict(state_dict_of(chosen.member_id)), buf)
    return _write_files(pop, chosen, Path(path), buf.getvalue(), "pt", "state_dict",
                        {"genome": genome_of(chosen.member_id).hex()})


def _write_files(pop: Population, chosen: Member, target: Path, data: bytes, fmt: str,
                 contents: str, source: dict[str, Any]) -> Exported:
    """Write the state `data`, the schedule and the record (naming the `source`)."""
    exported = Exported(state=target, schedule=target.with_name(target.name + ".schedule.json"),
                        record=target.with_name(target.name + ".json"),
                        member_id=chosen.member_id, contents=contents)
    record = {"population": pop.name, "member_id": chosen.member_id, "step": chosen.step,
              "metric": pop.settings.metric, "mode": pop.settings.mode, "score": chosen.score,
              "metrics": chosen.metrics, "hparams": chosen.hparams, "contents": contents,
              "format": fmt, **source}
    _write(target, data)
    _write(exported.schedule, (to_json(pop.schedule(chosen.member_id)) + "\n").encode())
    _write(exported.record, (json.dumps(_finite(record), indent=2, allow_nan=False)
                             + "\n").encode())
    return exported


def load_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The state an export wrote to `path` (either kind), read without unpickling; tensors
    on the CPU.

    Raises:
        CheckpointError: the file is missing or is not an export's.
    """
    try:
        data = Path(path).read_bytes()
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            fmt = "npz" if "__tree__.npy" in archive.namelist() else "pt"
        return deserialize(data, fmt)
    except (OSError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"cannot read {str(path)!r}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - whatever the format's reader refuses
        raise CheckpointError(f"{str(path)!r} is not a state popbt exported: {exc}") from None
