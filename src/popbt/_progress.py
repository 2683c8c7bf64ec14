"""A one-line live progress display on stderr: steps, best score, exploits, failures (once
there are any), workers, ETA."""

from __future__ import annotations

import sys
import time
from typing import IO, TYPE_CHECKING

from popbt._text import printable
from popbt.records import EventKind

if TYPE_CHECKING:
    from popbt.population import Population


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Redraws at most every `interval_s`; on a non-terminal stream, prints a line every 10 s."""

    def __init__(self, pop: Population, *, enabled: bool | None, workers: int,
                 stream: IO[str] | None = None, interval_s: float = 0.25) -> None:
        self.pop = pop
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.enabled = self.tty if enabled is None else enabled
        self.workers = workers
        self.interval_s = interval_s if self.tty else 10.0
        self.started = time.monotonic()
        self._last = -float("inf")
        self._first_steps: int | None = None

    def update(self, *, workers: int | None = None, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        if workers is not None:
            self.workers = workers
        self.stream.write(("\r\x1b[2K" if self.tty else "") + self.line(now)
                          + ("" if self.tty else "\n"))
        self.stream.flush()

    def line(self, now: float) -> str:
        """The display's text: one line, the population's name with control characters
        escaped (see `popbt._text`)."""
        pop = self.pop
        row = pop.row
        members = pop.members
        target = row.target_steps * len(members)
        done = sum(min(m.step, row.target_steps) for m in members)
        if self._first_steps is None:
            self._first_steps = done
        elapsed = now - self.started
        rate = (done - self._first_steps) / elapsed if elapsed > 0 else 0.0
        eta = _clock((target - done) / rate) if rate > 0 else "--:--:--"
        if pop.settings.objectives:
            volume = pop.hypervolume
            best_text = f"front of {len(pop.front)}" + (
                "" if volume is None else f", hypervolume {volume:.6g}")
        else:
            best = pop.best
            best_text = "best " + ("-" if best is None
                                   else f"{best.score:.6g} (member {best.member_id})")
        exploits = pop.storage.count_events(row, EventKind.EXPLOIT)
        failures = pop.storage.count_events(row, EventKind.FAILURE)
        failing = sum(m.failures > 0 for m in members)
        failure_text = (f"failures {failures} ({failing} members failing now) | "
                        if failures else "")
        pct = 100.0 * done / target if target else 100.0
        return (f"[{printable(pop.name)}] steps {done}/{target} ({pct:.0f}%) | {best_text} "
                f"| exploits {exploits} | {failure_text}workers {self.workers} | "
                f"{_clock(elapsed)} elapsed, ETA {eta}")

    def close(self) -> None:
        if self.enabled:
            self.update(force=True)
            if self.tty:
                self.stream.write("\n")
                self.stream.flush()
