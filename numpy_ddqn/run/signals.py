"""SIGINT / SIGTERM as a request to stop: the first one asks for a clean stop, a second one forces it.

One guard for training (``run.runner.Run``) and sweeps (``sweep.run``):

- the first signal sets ``signum`` (and calls ``on_stop``) and prints ``message``: the program stops at
  its next safe point (training: after the current env step, saving ``last.npz``);
- a second signal (SIGINT or SIGTERM) forces the stop: ``StopNow`` is raised in the main thread at once
  if the program is inside an interruptible region (``interruptible = True``: training marks its env
  calls and evaluation, where no agent state is half-written), else as soon as it enters one. A program
  hung in ``env.step()`` is therefore stopped, and the agent it saves is the one between two steps;
- a third signal raises a plain ``KeyboardInterrupt`` wherever the program is (nothing more is saved).

Handlers are installed only from the main thread (Python delivers signals there alone).
"""
from __future__ import annotations

import os
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopNow(KeyboardInterrupt):
    """The forced stop of a second signal; ``signum`` is the first signal's number."""

    def __init__(self, signum):
        super().__init__(f"stopped now by signal {signum}")
        self.signum = signum


class StopOnSignal:
    """While active, SIGINT / SIGTERM ask to stop (see the module docstring).

    Args:
        message: printed to stderr on the first signal (one line), e.g. "stopping after this step; Ctrl-C
            again to stop now"; ``None`` prints nothing.
        on_stop: called (no arguments) on the first signal.
        interruptible: whether a forced stop may land anywhere (``True``, a sweep's driver) or only inside
            regions marked by setting ``interruptible = True`` (``False``, training).
    """

    def __init__(self, message: str | None = None, on_stop=None, interruptible: bool = False):
        self.message, self.on_stop = message, on_stop
        self.signum = None              # the first signal's number, once one arrived
        self.forced = False             # a second signal arrived
        self.interruptible = interruptible
        self._count, self._old = 0, {}

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> bool:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old = {}
        return False

    def _handle(self, signum, frame):
        self._count += 1
        if self._count == 1:
            self.signum = signum
            if self.on_stop is not None:
                self.on_stop()
            if self.message:                # os.write: print() may be mid-write in the interrupted frame
                os.write(2, f"numpy-ddqn: {self.message}\n".encode())
            return
        if self._count > 2:
            raise KeyboardInterrupt
        self.forced = True
        if self.interruptible:
            raise StopNow(self.signum)

    def check(self) -> None:
        """Raise ``StopNow`` if a forced stop is pending (call it on entering an interruptible region)."""
        if self.forced:
            raise StopNow(self.signum)
