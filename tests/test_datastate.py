"""States that are data (`popbt.datastate`): stored as JSON without pickle and read back
exactly, refused over the size limit, copied whole on exploit; `records_diff`."""

from __future__ import annotations

import io
import json
import math
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import popbt
from data_trainables import digest, exact, ledger_population, stored_state
from popbt import ConfigError
from popbt.checkpoints import CheckpointStore, deserialize, serialize
from popbt.datastate import (
    LIMIT_VARIABLE,
    MAX_DATA_BYTES,
    RecordsDiff,
    canonical,
    data_limit,
    is_data,
    record_lists,
    records_diff,
)
from popbt.records import EventKind


def records_state() -> dict[str, Any]:
    return {
        "examples": [
            {"episode": "m3-e41", "return": 187.0, "x": 0.03492, "action": 1},
            {"episode": "m3-e41", "return": 187.0, "x": -0.0, "action": 0},
            {"text": "ünïcödé ✓ 数据 \U0001f600", "escape": "\"\\\n\t\x00", "empty": ""},
            {"nested": {"list": [1, [2.5, [None, True, False]], {"deep": "x"}]}, "n": None},
            {"big": 2**200 + 1, "neg": -(2**70), "tiny": 5e-324, "third": 1 / 3,
             "nan": math.nan, "inf": math.inf, "ninf": -math.inf, "float_int": 2.0},
        ],
        "keys": [{"z": 1, "a": 2, "m": 3}],  # key order is kept
        "episodes": 41,
        "rng": np.random.default_rng(7).bit_generator.state,
    }


# ---------------------------------------------------------------------------------------------
# storage


def test_a_records_state_round_trips_exactly(tmp_path: Path) -> None:
    state = records_state()
    store = CheckpointStore(tmp_path)
    rel, checksum, _ = store.save("run/m00000", 10, state)
    assert rel.endswith(".npz")
    back = store.load(rel, checksum)
    assert exact(back) == exact(state)
    assert list(back["keys"][0]) == ["z", "a", "m"]
    assert type(back["examples"][4]["big"]) is int and type(back["episodes"]) is int
    assert math.copysign(1.0, back["examples"][1]["x"]) == -1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(
    st.text(), st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner,
                                                                     max_size=3),
        max_leaves=8), max_size=4), max_size=6))
def test_any_records_round_trip_exactly(records: list[dict[str, Any]]) -> None:
    state = {"records": records}
    assert exact(deserialize(*serialize(state))) == exact(state)


def test_a_records_state_is_json_in_the_archive_and_never_pickled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pickle was used")

    for name in ("load", "loads", "dump", "dumps"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(pickle, "Pickler", refuse)
    state = records_state()
    data, fmt = serialize(state)
    assert fmt == "npz"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["__tree__.npy"]  # no array, no tensor blob: JSON only
        raw = archive.read("__tree__.npy")
    tree = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
    assert tree.dtype == np.uint8
    payload = tree.tobytes()
    assert raw.endswith(payload) and not payload.startswith(b"\x80")  # no pickle protocol
    assert exact(json.loads(payload)) == exact(state)
    store = CheckpointStore(tmp_path)
    rel, checksum, _ = store.save("run/m00000", 1, state)
    with np.load(tmp_path / rel, allow_pickle=False) as archive:
        assert archive.files == ["__tree__"]
    assert exact(store.load(rel, checksum)) == exact(state)


def test_a_state_over_the_limit_is_refused_when_saved(tmp_path: Path) -> None:
    limit = MAX_DATA_BYTES
    assert data_limit() == limit == 32 * 2**20
    state = {"examples": [{"text": "x" * (limit // 2)}, {"text": "y" * (limit // 2)}]}
    store = CheckpointStore(tmp_path)
    with pytest.raises(ConfigError) as caught:
        store.save("run/m00000", 1, state)
    message = str(caught.value)
    size = len(json.dumps(state).encode())
    assert f"{size:,} bytes" in message and f"limit of {limit:,} bytes" in message
    assert "prune" in message and LIMIT_VARIABLE in message
    assert not list(tmp_path.rglob("*"))  # nothing written
    # arrays are not counted: the same amount of numbers as an array is stored
    store.save("run/m00000", 2, {"bulk": np.zeros(limit // 4, dtype=np.float64)})


def test_the_limit_can_be_set_for_every_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    state = {"examples": [{"i": i} for i in range(100)]}
    size = len(json.dumps(state).encode())
    monkeypatch.setenv(LIMIT_VARIABLE, str(size))
    assert deserialize(*serialize(state)) == state
    monkeypatch.setenv(LIMIT_VARIABLE, str(size - 1))
    with pytest.raises(ConfigError, match=f"{size:,} bytes .* limit of {size - 1:,} bytes"):
        serialize(state)
    for bad in ("0", "-5", "1e6", "lots"):
        monkeypatch.setenv(LIMIT_VARIABLE, bad)
        with pytest.raises(ConfigError, match=f"{LIMIT_VARIABLE}='{bad}': must be a positive"):
            serialize(state)


# ---------------------------------------------------------------------------------------------
# records_diff and friends


def test_records_diff_is_a_multiset_difference_by_canonical_json() -> None:
    old = [{"a": 1, "b": "x"}, {"a": 1, "b": "x"}, {"c": [1, 2]}, {"d": 1}]
    new = [{"b": "x", "a": 1}, {"c": [1, 2]}, {"c": [1, 2]}, {"d": 1.0}, {"e": "ü"}]
    diff = records_diff(old, new)
    assert diff == RecordsDiff(added=({"c": [1, 2]}, {"d": 1.0}, {"e": "ü"}),
                               removed=({"a": 1, "b": "x"}, {"d": 1}), kept=2)
    assert diff.changed and not records_diff(old, list(reversed(old))).changed
    assert records_diff([], new).added == tuple(new) and records_diff(old, []).kept == 0


def test_records_diff_refuses_what_is_not_records() -> None:
    with pytest.raises(ConfigError, match=r"new\[1\] is 3, not a dict"):
        records_diff([], [{"a": 1}, 3])
    with pytest.raises(ConfigError, match="old must be a list of dicts, got dict"):
        records_diff({"a": 1}, [])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="is not plain data"):
        records_diff([], [{"a": object()}])
    assert canonical({"b": 1, "a": "é"}) == '{"a":"é","b":1}'


def test_record_lists_and_is_data() -> None:
    state = records_state()
    assert list(record_lists(state)) == ["examples", "keys"]
    assert record_lists({"empty": [], "numbers": [1, 2], "mixed": [{}, 1]}) == {"empty": []}
    assert is_data(state)
    for other in ({"a": (1, 2)}, {"a": np.float64(1.0)}, {1: "x"}, {"a": b"x"},
                  {"a": [np.zeros(2)]}):
        assert not is_data(other)


# ---------------------------------------------------------------------------------------------
# through a population


def test_a_member_that_exploits_resumes_with_exactly_the_donors_records(tmp_path: Path):
    pop = ledger_population(tmp_path)
    exploits = pop.events(kinds=[EventKind.EXPLOIT])
    assert len(exploits) >= 3
    checked = 0
    for e in exploits:
        copied = stored_state(pop, e.data["checkpoint_id"])
        donor = int(e.data["donor"])
        assert copied["rows"] and {r["member"] for r in copied["rows"]} >= {donor}
        after = [r for r in pop.events(member_id=e.member_id, kinds=[EventKind.READY])
                 if r.event_id > e.event_id]
        if not after:
            continue
        resumed = stored_state(pop, after[0].data["checkpoint_id"])
        assert resumed["restored"] == digest(copied)  # load_state_dict got the donor's state
        diff = records_diff(copied["rows"], resumed["rows"])
        assert diff.added and all(r["member"] == e.member_id for r in diff.added)
        kept = [r for r in resumed["rows"] if r["member"] != e.member_id]
        assert exact(kept) == exact(copied["rows"][len(copied["rows"]) - len(kept):])
        checked += 1
    assert checked >= 2


def test_a_run_whose_state_outgrows_the_limit_stops_and_says_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(LIMIT_VARIABLE, "800")
    with pytest.raises(popbt.TrainingError, match="over the limit of 800 bytes"):
        ledger_population(tmp_path, steps=30)
