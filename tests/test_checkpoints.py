"""Checkpoint files: safe (never unpickled) round trips, checksums, immutability."""

from __future__ import annotations

import hashlib
import io
import json
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from popbt import CheckpointError, ConfigError
from popbt.checkpoints import CheckpointStore, deserialize, serialize

# ---------------------------------------------------------------------------------------------
# helpers


def assert_same(expected: Any, actual: Any, where: str = "state") -> None:
    """Deep equality that also checks types, NumPy dtypes and NaN."""
    assert type(actual) is type(expected), f"{where}: {type(actual)} != {type(expected)}"
    if isinstance(expected, np.ndarray):
        assert actual.dtype == expected.dtype, where
        assert actual.shape == expected.shape, where
        equal_nan = expected.dtype.kind in "fc"
        assert np.array_equal(actual, expected, equal_nan=equal_nan), where
    elif isinstance(expected, np.generic):
        assert actual.dtype == expected.dtype, where
        assert actual == expected or (np.isnan(expected) and np.isnan(actual)), where
    elif isinstance(expected, dict):
        assert len(actual) == len(expected), where
        for (ke, ve), (ka, va) in zip(expected.items(), actual.items(), strict=True):
            assert_same(ke, ka, f"{where} key {ke!r}")
            assert_same(ve, va, f"{where}[{ke!r}]")
    elif isinstance(expected, list | tuple):
        assert len(actual) == len(expected), where
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_same(e, a, f"{where}[{i}]")
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(actual), where
    else:
        assert actual == expected, where


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def rich_state() -> dict[str, Any]:
    gen = np.random.default_rng(12345)
    gen.random(3)  # advance so the state is not the seeding default
    return {
        "rng": gen.bit_generator.state,
        "step": 400,
        "lr": 0.01,
        "nan": math.nan,
        "inf": math.inf,
        "ninf": -math.inf,
        "big": 2**200 + 1,
        "neg_big": -(2**100),
        "flags": [True, False, None],
        "name": "member-3 ✓",
        "empty": {"d": {}, "l": [], "t": ()},
        "nested": {"a": [1, (2, [3, {"b": (4.5, None)}]), {"c": b"\x00\xffdata"}]},
        "bytes": b"",
        "tuple": (1, "two", 3.0, (4,)),
        "weights": np.arange(12, dtype=np.float32).reshape(3, 4),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3)),
        "big_array": gen.normal(size=(50, 40)),
        "nan_array": np.array([1.0, math.nan, math.inf]),
        "complex": np.array([1 + 2j, -3j]),
        "bools": np.array([True, False]),
        "strings": np.array(["ab", "cde"]),
        "zero_d": np.array(3.5),
        "empty_array": np.zeros((0, 3), dtype=np.uint8),
        "record": np.array([(1, 2.5), (3, 4.5)], dtype=[("a", "<i4"), ("b", "<f8")]),
        "scalars": [np.float32(1.5), np.int8(-3), np.uint64(2**64 - 1), np.bool_(True),
                    np.float16(math.nan), np.int64(-7), np.complex128(1 - 1j),
                    np.datetime64("2024-01-02")],
        "int_keys": {1: "one", -2: "minus two", 2**70: "big"},
        "mixed_keys": {None: 0, 2.5: 1, (1, "x"): 2, b"k": 3, "s": 4, True: 5},
        "marker_lookalike": {"__popbt__": "tuple", "items": [1, 2]},
        "list_of_dicts": [{"x": 1}, {2: "y"}],
    }


# ---------------------------------------------------------------------------------------------
# round trips


def test_save_load_round_trip(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    state = rich_state()
    rel, checksum, size = store.save("run/m00003", 400, state)
    loaded = store.load(rel, checksum)
    assert_same(state, loaded)
    assert loaded["weights"].flags.writeable


def test_round_trip_does_not_unpickle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pickle was used")

    for name in ("load", "loads", "dump", "dumps"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    store = CheckpointStore(tmp_path)
    state = rich_state()
    rel, checksum, _ = store.save("run/m0", 1, state)
    assert_same(state, store.load(rel, checksum))


def test_numpy_rng_state_restores_the_stream(tmp_path: Path) -> None:
    gen = np.random.default_rng(99)
    gen.normal(size=7)
    store = CheckpointStore(tmp_path)
    rel, checksum, _ = store.save("run/m0", 7, {"rng": gen.bit_generator.state})
    expected = gen.random(5)
    restored = np.random.Generator(np.random.PCG64())
    restored.bit_generator.state = store.load(rel, checksum)["rng"]
    assert np.array_equal(restored.random(5), expected)
    state = store.load(rel, checksum)["rng"]["state"]
    assert isinstance(state["state"], int) and state["state"] > 2**64


@pytest.mark.parametrize("scalar", [np.float64(0.25), np.str_("hi")], ids=repr)
def test_numpy_scalar_subclasses_keep_their_type(scalar: Any) -> None:
    data, fmt = serialize({"x": scalar})
    assert_same({"x": scalar}, deserialize(data, fmt))


def test_numpy_float64_value_survives() -> None:
    data, fmt = serialize({"x": np.float64(0.1), "n": np.float64(math.nan)})
    back = deserialize(data, fmt)
    assert back["x"] == 0.1 and math.isnan(back["n"])


def test_save_returns_path_checksum_and_size(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    rel, checksum, size = store.save("run/m00003", 400, {"w": np.zeros(3)})
    path = tmp_path / rel
    data = path.read_bytes()
    assert rel.startswith("run/m00003/s0000000400-")
    assert rel.endswith(".npz")
    assert not Path(rel).is_absolute()
    assert checksum == hashlib.sha256(data).hexdigest()
    assert size == len(data) == path.stat().st_size


def test_serialize_deserialize_bytes_level() -> None:
    state = rich_state()
    data, fmt = serialize(state)
    assert fmt == "npz"
    assert isinstance(data, bytes)
    assert_same(state, deserialize(data, fmt))
    # the same state serialises to the same bytes
    assert serialize(rich_state())[0] == data


json_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10),
    st.binary(max_size=10),
)
keys = st.one_of(st.text(max_size=6), st.integers(), st.none(), st.binary(max_size=4),
                 st.floats(allow_nan=False), st.tuples(st.integers(), st.text(max_size=3)))
trees = st.recursive(
    json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(keys, children, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=80, deadline=None)
@given(state=st.dictionaries(st.text(max_size=6), trees, max_size=5))
def test_round_trip_hypothesis(state: dict[str, Any]) -> None:
    data, fmt = serialize(state)
    assert_same(state, deserialize(data, fmt))


# ---------------------------------------------------------------------------------------------
# unsafe content


class Sentinel:
    """An arbitrary Python object."""


@pytest.mark.parametrize(("state", "where"), [
    ({"model": Sentinel()}, "state['model']"),
    ({"a": [1, {"b": {1, 2}}]}, "state['a'][1]['b']"),
    ({"t": (1, object())}, "state['t'][1]"),
    ({"arr": np.array([1, "x", None], dtype=object)}, "state['arr']"),
    ({"ba": bytearray(b"xy")}, "state['ba']"),
    ({"f": lambda: 1}, "state['f']"),
], ids=["object", "set", "tuple-object", "object-array", "bytearray", "function"])
def test_unstorable_state_raises_config_error(tmp_path: Path, state: dict,
                                              where: str) -> None:
    store = CheckpointStore(tmp_path)
    with pytest.raises(ConfigError) as err:
        store.save("run/m0", 1, state)
    assert where in str(err.value)
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("state", [[1, 2], None, "state", np.zeros(2)], ids=repr)
def test_state_must_be_a_dict(tmp_path: Path, state: Any) -> None:
    with pytest.raises(ConfigError, match=type(state).__name__):
        CheckpointStore(tmp_path).save("run/m0", 1, state)


EXECUTED: list[str] = []


def _record_execution(tag: str) -> str:
    EXECUTED.append(tag)
    return tag


class Payload:
    """Unpickling this calls `_record_execution`: stands in for arbitrary code."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return _record_execution, ("pwned",)


def test_crafted_pickled_object_array_is_not_executed(tmp_path: Path) -> None:
    tree = {"weights": {"__popbt__": "ndarray", "key": "a0"}}
    buf = io.BytesIO()
    np.savez(buf, a0=np.array([Payload()], dtype=object),
             __tree__=np.frombuffer(json.dumps(tree).encode(), dtype=np.uint8))
    data = buf.getvalue()
    assert b"_record_execution" in data  # the archive really holds a pickle
    rel = "run/m0/s0000000001-deadbeef0000.npz"
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).write_bytes(data)
    EXECUTED.clear()
    with pytest.raises((CheckpointError, ValueError)):
        CheckpointStore(tmp_path).load(rel, hashlib.sha256(data).hexdigest())
    assert EXECUTED == []


def test_crafted_pickled_tree_is_not_executed(tmp_path: Path) -> None:
    """The structure itself stored as an object array instead of JSON bytes."""
    buf = io.BytesIO()
    np.savez(buf, __tree__=np.array([Payload()], dtype=object))
    data = buf.getvalue()
    EXECUTED.clear()
    with pytest.raises((CheckpointError, ValueError)):
        deserialize(data, "npz")
    assert EXECUTED == []


# ---------------------------------------------------------------------------------------------
# corruption and missing files


def test_corrupted_byte_raises_checkpoint_error(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    rel, checksum, size = store.save("run/m0", 5, {"w": np.arange(100.0)})
    path = tmp_path / rel
    for offset in (0, size // 2, size - 1):
        original = path.read_bytes()
        corrupted = bytearray(original)
        corrupted[offset] ^= 0x01
        path.write_bytes(bytes(corrupted))
        with pytest.raises(CheckpointError, match="checksum") as err:
            store.load(rel, checksum)
        assert rel in str(err.value)
        path.write_bytes(original)
    assert_same({"w": np.arange(100.0)}, store.load(rel, checksum))


def test_truncated_file_raises_checkpoint_error(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    rel, checksum, size = store.save("run/m0", 5, {"w": np.arange(100.0)})
    path = tmp_path / rel
    path.write_bytes(path.read_bytes()[: size - 10])
    with pytest.raises(CheckpointError, match="corrupt"):
        store.load(rel, checksum)


def test_wrong_checksum_raises_checkpoint_error(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    rel, _, _ = store.save("run/m0", 5, {"x": 1})
    with pytest.raises(CheckpointError):
        store.load(rel, "0" * 64)


def test_missing_file_raises_checkpoint_error(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    with pytest.raises(CheckpointError, match="missing") as err:
        store.load("run/m0/s0000000001-000000000000.npz", "0" * 64)
    assert "s0000000001-000000000000.npz" in str(err.value)
    rel, checksum, _ = store.save("run/m0", 1, {"x": 1})
    (tmp_path / rel).unlink()
    with pytest.raises(CheckpointError, match="missing"):
        store.load(rel, checksum)


def test_checkpoint_error_is_not_a_config_error() -> None:
    assert not issubclass(CheckpointError, ConfigError)


# ---------------------------------------------------------------------------------------------
# atomic, immutable files


def test_no_temporary_files_left(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    rels = [store.save(f"run/m{i % 3}", i, {"w": np.full(10, i)})[0] for i in range(9)]
    found = files_under(tmp_path)
    assert sorted(tmp_path / r for r in rels) == found
    assert not any(p.name.startswith(".tmp") or "tmp" in p.name for p in found)


def test_each_save_creates_a_new_file(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    rel1, sum1, _ = store.save("run/m0", 100, {"w": np.zeros(4)})
    before = (tmp_path / rel1).read_bytes()
    rel2, sum2, _ = store.save("run/m0", 100, {"w": np.zeros(4)})
    rel3, sum3, _ = store.save("run/m0", 100, {"w": np.ones(4)})
    assert len({rel1, rel2, rel3}) == 3
    assert sum1 == sum2 != sum3  # same content, same checksum, different files
    assert (tmp_path / rel1).read_bytes() == before
    assert_same({"w": np.zeros(4)}, store.load(rel1, sum1))
    assert_same({"w": np.ones(4)}, store.load(rel3, sum3))
    assert len(files_under(tmp_path)) == 3


def test_saved_state_is_a_snapshot(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    weights = np.zeros(3)
    state = {"w": weights, "l": [1]}
    rel, checksum, _ = store.save("run/m0", 1, state)
    weights[:] = 7.0
    state["l"].append(2)
    assert_same({"w": np.zeros(3), "l": [1]}, store.load(rel, checksum))


def test_delete(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    keep, keep_sum, _ = store.save("run/m0", 1, {"x": 1})
    drop, _, _ = store.save("run/m0", 2, {"x": 2})
    store.delete([drop, "run/m0/never-existed.npz", drop])
    assert not (tmp_path / drop).exists()
    assert store.load(keep, keep_sum) == {"x": 1}
    store.delete([])
    store.delete(iter([keep]))
    assert files_under(tmp_path) == []


def test_root_is_created_on_demand(tmp_path: Path) -> None:
    root = tmp_path / "does" / "not" / "exist"
    store = CheckpointStore(str(root))
    rel, checksum, _ = store.save("a/b/c", 0, {"x": None})
    assert (root / rel).is_file()
    assert store.load(rel, checksum) == {"x": None}
