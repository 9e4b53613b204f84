"""The moderation pack in the template: its table, its worker's settings, grants and layers, and the
`moderate` steps it adds to the image and video pipelines (whose step functions may write its records)."""

from __future__ import annotations

import json

from tests.infra.conftest import QueueWiring, render, resources_of


def _policies_of_role(template_json: dict, role_id: str) -> list[dict]:
    return [
        s
        for p in resources_of(template_json, "AWS::IAM::Policy").values()
        if any(r.get("Ref") == role_id for r in p["Properties"]["Roles"])
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _moderation_table_id(template_json: dict) -> str:
    (table_id,) = (t for t in resources_of(template_json, "AWS::DynamoDB::Table") if t.startswith("ModerationPack"))
    return table_id


def _writes_table(statements: list[dict], table_name_ref: str) -> bool:
    """Some statement allows PutItem/UpdateItem on the table whose name is `table_name_ref` (as rendered)."""
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        if "dynamodb:UpdateItem" in actions and any(table_name_ref in str(render(r)) for r in resources):
            return True
    return False


def test_the_moderation_table_is_on_demand_encrypted_and_recoverable(template_json: dict) -> None:
    props = template_json["Resources"][_moderation_table_id(template_json)]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "key", "KeyType": "HASH"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_the_moderation_worker_knows_its_table_and_the_media_records_it_marks(
    wiring: dict[str, QueueWiring], template_json: dict
) -> None:
    worker = wiring["moderation"]
    packs = json.loads(render(worker.function["Properties"]["Environment"]["Variables"]["OFFLOAD_PACKS"]))
    assert set(packs) == {"moderation", "images", "video"}
    assert packs["moderation"]["moderation_table"] == f"<{_moderation_table_id(template_json)}>"
    assert packs["moderation"]["media_bucket"].startswith("<MediaBucket")
    role_id = worker.function["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = _policies_of_role(template_json, role_id)
    for table in (_moderation_table_id(template_json), "ImagesPackImages", "VideoPackVideos"):
        assert _writes_table(statements, table), f"the moderation worker can't write {table}"


def test_both_pipelines_moderate_and_their_step_functions_may_write_moderation_records(template_json: dict) -> None:
    functions = resources_of(template_json, "AWS::Lambda::Function")
    steps = {
        fid: f
        for fid, f in functions.items()
        if f["Properties"].get("Handler")
        in ("offload.packs.images.handler.handler", "offload.packs.video.handler.handler")
    }
    table = _moderation_table_id(template_json)
    for fid, f in steps.items():
        packs = json.loads(render(f["Properties"]["Environment"]["Variables"]["OFFLOAD_PACKS"]))
        assert packs["moderation"]["moderation_table"] == f"<{table}>", fid
    image_step = next(fid for fid in steps if fid.startswith("ImagesPack"))
    video_media = next(fid for fid in steps if fid.startswith("VideoPackMedia"))
    for fid in (image_step, video_media):
        role_id = functions[fid]["Properties"]["Role"]["Fn::GetAtt"][0]
        assert _writes_table(_policies_of_role(template_json, role_id), table), fid
