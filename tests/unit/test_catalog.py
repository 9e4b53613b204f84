"""The catalog: seeds' numbers, validation against AWS limits, resolved policies."""

import pytest

from offload.catalog import Backoff, Catalog, CatalogError, JobType, QueueSpec, UnknownJobTypeError
from offload.packs import everything as CATALOG


def test_visibility_timeout_is_six_times_the_function_timeout():
    assert all(q.visibility_timeout_s == 6 * q.timeout_s for q in CATALOG.queues)


def test_oldest_age_alarm_defaults_to_a_visibility_timeout_plus_the_longest_backoff():
    assert QueueSpec("q", concurrency=2, timeout_s=60).oldest_age_alarm_s == 6 * 60 + 900
    short = QueueSpec("q", concurrency=2, timeout_s=5, backoff=Backoff("fixed", 1, max_delay_s=10))
    assert short.oldest_age_alarm_s == 300  # never below five minutes
    assert QueueSpec("q", concurrency=2, max_age_s=120).oldest_age_alarm_s == 120


@pytest.mark.parametrize("max_age_s", [30, 400_000])
def test_an_age_threshold_outside_what_cloudwatch_and_sqs_can_see_is_refused(max_age_s):
    with pytest.raises(CatalogError, match=rf"queue 'q': max_age_s {max_age_s} must be 60\.\.345600"):
        QueueSpec("q", concurrency=2, max_age_s=max_age_s)


def test_backoff_is_capped_and_fixed_backoff_does_not_grow():
    assert Backoff("exponential", 100, max_delay_s=300).delay_for(4) == 300
    assert [Backoff("fixed", 5).delay_for(n) for n in (1, 2, 3)] == [5, 5, 5]
    with pytest.raises(ValueError, match="start at 1"):
        Backoff().delay_for(0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"concurrency": 1}, "maximumConcurrency range 2..1000"),
        ({"concurrency": 5, "batch_size": 11}, "batch_size 11 must be 1..10"),
        ({"concurrency": 5, "timeout_s": 901}, "Lambda's limit"),
        ({"concurrency": 5, "attempts": 11}, "attempts 11 must be 1..max_attempts"),
    ],
)
def test_queue_specs_outside_aws_limits_are_refused_with_the_limit_named(kwargs, message):
    with pytest.raises(CatalogError, match=message):
        QueueSpec("q", **kwargs)


def test_job_type_on_an_unknown_queue_is_refused():
    with pytest.raises(CatalogError, match="unknown queue 'nope'"):
        Catalog(queues=(QueueSpec("q", concurrency=2),), job_types=(JobType("t", queue="nope", processor="m:f"),))


def test_job_type_timeout_longer_than_its_queue_function_is_refused():
    with pytest.raises(CatalogError, match="exceeds its queue's function timeout"):
        Catalog(
            queues=(QueueSpec("q", concurrency=2, timeout_s=10),),
            job_types=(JobType("t", queue="q", processor="m:f", timeout_s=20),),
        )


def test_unknown_job_type_names_the_closest_match():
    with pytest.raises(UnknownJobTypeError, match=r"Did you mean 'diag\.echo'"):
        CATALOG.job_type("diag.ecko")


def test_policy_resolves_queue_then_type_then_job_overrides():
    assert CATALOG.policy("diag.echo").attempts == 3
    assert CATALOG.policy("webhook.deliver").attempts == 5
    assert CATALOG.policy("webhook.deliver", attempts=2).attempts == 2
    assert CATALOG.policy("diag.echo", backoff=Backoff("fixed", 7)).backoff.delay_for(3) == 7
    with pytest.raises(ValueError, match=r"outside 1\.\.10"):
        CATALOG.policy("diag.echo", attempts=50)
