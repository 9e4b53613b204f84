"""{{app}}.greet, run through offload's real worker path on a moto stack."""

from __future__ import annotations


def test_greet_says_hello_to_the_name_given(run_job):
    job = run_job("{{app}}.greet", {"name": "Ada"})
    assert job.status == "completed"
    assert job.result == {"greeting": "Hello, Ada!"}
    assert job.progress == 100


def test_greet_refuses_nobody_at_once_without_retrying(run_job):
    job = run_job("{{app}}.greet", {"name": "nobody"})
    assert job.status == "failed"
    assert job.attempts == 1
    assert job.error is not None and "nobody" in job.error.reason
