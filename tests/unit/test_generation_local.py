"""The local script writer and scene imager: offline, deterministic, and they do real work."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageStat

from offload.ai.generation import Scene, SceneImager, ScriptWriter
from offload.ai.generation_factory import GenerationAiSettings, build_script_and_imager
from offload.ai.local_generation import LocalSceneImager, LocalScriptWriter, split_prompt
from offload.errors import NonRetryableError
from offload.settings import SettingsError


def scene(visual: str) -> Scene:
    return Scene(text="caption", visual=visual, seconds=4)


def picture(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    assert im.format == "PNG"
    return im.convert("RGB")


def mean_rgb(data: bytes) -> tuple[float, ...]:
    return tuple(ImageStat.Stat(picture(data)).mean)


# --- script writer -----------------------------------------------------------------------------------


def test_each_sentence_becomes_a_scene_of_the_clip_length_framed_wide_to_closing() -> None:
    scenes = LocalScriptWriter().write(
        "The village wakes at dawn. Boats leave the harbour! Gulls follow them out. Night falls on the quay.",
        style="watercolour",
        clip_seconds=5,
        max_scenes=6,
    )

    assert [s.text for s in scenes] == [
        "The village wakes at dawn",
        "Boats leave the harbour",
        "Gulls follow them out",
        "Night falls on the quay",
    ]
    assert [s.visual.split(":")[0] for s in scenes] == ["Wide shot", "Close-up", "Medium shot", "Closing shot"]
    assert all(s.visual.endswith(", watercolour") for s in scenes)
    assert {s.seconds for s in scenes} == {5.0}


def test_one_short_sentence_gives_three_shots_of_it() -> None:
    scenes = LocalScriptWriter().write("A lighthouse at sunset", style=None, clip_seconds=3, max_scenes=12)

    assert [s.visual for s in scenes] == [
        "Wide shot: A lighthouse at sunset",
        "Close-up: A lighthouse at sunset",
        "Closing shot: A lighthouse at sunset",
    ]
    assert {s.text for s in scenes} == {"A lighthouse at sunset"}


def test_one_sentence_is_cut_at_its_clauses_keeping_short_pieces_with_the_clause_before() -> None:
    parts = split_prompt("A fox runs through the snowy forest, then it stops by a frozen lake, and then it sleeps")

    assert parts == ["A fox runs through the snowy forest", "it stops by a frozen lake, it sleeps"]


def test_more_sentences_than_scenes_are_merged_not_dropped() -> None:
    prompt = "One fish swims. Two birds fly. Three clouds pass. Four trees sway. Five waves break."

    scenes = LocalScriptWriter().write(prompt, style=None, clip_seconds=4, max_scenes=2)

    assert len(scenes) == 2
    joined = " ".join(s.visual for s in scenes)
    assert all(word in joined for word in ("fish", "birds", "clouds", "trees", "waves"))


def test_max_scenes_bounds_the_shots_of_a_single_sentence() -> None:
    scenes = LocalScriptWriter().write("A lighthouse at sunset", style=None, clip_seconds=3, max_scenes=2)

    assert [s.visual.split(":")[0] for s in scenes] == ["Wide shot", "Close-up"]


@pytest.mark.parametrize(
    ("prompt", "clip_seconds", "max_scenes", "message"),
    [
        ("  ", 4, 3, "prompt is empty"),
        ("A harbour", 0.5, 3, "clip_seconds is 0.5: give a scene length from 1.0 to 20.0"),
        ("A harbour", 4, 0, "max_scenes is 0: give 1 to 12"),
        ("A harbour", 4, 13, "max_scenes is 13: give 1 to 12"),
    ],
)
def test_unusable_requests_are_refused_with_the_fix(
    prompt: str, clip_seconds: float, max_scenes: int, message: str
) -> None:
    with pytest.raises(NonRetryableError, match=message):
        LocalScriptWriter().write(prompt, style=None, clip_seconds=clip_seconds, max_scenes=max_scenes)


# --- scene imager ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (720, 1280), (64, 64), (333, 197)])
def test_picture_is_a_png_of_exactly_the_size_asked(width: int, height: int) -> None:
    data = LocalSceneImager().render(scene("a cottage in a meadow at dawn"), style=None, width=width, height=height)

    assert picture(data).size == (width, height)


def test_the_same_scene_gives_the_same_picture() -> None:
    imager = LocalSceneImager()
    first = imager.render(scene("the city skyline at night with clouds"), style="noir", width=320, height=180)
    second = imager.render(scene("the city skyline at night with clouds"), style="noir", width=320, height=180)

    assert first == second


def test_sunset_over_the_sea_is_warmer_and_brighter_than_night_in_the_forest() -> None:
    imager = LocalSceneImager()
    sunset = mean_rgb(imager.render(scene("sunset over the sea"), style=None, width=320, height=180))
    night = mean_rgb(imager.render(scene("night in the forest"), style=None, width=320, height=180))

    assert sum(sunset) > 2 * sum(night)
    assert sunset[0] > sunset[2] * 0.8  # red weighs in at sunset
    assert night[2] > night[0]  # night is blue, not red


def test_ground_follows_the_place_words() -> None:
    imager = LocalSceneImager()
    sea = picture(imager.render(scene("a sunny day at the sea"), style=None, width=320, height=180))
    desert = picture(imager.render(scene("a sunny day in the desert"), style=None, width=320, height=180))
    bottom = (0, 160, 320, 180)

    sea_r, _, sea_b = ImageStat.Stat(sea.crop(bottom)).mean
    desert_r, _, desert_b = ImageStat.Stat(desert.crop(bottom)).mean
    assert sea_b > sea_r and desert_r > desert_b


def count_colour(im: Image.Image, colour: tuple[int, int, int]) -> int:
    return sum(1 for pixel in im.get_flattened_data() if pixel == colour)


def test_house_words_add_a_house() -> None:
    imager = LocalSceneImager()
    wall = (200, 170, 140)  # a house's wall by day
    plain = picture(imager.render(scene("a green meadow at noon"), style=None, width=320, height=180))
    with_house = picture(imager.render(scene("a cottage in a green meadow at noon"), style=None, width=320, height=180))

    assert count_colour(plain, wall) == 0
    assert count_colour(with_house, wall) > 50


def test_a_scene_without_known_words_still_gets_a_picture_picked_by_its_text() -> None:
    imager = LocalSceneImager()
    pictures = {imager.render(scene(f"a quiet thought number {i}"), style=None, width=96, height=64) for i in range(6)}

    assert len(pictures) == 6


def test_size_outside_the_frame_limits_is_refused() -> None:
    with pytest.raises(NonRetryableError, match="image width is 10 px: give 64 to 3840 px"):
        LocalSceneImager().render(scene("a meadow"), style=None, width=10, height=720)


# --- factory -----------------------------------------------------------------------------------------


def test_without_a_key_the_factory_gives_the_local_writer_and_imager() -> None:
    writer, imager = build_script_and_imager(GenerationAiSettings())

    assert isinstance(writer, ScriptWriter) and isinstance(imager, SceneImager)
    assert (writer.model, imager.model) == ("local-script", "local-pillow")


def test_a_key_by_arn_without_a_secrets_client_says_what_to_pass() -> None:
    settings = GenerationAiSettings(api_key_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:k")

    with pytest.raises(SettingsError, match=r"pass Clients\(\)\.secrets to build_script_and_imager"):
        build_script_and_imager(settings)
