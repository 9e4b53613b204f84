"""Moderation decisions, the local moderator's honesty, the pack's options and which pipelines get the step."""

from __future__ import annotations

from typing import Literal

import pytest

from offload.ai.moderation import LOCAL_IMAGE_REASON, LocalModerator, ModerationResult, decide, threshold_of
from offload.catalog import Catalog
from offload.packs import core, images, moderation, moderation_pack, video
from offload.packs.images import pipeline_steps
from offload.packs.moderation.options import ModerationOptions
from offload.packs.moderation.service import ModerationError, resolve_subject
from offload.packs.moderation.store import MACHINE_SOURCES, MODERATION_LIFECYCLE


def result(
    scores: dict[str, float], checked: list[str] | None = None, kind: Literal["text", "image"] = "text"
) -> ModerationResult:
    return ModerationResult(
        provider="openai",
        model="omni-moderation-latest",
        input=kind,
        scores=scores,
        checked=list(scores) if checked is None else checked,
    )


def test_a_score_at_its_category_threshold_flags_and_the_reason_names_it() -> None:
    decision = decide([result({"violence": 0.7, "sexual": 0.2})], {"violence": 0.7}, 0.5)

    assert decision.verdict == "flagged"
    assert decision.over == {"violence": 0.7}
    assert "violence 0.70 >= 0.7" in decision.reason


def test_a_child_category_takes_its_parents_threshold_unless_it_has_its_own() -> None:
    thresholds = {"violence": 0.9, "self-harm/intent": 0.2}

    assert threshold_of("violence/graphic", thresholds, 0.5) == 0.9
    assert threshold_of("self-harm/intent", thresholds, 0.5) == 0.2
    assert threshold_of("hate", thresholds, 0.5) == 0.5
    assert decide([result({"violence/graphic": 0.8})], thresholds, 0.5).verdict == "approved"


def test_scores_of_categories_not_checked_for_the_input_never_flag() -> None:
    # An image answer carries a harassment score, but omni-moderation applies harassment to text only.
    answer = result({"harassment": 0.99, "sexual": 0.01}, checked=["sexual"], kind="image")

    decision = decide([answer], {}, 0.5)

    assert decision.verdict == "approved"
    assert decision.reason == "under every threshold (checked: sexual)"


def test_the_worst_frame_decides_a_video() -> None:
    frames = [result({"violence": 0.1}), result({"violence": 0.95}), result({"violence": 0.6})]

    decision = decide(frames, {"violence": 0.7}, 0.5)

    assert decision.verdict == "flagged" and decision.over == {"violence": 0.95}


def test_the_local_moderator_scores_only_its_word_list_categories_in_text() -> None:
    moderator = LocalModerator()

    hit = moderator.text("I will KILL you")
    clean = moderator.text("a calm walk in the hills")

    assert hit.scores["violence"] == 1.0 and hit.scores["harassment"] == 0.0
    assert set(hit.checked) == {"violence", "harassment", "self-harm", "sexual"}
    assert "hate" not in hit.checked
    assert decide([hit], {}, 0.5).verdict == "flagged"
    assert decide([clean], {}, 0.5).verdict == "approved"
    assert moderator.text("a skilled painter").scores["violence"] == 0.0  # whole words only


def test_the_local_moderator_never_calls_an_image_safe() -> None:
    answer = LocalModerator().image(b"any bytes at all")

    decision = decide([answer], {}, 0.5)

    assert answer.unchecked and answer.scores == {}
    assert decision.verdict == "unchecked"
    assert decision.reason == LOCAL_IMAGE_REASON


def test_options_refuse_an_unknown_category_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown moderation categories \['nudity'\].*sexual"):
        moderation_pack(thresholds={"nudity": 0.5})


@pytest.mark.parametrize("value", [0.0, 1.5, -0.1])
def test_options_refuse_a_threshold_outside_0_to_1(value: float) -> None:
    with pytest.raises(ValueError, match=r"thresholds must be in \(0, 1\]"):
        ModerationOptions(thresholds={"violence": value})


def test_the_pack_keeps_the_chosen_options_for_the_construct() -> None:
    pack = moderation_pack(thresholds={"sexual": 0.4}, unchecked="pass")

    assert pack.options == {"thresholds": {"sexual": 0.4}, "unchecked": "pass"}
    assert ModerationOptions.model_validate(pack.options).default == 0.5


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("image:uploads/images/cat.jpg", ("image", "uploads/images/cat.jpg")),
        ("uploads/videos/a b.mp4", ("video", "uploads/videos/a b.mp4")),
        ("text:comment-42", ("text", "comment-42")),
    ],
)
def test_subjects_name_their_kind(subject: str, expected: tuple[str, str]) -> None:
    assert resolve_subject(subject) == expected


def test_a_subject_of_no_known_kind_says_which_forms_exist() -> None:
    with pytest.raises(ModerationError, match="image:<upload key>, video:<upload key> or text:<id>"):
        resolve_subject("cat.jpg")


def test_the_image_pipeline_moderates_only_when_the_pack_is_in() -> None:
    assert pipeline_steps(Catalog.compose(core, images)) == (
        "inspect",
        "metadata",
        "variants",
        "embed",
        "index",
        "complete",
    )
    assert pipeline_steps(Catalog.compose(core, moderation, images, video))[:3] == ("inspect", "moderate", "metadata")


def test_a_machine_verdict_never_overturns_a_human_rejection() -> None:
    assert "rejected" not in MACHINE_SOURCES
    assert MODERATION_LIFECYCLE.sources_of("approved") == ["pending", "approved", "flagged", "rejected"]
    assert not MODERATION_LIFECYCLE.allows("rejected", "flagged")
