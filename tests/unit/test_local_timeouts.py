"""The local cloud stops an invocation at its timeout or on a crash, as Lambda does (offload.local.timeouts)."""

from __future__ import annotations

import threading
import time

import pytest

from offload.local.timeouts import FunctionKilled, Invocations


@pytest.fixture
def invocations():
    return Invocations()


def _busy(seconds: float, invocations: Invocations | None = None) -> None:
    """Work in steps, each followed by an AWS call (as a job reporting progress does) when `invocations`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.005)
        if invocations is not None:
            with invocations.call():
                pass


def test_an_invocation_past_its_timeout_stops_and_its_except_exception_does_not_catch_it(invocations):
    caught = []
    began = time.monotonic()
    with (
        pytest.raises(FunctionKilled, match=r"Task timed out after 0\.20 seconds \(worker\)"),
        invocations.running("worker", 0.2),
    ):
        try:
            _busy(5, invocations)
        except Exception as exc:  # a handler's catch-all: a stopped process runs no handler
            caught.append(exc)
    assert time.monotonic() - began < 1.5
    assert caught == []
    assert invocations.timed_out == 1


def test_an_invocation_that_returns_after_its_timeout_without_a_call_in_between_still_timed_out(invocations):
    with pytest.raises(FunctionKilled, match="timed out"), invocations.running("worker", 0.05):
        _busy(0.2)  # no AWS call: its answer comes back late and does not count


def test_an_invocation_within_its_timeout_returns_and_is_never_stopped_later(invocations):
    with invocations.running("worker", 0.3):
        _busy(0.05)
    _busy(0.5)  # its deadline passes after it finished: nothing is raised in this thread
    assert invocations.timed_out == 0


def test_a_stop_during_an_endpoint_call_lets_the_call_finish_then_refuses_every_later_call(invocations):
    done, later = [], []
    with pytest.raises(FunctionKilled), invocations.running("worker", 0.1):
        try:
            with invocations.call():
                _busy(0.4)  # the service's work, under way when the deadline passes
                done.append("written")
        finally:  # a dead process flushes nothing: the call in its `finally` is refused
            try:
                with invocations.call():
                    later.append("flushed")
            except FunctionKilled:
                pass
    assert done == ["written"]
    assert later == []


def test_a_crash_stops_the_chosen_functions_invocations_and_no_other(invocations):
    outcome: dict[str, str] = {}
    started = threading.Barrier(3)

    def run(name: str) -> None:
        try:
            with invocations.running(name, 30):
                started.wait()
                _busy(1.0, invocations)
            outcome[name] = "returned"
        except FunctionKilled as exc:
            outcome[name] = str(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in ("images", "brief")]
    for t in threads:
        t.start()
    started.wait()
    assert invocations.crash("brief") == 1
    for t in threads:
        t.join()
    assert outcome == {"images": "returned", "brief": "the function's process crashed (brief)"}
    assert invocations.crashed == 1


def test_a_thread_whose_invocation_was_stopped_runs_the_next_one_cleanly(invocations):
    # Stops that land at every point of an invocation's end (in a call, between calls, as it returns)
    # must not leak into the thread's next invocation or its calls.
    stopped = 0
    for i in range(60):
        try:
            with invocations.running("worker", 0.02 + (i % 6) * 0.004):
                _busy(0.03, invocations)
        except FunctionKilled:
            stopped += 1
        with invocations.running("worker", 5), invocations.call():
            _busy(0.001)
    assert stopped > 0
    assert invocations.timed_out == stopped
