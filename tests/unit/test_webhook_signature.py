"""Webhook signatures: what receivers verify."""

from offload.jobs.notify import sign, verify

SECRET = "s3cret"
BODY = b'{"event":"job.completed","payload":{"job_id":"1"}}'


def test_a_signature_verifies_with_the_same_secret_and_body():
    assert verify(SECRET, BODY, sign(SECRET, BODY))


def test_a_changed_body_or_secret_does_not_verify():
    header = sign(SECRET, BODY)
    assert not verify(SECRET, BODY + b" ", header)
    assert not verify("other", BODY, header)


def test_an_old_signature_is_refused_as_a_replay():
    header = sign(SECRET, BODY, timestamp=1_000)
    assert not verify(SECRET, BODY, header, now=1_000 + 301)
    assert verify(SECRET, BODY, header, now=1_000 + 299)


def test_a_garbled_header_is_refused_not_raised():
    assert not verify(SECRET, BODY, "nonsense")
    assert not verify(SECRET, BODY, "t=abc,v1=00")
