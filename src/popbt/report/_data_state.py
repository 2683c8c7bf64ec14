"""The report's view of a population whose members' states are data (`popbt.datastate`):
what each member's records gained and lost.

Data (`stored_data_state`; None unless the best member's latest checkpoint is a state of
plain data holding a list of records): `members`, at most `MAX_MEMBERS` of them, the best
first, then by score; each {"member", "step", "score", "since", "since_step", "donor",
"note", "lists"}. The comparison is against one earlier checkpoint ("since": what it is):
- after an exploit followed by training: the state the member copied (a donor's
  checkpoint, recorded by the EXPLOIT event), so the change is the member's own work on it;
- a member whose latest state is a copy it has not trained yet: the state it held before
  the copy, so the change is what the exploit replaced;
- a member that never copied: its checkpoint before the latest one.
A checkpoint garbage-collected since (each member keeps its last `keep_checkpoints`) is
replaced by the member's oldest later checkpoint still stored, and `note` says so; with none
left, `since` is None and `note` says why. `lists`: per list of records (`record_lists` of
either state) {"name", "size" (now), "added", "removed", "kept", "added_sample",
"removed_sample"}: the counts of `records_diff`, and up to `SAMPLE` records of each kind as
canonical JSON (each cut to `SAMPLE_CHARS` characters).

Every checkpoint is read through the storage's rows and `CheckpointStore`; a row or file
that is gone, or a state that is not data, is never an error here. A checkpoint file is
immutable, so one found not to be data holding lists of records is remembered by its
checksum (the last
`NOT_DATA_REMEMBERED`, in this process): a report or dashboard poll of a population of other
states reads the best member's row, not its file, again. The script
(`DATA_STATE_JS`) draws a table (a row per member and list) and, per member, a `<details>`
with the sample records (`data-member`, `data-added`, `data-removed`).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from popbt.datastate import canonical, data_limit, is_data, record_lists, records_diff
from popbt.errors import PopbtError
from popbt.records import Event, EventKind, Member, MemberState

if TYPE_CHECKING:
    from popbt.checkpoints import CheckpointStore
    from popbt.storage import Storage
    from popbt.storage.base import PopulationRow

MAX_MEMBERS = 16
SAMPLE = 5
SAMPLE_CHARS = 300
_ARCHIVE_SLACK = 2**16  # the .npz archive's own bytes beside the JSON
NOT_DATA_REMEMBERED = 4096
_NOT_DATA: OrderedDict[str, None] = OrderedDict()  # checksums of states without records


class _States:
    """Checkpoints read by id, each once: the state when it is data, else why not."""

    def __init__(self, storage: Storage, row: PopulationRow, store: CheckpointStore) -> None:
        self.storage, self.row, self.store = storage, row, store
        self.read: dict[int, tuple[dict[str, Any] | None, str]] = {}

    def get(self, checkpoint_id: int) -> tuple[dict[str, Any] | None, str]:
        """(state, "") for a state of data holding lists of records; (None, "gone") for a
        checkpoint no longer stored; (None, "other") for any other state."""
        if checkpoint_id not in self.read:
            self.read[checkpoint_id] = self._load(checkpoint_id)
        return self.read[checkpoint_id]

    def _load(self, checkpoint_id: int) -> tuple[dict[str, Any] | None, str]:
        try:
            ckpt = self.storage.checkpoint(self.row, checkpoint_id)
        except PopbtError:
            return None, "gone"
        if not ckpt.path.endswith(".npz") or ckpt.size > data_limit() + _ARCHIVE_SLACK \
                or ckpt.checksum in _NOT_DATA:
            return None, "other"
        try:
            state = self.store.load(ckpt.path, ckpt.checksum)
        except PopbtError:
            return None, "gone"
        if is_data(state) and record_lists(state):
            return state, ""
        _NOT_DATA[ckpt.checksum] = None
        while len(_NOT_DATA) > NOT_DATA_REMEMBERED:
            _NOT_DATA.popitem(last=False)
        return None, "other"


def _sample(records: Sequence[dict[str, Any]]) -> list[str]:
    out = []
    for record in records[:SAMPLE]:
        text = canonical(record)
        out.append(text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS - 1] + "…")
    return out


def _lists(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    before, now = record_lists(old), record_lists(new)
    out = []
    for name in [*now, *(k for k in before if k not in now)]:
        diff = records_diff(before.get(name, []), now.get(name, []))
        out.append({"name": name, "size": len(now.get(name, [])), "added": len(diff.added),
                    "removed": len(diff.removed), "kept": diff.kept,
                    "added_sample": _sample(diff.added),
                    "removed_sample": _sample(diff.removed)})
    return out


def _candidates(held: list[Event], current: int) -> list[tuple[int, str]]:
    """The earlier checkpoints to compare the member's `current` one with, in order of
    preference: (index in `held`, what it is)."""
    at = max((i for i, e in enumerate(held) if e.data["checkpoint_id"] == current),
             default=len(held))
    if at == 0:
        return []
    last = held[at] if at < len(held) else None
    if last is not None and last.kind is EventKind.EXPLOIT:
        before = held[at - 1]
        return [(at - 1, f"the state it held at step {before.step}, before it copied "
                         f"member {last.data['donor']}'s at step {last.step}")]
    copies = [i for i in range(at) if held[i].kind is EventKind.EXPLOIT]
    if not copies:
        return [(at - 1, f"its checkpoint at step {held[at - 1].step}")]
    j = copies[-1]
    copied = (f"the state it copied from member {held[j].data['donor']} at step "
              f"{held[j].step}")
    return [(j, copied)] + [(i, f"its checkpoint at step {held[i].step}")
                            for i in range(j + 1, at)]


def _entry(member: Member, current: int, state: dict[str, Any], held: list[Event],
           states: _States, keep: int) -> dict[str, Any]:
    """The member's entry: `state` is its checkpoint `current`, `held` its READY and EXPLOIT
    events that name a checkpoint, in commit order."""
    entry: dict[str, Any] = {
        "member": member.member_id, "step": member.step,
        "score": member.score if member.score is not None and math.isfinite(member.score)
        else None, "since": None, "since_step": None, "donor": None, "note": None}
    candidates = _candidates(held, current)
    base: dict[str, Any] | None = None
    for n, (i, what) in enumerate(candidates):
        found, _ = states.get(held[i].data["checkpoint_id"])
        if found is None:
            continue
        base = found
        entry.update(since=what, since_step=held[i].step)
        if held[i].kind is EventKind.EXPLOIT:
            entry["donor"] = int(held[i].data["donor"])
        if n:
            entry["note"] = (f"{candidates[0][1]} is no longer stored (each member keeps its "
                             f"last {keep} checkpoints)")
        break
    if base is None:
        entry["note"] = ("its first checkpoint: nothing earlier to compare" if not candidates
                         else f"{candidates[0][1]} is no longer stored (each member keeps "
                              f"its last {keep} checkpoints)")
        base = {k: [] for k in record_lists(state)}
    entry["lists"] = _lists(base, state)
    return entry


def stored_data_state(storage: Storage, row: PopulationRow, members: Sequence[Member],
                      best: int | None) -> dict[str, Any] | None:
    """The section's data (see the module docstring), read from `storage` and the
    population's checkpoints; None for a population whose states are not records, or whose
    best member's checkpoint cannot be read."""
    from popbt.checkpoints import CheckpointStore

    sign = 1.0 if row.settings.mode == "max" else -1.0

    def rank(m: Member) -> tuple[bool, float, int]:
        score = m.score if m.score is not None and math.isfinite(m.score) else None
        return m.member_id != best, math.inf if score is None else -sign * score, m.member_id

    ranked = [(m, current) for m in sorted(members, key=rank)
              if (current := m.checkpoint_id) is not None and m.state is not MemberState.RETIRED]
    if not ranked:
        return None
    try:
        states = _States(storage, row, CheckpointStore(row.checkpoint_root))
    except PopbtError:  # a checkpoint root this machine cannot open
        return None
    first, _ = states.get(ranked[0][1])
    if first is None:
        return None
    entries = []
    for member, current in ranked[:MAX_MEMBERS]:
        state, _ = states.get(current)
        if state is None:
            continue
        held = [e for e in storage.events(row, member_id=member.member_id,
                                          kinds=(EventKind.READY, EventKind.EXPLOIT))
                if e.data.get("checkpoint_id") is not None]
        entries.append(_entry(member, current, state, held, states,
                              row.settings.keep_checkpoints))
    return {"members": entries, "shown": len(entries), "of": len(ranked)}


DATA_STATE_JS = r"""
// The data-state section: what each member's records gained and lost (data:
// popbt.report._data_state).
function drawDataState(d) {
  var section = byId("fig-datastate"), D = d.data_state;
  section.hidden = !D;
  if (!D) return;
  byId("datastate-info").textContent = "Members' states are records. " + D.shown + " of " +
    D.of + " members, best first: the records each one's latest checkpoint has that the " +
    "earlier state named has not (added), and the reverse (removed).";
  var table = clear(byId("datastate-table")), head = html("tr", {}, null, html("thead", {},
                                                                               null, table));
  ["member", "step", "list", "records", "added", "removed", "compared with"].forEach(
    function (c) { html("th", {class: c === "compared with" || c === "list" ? "text" : ""},
                        c, head); });
  var body = html("tbody", {}, null, table), box = clear(byId("datastate-samples"));
  D.members.forEach(function (m, i) {
    m.lists.forEach(function (l) {
      var tr = html("tr", {"data-member": m.member, class: m.member === d.best ? "best" : ""},
                    null, body);
      [m.member, m.step].forEach(function (v) { html("td", {}, fmt(v), tr); });
      html("td", {class: "text"}, l.name, tr);
      [l.size, l.added ? "+" + l.added : "0", l.removed ? "−" + l.removed : "0"].forEach(
        function (v) { html("td", {}, v, tr); });
      html("td", {class: "text"}, (m.since || "nothing") + (m.note ? " (" + m.note + ")" : ""),
           tr);
    });
    var added = 0, removed = 0;
    m.lists.forEach(function (l) { added += l.added; removed += l.removed; });
    var det = html("details", {"data-member": m.member, "data-added": added,
                               "data-removed": removed, class: "datastate-member"}, null, box);
    if (i === 0) det.setAttribute("open", "");
    html("summary", {}, "member " + m.member + (m.member === d.best ? " (best)" : "") +
         ": +" + added + " / −" + removed + " since " + (m.since || "nothing"), det);
    m.lists.forEach(function (l) {
      [["added", l.added, l.added_sample], ["removed", l.removed, l.removed_sample]].forEach(
        function (k) {
          if (!k[1]) return;
          html("p", {class: "hint"}, l.name + ", " + k[0] + " (" + k[1] +
               (k[1] > k[2].length ? ", first " + k[2].length : "") + "):", det);
          var ul = html("ul", {class: "datastate-" + k[0]}, null, det);
          k[2].forEach(function (r) { html("li", {}, null, ul).appendChild(
            html("code", {}, r, null)); });
        });
    });
  });
}
"""
