"""Priority lanes: one more queue per lane, consumed by the queue's worker with the lane's own concurrency."""

from __future__ import annotations

from conftest import QueueWiring, ref_id, resources_of

from offload.packs import everything as CATALOG


def test_each_priority_lane_has_its_own_queue_event_source_and_concurrency(
    template_json: dict, wiring: dict[str, QueueWiring]
) -> None:
    mappings = resources_of(template_json, "AWS::Lambda::EventSourceMapping").values()
    laned = [spec for spec in CATALOG.queues if spec.extra_lanes]
    assert laned, "the catalog declares priority lanes (notifications)"
    for spec in laned:
        w = wiring[spec.name]
        mine = [m["Properties"] for m in mappings if ref_id(m["Properties"]["FunctionName"]) == w.function_id]
        by_queue = {ref_id(m["EventSourceArn"]): m for m in mine}
        assert by_queue[w.queue_id]["ScalingConfig"]["MaximumConcurrency"] == spec.base_lane.concurrency
        lane_queues = {qid: m for qid, m in by_queue.items() if qid != w.queue_id}
        assert sorted(m["ScalingConfig"]["MaximumConcurrency"] for m in lane_queues.values()) == sorted(
            lane.concurrency for lane in spec.extra_lanes
        )
        for qid, m in lane_queues.items():
            queue = template_json["Resources"][qid]["Properties"]
            assert ref_id(queue["RedrivePolicy"]["deadLetterTargetArn"]) == w.dlq_id, "lanes share the queue's DLQ"
            assert queue["VisibilityTimeout"] == w.queue["Properties"]["VisibilityTimeout"]
            assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
