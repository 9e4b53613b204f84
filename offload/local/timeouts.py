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

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


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


class Invocations:
    """The running invocations that may be stopped. A stop is noticed where it matters (at each call to the
    endpoint and at the invocation's return): past the deadline, or marked by `crash`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_thread: dict[int, Invocation] = {}
        self.timed_out = 0
        self.crashed = 0

    @contextmanager
    def running(self, function: str, timeout_s: float) -> Iterator[Invocation]:
        """Run the body as one invocation of `function` in this thread, stopped after `timeout_s`.

        The body's AWS calls raise FunctionKilled once it is stopped; it is raised here too if it returns
        after it was stopped (the answer of a stopped invocation never counts)."""
        invocation = Invocation(function, threading.get_ident(), timeout_s, time.monotonic() + timeout_s)
        with self._lock:
            self._by_thread[invocation.thread_id] = invocation
        try:
            yield invocation
        finally:
            with self._lock:
                stopped = self._stopped(invocation)
                invocation.finished = True
                self._by_thread.pop(invocation.thread_id, None)
        if stopped:
            raise FunctionKilled(stopped)

    def crash(self, function: str | None = None, *, pick: Callable[[list[Invocation]], list[Invocation]] = list) -> int:
        """Stop the running invocations of `function` (every function: None) as a dying process would;
        `pick` chooses which of them. Returns how many were stopped."""
        with self._lock:
            running = [i for i in self._by_thread.values() if function in (None, i.function) and not i.killed]
            chosen = pick(running)
            for invocation in chosen:
                invocation.killed = f"the function's process crashed ({invocation.function})"
            self.crashed += len(chosen)
            return len(chosen)

    def _stopped(self, invocation: Invocation) -> str | None:
        """Why the invocation is stopped, or None while it may go on (called under the lock)."""
        if invocation.killed is None and not invocation.finished and time.monotonic() >= invocation.deadline:
            invocation.killed = f"Task timed out after {invocation.timeout_s:.2f} seconds ({invocation.function})"
            self.timed_out += 1
        return invocation.killed

    @contextmanager
    def call(self) -> Iterator[None]:
        """Around one call to the local endpoint from this thread: refused once its invocation is stopped, and
        ending in FunctionKilled (after the service did its part) when it is stopped during the call."""
        with self._lock:
            invocation = self._by_thread.get(threading.get_ident())
            if invocation is not None:
                if stopped := self._stopped(invocation):
                    raise FunctionKilled(stopped)
                invocation.in_call += 1
        if invocation is None:
            yield
            return
        try:
            yield
        finally:
            with self._lock:
                invocation.in_call -= 1
                stopped = self._stopped(invocation) if invocation.in_call == 0 else None
        if stopped:
            raise FunctionKilled(stopped)
