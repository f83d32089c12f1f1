"""SIGTERM (a scheduler's preemption notice) and SIGINT (Ctrl-C): the command's handler. Inside a stage the
first signal is noted and the stage stops at the end of its batch (``callbacks.signals``), keeping what it has
done; the pipeline then says how to resume."""

from __future__ import annotations

import contextlib
import signal
from types import FrameType
from typing import Iterator

from cep_lightning.errors import CepError

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StageInterrupted(CepError):
    """A stage stopped on a signal after saving its progress; ``exit_code`` is 128 + the signal number."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + signum


class StopRequest:
    """The signal received (if any). Inside a stage the first signal only sets it, so the stage stops at the
    end of its batch; outside a stage, or on a second signal, the command stops at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.in_stage = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.signum is None
        self.signum = signum
        if not (first and self.in_stage):
            raise StageInterrupted(f"stopped by {signal.Signals(signum).name} before the stage saved anything.", signum)

    @contextlib.contextmanager
    def installed(self) -> Iterator["StopRequest"]:
        """Route SIGTERM and SIGINT here for the duration of the command (main thread only)."""
        self.signum = None
        previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
        for sig in SIGNALS:
            signal.signal(sig, self.handle)
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextlib.contextmanager
    def stage(self) -> Iterator[None]:
        self.in_stage = True
        try:
            yield
        finally:
            self.in_stage = False
