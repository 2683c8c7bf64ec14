"""popbt's framework overhead, ready-decision latency and the toy problem end to end.

    python benchmarks/overhead.py            # full run (about 2 minutes)
    python benchmarks/overhead.py --quick    # smoke run (under a minute)

Prints markdown tables on stdout (progress goes to stderr):

1. Framework overhead: a trainable that sleeps a fixed interval per step, ready every step,
   16 members, 2 local worker processes, Truncation(0.25) + Perturb. Ideal time =
   members × intervals per member × interval / workers; overhead = (wall − ideal) / wall,
   wall measured around `Population.train` only (the population already exists). The
   trainable logs when each worker trained, which splits the overhead into start-up (spawn
   → first `train()`), the gap between two `train()` calls of a worker (evaluate,
   checkpoint, report, claim and decision) and the tail (last `train()` → return).
2. Decision latency: one ready → exploit/explore decision with its storage transaction,
   exactly as `SQLStorage.claim` makes it (BEGIN IMMEDIATE, pick, `_decide`, claim, COMMIT), at
   several population sizes, SQLite file on disk. Every member first gets a score from one
   interval of an in-process worker; then training goes on and every decision transaction
   is timed (instrumented on the storage instance, nothing in the library is changed).
3. The paper's toy problem (2 members, 400 steps, ready every 4, in-process) through the
   public API, as `popbt.demos.toy.run_variant` does for "pbt", timed including
   `create_population`; plus one cold process (interpreter + imports + one run).
4. PB2's decision cost: `PB2.explore` alone on a population history of 200 and 1,000 ready
   points (target: p99 <= 50 ms at 1,000), and table 1's setup at the 1-second interval
   with PB2 as the explore (target: overhead < 2 %).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import platform
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import popbt

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    # Spawned worker processes inherit sys.path, so they import `_sleepy` too.
    sys.path.insert(0, str(HERE))

SPACE = popbt.Space({"lr": popbt.LogUniform(1e-4, 1e-1), "momentum": popbt.Uniform(0.8, 0.99)})
OVERHEAD_TARGET = 2.0  # percent, at a 1-second interval
DECISION_TARGET_MS = 10.0  # p99, at 4,096 members
DECISION_TARGET_SIZE = 4096
PB2_TARGET_MS = 50.0  # p99 of one PB2 decision, at 1,000 history points
PB2_TARGET_POINTS = 1000
PB2_POINTS = (200, PB2_TARGET_POINTS)
RAY_QUOTE = ("Ray Tune PBT, 200 steps of the same problem on this machine: about 58 s, of "
             "which about 4–5 s start-up")

FULL = {"intervals": [1.0, 0.1], "rounds": [10, 20], "sizes": [16, 256, 4096],
        "decisions": 300, "toy_runs": 5, "pb2_decisions": 300}
QUICK = {"intervals": [1.0, 0.1], "rounds": [1, 4], "sizes": [16, 256], "decisions": 50,
         "toy_runs": 2, "pb2_decisions": 100}


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def sleepy() -> Any:
    """The `_sleepy` module (beside this file), imported by name so workers can import it."""
    return importlib.import_module("_sleepy")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


# -- machine ---------------------------------------------------------------------------------


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, check=True, capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}{' (uncommitted changes)' if dirty else ''}"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def machine_line() -> str:
    return (f"{usable_cores()} cores ({cpu_model()}), Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}")


def machine_info() -> str:
    import sqlalchemy

    rows = [
        ("cores", f"{usable_cores()} usable of {os.cpu_count()} ({cpu_model()})"),
        ("python", f"{platform.python_version()} ({sys.executable})"),
        ("platform", platform.platform()),
        ("popbt", f"{popbt.__version__}, commit {git_commit()}"),
        ("SQLite / SQLAlchemy / NumPy",
         f"{sqlite3.sqlite_version} / {sqlalchemy.__version__} / {np.__version__}"),
        ("load average at start (1/5/15 min)", load_average()),
    ]
    return table(["machine", ""], rows)


# -- 1. framework overhead -------------------------------------------------------------------


def read_train_log(folder: Path) -> dict[str, list[tuple[float, float, int]]]:
    """Per worker process: its (start, end, steps) train() calls in time order."""
    out: dict[str, list[tuple[float, float, int]]] = {}
    for path in sorted(folder.glob("*.log")):
        calls = []
        for line in path.read_text().splitlines():
            start, end, steps = line.split()
            calls.append((float(start), float(end), int(steps)))
        out[path.stem] = sorted(calls)
    return out


def run_overhead(interval: float, rounds: int, *, members: int, workers: int,
                 workdir: str, explore: popbt.Explore | None = None) -> dict[str, Any]:
    from popbt.population import create_population

    mod = sleepy()
    with tempfile.TemporaryDirectory(prefix="popbt-overhead-", dir=workdir) as tmp:
        logs = Path(tmp) / "train-log"
        logs.mkdir()
        pop = create_population(
            name="overhead", storage=f"sqlite:///{Path(tmp) / 'bench.db'}", space=SPACE,
            size=members, metric="score", seed=0, ready=popbt.Every(steps=1),
            exploit=popbt.Truncation(0.25), explore=explore or popbt.Perturb())
        os.environ[mod.INTERVAL_ENV] = repr(interval)
        os.environ[mod.LOG_ENV] = str(logs)
        try:
            t0 = time.time()
            pop.train(mod.Sleepy, steps=rounds, workers=workers, progress=False)
            t1 = time.time()
        finally:
            del os.environ[mod.INTERVAL_ENV], os.environ[mod.LOG_ENV]
        calls = read_train_log(logs)
        exploits = pop.storage.count_events(pop.row, popbt.EventKind.EXPLOIT)
        pop.storage.close()
    wall = t1 - t0
    ideal = members * rounds * interval / workers
    trained = [c for per in calls.values() for c in per]
    starts = [per[0][0] - t0 for per in calls.values()]
    gaps = [b[0] - a[1] for per in calls.values() for a, b in zip(per, per[1:], strict=False)]
    overshoot = [end - start - interval * steps for start, end, steps in trained]
    startup = statistics.mean(starts) if starts else float("nan")
    return {
        "interval": interval, "rounds": rounds, "members": members, "workers": workers,
        "wall": wall, "ideal": ideal, "overhead": 100 * (wall - ideal) / wall,
        "startup_mean": startup, "startup_max": max(starts, default=float("nan")),
        "overhead_after_startup": 100 * (wall - startup - ideal) / (wall - startup),
        "gap_mean": statistics.mean(gaps) if gaps else float("nan"),
        "gap_p99": pct(gaps, 99) if gaps else float("nan"),
        "tail": t1 - max(end for _, end, _ in trained),
        "overshoot": statistics.mean(overshoot), "processes": len(calls),
        "intervals_trained": sum(steps for _, _, steps in trained),
        "expected_intervals": members * rounds, "exploits": exploits,
    }


def needed_ideal(r: dict[str, Any]) -> str:
    """Estimated ideal time above which the whole-run overhead drops under the target:
    wall ≈ ideal × (1 + gap / interval) + start-up + tail."""
    fixed = r["startup_mean"] + r["tail"]
    room = 1 / (1 - OVERHEAD_TARGET / 100) - 1 - r["gap_mean"] / r["interval"]
    if room <= 0:
        return "never (the per-interval gap alone exceeds it)"
    ideal = fixed / room
    per_member = ideal * r["workers"] / (r["members"] * r["interval"])
    return f"≥ {ideal:.0f} s (≈ {per_member:.0f} intervals per member)"


def overhead_section(args: argparse.Namespace) -> str:
    results = []
    for interval, rounds in zip(args.intervals, args.rounds, strict=True):
        log(f"overhead: interval {interval:g} s, {args.members} members × {rounds} intervals, "
            f"{args.workers} workers (ideal {args.members * rounds * interval / args.workers:.1f}"
            f" s)")
        results.append(run_overhead(interval, rounds, members=args.members,
                                    workers=args.workers, workdir=args.workdir))
    rows, parts, notes = [], [], []
    for r in results:
        steady = 100 * r["gap_mean"] / (r["interval"] + r["gap_mean"])
        target, verdict, steady_verdict = "—", "—", ""
        if r["interval"] == 1.0:
            target = f"< {OVERHEAD_TARGET:g} %"
            verdict = "met" if r["overhead"] < OVERHEAD_TARGET else "**MISSED**"
            steady_verdict = " (met)" if steady < OVERHEAD_TARGET else " (**MISSED**)"
        rows.append([
            f"{r['interval']:g} s", f"{r['members']} × {r['rounds']}", r["workers"],
            f"{r['ideal']:.2f}", f"{r['wall']:.2f}", f"{r['overhead']:.2f} %", target, verdict,
            f"{steady:.2f} %{steady_verdict}"])
        parts.append([
            f"{r['interval']:g} s", f"{r['startup_mean']:.2f} (max {r['startup_max']:.2f})",
            f"{r['tail']:.2f}", f"{ms(r['gap_mean'])} / {ms(r['gap_p99'])}",
            ms(r["overshoot"]), f"{r['overhead_after_startup']:.2f} %", needed_ideal(r),
            f"{r['intervals_trained']} / {r['exploits']}"])
        if r["processes"] != r["workers"]:
            notes.append(f"- interval {r['interval']:g} s: {r['processes']} worker processes "
                         f"trained (expected {r['workers']}): a worker died and was replaced, "
                         f"so this row is not clean.")
    headers = ["interval", "members × intervals", "workers", "ideal s", "wall s", "overhead",
               "target", "verdict", "steady-state overhead per interval"]
    part_headers = ["interval", "start-up s (mean of workers, max)", "tail s",
                    "gap between train() calls ms (mean / p99)", "sleep overshoot ms",
                    "overhead after start-up", f"run length for < {OVERHEAD_TARGET:g} % "
                    f"overall (estimate)", "intervals trained / exploits"]
    text = [
        "## 1. Framework overhead (sleeping trainable, local worker processes)", "",
        f"_{machine_line()}; `{args.command}`_", "",
        table(headers, rows), "",
        "Where the overhead goes:", "",
        table(part_headers, parts), "",
        "- ideal = members × intervals per member × interval / workers; overhead = (wall − "
        "ideal) / wall, wall measured around `pop.train(...)` only (population already "
        "created). Every interval is one step; Truncation(0.25) + Perturb decide at every "
        "ready point.",
        "- steady-state overhead per interval = gap / (interval + gap): the framework's share "
        "of a worker's time once it runs, without the one-off start-up and tail.",
        "- start-up: `pop.train` called → a worker process's first `train()` (set_target, "
        "spawning the process, importing popbt, opening the storage, first claim). tail: last "
        "`train()` ends → `pop.train` returns (last report, workers exit, final checks). "
        "'overhead after start-up' = (wall − mean start-up − ideal) / (wall − mean start-up).",
        "- gap: one worker's time between the end of a `train()` and the start of its next: "
        "evaluate, checkpoint save, report, claim (with a pending ready decision), restore.",
        "- sleep overshoot: how much longer `time.sleep` took than asked, per interval "
        "(training time, not framework overhead, but it is in the wall time).",
        "- run length for the target: ideal time above which wall ≈ ideal × (1 + gap / "
        "interval) + start-up + tail would be under it.",
        "- intervals trained can differ slightly from members × intervals: an exploit copies "
        "the donor's step, which may be behind (or ahead of) the member's own.",
    ]
    return "\n".join(text + notes)


# -- 2. decision latency ---------------------------------------------------------------------


class _Enough(Exception):
    """Raised inside a claim once enough decisions are timed (that transaction rolls back)."""


class DecisionTimer:
    """Times every write transaction of a storage that makes a ready decision, from before
    BEGIN IMMEDIATE to after COMMIT, the `_decide` call alone and its `_peers` read, by
    wrapping those methods on the storage instance (the library is not changed); counts the
    full garbage collections that start inside a decision."""

    def __init__(self, storage: Any, limit: int) -> None:
        self.storage, self.limit = storage, limit
        self.transactions: list[float] = []
        self.bodies: list[float] = []
        self.peers: list[float] = []
        self.full_gcs = 0
        self._inside = False
        self._local = threading.local()
        self._write: Callable[[], Any] = storage._write
        self._decide: Callable[..., None] = storage._decide
        self._peers: Callable[..., Any] = storage._peers
        storage._write = self.write
        storage._decide = self.decide
        storage._peers = self.read_peers
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and info["generation"] == 2 and self._inside:
            self.full_gcs += 1

    def restore(self) -> None:
        gc.callbacks.remove(self._on_gc)
        del self.storage._write, self.storage._decide, self.storage._peers

    @contextlib.contextmanager
    def write(self) -> Iterator[Any]:
        self._local.decided = False
        start = time.perf_counter()
        with self._write() as conn:
            yield conn
        elapsed = time.perf_counter() - start
        self._inside = False
        if self._local.decided:
            self.transactions.append(elapsed)

    def decide(self, *args: Any, **kwargs: Any) -> None:
        if len(self.transactions) >= self.limit:
            raise _Enough
        self._local.decided = True
        self._inside = True
        start = time.perf_counter()
        self._decide(*args, **kwargs)
        self.bodies.append(time.perf_counter() - start)

    def read_peers(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        peers = self._peers(*args, **kwargs)
        self.peers.append(time.perf_counter() - start)
        return peers


def run_decisions(size: int, decisions: int, *, workdir: str) -> dict[str, Any]:
    from popbt.population import create_population
    from popbt.storage.sql import SQLStorage

    mod = sleepy()
    with tempfile.TemporaryDirectory(prefix="popbt-decide-", dir=workdir) as tmp:
        storage = SQLStorage(f"sqlite:///{Path(tmp) / 'bench.db'}")
        started = time.perf_counter()
        pop = create_population(
            name=f"decide-{size}", storage=storage, space=SPACE, size=size, metric="score",
            seed=0, ready=popbt.Every(steps=1), exploit=popbt.Truncation(0.25),
            explore=popbt.Perturb())
        created = time.perf_counter() - started
        # One interval each: every member gets a score and a pending ready decision.
        started = time.perf_counter()
        pop.train(mod.Instant, steps=1, progress=False, lease_s=3600.0)
        seeded = time.perf_counter() - started
        # Train on; the first claim decides every pending member (least advanced, pending
        # first), later ones decide as members report. Stop after `decisions` of them.
        rounds = 2 + -(-decisions // size)
        timer = DecisionTimer(storage, decisions)
        started = time.perf_counter()
        try:
            pop.train(mod.Instant, steps=1 + rounds, progress=False, lease_s=3600.0)
        except _Enough:
            pass
        finally:
            timer.restore()
        timed_s = time.perf_counter() - started
        exploits = storage.count_events(pop.row, popbt.EventKind.EXPLOIT)
        db_bytes = sum(p.stat().st_size for p in Path(tmp).glob("bench.db*"))
        storage.close()
    n = len(timer.transactions)
    txn, body, peers = timer.transactions, timer.bodies[:n], timer.peers[:n]
    return {"size": size, "created": created, "seeded": seeded, "n": len(txn),
            "exploits": exploits, "txn_p50": pct(txn, 50), "txn_p99": pct(txn, 99),
            "txn_max": max(txn), "txn_mean": statistics.mean(txn), "body_p50": pct(body, 50),
            "body_p99": pct(body, 99), "peers_p50": pct(peers, 50), "timed_s": timed_s,
            "full_gcs": timer.full_gcs, "db_mib": db_bytes / 2 ** 20}


def decision_section(args: argparse.Namespace) -> str:
    results = []
    for size in args.sizes:
        log(f"decisions: {size} members, {args.decisions} decisions")
        results.append(run_decisions(size, args.decisions, workdir=args.workdir))
    rows = []
    for r in results:
        target, verdict = "—", "—"
        if r["size"] == DECISION_TARGET_SIZE:
            target = f"p99 < {DECISION_TARGET_MS:g} ms"
            verdict = "met" if r["txn_p99"] * 1e3 < DECISION_TARGET_MS else "**MISSED**"
        rows.append([
            f"{r['size']:,}", f"{r['created']:.2f}",
            f"{r['seeded']:.2f} ({ms(r['seeded'] / r['size'])} ms each)",
            f"{r['n']} ({r['exploits']} exploits)", ms(r["txn_p50"]), ms(r["txn_p99"]),
            ms(r["txn_max"]), target, verdict, ms(r["body_p50"]), ms(r["body_p99"]),
            ms(r["peers_p50"]), r["full_gcs"], f"{r['db_mib']:.1f}"])
    headers = ["members", "create_population s", "scoring every member: 1 interval each, "
               "in-process worker, s", "decisions timed", "p50 ms", "p99 ms", "max ms",
               "target", "verdict", "`_decide` alone p50 ms", "`_decide` alone p99 ms",
               "of which reading peers p50 ms", "full (gen-2) GCs during decisions",
               "db + WAL MiB"]
    text = [
        "## 2. Ready-decision latency (one exploit/explore decision with its transaction)", "",
        f"_{machine_line()}; `{args.command}`_", "",
        table(headers, rows), "",
        "- p50 / p99 / max: one decision transaction exactly as `SQLStorage.claim` runs it: "
        "BEGIN IMMEDIATE, read the population, pick the least-advanced claimable member (a "
        "pending one), `_decide` (refresh the in-process snapshot of the scored members, "
        "Truncation(0.25) + Perturb, copy the donor, write the member and its events), pick "
        "and claim the member to train next, COMMIT. SQLite file on disk (WAL, "
        "synchronous=NORMAL); percentiles by linear interpolation.",
        "- `_decide` alone: the same decisions without BEGIN, the picks, the claim and "
        "COMMIT; reading peers: `SQLStorage._peers` within it (the rows changed since the "
        "last read), the rest being the exploit/explore choice and the writes. Full GCs: "
        "Python's "
        "generation-2 collections that started inside a timed decision (each stalls it).",
        "- decisions are those made while an in-process worker trains a trivial trainable "
        "(ready every step) after every member has one score; at 256 members and more they "
        "are the first members' decisions at their first ready point, with every other "
        "member scored.",
    ]
    return "\n".join(text)


# -- 3. toy problem end to end ---------------------------------------------------------------

_COLD = """
import json, sys, tempfile, time
from pathlib import Path
t0 = time.perf_counter()
from popbt.demos.toy import run_variant
from popbt.storage.sql import SQLStorage
t1 = time.perf_counter()
with tempfile.TemporaryDirectory(prefix="popbt-toy-cold-", dir=sys.argv[2]) as tmp:
    storage = SQLStorage(f"sqlite:///{Path(tmp) / 'toy.db'}")
    run = run_variant("pbt", 0, steps=int(sys.argv[1]), storage=storage)
    storage.close()
t2 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "run": t2 - t1, "first_step": run.first_step}))
"""


def toy_run(seed: int, steps: int, workdir: str) -> tuple[float, Any]:
    from popbt.demos.toy import run_variant
    from popbt.storage.sql import SQLStorage

    with tempfile.TemporaryDirectory(prefix="popbt-toy-", dir=workdir) as tmp:
        started = time.perf_counter()
        storage = SQLStorage(f"sqlite:///{Path(tmp) / 'toy.db'}")
        run = run_variant("pbt", seed, steps=steps, storage=storage)
        elapsed = time.perf_counter() - started
        storage.close()
    return elapsed, run


def toy_section(args: argparse.Namespace) -> str:
    log(f"toy: cold process, then {args.toy_runs} runs of {args.toy_steps} steps")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _COLD, str(args.toy_steps), args.workdir],
                          check=True, capture_output=True, text=True)
    cold_total = time.perf_counter() - started
    cold = json.loads(proc.stdout.strip().splitlines()[-1])
    times, runs = [], []
    for seed in range(args.toy_runs):
        elapsed, run = toy_run(seed, args.toy_steps, args.workdir)
        times.append(elapsed)
        runs.append(run)
    reached = sum(r.first_step is not None for r in runs)
    per_step = statistics.median(times) / args.toy_steps
    rows = [
        [f"popbt, warm process: median of {len(times)} runs (seeds 0–{len(times) - 1})",
         args.toy_steps, f"{statistics.median(times):.2f}",
         f"min {min(times):.2f}, max {max(times):.2f}", "— (already imported)",
         f"{ms(per_step)} ms/step; Q ≥ 1.19 reached in {reached}/{len(runs)}"],
        ["popbt, cold process (seed 0)", args.toy_steps, f"{cold_total:.2f}", "—",
         f"{cold_total - cold['run']:.2f} (interpreter + imports; imports alone "
         f"{cold['imports']:.2f})", f"run alone {cold['run']:.2f} s"],
        ["Ray Tune PBT (**quoted, not measured here**)", 200, "≈ 58", "—", "≈ 4–5",
         "figure quoted in the issue"],
    ]
    headers = ["what", "steps", "time s", "spread s", "start-up s", "notes"]
    text = [
        "## 3. The paper's toy problem end to end (2 members, ready every 4, in-process)", "",
        f"_{machine_line()}; `{args.command}`_", "",
        table(headers, rows), "",
        "- each popbt run: open a new SQLite file in a temporary folder, then "
        "`popbt.demos.toy.run_variant('pbt', seed, ...)`: `create_population`, `pop.train` "
        "with one in-process worker, reading every score back. Timed around all of it.",
        "- cold process: a fresh `python -c` that imports popbt and runs seed 0 once, timed "
        "from outside (interpreter start-up included).",
        f"- {RAY_QUOTE}: quoted, not measured here; note it is for 200 steps, popbt's rows "
        f"are for {args.toy_steps}.",
    ]
    return "\n".join(text)


# -- 4. PB2's decision cost ------------------------------------------------------------------


def pb2_history(points: int, *, members: int = 10, seed: int = 0) -> dict[int, Any]:
    """A population history of `points` ready points (`members` members, as many each, ready
    every 10 steps): hyperparameters drawn from SPACE, kept for five intervals, then explored
    in place; the score changes by a function of them plus noise."""
    from popbt.decisions import MemberHistory, Observation

    rng = np.random.default_rng(seed)
    history = {}
    for m in range(members):
        hparams, score, observations = SPACE.sample(rng), 0.0, []
        for r in range(points // members):
            if r and r % 5 == 0:
                hparams = SPACE.sample(rng)
            score += 1.0 - (np.log10(hparams["lr"]) + 2.0) ** 2 + 0.1 * rng.normal()
            observations.append(Observation(step=10 * r, hparams=hparams, score=score,
                                            fitness=score, metrics={}))
        history[m] = MemberHistory(m, tuple(observations), 0)
    return history


def time_pb2(points: int, decisions: int) -> dict[str, Any]:
    """`PB2().explore` on a history of `points` ready points, `decisions` times."""
    history = pb2_history(points)
    pb2 = popbt.PB2()
    times, labels = [], set()
    for i in range(decisions):
        donor = history[i % len(history)].observations[-1].hparams
        started = time.perf_counter()
        _, ops = pb2.explore(donor, SPACE, np.random.default_rng(i), history=history)
        times.append(time.perf_counter() - started)
        labels.update(ops.values())
    return {"points": points, "n": decisions, "p50": pct(times, 50), "p99": pct(times, 99),
            "max": max(times), "labels": ", ".join(sorted(labels))}


_PB2_CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from overhead import time_pb2
print(json.dumps(time_pb2(int(sys.argv[2]), int(sys.argv[3]))))
"""


def time_pb2_in_worker(points: int, decisions: int) -> dict[str, Any]:
    """`time_pb2` in a new process with one compute thread, as `popbt.Processes` starts
    worker processes (the variables it sets, unless already set)."""
    from popbt.executors.processes import _THREAD_VARS

    env = {**{var: "1" for var in _THREAD_VARS}, **os.environ}
    done = subprocess.run([sys.executable, "-c", _PB2_CHILD, str(HERE), str(points),
                           str(decisions)], check=True, capture_output=True, text=True, env=env)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def pb2_section(args: argparse.Namespace) -> str:
    rows = []
    for points in PB2_POINTS:
        for where, timer in (("worker process (1 compute thread)", time_pb2_in_worker),
                             ("this process (an in-process run)", time_pb2)):
            log(f"pb2: {args.pb2_decisions} decisions on {points} history points, {where}")
            r = timer(points, args.pb2_decisions)
            target, verdict = "—", "—"
            if points == PB2_TARGET_POINTS and where.startswith("worker"):
                target = f"p99 <= {PB2_TARGET_MS:g} ms"
                verdict = "met" if r["p99"] * 1e3 <= PB2_TARGET_MS else "**MISSED**"
            rows.append([f"{points:,}", where, r["n"], ms(r["p50"]), ms(r["p99"]),
                         ms(r["max"]), target, verdict, r["labels"]])
    rounds = dict(zip(args.intervals, args.rounds, strict=True)).get(1.0, args.rounds[0])
    log(f"pb2: overhead at a 1 s interval, {args.members} members × {rounds} intervals")
    o = run_overhead(1.0, rounds, members=args.members, workers=args.workers,
                     workdir=args.workdir, explore=popbt.PB2())
    steady = 100 * o["gap_mean"] / (o["interval"] + o["gap_mean"])
    overhead_row = [f"{o['members']} × {o['rounds']}", o["workers"], f"{o['ideal']:.2f}",
                    f"{o['wall']:.2f}", f"{o['overhead']:.2f} %",
                    f"{steady:.2f} %", f"< {OVERHEAD_TARGET:g} %",
                    "met" if steady < OVERHEAD_TARGET else "**MISSED**",
                    f"{ms(o['gap_mean'])} / {ms(o['gap_p99'])}", o["exploits"]]
    text = [
        "## 4. PB2's decision cost", "",
        f"_{machine_line()}; `{args.command}`_", "",
        table(["history points", "where", "decisions", "p50 ms", "p99 ms", "max ms",
               "target", "verdict", "labels"], rows), "",
        "- one `PB2().explore` call (gather every member's intervals, fit the GP with its "
        "likelihood search, maximise the batch UCB), on a synthetic history of 10 members "
        "(ready every 10 steps; hyperparameters of table 1's space, redrawn every 5 "
        "intervals); the donor is each member in turn, every call with its own generator.",
        "- where: a worker process as `popbt.Processes` starts them (one compute thread: "
        "`OMP_NUM_THREADS`, `MKL_NUM_THREADS`, `OPENBLAS_NUM_THREADS` = 1 unless set), which "
        "is where decisions are made when several workers train; and this process (an "
        "in-process run), where PB2 holds the BLAS to one thread while it fits (on busy "
        "cores a multi-threaded BLAS waits for them). The target is on the former.",
        "",
        table(["members × intervals", "workers", "ideal s", "wall s", "overhead",
               "steady-state overhead per interval", "target", "verdict",
               "gap between train() calls ms (mean / p99)", "exploits"], [overhead_row]), "",
        "- table 1's setup (sleeping trainable, 1-second interval, Truncation(0.25)) with "
        "PB2 as the explore: each decision reads the population's events and fits the GP "
        "in the deciding worker, inside the decision's transaction. The verdict is on the "
        "steady-state overhead (gap / (interval + gap)); the whole-run figure includes "
        "start-up and tail, as in table 1.",
    ]
    return "\n".join(text)


# -- main ------------------------------------------------------------------------------------

SECTIONS: dict[str, Callable[[argparse.Namespace], str]] = {
    "overhead": overhead_section, "decisions": decision_section, "toy": toy_section,
    "pb2": pb2_section}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="popbt framework overhead, ready-decision latency, toy-problem timings "
                    "and PB2's decision cost, printed as markdown tables.")
    parser.add_argument("--quick", action="store_true",
                        help="a fast smoke run: fewer intervals, sizes, decisions and runs "
                             "(defaults below are the full run's; --quick changes those not "
                             "given explicitly)")
    parser.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS),
                        help="which tables to produce (default: all)")
    parser.add_argument("--members", type=int, default=16, help="population size for the "
                        "overhead table (default 16)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the "
                        "overhead table (default 2)")
    parser.add_argument("--intervals", type=float, nargs="+", help="seconds one ready "
                        f"interval sleeps (default {FULL['intervals']})")
    parser.add_argument("--rounds", type=int, nargs="+", help="intervals per member, one per "
                        f"--intervals entry (default {FULL['rounds']}; --quick "
                        f"{QUICK['rounds']})")
    parser.add_argument("--sizes", type=int, nargs="+", help="population sizes for the "
                        f"decision table (default {FULL['sizes']}; --quick {QUICK['sizes']})")
    parser.add_argument("--decisions", type=int, help="decisions timed per size (default "
                        f"{FULL['decisions']}; --quick {QUICK['decisions']})")
    parser.add_argument("--toy-runs", type=int, help="toy runs for the median (default "
                        f"{FULL['toy_runs']}; --quick {QUICK['toy_runs']})")
    parser.add_argument("--toy-steps", type=int, default=400, help="toy steps (default 400)")
    parser.add_argument("--pb2-decisions", type=int, help="PB2 decisions timed per history "
                        f"size (default {FULL['pb2_decisions']}; --quick "
                        f"{QUICK['pb2_decisions']})")
    parser.add_argument("--workdir", default=tempfile.gettempdir(),
                        help="where the temporary SQLite files go (default: the system "
                             "temporary folder)")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if len(args.rounds) != len(args.intervals):
        parser.error("--rounds needs one entry per --intervals entry")
    if args.members < 2 or args.workers < 1 or min(args.sizes) < 2 or args.decisions < 1 \
            or args.toy_runs < 1 or min(args.rounds) < 1 or min(args.intervals) <= 0 \
            or args.pb2_decisions < 1:
        parser.error("sizes and members must be >= 2; counts >= 1; intervals > 0")
    argv_shown = sys.argv[1:] if argv is None else list(argv)
    script = sys.argv[0] if argv is None and sys.argv[0].endswith(".py") \
        else "benchmarks/overhead.py"
    args.command = shlex.join(["python", script, *argv_shown])
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    print("# popbt benchmarks: framework overhead, decision latency, toy problem, PB2\n")
    print(f"Command: `{args.command}`\n")
    print(machine_info() + "\n", flush=True)
    for name in args.sections:
        print(SECTIONS[name](args) + "\n", flush=True)
    print(f"_Total benchmark time {time.perf_counter() - started:.1f} s; load average at end "
          f"(1/5/15 min): {load_average()}._")


if __name__ == "__main__":
    main()
