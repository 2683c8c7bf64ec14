"""SIGTERM as an interruption: `kill PID` (a scheduler's or a container's stop) unwinds a
popbt process like Ctrl-C, so its worker processes are stopped and the member it holds is
given back, instead of the process vanishing with its workers still training. An
interruption is explained on stderr once: whoever says it first marks it (`tell`), and
whoever catches it later asks `told` before saying it again."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_TOLD = "_popbt_told"


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""


def tell(exc: KeyboardInterrupt, line: str) -> None:
    """Print `line` on stderr, explaining the interruption `exc`, and mark `exc` as told."""
    print(line, file=sys.stderr, flush=True)
    setattr(exc, _TOLD, True)


def told(exc: BaseException) -> bool:
    """Whether the interruption `exc` has been explained on stderr already (by `tell`)."""
    return bool(getattr(exc, _TOLD, False))


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"signal {signal.Signals(signum).name}")


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Inside, SIGTERM raises `Terminated` in the main thread; no change in another thread
    or where the program set its own SIGTERM handler."""
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
