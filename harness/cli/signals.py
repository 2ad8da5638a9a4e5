"""Ctrl-C and SIGTERM handling shared by the commands that write (run, score)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

Handler = Callable[[int, FrameType | None], None]


@contextmanager
def interrupts_handled(handler: Handler) -> Iterator[bool]:
    """Route SIGINT and SIGTERM (as sent by `timeout`, containers and CI) to `handler`
    while the block runs; yields whether it could (only the main thread can). A signal the
    caller ignores (a background job of a script) stays ignored; the old handlers return."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = {
        sig: signal.signal(sig, handler)
        for sig in (signal.SIGINT, signal.SIGTERM)
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    try:
        yield True
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
