"""Payload validation errors name the field, the value and the problem."""

import pytest

from offload.jobs.registry import PayloadError, load_processor, validate_payload
from offload.packs import everything as CATALOG
from offload.settings import Settings, SettingsError


def test_invalid_payload_error_names_field_and_value():
    with pytest.raises(PayloadError) as err:
        validate_payload(CATALOG, "diag.sleep", {"seconds": -3})
    assert "data.seconds" in str(err.value) and "-3" in str(err.value) and "'diag.sleep'" in str(err.value)


def test_missing_required_field_is_named():
    with pytest.raises(PayloadError, match=r"data\.url: Field required"):
        validate_payload(CATALOG, "webhook.deliver", {})


def test_every_catalog_processor_loads_with_a_pydantic_payload_model():
    for jt in CATALOG.job_types:
        assert load_processor(CATALOG, jt.name).payload_model.__name__


def test_settings_from_env_names_the_missing_variables():
    with pytest.raises(SettingsError, match="OFFLOAD_TABLE"):
        Settings.from_env({"OFFLOAD_EVENT_BUS": "b"})


def test_settings_round_trip_through_env():
    s = Settings(
        table="t",
        queues={"default": {"url": "u", "dlq_url": "d"}},
        event_bus="b",
        alert_topic_arn="arn:a",
        payload_bucket="p",
    )
    assert Settings.from_env(s.to_env()) == s


def test_an_unknown_payload_field_is_refused_naming_it():
    with pytest.raises(PayloadError) as err:
        validate_payload(CATALOG, "diag.sleep", {"seconds": 5, "bogus": 1})
    message = str(err.value)
    assert "data.bogus: unknown field (got 1)" in message and "seconds, steps" in message


def test_a_payload_model_that_allows_extras_keeps_them():
    assert validate_payload(CATALOG, "diag.echo", {"anything": [1, 2]}).model_dump() == {"anything": [1, 2]}


def test_the_s3_trigger_payload_validates_against_its_job_type():
    trigger = CATALOG.trigger_for("uploads/images/cat.jpg")
    assert trigger is not None
    data = {"bucket": "media", "key": "uploads/images/cat.jpg", "version_id": "v1", "etag": "e", "size": 10}

    assert validate_payload(CATALOG, trigger.job_type, data)


def test_every_catalog_schedule_sends_data_its_job_type_accepts():
    for schedule in CATALOG.schedules:
        assert validate_payload(CATALOG, schedule.job_type, schedule.data), schedule.name
