"""Ctrl-C on the command line: it always interrupts, and one line says what was kept.

Python raises ``KeyboardInterrupt`` wherever the main thread is when SIGINT arrives. If that is
inside a finaliser (Brian2 frees its objects through weakref callbacks, many times per
simulated batch), Python prints "Exception ignored in ..." with a traceback and carries on as
if nothing happened: the command would finish, or save a result, after the user asked it to
stop. :func:`redelivered_interrupts` catches such a swallowed interrupt and delivers it again a
moment later, when the main thread is back in ordinary code.
"""

from __future__ import annotations

import _thread
import contextlib
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

__all__ = ["redelivered_interrupts", "interrupted_line", "quiet_brian"]

#: Seconds before a swallowed interrupt is delivered again.
REDELIVER_AFTER = 0.05


@contextlib.contextmanager
def redelivered_interrupts(signum: int = signal.SIGINT,
                           raised: type[BaseException] = KeyboardInterrupt) -> Iterator[None]:
    """For the ``with`` block, deliver the signal ``signum`` again whenever a finaliser swallowed
    the exception its handler ``raised`` (``KeyboardInterrupt`` for Ctrl-C; a second swallow is
    caught the same way); other unraisable exceptions go to the hook that was installed before."""
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, raised):
            again = threading.Timer(REDELIVER_AFTER, _thread.interrupt_main, (signum,))
            again.daemon = True
            again.start()
        else:
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


def interrupted_line(command: str, out: Path | None) -> str:
    """The line that says what an interrupted command kept in ``out`` and how to go on."""
    if command == "run" and out is not None and any(out.rglob("metrics.json")):
        return (f"rnn2dynapse run: interrupted; the finished stages are kept in {out}: rerun the same "
                "command to go on from them")
    kept = sorted(out.glob("resume*.pt")) if out is not None and out.is_dir() else []
    if kept:
        return (f"rnn2dynapse {command}: interrupted; kept {', '.join(str(p) for p in kept)} "
                "(the last finished epoch): rerun the same command to resume")
    return f"rnn2dynapse {command}: interrupted; nothing finished was written: rerun the same command to start again"


def quiet_brian() -> None:
    """Keep Brian2's notes about the objects an interrupted run leaves behind (logged when they
    are freed, as the process ends) out of the terminal."""
    logging.getLogger("brian2").setLevel(logging.ERROR)
