"""MediaStore's single-request writes on moto's DynamoDB: counters, list appends and set-once fields
of a registered record. Each is one UpdateItem, which DynamoDB applies atomically; moto's backend
is not thread-safe, so these tests write one after another."""

from __future__ import annotations

import boto3
import pytest

from offload.media.records import new_record
from offload.packs.video.store import VideoRecord, VideoStore, create_table_request

TABLE = "offload-test-records"


@pytest.fixture
def store(aws: None) -> VideoStore:
    db = boto3.client("dynamodb", region_name="us-east-1")
    db.create_table(**create_table_request(TABLE))
    videos = VideoStore(db, TABLE)
    videos.register(new_record(VideoRecord, {"bucket": "b", "key": "k"}, kind="live", status="processing"))
    return videos


def test_a_registered_records_counters_count(store: VideoStore) -> None:
    # The record was registered with segments_done = 0: a number DynamoDB's ADD can add to.
    for _ in range(3):
        store.increment("k", "segments_done")
    record = store.get("k")
    assert record is not None and (record.segments_done, record.segments_total) == (3, 0)


def test_appends_add_to_the_end_of_the_list(store: VideoStore) -> None:
    for i in range(3):
        store.append("k", "errors", {"seq": i})
    record = store.get("k")
    assert record is not None and [e["seq"] for e in record.errors] == [0, 1, 2]
    with pytest.raises(ValueError, match="not a list field"):
        store.append("k", "outputs", {})


def test_set_once_keeps_the_first_value(store: VideoStore) -> None:
    first = store.set_once("k", "plan", {"by": "first"})
    second = store.set_once("k", "plan", {"by": "second"})
    assert first is not None and second is not None
    assert first.plan == second.plan == {"by": "first"}


def test_a_finished_record_takes_no_more_writes(store: VideoStore) -> None:
    store.update("k", "completed")
    assert store.increment("k", "segments_done") is None
    assert store.append("k", "errors", {"seq": 1}) is None
    assert store.set_once("k", "plan", {"late": True}) is None
