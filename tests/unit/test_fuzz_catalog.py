"""Fuzzing catalog validation: any declaration is either a usable catalog or one CatalogError.

A team writes its catalog by hand; a typo must stop `python app.py` with a sentence naming the
problem, never with a TypeError from deep inside, and never pass to fail later at deploy time.
"""

from __future__ import annotations

import time

from hypothesis import event, given
from hypothesis import strategies as st

from offload.catalog import Backoff, Catalog, CatalogError, JobType, Lane, Pack, QueueSpec, RateLimit, Schedule
from offload.cron import next_fire


def mostly(usual: st.SearchStrategy, *wild: st.SearchStrategy) -> st.SearchStrategy:
    """Usually what a team would write (so catalogs get accepted and checked), now and then anything."""
    anything = st.one_of(*wild)
    return st.integers(0, 11).flatmap(lambda roll: anything if roll == 0 else usual)


names = mostly(
    st.sampled_from(["default", "mail", "media", "a-b", "A", "mail.send", "x1"]),
    st.sampled_from(["", " ", "-x", "a" * 50]),
    st.text(max_size=8),
)


def numbers(low: int, high: int) -> st.SearchStrategy[int]:
    return mostly(st.integers(low, high), st.integers(-5, 20000))


crons = mostly(
    st.sampled_from(["0 2 * * ? *", "0 10 ? * MON *", "0 9 1 * ? *", "*/15 * * * ? *", "0 0 ? * MON-FRI *"]),
    st.lists(
        st.sampled_from(["*", "?", "0", "59", "60", "-1", "1-5", "5-1", "*/0", "*/x", "MON", "JAN", "L", "1,2", ""]),
        min_size=5,
        max_size=7,
    ).map(" ".join),
    st.text(max_size=20),
)


@st.composite
def queue_specs(draw: st.DrawFn) -> QueueSpec:
    kwargs = {
        "name": draw(names),
        "concurrency": draw(numbers(2, 50)),
        "batch_size": draw(numbers(1, 10)),
        "attempts": draw(numbers(1, 5)),
        "timeout_s": draw(numbers(1, 900)),
        "memory_mb": draw(numbers(128, 10240)),
        "max_attempts": draw(numbers(5, 10)),
        "max_age_s": draw(st.none() | numbers(60, 345600)),
        "backoff": Backoff(
            draw(mostly(st.sampled_from(["exponential", "fixed"]), st.just("linear"))),
            draw(mostly(st.floats(0, 60), st.floats(-1, 1e4, allow_nan=False))),
        ),
        "rate_limit": draw(st.none() | st.builds(RateLimit, numbers(1, 100), numbers(1, 3600))),
        "lanes": tuple(
            draw(mostly(st.just([]), st.lists(st.builds(Lane, names, st.integers(-1, 12), numbers(2, 20)), max_size=2)))
        ),
    }
    return QueueSpec(**kwargs)


def _declare(draw: st.DrawFn) -> Catalog:
    queues = tuple(draw(st.lists(queue_specs(), min_size=1, max_size=2)))
    queue_names = [q.name for q in queues] * 12 + ["nowhere"]
    job_types = tuple(
        JobType(
            draw(names),
            draw(st.sampled_from(queue_names)),
            draw(st.sampled_from(["tests.support.processors:count"] * 12 + ["no-colon"])),
            attempts=draw(st.none() | numbers(1, 5)),
            timeout_s=draw(st.none() | numbers(1, 60)),
            priority=draw(mostly(st.integers(0, 10), st.integers(-3, 15))),
        )
        for _ in range(draw(st.integers(1, 2)))
    )
    type_names = [t.name for t in job_types] * 12 + ["missing.type"]
    schedules = tuple(
        Schedule(draw(names), draw(crons), draw(st.sampled_from(type_names))) for _ in range(draw(st.integers(0, 2)))
    )
    return Catalog.compose(Pack(draw(names), queues=queues, job_types=job_types, schedules=schedules))


@given(st.data())
def test_any_declaration_is_a_usable_catalog_or_one_catalog_error(data):
    try:
        catalog = _declare(data.draw)
    except CatalogError as exc:
        assert str(exc).strip()
        event("refused")
        return
    event("accepted")
    # Accepted: everything the stack and the workers will ask of it must hold.
    for queue in catalog.queues:
        assert 1 <= queue.concurrency and 1 <= queue.batch_size <= 10 and 1 <= queue.timeout_s <= 900
        assert queue.name and 128 <= queue.memory_mb <= 10240
    for job_type in catalog.job_types:
        policy = catalog.policy(job_type.name)
        assert 1 <= policy.attempts and 1 <= policy.timeout_s
        assert catalog.queue(job_type.queue).lane_for(job_type.priority) is not None
    for schedule in catalog.schedules:
        assert next_fire(schedule.expression, time.time()) > time.time()
