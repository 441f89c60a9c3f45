"""The output directory of one command: one writer at a time, nothing left behind.

:func:`claim` creates ``--out`` (refusing an empty name, a file, a directory it cannot
create), takes an exclusive lock on it for the whole command and, when the command ends
(finished, failed or interrupted), removes the lock and, if the command created ``--out`` and
left nothing in it, the directory itself. :func:`use_scratch` points the process's temporary
files (Brian2's log and debug files) into ``--out/tmp`` and removes them when it exits.

The lock is ``fcntl.flock`` on ``OUT/.rnn2dynapse.lock``, which records the holder's PID,
host and command. The kernel drops a flock when its process dies, so the lock file of a
killed run does not block the next one; a second writer while the first runs is refused with
:class:`OutDirBusy` naming the holder.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import shutil
import socket
import tempfile
import warnings
from pathlib import Path
from typing import Iterator

from transfer.files import RunDirError, new_run_dir

__all__ = ["LOCK_NAME", "SCRATCH", "OutDirBusy", "claim", "lock", "remove_if_empty", "use_scratch"]

#: The lock file inside an output directory.
LOCK_NAME = ".rnn2dynapse.lock"
#: The folder inside an output directory that holds the process's temporary files.
SCRATCH = "tmp"


class OutDirBusy(RunDirError):
    """Another command is writing to the same output directory."""


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    return f" ({text})" if text else ""


@contextlib.contextmanager
def lock(out: Path, command: str) -> Iterator[Path]:
    """Hold the exclusive lock of the existing directory ``out`` for the ``with`` block.

    Raises
    ------
    OutDirBusy
        Another live process holds it.
    """
    path = out / LOCK_NAME
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as err:
            raise RunDirError(f"cannot write in {out}: {err.strerror or err}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutDirBusy(f"{out} is in use by another rnn2dynapse run{_holder(path)}; wait for it "
                             "to finish or choose another --out") from None
        try:  # the holder before us may have removed the file between our open and our flock
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}: rnn2dynapse {command}\n".encode())
        yield path
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def remove_if_empty(path: Path, *names: str) -> None:
    """Remove the scratch entries ``names`` inside ``path`` and then ``path`` if it is empty."""
    for name in names:
        shutil.rmtree(path / name, ignore_errors=True)
    with contextlib.suppress(OSError):
        path.rmdir()  # only succeeds when empty


@contextlib.contextmanager
def claim(out: str | Path, command: str) -> Iterator[Path]:
    """Create ``out`` if needed and hold its lock for the ``with`` block; when the block
    ends, remove the lock and, if this call created ``out`` and nothing is in it, ``out``.

    Raises
    ------
    RunDirError
        ``out`` is empty, a file, holds a finished run or cannot be created.
    OutDirBusy
        Another run writes to ``out``.
    """
    existed = Path(out).is_dir() if str(out).strip() else False
    path = new_run_dir(out)
    try:
        with lock(path, command):
            yield path
    finally:
        if not existed:
            remove_if_empty(path)


def use_scratch(out: Path, created: bool) -> None:
    """Point the temporary directory (Brian2's log and debug files, torch's caches) into
    ``out/tmp``; when the process exits (after Brian2's own clean-up, which Brian2 registers
    later, at its import) remove it, and ``out`` too if this command ``created`` it and left it
    empty. Call before Brian2 is imported."""
    scratch = out / SCRATCH
    scratch.mkdir(exist_ok=True)
    tempfile.tempdir = str(scratch.resolve())  # absolute: torch.compile runs its compiler elsewhere
    # On a full disk Brian2's debug log cannot be written: that must not print tracebacks
    # (logging's own) or warnings around the one line that says what failed.
    logging.raiseExceptions = False
    warnings.filterwarnings("ignore", message="Could not (copy script file|delete)")
    if created:
        atexit.register(remove_if_empty, out, SCRATCH)
    else:
        atexit.register(shutil.rmtree, scratch, True)
