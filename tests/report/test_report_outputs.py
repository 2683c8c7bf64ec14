"""The report's outputs without a browser: the HTML file, the matplotlib figures, the CLI
functions, the dashboard's HTTP answers, its secrecy, and the scale benchmark's quick run."""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import popbt
from popbt.records import EventKind
from popbt.report import (
    Dashboard,
    plot_lineage,
    plot_schedule,
    plot_scores,
    population_data,
    render_html,
    write_report,
)
from popbt.report.cli import cmd_report
from trainables import SPACE, Quadratic

ROOT = Path(__file__).resolve().parent.parent.parent


def _embedded(page: str) -> dict:
    found = re.search(r'<script id="popbt-data" type="application/json">(.*?)</script>', page,
                      re.S)
    assert found is not None
    return json.loads(found.group(1))


def test_the_report_is_one_self_contained_file(known_pop: popbt.Population, tmp_path: Path):
    path = write_report(known_pop, tmp_path / "r.html", member=2)
    page = path.read_text(encoding="utf-8")
    assert _embedded(page) == json.loads(json.dumps(population_data(known_pop)))
    assert '<script id="popbt-member" type="application/json">2</script>' in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    # no link, script or stylesheet to fetch; the only URL is the SVG namespace's name
    assert not re.search(r'\b(src|href)\s*=\s*"(?!data:|#)', page)
    assert set(re.findall(r"https?://[^\s\"'<]+", page)) == {"http://www.w3.org/2000/svg"}
    for figure in ("scores-svg", "schedule-panels", "lineage-svg", "member-table",
                   "settings-table"):
        assert f'id="{figure}"' in page
    with pytest.raises(popbt.ConfigError, match="member 6 does not exist"):
        write_report(known_pop, tmp_path / "bad.html", member=6)


def test_names_and_values_cannot_break_out_of_the_page():
    data = {"name": "<b>&</script><script>alert(1)</script>", "members": []}
    page = render_html(data)
    assert "<title>popbt · &lt;b&gt;&amp;&lt;/script&gt;" in page
    assert page.count("</script>") == 3  # the data's, the member's and the script's own
    assert _embedded(page) == data


def test_the_figures_in_matplotlib(known_pop: popbt.Population, tmp_path: Path):
    data = population_data(known_pop)
    exploits = len(data["exploits"]["event"])
    fig = plot_scores(known_pop, tmp_path / "scores.png")
    assert (tmp_path / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    [ax] = fig.axes
    assert len(ax.collections[0].get_segments()) >= len(data["members"])
    assert len(ax.collections[1].get_offsets()) == exploits  # the exploit marks
    fig = plot_lineage(data, tmp_path / "lineage.svg")
    assert "<svg" in (tmp_path / "lineage.svg").read_text()
    lanes, edges = fig.axes[0].collections[:2]
    assert len(edges.get_segments()) == exploits
    assert len(lanes.get_segments()) == len(data["members"]) + exploits
    best = data["best"]
    fig = plot_schedule(data, best, tmp_path / "schedule.pdf")
    assert (tmp_path / "schedule.pdf").read_bytes()[:4] == b"%PDF"
    assert [ax.get_ylabel() for ax in fig.axes] == list(SPACE)
    labels = {t.get_text() for ax in fig.axes for t in ax.texts}
    ops = {op for step, _ in known_pop.schedule(best)[1:] for seg in known_pop.lineage(best)
           for e in seg.events if e.kind is EventKind.EXPLORE and e.step == step
           for op in e.data["ops"].values()}
    assert ops and ops <= labels
    assert plot_scores(data) is not None  # no path: nothing saved, a figure returned
    with pytest.raises(popbt.ConfigError, match="member -1 does not exist"):
        plot_schedule(data, -1)


def test_plots_name_the_extra_when_matplotlib_is_missing(monkeypatch: pytest.MonkeyPatch,
                                                         known_pop: popbt.Population):
    data = population_data(known_pop)
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'popbt\[plot\]'"):
        plot_lineage(data)


def test_cmd_report(known_pop: popbt.Population, tmp_path: Path,
                    capsys: pytest.CaptureFixture):
    url = known_pop.storage.url
    out = tmp_path / "cli.html"
    args = argparse.Namespace(storage=url, name=None, output=str(out), member=None)
    assert cmd_report(args) == 0
    assert _embedded(out.read_text())["name"] == "known"
    assert f"report of known: {out}" in capsys.readouterr().err
    with pytest.raises(popbt.ConfigError, match=r"no population 'nope'.*\['known'\]"):
        cmd_report(argparse.Namespace(storage=url, name="nope", output=str(out), member=None))
    with pytest.raises(popbt.ConfigError, match="member 9 does not exist"):
        cmd_report(argparse.Namespace(storage=url, name="known", output=str(out), member=9))
    with pytest.raises(popbt.ConfigError, match="cannot write the report"):
        cmd_report(argparse.Namespace(storage=url, name="known", member=None,
                                      output=str(tmp_path / "no" / "such" / "dir.html")))


@pytest.fixture
def board(make_known, tmp_path: Path) -> Iterator[Dashboard]:
    url = f"sqlite:///{tmp_path / 'board.db'}"
    make_known(url, name="a", steps=10)
    server = Dashboard(url, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _get(url: str, headers: dict[str, str] | None = None,
         method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_the_dashboards_json(board: Dashboard):
    status, headers, page = _get(board.url)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b'id="popbt-live"' in page and b'<script id="popbt-data"' not in page
    assert json.loads(_get(board.url + "api/populations")[2]) == [
        {"name": "a", "size": 6, "metric": "score", "mode": "max", "target_steps": 10,
         "error": None}]
    status, headers, body = _get(board.url + "api/population?name=a",
                                 {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    first = json.loads(gzip.decompress(body))
    assert first["data"]["name"] == "a" and first["data"]["max_step"] == 10
    since = f"api/population?name=a&since={first['version']}"
    assert json.loads(_get(board.url + since)[2]) == {"name": "a", "version": first["version"],
                                                      "unchanged": True}
    pop = popbt.load_population(name="a", storage=board.storage)
    pop.train(Quadratic, steps=15, workers=1, progress=False)
    after = json.loads(_get(board.url + since)[2])
    assert after["version"] != first["version"] and after["data"]["max_step"] == 15
    assert _get(board.url + "api/population?name=zz")[0] == 404
    assert _get(board.url + "nothing")[0] == 404
    assert _get(board.url, method="POST")[0] == 501  # read only
    status, _, body = _get(board.url + "api/populations", {"Host": "evil.example:80"})
    assert status == 403 and b"loopback" in body  # no DNS rebinding


def test_requests_get_the_last_data_at_once_while_it_is_extracted_again(board: Dashboard):
    first = json.loads(_get(board.url + "api/population?name=a")[2])
    pop = popbt.load_population(name="a", storage=board.storage)
    pop.train(Quadratic, steps=15, workers=1, progress=False)
    lock = board._locks["a"]
    assert lock.acquire(timeout=10)  # as if a slow extraction were under way
    try:
        started = time.monotonic()
        during = json.loads(_get(board.url + "api/population?name=a")[2])
        assert time.monotonic() - started < 5
        assert during["version"] == first["version"]  # the previous data, not a wait
    finally:
        lock.release()
    after = json.loads(_get(board.url + "api/population?name=a")[2])
    assert after["data"]["max_step"] == 15


@pytest.mark.postgres
def test_no_password_in_the_dashboard_or_report(pg_url: str, tmp_path: Path):
    from pgserver import PASSWORD

    pop = popbt.create_population(name="pg", storage=pg_url, space=SPACE, size=4,
                                  metric="score", ready=popbt.Every(steps=5),
                                  checkpoints=tmp_path / "ckpt")
    pop.train(Quadratic, steps=10, workers=1, progress=False)
    assert PASSWORD not in write_report(pop, tmp_path / "pg.html").read_text()
    board = Dashboard(pg_url, port=0)
    threading.Thread(target=board.serve_forever, daemon=True).start()
    try:
        bodies = [_get(board.url + path)[2].decode()
                  for path in ("", "api/populations", "api/population?name=pg")]
    finally:
        board.shutdown()
        board.server_close()
    assert all(PASSWORD not in body for body in bodies)
    assert json.loads(bodies[2])["data"]["storage"].startswith("postgresql+psycopg://popbt:***@")


def test_the_scale_benchmarks_quick_run(capsys: pytest.CaptureFixture):
    spec = importlib.util.spec_from_file_location("report_scale",
                                                  ROOT / "benchmarks" / "report_scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = dict(module.main(["--quick", "--no-browser"]))
    assert rows["population"].startswith("50 members")
    assert "dashboard: first JSON (cold: read + extract + serialise)" in rows
    assert "| extraction alone (records_data) |" in capsys.readouterr().out


def test_the_popbt_command_writes_reports_and_guards_the_dashboard(known_pop: popbt.Population,
                                                                   tmp_path: Path):
    import subprocess

    url = known_pop.storage.url
    out = tmp_path / "cmd.html"
    done = subprocess.run([sys.executable, "-m", "popbt", "report", "--storage", url,
                           "--name", "known", "-o", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert _embedded(out.read_text())["name"] == "known"
    done = subprocess.run([sys.executable, "-m", "popbt", "dashboard", "--storage", url,
                           "--host", "0.0.0.0"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--allow-remote" in done.stderr, done.stderr
