"""Lambda's end of an invocation, done locally: a function past its timeout, or crashed, stops there.

On AWS an invocation that runs past the function's timeout is stopped ("Task timed out after N seconds"),
and one whose process dies (out of memory, a segfault) just ends: its code runs no further, nothing it
buffered is sent, and for an SQS event source nothing of the batch is deleted, so every record of it comes
back after the queue's visibility timeout. The local cloud runs functions in its own threads, which cannot
be killed safely (an exception raised into a thread at an arbitrary bytecode can leave a lock held: the
logging module's, moto's). `Invocations` stops them at their next AWS call instead:

- a stopped invocation's next call to the local endpoint (offload.local.inprocess) raises `FunctionKilled`
  before it reaches moto, and so does every call after it: a handler's `finally:` cannot flush what a
  dead process never would have sent;
- a call under way when the invocation is stopped completes (AWS finishes a request whose caller died)
  and raises instead of returning the answer;
- an invocation that returns after it was stopped raises too: its answer never counts.

FunctionKilled derives from BaseException, so a handler's `except Exception` does not catch it, as
nothing catches a killed process. Between its stop and its next AWS call the thread's own work goes on
(a sleep, an HTTP request to a loopback receiver): the stop is as late as that, and reaches AWS as a
stop at that point would. Calls over HTTP from other processes are not affected.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


class FunctionKilled(BaseException):
    """The invocation was stopped: past its timeout, or its process crashed."""


@dataclass
class Invocation:
    """One running invocation of a local function, in the thread that called it."""

    function: str
    thread_id: int
    timeout_s: float
    deadline: float  # time.monotonic()
    killed: str | None = None  # why it was stopped, once it is
    in_call: int = 0  # calls to the endpoint under way in its thread
    finished: bool = False
    serial: int = field(default_factory=itertools.count().__next__)


class Invocations:
    """The running invocations that may be stopped, and the reaper that stops those past their deadline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_thread: dict[int, Invocation] = {}
        self._deadlines: list[tuple[float, int, Invocation]] = []
        self._wake = threading.Condition(self._lock)
        self._stopped = False
        self.timed_out = 0
        self.crashed = 0
        self._reaper = threading.Thread(target=self._reap, name="local-lambda-timeouts", daemon=True)
        self._reaper.start()

    @contextmanager
    def running(self, function: str, timeout_s: float) -> Iterator[Invocation]:
        """Run the body as one invocation of `function` in this thread, stopped after `timeout_s`.

        The body's AWS calls raise FunctionKilled once it is stopped; it is raised here too if it returns
        after it was stopped (the answer of a stopped invocation never counts)."""
        invocation = Invocation(function, threading.get_ident(), timeout_s, time.monotonic() + timeout_s)
        with self._lock:
            self._by_thread[invocation.thread_id] = invocation
            heapq.heappush(self._deadlines, (invocation.deadline, invocation.serial, invocation))
            self._wake.notify()
        try:
            yield invocation
        finally:
            with self._lock:
                invocation.finished = True
                self._by_thread.pop(invocation.thread_id, None)
        if invocation.killed:
            raise FunctionKilled(invocation.killed)

    def kill(self, invocation: Invocation, reason: str) -> bool:
        """Stop a running invocation (at its next AWS call, or as its call under way returns); False if it
        had ended."""
        with self._lock:
            return self._kill(invocation, reason)

    def crash(self, function: str | None = None, *, pick: Callable[[list[Invocation]], list[Invocation]] = list) -> int:
        """Stop the running invocations of `function` (every function: None) as a dying process would;
        `pick` chooses which of them. Returns how many were stopped."""
        with self._lock:
            running = [i for i in self._by_thread.values() if function in (None, i.function) and not i.killed]
            stopped = sum(self._kill(i, f"the function's process crashed ({i.function})") for i in pick(running))
            self.crashed += stopped
            return stopped

    def _kill(self, invocation: Invocation, reason: str) -> bool:
        if invocation.finished or invocation.killed:
            return False
        invocation.killed = reason
        return True

    @contextmanager
    def call(self) -> Iterator[None]:
        """Around one call to the local endpoint from this thread: refused once its invocation is stopped, and
        ending in FunctionKilled (after the service did its part) when it is stopped during the call."""
        with self._lock:
            invocation = self._by_thread.get(threading.get_ident())
            if invocation is not None:
                if invocation.killed:
                    raise FunctionKilled(invocation.killed)
                invocation.in_call += 1
        if invocation is None:
            yield
            return
        try:
            yield
        finally:
            with self._lock:
                invocation.in_call -= 1
                stopped = invocation.killed is not None and invocation.in_call == 0
        if stopped:
            raise FunctionKilled(invocation.killed)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._wake.notify()
        self._reaper.join(timeout=5)

    def _reap(self) -> None:
        with self._lock:
            while not self._stopped:
                now = time.monotonic()
                while self._deadlines and (self._deadlines[0][2].finished or self._deadlines[0][0] <= now):
                    _, _, invocation = heapq.heappop(self._deadlines)
                    reason = f"Task timed out after {invocation.timeout_s:.2f} seconds ({invocation.function})"
                    if not invocation.finished and self._kill(invocation, reason):
                        self.timed_out += 1
                wait = self._deadlines[0][0] - now if self._deadlines else None
                self._wake.wait(timeout=wait)
