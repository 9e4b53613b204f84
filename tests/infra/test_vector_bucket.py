"""The images pack's S3 Vectors resources in the template: an encrypted vector bucket, a cosine index sized
to the stack's embedder that survives replacement, and grants limited to the bucket's images indexes."""

from __future__ import annotations

import json

from tests.infra.conftest import render, resources_of


def _one(template_json: dict, type_: str) -> tuple[str, dict]:
    (found,) = resources_of(template_json, type_).items()
    return found


def _statements_of_role(template_json: dict, role_part: str) -> list[dict]:
    """Its inline policy's statements and those CDK moved into overflow managed policies."""
    policies = [
        *resources_of(template_json, "AWS::IAM::Policy").values(),
        *resources_of(template_json, "AWS::IAM::ManagedPolicy").values(),
    ]
    return [
        render(s)
        for p in policies
        if any(role_part in json.dumps(r) for r in p["Properties"].get("Roles", []))
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _vector_actions(statements: list[dict]) -> dict[str, list[str]]:
    """s3vectors action -> the resources it is granted on."""
    out: dict[str, list[str]] = {}
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        for action in actions:
            if action.startswith("s3vectors:"):
                out.setdefault(action, []).extend(resources)
    return out


def test_the_vector_bucket_is_encrypted_with_sse_s3_and_retained(template_json: dict) -> None:
    _, bucket = _one(template_json, "AWS::S3Vectors::VectorBucket")
    assert bucket["Properties"]["EncryptionConfiguration"] == {"SseType": "AES256"}
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_the_index_is_cosine_float32_sized_to_the_offline_embedder_and_keeps_its_vectors(template_json: dict) -> None:
    bucket_id, _ = _one(template_json, "AWS::S3Vectors::VectorBucket")
    _, index = _one(template_json, "AWS::S3Vectors::Index")
    props = index["Properties"]
    # No AI key in the default config: the functions embed with MiniLM (384 dimensions).
    assert (props["DataType"], props["Dimension"], props["DistanceMetric"]) == ("float32", 384, "cosine")
    assert props["IndexName"] == "images-all-minilm-l6-v2-onnx-int8-384"
    assert props["VectorBucketArn"] == {"Fn::GetAtt": [bucket_id, "VectorBucketArn"]}
    assert props["MetadataConfiguration"] == {"NonFilterableMetadataKeys": ["description", "thumbnail"]}
    # A new embedder renames the index: CloudFormation replaces it but must not delete the one search uses.
    assert (index["DeletionPolicy"], index["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_the_functions_get_the_vector_bucket_and_backend_in_their_settings(template_json: dict) -> None:
    bucket_id, _ = _one(template_json, "AWS::S3Vectors::VectorBucket")
    functions = resources_of(template_json, "AWS::Lambda::Function")
    (step,) = (f for lid, f in functions.items() if "ImagesPackStep" in lid)
    packs = json.dumps(render(step["Properties"]["Environment"]["Variables"]["OFFLOAD_PACKS"]))
    assert '\\"vector_index\\":\\"s3vectors\\"' in packs and f"<{bucket_id}>" in packs


def test_grants_are_least_privilege_per_function(template_json: dict) -> None:
    bucket_id, _ = _one(template_json, "AWS::S3Vectors::VectorBucket")
    indexes = f"<{bucket_id}.VectorBucketArn>/index/images-*"
    api = _vector_actions(_statements_of_role(template_json, "HttpApi"))
    step = _vector_actions(_statements_of_role(template_json, "ImagesPackStepRole"))
    reindex = _vector_actions(_statements_of_role(template_json, "QueueImagesReindexWorkerRole"))
    starter = _vector_actions(_statements_of_role(template_json, "QueueImagesWorkerRole"))

    assert api == {"s3vectors:QueryVectors": [indexes], "s3vectors:GetVectors": [indexes]}
    for writer in (step, reindex):
        assert set(writer) == {
            "s3vectors:PutVectors",
            "s3vectors:DeleteVectors",
            "s3vectors:GetIndex",
            "s3vectors:CreateIndex",
        }
        assert all(r in (indexes, f"<{bucket_id}.VectorBucketArn>") for rs in writer.values() for r in rs)
    assert starter == {}  # the starter job only starts executions
    all_resources = [r for grants in (api, step, reindex) for rs in grants.values() for r in rs]
    assert "*" not in all_resources


def test_the_reindex_worker_has_the_embedder_layer_and_the_starter_does_not(template_json: dict) -> None:
    layers = resources_of(template_json, "AWS::Lambda::LayerVersion")
    (embed_id,) = (lid for lid in layers if "EmbedLayer" in lid)
    functions = resources_of(template_json, "AWS::Lambda::Function")

    def layer_ids(part: str) -> set[str]:
        (fn,) = (f for lid, f in functions.items() if part in lid and "Worker" in lid)
        return {v["Ref"] for v in fn["Properties"].get("Layers", [])}

    assert embed_id in layer_ids("QueueImagesReindex")
    assert embed_id not in layer_ids("QueueImagesWorker")
