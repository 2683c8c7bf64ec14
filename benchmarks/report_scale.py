"""Do the report and the dashboard keep up with a large population?

    python benchmarks/report_scale.py            # 1,000 members, about 100,000 events
    python benchmarks/report_scale.py --quick    # a smoke run (50 members; not a result)

Builds a population directly through the storage, one `SQLStorage.write_round` per ready
round (bulk inserts; no training): every member reports a score (a READY event and a score
row), then the bottom 20% by score copy a random member of the top 20% (EXPLOIT) and
perturb its hyperparameters with popbt's own `Perturb` (EXPLORE, ×0.8/×1.2 or resample).
Then it times, on that SQLite file:

- reading the records the report reads (`pop.members`, `pop.events(kinds=EVENT_KINDS)`:
  no READY events, `pop.scores()`), and the extraction alone (`records_data`: score
  series, exploits, lanes, the schedule forest, the best member's lineage);
- `write_report` (read + extract + HTML) and the file's size;
- the dashboard on a free loopback port, over HTTP: the page, the first JSON of the
  population (cold: read + extract + serialise), the same again (cached), a poll that finds
  nothing changed, and the first JSON after one more round was written;
- when Chromium and chromedriver are installed (Debian's `chromium`, `chromium-driver`):
  how long a headless browser takes to load and draw the static report and the dashboard.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import popbt
from popbt.records import EventKind
from popbt.report import Dashboard, records_data, write_report
from popbt.report.data import EVENT_KINDS

SPACE = popbt.Space({"lr": popbt.LogUniform(1e-4, 1e-1), "momentum": popbt.Uniform(0.5, 0.99),
                     "batch_size": popbt.Choice([32, 64, 128, 256])})
CHROMEDRIVER = "/usr/bin/chromedriver"


def _quality(hp: dict[str, Any]) -> float:
    """How fast a member with these hyperparameters improves (best near lr 1e-2)."""
    return 0.01 * (1.0 - abs(np.log10(hp["lr"]) + 2.0) / 2.0) + 0.002 * hp["momentum"]


def write_rounds(pop: popbt.Population, rounds: int, *, start: int, state: dict[str, Any],
                 rng: np.random.Generator) -> None:
    """Append `rounds` ready rounds of synthetic PBT (10 steps each) to `pop`."""
    size = pop.settings.size
    explore = popbt.Perturb()
    hp, score = state["hparams"], state["score"]
    for r in range(start, start + rounds):
        step = (r + 1) * 10
        score += np.array([_quality(h) for h in hp]) + rng.normal(0, 0.01, size)
        scores = [(m, step, pop.settings.fitness.of({"accuracy": float(score[m])}),
                   {"accuracy": float(score[m])}) for m in range(size)]
        events = [(m, step, EventKind.READY, {"score": float(score[m])}) for m in range(size)]
        order = np.argsort(score)
        cut = max(1, size // 5)
        for m in order[:cut]:
            donor = int(rng.choice(order[-cut:]))
            old = hp[m]
            new, ops = explore.explore(hp[donor], SPACE, rng)
            events.append((int(m), step, EventKind.EXPLOIT, {
                "donor": donor, "donor_step": step, "checkpoint_id": None,
                "score": float(score[donor]), "old": old, "new": hp[donor]}))
            events.append((int(m), step, EventKind.EXPLORE,
                           {"old": hp[donor], "new": new, "ops": ops}))
            hp[m], score[m] = new, score[donor]
        members = [{"member_id": m, "step": step, "fitness": scores[m][2],
                    "metrics": scores[m][3], "hparams": hp[m], "last_ready_step": step,
                    "ready_count": r + 1, "state": "done"} for m in range(size)]
        pop.storage.write_round(pop.row, scores=scores, events=events, members=members,
                                snapshot=None, keep=1, now=time.time())
    state["score"] = score


def build(url: str, members: int, rounds: int, seed: int = 0
          ) -> tuple[popbt.Population, dict[str, Any]]:
    """A population of `members` with `rounds` ready rounds written through the storage."""
    pop = popbt.create_population(name="scale", storage=url, space=SPACE, size=members,
                                  metric="accuracy", seed=seed, ready=popbt.Every(steps=10),
                                  exploit=popbt.Truncation(0.2), explore=popbt.Perturb())
    state = {"hparams": [m.hparams for m in pop.members], "score": np.zeros(members)}
    write_rounds(pop, rounds, start=0, state=state, rng=np.random.default_rng(seed))
    return pop, state


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """The median wall time of `repeat` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def fetch(url: str, *, gz: bool = True) -> tuple[float, bytes, int]:
    """Seconds to GET `url` (asking for gzip), the decoded body and the bytes transferred."""
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gz else {})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=120) as resp:
        raw = resp.read()
        body = gzip.decompress(raw) if resp.headers.get("Content-Encoding") == "gzip" else raw
    return time.perf_counter() - t0, body, len(raw)


def browser_times(report: Path, dashboard_url: str) -> list[tuple[str, str]]:
    """Seconds for headless Chromium to load and draw the report and the dashboard."""
    if not Path(CHROMEDRIVER).exists():
        return [("browser", f"skipped: no {CHROMEDRIVER} (apt-get install chromium "
                            f"chromium-driver)")]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    opts = webdriver.ChromeOptions()
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--window-size=1280,1600"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    rows = []
    try:
        for label, url in (("browser: static report, load + draw", report.as_uri()),
                           ("browser: dashboard, load + JSON (cached) + draw", dashboard_url)):
            t0 = time.perf_counter()
            driver.get(url)
            WebDriverWait(driver, 120, poll_frequency=0.02).until(
                lambda d: d.execute_script("return document.body.dataset.rendered"))
            rows.append((label, f"{time.perf_counter() - t0:.2f} s"))
        t0 = time.perf_counter()
        driver.execute_script("var s = document.getElementById('schedule-member');"
                              "s.value = '1'; s.dispatchEvent(new Event('change'));")
        rows.append(("browser: redraw the schedule for another member",
                     f"{(time.perf_counter() - t0) * 1000:.0f} ms"))
    finally:
        driver.quit()
    return rows


def main(argv: Sequence[str] | None = None) -> list[tuple[str, str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="50 members, 10 rounds")
    parser.add_argument("--members", type=int, help="population size (default 1,000)")
    parser.add_argument("--rounds", type=int, help="ready rounds (default 71: ~100,000 events)")
    parser.add_argument("--no-browser", action="store_true", help="skip the browser timings")
    args = parser.parse_args(argv)
    members = args.members or (50 if args.quick else 1000)
    rounds = args.rounds or (10 if args.quick else 71)
    work = Path(tempfile.mkdtemp(prefix="popbt-report-scale-"))
    rows: list[tuple[str, str]] = []
    try:
        url = f"sqlite:///{work / 'scale.db'}"
        t_build, (pop, state) = timed(lambda: build(url, members, rounds))
        t_members, mem = timed(lambda: pop.members, 3)
        t_all, every = timed(pop.events, 3)
        t_events, events = timed(lambda: pop.events(kinds=EVENT_KINDS), 3)
        t_scores, scores = timed(pop.scores, 3)
        rows += [("population", f"{members:,} members, {len(every):,} events, "
                                f"{len(scores):,} scores, {rounds} rounds"),
                 ("build through the storage (write_round per round)", f"{t_build:.2f} s"),
                 ("read every event, for reference: pop.events()", f"{t_all:.3f} s"),
                 ("read what the report reads: pop.members / pop.events(kinds=EVENT_KINDS) "
                  "/ pop.scores()",
                  f"{t_members:.3f} / {t_events:.3f} ({len(events):,} events) / "
                  f"{t_scores:.3f} s")]
        row = pop.row
        t_extract, data = timed(lambda: records_data(
            name=pop.name, storage=pop.storage.safe_url, config=pop.settings.to_config(),
            target_steps=row.target_steps, error=row.error, members=mem, events=events,
            scores=scores), 3)
        rows.append(("extraction alone (records_data)", f"{t_extract:.3f} s "
                     f"({len(data['exploits']['event']):,} exploits, "
                     f"{len(data['changes']['step']):,} schedule changes)"))
        report = work / "report.html"
        t_report, _ = timed(lambda: write_report(pop, report))
        rows.append(("write_report (read + extract + HTML)",
                     f"{t_report:.2f} s, {report.stat().st_size / 2**20:.1f} MiB"))

        board = Dashboard(url, port=0)
        thread = threading.Thread(target=board.serve_forever, daemon=True)
        thread.start()
        try:
            api = f"{board.url}api/population?name=scale"
            t_page, page, _ = fetch(board.url)
            t_cold, body, wire = fetch(api)
            version = json.loads(body)["version"]
            t_warm, _, _ = fetch(api)
            t_same, same, _ = fetch(f"{api}&since={version}")
            assert json.loads(same)["unchanged"] is True
            write_rounds(pop, 1, start=rounds, state=state, rng=np.random.default_rng(1))
            t_changed, changed, _ = fetch(f"{api}&since={version}")
            assert json.loads(changed)["version"] != version
            rows += [("dashboard: page", f"{t_page * 1000:.0f} ms, {len(page) / 1024:.0f} KiB"),
                     ("dashboard: first JSON (cold: read + extract + serialise)",
                      f"{t_cold:.2f} s, {len(body) / 2**20:.1f} MiB "
                      f"({wire / 2**20:.1f} MiB gzipped)"),
                     ("dashboard: same JSON again (cached)", f"{t_warm * 1000:.0f} ms"),
                     ("dashboard: poll, nothing changed", f"{t_same * 1000:.0f} ms"),
                     ("dashboard: poll after one more round", f"{t_changed:.2f} s")]
            if not args.no_browser:
                rows += browser_times(report, board.url + "#scale")
        finally:
            board.shutdown()
            board.server_close()
    finally:
        pop.storage.close()
        shutil.rmtree(work, ignore_errors=True)
    print("| what | result |\n|---|---|")
    for what, result in rows:
        print(f"| {what} | {result} |")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
