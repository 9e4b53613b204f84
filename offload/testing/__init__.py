"""Testing an app's jobs: a moto-backed stack from its catalog, jobs run through the real worker path,
and a loopback OpenAI-compatible server.

In the app's `tests/conftest.py`:

    pytest_plugins = ["offload.testing.fixtures"]

then, in a test:

    def test_greeting(run_job):
        job = run_job("myapp.greet", {"name": "Ada"})
        assert job.status == "completed" and job.result == {"greeting": "Hello, Ada!"}

Fixtures (offload/testing/fixtures.py): `offload_catalog` (the app's catalog, from cdk.json; override
it to test another), `offload_runtime` (a moto stack of that catalog's queues and shared resources),
`run_job` (enqueue, deliver through SQS to the real Worker until the job finishes, return the record)
and `openai_server` (`FakeOpenAIServer`, scripted replies for the openai SDK). Needs the `local`
extra (`pip install "offload[local]"`: moto). Resources a pack's construct makes (the images
pack's bucket and state machine) are not provisioned: test those jobs on `offload local up`.
"""

from __future__ import annotations

from offload.testing.aws import provision
from offload.testing.openai_server import FakeOpenAIServer, Reply
from offload.testing.worker import Pump, run_job

__all__ = ["FakeOpenAIServer", "Pump", "Reply", "provision", "run_job"]
