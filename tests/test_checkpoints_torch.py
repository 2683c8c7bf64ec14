"""Checkpoints of torch tensors: torch.save, then torch.load(weights_only=True)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from popbt.checkpoints import CheckpointStore
from popbt.errors import CheckpointError


def _state() -> dict:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(8, 4)).sum().backward()
    opt.step()
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": 7,
            "rng": torch.get_rng_state()}


def test_tensor_state_round_trips_through_torch(tmp_path: Path):
    store = CheckpointStore(tmp_path)
    state = _state()
    rel, checksum, _ = store.save("pop/m00000", 7, state)
    assert rel.endswith(".pt")
    back = store.load(rel, checksum)
    assert back["step"] == 7
    for key, value in state["model"].items():
        assert torch.equal(back["model"][key], value)
    exp_avg = state["optimizer"]["state"][0]["exp_avg"]
    assert torch.equal(back["optimizer"]["state"][0]["exp_avg"], exp_avg)
    assert back["optimizer"]["param_groups"][0]["lr"] == 0.01
    assert torch.equal(back["rng"], state["rng"])


def test_torch_checkpoint_with_a_pickled_object_is_refused(tmp_path: Path):
    """A .pt file holding an arbitrary object is not unpickled (weights_only=True)."""
    store = CheckpointStore(tmp_path)
    rel, checksum, _ = store.save("pop/m00000", 1, {"w": torch.zeros(2)})
    path = tmp_path / rel

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"w": torch.zeros(2), "evil": Evil()}, path)

    with pytest.raises(CheckpointError, match="cannot be read safely"):
        store.load(rel, hashlib.sha256(path.read_bytes()).hexdigest())


def test_state_without_tensors_keeps_the_safe_format(tmp_path: Path):
    store = CheckpointStore(tmp_path)
    rel, checksum, _ = store.save("pop/m00000", 1, {"w": np.ones(3)})
    assert rel.endswith(".npz")
    assert np.array_equal(store.load(rel, checksum)["w"], np.ones(3))
