"""One command at a time in a run directory: an exclusive ``flock`` on ``<run>/.lock``, held by the writing
process while the command runs its stages. The kernel releases it when that process ends, killed or not, so a
lock left by a dead command is never in the way; the file's text only says who held it last."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from typing import Iterator

from cep_lightning.errors import CepError
from cep_lightning.run.directory import RunDir


class RunInUse(CepError):
    """Another command is working in the run directory."""


@contextlib.contextmanager
def holding(run: RunDir) -> Iterator[None]:
    """Hold the run directory's lock for the block; a RunInUse naming the holder if another command has it."""
    path = run.path / ".lock"
    with path.open("a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise RunInUse(
                f"{run.path} is in use by another command ({holder}). Wait for it to finish, or work in another "
                f"directory (run.dir=...). A command that was killed holds no lock."
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
