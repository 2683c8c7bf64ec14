"""The HTML report and the live dashboard in a real headless Chromium (Debian's `chromium`
and `chromium-driver`, installed by tests/system-deps.sh; driven by selenium, which is
pointed at /usr/bin/chromedriver so that it never downloads anything)."""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import pytest

import popbt
from popbt.records import EventKind
from popbt.report import Dashboard, population_data, write_report
from popbt.report.cli import cmd_dashboard
from trainables import SPACE, Quadratic

pytestmark = pytest.mark.browser
OPS = {"×0.8", "×1.2", "resample"}


def _wait(driver, condition, timeout: float = 10.0) -> None:
    """Wait until `condition(driver)`; elements redrawn meanwhile are looked up again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.05,
                  ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def _rendered(driver) -> int:
    return int(driver.execute_script("return document.body.dataset.rendered || 0"))


def _all(driver, selector: str) -> list:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def _counted(driver, selector: str) -> int:
    """The sum of `data-count` over the elements (grouped marks and edges)."""
    return sum(int(e.get_attribute("data-count")) for e in _all(driver, selector))


def _errors(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _members(driver, selector: str) -> list[int]:
    return sorted(int(e.get_attribute("data-member")) for e in _all(driver, selector))


def test_the_report_draws_the_known_population(browser, known_pop: popbt.Population,
                                               artifacts: Path):
    from selenium.webdriver.support.ui import Select

    size = known_pop.settings.size
    exploits = len(known_pop.events(kinds=[EventKind.EXPLOIT]))
    best = known_pop.best.member_id
    path = write_report(known_pop, artifacts / "known-report.html")
    browser.get(path.as_uri())
    _wait(browser, lambda d: _rendered(d) >= 1)

    assert browser.title == "popbt · known"
    assert _members(browser, ".score-line") == list(range(size))
    assert _counted(browser, ".exploit-mark") == exploits > 0
    assert _members(browser, ".lineage-lane") == list(range(size))
    assert _counted(browser, ".lineage-edge") == exploits
    [ancestry] = _all(browser, ".ancestry")
    assert int(ancestry.get_attribute("data-count")) == len(known_pop.lineage(best))
    assert int(ancestry.get_attribute("data-member")) == best
    assert _counted(browser, ".initial-mark") == _counted(browser, ".final-mark") == size
    assert len(_all(browser, "#member-table tbody tr")) == size
    assert _all(browser, "#member-table tr.best")[0].get_attribute("data-member") == str(best)
    assert "size" in [th.text for th in _all(browser, "#settings-table th")]
    heads = [th.text.split(" ")[0] for th in _all(browser, "#member-table th")]
    assert heads[3:6] == ["score", "steps", "x"]  # the metric, then the other values
    summary = _all(browser, "#summary")[0]
    assert summary.get_attribute("data-exploits") == str(exploits)
    assert summary.get_attribute("data-max-step") == str(max(m.step for m in known_pop.members))

    # the best member's schedule: one panel per hyperparameter, its operations labelled
    panels = _all(browser, "#schedule-panels")[0]
    assert panels.get_attribute("data-member") == str(best)
    assert [p.get_attribute("data-hparam") for p in _all(browser, ".schedule-panel")] == \
        list(SPACE)
    labels = {t.text for t in _all(browser, ".schedule-op")}
    expected = {op for step, _ in known_pop.schedule(best)[1:] for seg in
                known_pop.lineage(best) for e in seg.events
                if e.kind is EventKind.EXPLORE and e.step == step for op in e.data["ops"].values()}
    assert expected and expected <= labels
    assert labels <= OPS | {f"← {m}" for m in range(size)}
    # nothing fetched: the page is self-contained
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    browser.save_screenshot(str(artifacts / "report.png"))

    # choosing another member redraws the schedule
    other = next(m for m in range(size) if known_pop.schedule(m) != known_pop.schedule(best))
    before = [p.get_attribute("d") for p in _all(browser, ".schedule-line")]
    Select(_all(browser, "#schedule-member")[0]).select_by_value(str(other))
    _wait(browser, lambda d: panels.get_attribute("data-member") == str(other))
    assert [p.get_attribute("d") for p in _all(browser, ".schedule-line")] != before
    # and so does clicking a member's lane in the lineage tree
    lane = _all(browser, f'.lineage-lane[data-member="{best}"]')[0]
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', "
                           "{bubbles: true}))", lane)
    _wait(browser, lambda d: panels.get_attribute("data-member") == str(best))
    assert _errors(browser) == []


def test_the_report_draws_a_league(browser, tmp_path: Path, artifacts: Path,
                                   known_pop: popbt.Population):
    from test_report_league import trained_league

    pop = trained_league(tmp_path)
    league = population_data(pop)["league"]
    browser.get(write_report(pop, artifacts / "league-report.html").as_uri())
    _wait(browser, lambda d: _rendered(d) >= 1)
    assert _all(browser, "#fig-league")[0].is_displayed()
    assert _members(browser, ".rating-line") == [0, 1, 2]
    entries = [p["key"] for p in league["players"] if p["frozen"]]
    assert sorted(e.get_attribute("data-key") for e in _all(browser, ".entry-dot")) == \
        sorted(entries)
    cells = _all(browser, ".payoff-cell")
    n = len(league["payoff"]["keys"])
    assert len(cells) == n * n
    shown = {(c.get_attribute("data-row"), c.get_attribute("data-col")):
             c.get_attribute("data-mean") for c in cells}
    keys, mean = league["payoff"]["keys"], league["payoff"]["mean"]
    for i, a in enumerate(keys):
        for j, b in enumerate(keys):
            value = shown[(a, b)]
            assert (value == "") if mean[i][j] is None else float(value) == \
                pytest.approx(mean[i][j])
    assert len(_all(browser, "#faced-table tbody tr")) == 3
    browser.save_screenshot(str(artifacts / "league.png"))
    assert _errors(browser) == []
    browser.get(write_report(known_pop, artifacts / "no-league.html").as_uri())
    _wait(browser, lambda d: _rendered(d) >= 1)
    assert not _all(browser, "#fig-league")[0].is_displayed()
    assert _errors(browser) == []


def test_the_dashboard_lists_populations_and_follows_training(
        browser, make_known, tmp_path: Path, artifacts: Path):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    pop = make_known(url, name="live", steps=20)
    make_known(url, name="other", steps=10)
    popbt.create_population(name="fresh", storage=url, space=SPACE, size=3, metric="score",
                            ready=popbt.Every(steps=5))  # nothing reported yet
    board = Dashboard(url, port=0, poll_s=0.3)
    threading.Thread(target=board.serve_forever, daemon=True).start()
    try:
        browser.get(board.url + "#live")
        _wait(browser, lambda d: _rendered(d) >= 1)
        summary = _all(browser, "#summary")[0]  # its attributes change, the element stays
        assert summary.get_attribute("data-max-step") == "20"
        assert [a.get_attribute("data-name") for a in _all(browser, "#populations a")] == \
            ["live", "other", "fresh"]
        assert _all(browser, "#populations a.active")[0].get_attribute("data-name") == "live"
        assert _members(browser, ".score-line") == list(range(pop.settings.size))
        assert _counted(browser, ".lineage-edge") == \
            len(pop.events(kinds=[EventKind.EXPLOIT]))

        pop.train(Quadratic, steps=40, workers=1, progress=False)  # workers report more
        started = time.monotonic()
        _wait(browser, lambda d: summary.get_attribute("data-max-step") == "40", timeout=10)
        assert time.monotonic() - started < 10
        exploits = len(pop.events(kinds=[EventKind.EXPLOIT]))
        _wait(browser, lambda d: _counted(d, ".lineage-edge") == exploits)
        assert summary.get_attribute("data-exploits") == str(exploits)
        browser.save_screenshot(str(artifacts / "dashboard.png"))

        _all(browser, '#populations a[data-name="other"]')[0].click()
        _wait(browser, lambda d: d.title == "popbt · other")
        _wait(browser, lambda d: _all(d, "#summary")[0].get_attribute("data-max-step") == "10")
        _all(browser, '#populations a[data-name="fresh"]')[0].click()
        _wait(browser, lambda d: d.title == "popbt · fresh")
        assert _members(browser, ".lineage-lane") == [0, 1, 2]
        assert "no score yet" in _all(browser, "#summary")[0].text
        assert _errors(browser) == []
    finally:
        board.shutdown()
        board.server_close()


def test_a_non_loopback_host_needs_the_flag(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'remote.db'}"
    popbt.create_population(name="r", storage=url, space=SPACE, size=2, metric="score",
                            ready=popbt.Every(steps=5))  # the dashboard creates no storage
    with pytest.raises(popbt.ConfigError, match="not a loopback address"):
        Dashboard(url, host="0.0.0.0", port=0)
    args = argparse.Namespace(storage=url, host="0.0.0.0", port=0, allow_remote=False)
    with pytest.raises(popbt.ConfigError, match="--allow-remote"):
        cmd_dashboard(args)
    board = Dashboard(url, host="0.0.0.0", port=0, allow_remote=True)
    try:
        assert board.server_address[1] > 0
    finally:
        board.server_close()
    for host in ("127.0.0.1", "localhost", "::1"):
        Dashboard(url, host=host, port=0).server_close()


def test_a_mixture_is_drawn_as_stacked_areas(browser, tmp_path: Path, artifacts: Path):
    from trainables import MIX_SPACE, Mixture

    pop = popbt.create_population(name="mixture", storage=f"sqlite:///{tmp_path / 'm.db'}",
                                  space=MIX_SPACE, size=6, metric="score", seed=1,
                                  ready=popbt.Every(steps=5))
    pop.train(Mixture, steps=60, workers=1, progress=False)
    best = pop.best.member_id
    browser.get(write_report(pop, artifacts / "mixture-report.html").as_uri())
    _wait(browser, lambda d: _rendered(d) >= 1)
    assert not _errors(browser)
    panel = _all(browser, '.schedule-panel[data-hparam="mix"]')[0]
    areas = panel.find_elements("css selector", ".schedule-area")
    assert [a.get_attribute("data-component") for a in areas] == ["web", "code", "books"]
    assert all(a.get_attribute("d") for a in areas)
    # the areas stack to the top of the panel: the last one's upper edge is the line y = 1
    tops = browser.execute_script(
        "var b = arguments[0].getBBox(); return [b.y, b.height];", areas[-1])
    first = browser.execute_script("return arguments[0].getBBox().y;", areas[0])
    assert tops[0] < first
    explores = [e for seg in pop.lineage(best) for e in seg.events
                if e.kind is EventKind.EXPLORE and "mix" in e.data["ops"]]
    labels = {t.text for t in panel.find_elements("css selector", ".schedule-op")}
    assert not explores or labels & {"near", "resample"}
    browser.save_screenshot(str(artifacts / "mixture-report.png"))


def test_a_multi_objective_population_shows_its_fronts_and_hypervolume(
        browser, tmp_path: Path, artifacts: Path):
    from trainables import TRADE_SPACE, TradeOff

    pop = popbt.create_population(name="trade", storage=f"sqlite:///{tmp_path / 't.db'}",
                                  space=TRADE_SPACE, size=8, seed=2, ready=popbt.Every(steps=5),
                                  objectives=[("left", "max", 0.0), ("right", "max", 0.0)])
    pop.train(TradeOff, steps=60, workers=1, progress=False)
    front = pop.front
    browser.get(write_report(pop, artifacts / "objectives-report.html").as_uri())
    _wait(browser, lambda d: _rendered(d) >= 1)
    assert not _errors(browser)
    assert _all(browser, "#fig-objectives")[0].is_displayed()
    assert _members(browser, ".front-member") == sorted(m.member_id for m in front)
    assert len(_all(browser, ".front-member")) + len(_all(browser, ".front-other")) == 8
    [now] = _all(browser, ".front-line")
    assert int(now.get_attribute("data-count")) == len(front)
    assert [int(e.get_attribute("data-step")) for e in _all(browser, ".front-earlier")] == \
        [15, 30, 45]
    [curve] = _all(browser, ".hypervolume-line")
    assert int(curve.get_attribute("data-count")) == len(pop.events(
        kinds=[EventKind.READY]))
    assert f"front of {len(front)}" in _all(browser, "#summary")[0].text
    browser.save_screenshot(str(artifacts / "objectives-report.png"))
    # a population of one metric has no such section
    browser.get(write_report(popbt.create_population(
        name="one", storage=f"sqlite:///{tmp_path / 'o.db'}", space=TRADE_SPACE, size=2,
        metric="left", ready=popbt.Every(steps=5)), artifacts / "one-report.html").as_uri())
    _wait(browser, lambda d: _rendered(d) >= 1)
    assert not _all(browser, "#fig-objectives")[0].is_displayed()
