"""The report's section for members whose states are records: what each member's records
gained and lost, from real runs and their checkpoints (and in a real headless Chromium)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import popbt
from data_trainables import ledger_population, stored_state
from popbt.checkpoints import CheckpointStore
from popbt.datastate import canonical, records_diff
from popbt.records import EventKind
from popbt.report import population_data, write_report
from popbt.report._data_state import SAMPLE


def _embedded(page: str) -> dict:
    found = re.search(r'<script id="popbt-data" type="application/json">(.*?)</script>', page,
                      re.S)
    assert found is not None
    return json.loads(found.group(1))


def _last(pop: popbt.Population, member: int, kind: EventKind):
    return [e for e in pop.events(member_id=member, kinds=[kind])][-1]


def test_each_member_shows_what_its_records_gained_and_lost(tmp_path: Path):
    pop = ledger_population(tmp_path, steps=30)
    data = population_data(pop)
    section = data["data_state"]
    assert section is not None and section["shown"] == section["of"] == 4
    entries = section["members"]
    assert entries[0]["member"] == data["best"] == pop.best.member_id
    assert sorted(e["member"] for e in entries) == [0, 1, 2, 3]
    copied = 0
    for entry in entries:
        m = entry["member"]
        member = pop.member(m)
        now = stored_state(pop, member.checkpoint_id)
        held = [e for e in pop.events(member_id=m, kinds=[EventKind.READY, EventKind.EXPLOIT])
                if e.data.get("checkpoint_id") is not None]
        exploits = [i for i, e in enumerate(held) if e.kind is EventKind.EXPLOIT]
        if exploits and held[-1].kind is not EventKind.EXPLOIT:  # copied, then trained
            x = held[exploits[-1]]
            base = stored_state(pop, x.data["checkpoint_id"])
            assert entry["since"] == (f"the state it copied from member {x.data['donor']} at "
                                      f"step {x.step}")
            assert entry["donor"] == x.data["donor"] and entry["since_step"] == x.step
            copied += 1
        elif exploits:  # its latest state is a copy: the change is what the copy replaced
            base = stored_state(pop, held[-2].data["checkpoint_id"])
            assert entry["since"].startswith(f"the state it held at step {held[-2].step}")
        else:
            base = stored_state(pop, held[-2].data["checkpoint_id"])
            assert entry["since"] == f"its checkpoint at step {held[-2].step}"
        assert entry["note"] is None and entry["step"] == member.step
        diff = records_diff(base["rows"], now["rows"])
        (rows,) = entry["lists"]
        assert rows["name"] == "rows" and rows["size"] == len(now["rows"])
        assert (rows["added"], rows["removed"], rows["kept"]) == (
            len(diff.added), len(diff.removed), diff.kept)
        assert rows["added_sample"] == [canonical(r) for r in diff.added[:SAMPLE]]
        assert rows["removed_sample"] == [canonical(r) for r in diff.removed[:SAMPLE]]
        assert rows["kept"] + rows["added"] == rows["size"]
        if entry["donor"] is not None:  # its own work since the copy: its rows in, the oldest out
            assert rows["added"] and all(f'"member":{m},' in r for r in rows["added_sample"])
            assert rows["removed_sample"] == [canonical(r) for r in
                                              base["rows"][:rows["removed"]][:SAMPLE]]
    assert copied >= 1

    page = write_report(pop, tmp_path / "r.html").read_text(encoding="utf-8")
    assert _embedded(page)["data_state"] == json.loads(json.dumps(section))
    assert 'id="fig-datastate"' in page and "function drawDataState" in page
    assert any("✓ ünï" in r for e in section["members"] for lst in e["lists"]
               for r in lst["added_sample"] + lst["removed_sample"])  # Unicode kept


def test_checkpoints_collected_since_are_named_not_fatal(tmp_path: Path):
    pop = ledger_population(tmp_path, keep=1, steps=30)
    section = population_data(pop)["data_state"]
    assert section is not None and len(section["members"]) == 4
    for entry in section["members"]:
        (rows,) = entry["lists"]
        assert rows["size"] == len(stored_state(pop, pop.member(entry["member"])
                                                .checkpoint_id)["rows"])
        if entry["since"] is None:
            assert "is no longer stored (each member keeps its last 1 checkpoints)" in \
                entry["note"]
            assert rows["added"] == rows["size"] and rows["removed"] == 0
    assert any(entry["since"] is None for entry in section["members"])


def test_a_population_whose_states_are_not_records_has_no_section(known_pop: popbt.Population,
                                                                  monkeypatch):
    loads = []
    real = CheckpointStore.load

    def counted(self, path, checksum=None):
        loads.append(path)
        return real(self, path, checksum)

    monkeypatch.setattr(CheckpointStore, "load", counted)
    data = population_data(known_pop)
    assert data["data_state"] is None
    assert data["members"]  # the rest of the report is there
    first = len(loads)
    # a dashboard polls: the best member's state, found not to be data, is not read again
    assert population_data(known_pop)["data_state"] is None and len(loads) == first


@pytest.mark.browser
def test_the_section_is_drawn(browser, tmp_path: Path, artifacts: Path):
    from selenium.webdriver.common.by import By

    pop = ledger_population(tmp_path, steps=30)
    section = population_data(pop)["data_state"]
    path = write_report(pop, artifacts / "data_state_report.html")
    browser.get(path.resolve().as_uri())
    assert browser.find_element(By.ID, "fig-datastate").is_displayed()
    details = browser.find_elements(By.CSS_SELECTOR, "details.datastate-member")
    assert [int(d.get_attribute("data-member")) for d in details] == [
        e["member"] for e in section["members"]]
    for d, entry in zip(details, section["members"], strict=True):
        assert int(d.get_attribute("data-added")) == entry["lists"][0]["added"]
        assert int(d.get_attribute("data-removed")) == entry["lists"][0]["removed"]
    first = details[0]
    assert first.get_attribute("open") is not None
    shown = [c.text for c in first.find_elements(By.CSS_SELECTOR, "ul.datastate-added code")]
    assert shown == section["members"][0]["lists"][0]["added_sample"]
    rows = browser.find_elements(By.CSS_SELECTOR, "#datastate-table tbody tr")
    assert len(rows) == len(section["members"])
    browser.save_screenshot(str(artifacts / "data_state_report.png"))
    assert not [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
