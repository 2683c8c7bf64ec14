"""Checkpoints written on a GPU load on a machine without one: their tensors are read onto the
CPU (`map_location`), and a `TorchTrainable` restores and continues from them. The files are
made here as a GPU machine makes them: `torch.save` records each storage as on "cuda:0", so
`torch.load` without `map_location` needs CUDA to read them."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.serialization

import popbt
from device_trainables import Regression
from popbt.checkpoints import CheckpointStore
from popbt.records import MemberState

LR_SPACE = popbt.Space({"lr": popbt.LogUniform(1e-3, 1e-1)})


@contextlib.contextmanager
def cuda_tagged() -> Iterator[None]:
    """Inside, `torch.save` records every tensor's storage as on "cuda:0", as it does for a
    tensor saved from a GPU: loading such a file without `map_location` needs CUDA."""
    real = torch.serialization.location_tag
    torch.serialization.location_tag = lambda storage: "cuda:0"
    try:
        yield
    finally:
        torch.serialization.location_tag = real


def _claims_cuda(blob: bytes) -> None:
    """Assert that `blob`, read as torch reads it by default, needs a CUDA device."""
    if torch.cuda.is_available():
        loaded = torch.load(io.BytesIO(blob), weights_only=True)
        assert any(t.is_cuda for t in _tensors(loaded))
    else:
        with pytest.raises(RuntimeError, match="Attempting to deserialize object on a CUDA"):
            torch.load(io.BytesIO(blob), weights_only=True)


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _tensors(v)]
    return []


def test_a_trainable_s_checkpoint_written_on_a_gpu_loads_and_resumes_without_one(
        tmp_path: Path):
    original = Regression()
    original.setup({"lr": 0.05}, seed=0)
    original.train({"lr": 0.05}, 3)
    store = CheckpointStore(tmp_path)
    with cuda_tagged():
        rel, checksum, _ = store.save("pop/m00000", 3, original.state_dict())
    assert rel.endswith(".pt")
    _claims_cuda((tmp_path / rel).read_bytes())
    state = store.load(rel, checksum)
    assert all(t.device.type == "cpu" for t in _tensors(state))
    restored = Regression()
    restored.setup({"lr": 0.05}, seed=1)
    restored.load_state_dict(state)
    original.train({"lr": 0.05}, 2)
    restored.train({"lr": 0.05}, 2)
    for a, b in zip(original.model.parameters(), restored.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_tensors_beside_numpy_values_written_on_a_gpu_load_without_one(tmp_path: Path):
    store = CheckpointStore(tmp_path)
    with cuda_tagged():
        rel, checksum, _ = store.save("pop/m00000", 1, {"w": np.arange(3.0),
                                                        "t": torch.arange(4.0)})
    assert rel.endswith(".npz")
    with np.load(tmp_path / rel, allow_pickle=False) as archive:
        _claims_cuda(archive["__tensors__"].tobytes())
    state = store.load(rel, checksum)
    assert state["t"].device.type == "cpu" and torch.equal(state["t"], torch.arange(4.0))
    assert np.array_equal(state["w"], np.arange(3.0))


def test_a_population_trained_on_a_gpu_resumes_without_one(make_pop: Any, tmp_path: Path):
    """Every checkpoint of the first run claims CUDA (the worker reads its first one back);
    the second run restores every member from one."""
    pop = make_pop(size=3, space=LR_SPACE, ready=popbt.Every(steps=5))
    with cuda_tagged():
        pop.train(Regression, steps=5, progress=False)
    row = pop.storage.checkpoint(pop.row, pop.members[0].checkpoint_id)
    _claims_cuda((Path(pop.row.checkpoint_root) / row.path).read_bytes())
    pop.train(Regression, steps=10, progress=False)
    assert [(m.step, m.state) for m in pop.members] == [(10, MemberState.DONE)] * 3
