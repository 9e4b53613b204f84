"""Offline, deterministic stand-ins for the script writer and the scene imager (no key, no network).

`LocalScriptWriter` does not understand the prompt: it cuts it into scenes by its sentences (or, for
one sentence, its clauses) and frames each with a camera shot. `LocalSceneImager` draws a simple
landscape with Pillow whose sky, ground and shapes come from words in the scene's visual; it does not
draw people, animals or objects beyond the few listed in `SHAPE_WORDS`, and never the caption.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
import re
import textwrap
from dataclasses import dataclass

from PIL import Image, ImageDraw

from offload.ai.generation import MAX_VISUAL_CHARS, Scene, check_image_size, check_script_request

SCRIPT_MODEL = "local-script"
IMAGE_MODEL = "local-pillow"
CAPTION_CHARS = 80  # a caption is one line on screen
SINGLE_SENTENCE_SHOTS = ("Wide shot", "Close-up", "Closing shot")
MIN_CLAUSE_WORDS = 3  # shorter pieces ("at dawn") stay with the clause before them

_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAUSE_BREAK = re.compile(r"\s*[;:,]\s*(?:(?:and\s+)?then\s+)?|\s+(?:and\s+)?then\s+", re.IGNORECASE)
_LEADING_AND = re.compile(r"^(?:and|but)\s+", re.IGNORECASE)

RGB = tuple[int, int, int]


class LocalScriptWriter:
    """ScriptWriter that splits the prompt honestly; see `write`."""

    model = SCRIPT_MODEL

    def write(self, prompt: str, *, style: str | None, clip_seconds: float, max_scenes: int) -> list[Scene]:
        """One scene per sentence of the prompt (a single sentence: one per clause); a prompt of one short
        sentence gives up to three scenes of it, framed wide, close and closing. Sentences beyond
        `max_scenes` are merged into the scenes before them (nothing is dropped), each scene lasts
        `clip_seconds`, its text is its sentence (shortened to a caption line) and its visual is
        the camera shot, the sentence and the style."""
        text = check_script_request(prompt, clip_seconds=clip_seconds, max_scenes=max_scenes)
        parts = split_prompt(text)
        if len(parts) == 1:
            parts = parts * min(len(SINGLE_SENTENCE_SHOTS), max_scenes)
            shots = list(SINGLE_SENTENCE_SHOTS[: len(parts)])
        else:
            parts = _merge_into(parts, max_scenes)
            shots = [shot_name(i, len(parts)) for i in range(len(parts))]
        look = f", {style.strip().rstrip('.')}" if style and style.strip() else ""
        return [
            Scene(
                text=textwrap.shorten(part[0].upper() + part[1:], CAPTION_CHARS, placeholder="…"),
                visual=textwrap.shorten(f"{shot}: {part}{look}", MAX_VISUAL_CHARS, placeholder="…"),
                seconds=clip_seconds,
            )
            for shot, part in zip(shots, parts, strict=True)
        ]


def split_prompt(prompt: str) -> list[str]:
    """The prompt's sentences; a single sentence is cut at its clauses (commas, semicolons, "then")
    when each piece keeps at least MIN_CLAUSE_WORDS words."""
    sentences = [s for s in (_clean(s) for s in _SENTENCE_BREAK.split(prompt)) if s]
    if len(sentences) != 1:
        return sentences
    clauses: list[str] = []
    for piece in (_LEADING_AND.sub("", _clean(c)) for c in _CLAUSE_BREAK.split(sentences[0])):
        if not piece:
            continue
        if clauses and len(piece.split()) < MIN_CLAUSE_WORDS:
            clauses[-1] = f"{clauses[-1]}, {piece}"
        else:
            clauses.append(piece)
    if len(clauses) > 1 and len(clauses[0].split()) < MIN_CLAUSE_WORDS:
        clauses[:2] = [f"{clauses[0]}, {clauses[1]}"]
    return clauses


def shot_name(index: int, count: int) -> str:
    """The camera shot of scene `index` of `count`: wide first, closing last, medium and close between."""
    if index == 0:
        return "Wide shot"
    if index == count - 1:
        return "Closing shot"
    return "Close-up" if index % 2 else "Medium shot"


def _clean(text: str) -> str:
    return " ".join(text.split()).strip(" .!?;:,")


def _merge_into(parts: list[str], count: int) -> list[str]:
    """`parts` joined into at most `count` consecutive groups of nearly equal size."""
    if len(parts) <= count:
        return parts
    bounds = [round(i * len(parts) / count) for i in range(count + 1)]
    return [". ".join(parts[bounds[i] : bounds[i + 1]]) for i in range(count)]


# --- the scene imager ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Palette:
    """A gradient, top colour to bottom colour."""

    top: RGB
    bottom: RGB


# Sky by time of day or weather; ground by place. The first keyword in the visual (then the style) wins.
SKIES: dict[str, Palette] = {
    "sunset": Palette((70, 40, 110), (255, 140, 60)),
    "dawn": (Palette((110, 140, 205), (255, 190, 160))),
    "night": Palette((4, 8, 30), (22, 36, 84)),
    "storm": Palette((58, 62, 72), (132, 136, 146)),
    "day": Palette((52, 120, 215), (175, 212, 250)),
}
GROUNDS: dict[str, Palette] = {
    "sea": Palette((24, 96, 156), (6, 40, 92)),
    "forest": Palette((40, 110, 50), (14, 52, 24)),
    "meadow": Palette((112, 172, 72), (58, 118, 40)),
    "mountain": Palette((104, 108, 104), (56, 66, 58)),
    "desert": Palette((232, 192, 124), (188, 138, 80)),
    "snow": Palette((236, 241, 250), (188, 204, 226)),
    "city": Palette((82, 82, 92), (38, 38, 48)),
}
SKY_WORDS: dict[str, str] = {
    **dict.fromkeys(("sunset", "sundown", "dusk", "evening", "twilight", "golden", "warm"), "sunset"),
    **dict.fromkeys(("dawn", "sunrise", "morning", "daybreak"), "dawn"),
    **dict.fromkeys(("night", "midnight", "moon", "moonlit", "moonlight", "stars", "starry", "dark"), "night"),
    **dict.fromkeys(("storm", "stormy", "rain", "rainy", "cloudy", "fog", "foggy", "mist", "gloomy"), "storm"),
    **dict.fromkeys(("day", "noon", "sunny", "bright", "clear", "summer", "afternoon"), "day"),
}
GROUND_WORDS: dict[str, str] = {
    **dict.fromkeys(
        ("sea", "ocean", "beach", "lake", "river", "wave", "waves", "water", "bay", "harbour", "harbor", "shore"),
        "sea",
    ),
    **dict.fromkeys(("coast", "island", "boat", "ship", "sail", "sailing"), "sea"),
    **dict.fromkeys(("forest", "woods", "wood", "jungle", "tree", "trees", "pine", "pines", "park"), "forest"),
    **dict.fromkeys(("meadow", "field", "fields", "grass", "hill", "hills", "farm", "valley", "garden"), "meadow"),
    **dict.fromkeys(("mountain", "mountains", "peak", "peaks", "alps", "rocky", "cliff", "cliffs"), "mountain"),
    **dict.fromkeys(("desert", "sand", "sandy", "dune", "dunes", "canyon"), "desert"),
    **dict.fromkeys(("snow", "snowy", "winter", "ice", "icy", "arctic", "glacier", "frozen"), "snow"),
    **dict.fromkeys(("city", "street", "town", "building", "buildings", "skyline", "urban", "downtown"), "city"),
}
# Colour words tint the sky.
TINTS: dict[str, RGB] = {
    "red": (200, 40, 40),
    "orange": (240, 130, 30),
    "yellow": (240, 215, 60),
    "gold": (225, 180, 60),
    "golden": (225, 180, 60),
    "green": (60, 170, 80),
    "blue": (40, 90, 220),
    "purple": (130, 60, 170),
    "violet": (140, 80, 200),
    "pink": (240, 130, 180),
    "white": (245, 245, 245),
    "grey": (128, 128, 128),
    "gray": (128, 128, 128),
    "black": (10, 10, 10),
}
TINT_SHARE = 0.35
# Extra shapes drawn when their word is in the visual.
SHAPE_WORDS: dict[str, str] = {
    **dict.fromkeys(("bird", "birds", "gull", "gulls", "flock"), "birds"),
    **dict.fromkeys(("boat", "ship", "sail", "sailboat", "sailing", "yacht"), "boat"),
    **dict.fromkeys(("house", "cabin", "cottage", "hut", "home", "village"), "house"),
    **dict.fromkeys(("cloud", "clouds", "cloudy"), "clouds"),
}


class LocalSceneImager:
    """SceneImager drawing a landscape from the scene's words with Pillow; see `render`."""

    model = IMAGE_MODEL

    def render(self, scene: Scene, *, style: str | None, width: int, height: int) -> bytes:
        """A PNG of exactly `width` x `height`: a sky and ground gradient whose palettes come from the
        time-of-day, place and colour words in the visual and style (a hash of the text picks them when
        none is there), with a sun or moon, stars, clouds, hills, mountains, trees, waves, dunes or
        buildings to match; the same scene and style always give the same picture."""
        check_image_size(width, height)
        words = _words(f"{scene.visual} {style or ''}")
        rng = random.Random(int.from_bytes(hashlib.sha256(f"{scene.visual}|{style}".encode()).digest()[:8], "big"))
        plan = _plan(words, rng)
        # Drawn at twice the size and scaled down, for smooth edges, unless that gets large.
        scale = 2 if width * height <= 2_100_000 else 1
        canvas = _draw(plan, rng, width * scale, height * scale)
        if scale != 1:
            canvas = canvas.resize((width, height), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        canvas.save(out, "PNG", compress_level=6)
        return out.getvalue()


@dataclass(frozen=True)
class _Plan:
    sky_kind: str
    ground_kind: str
    sky: Palette
    ground: Palette
    horizon: float  # fraction of the height
    body_scale: float  # the sun or moon's size factor
    shapes: frozenset[str]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _first(words: list[str], table: dict[str, str]) -> str | None:
    return next((table[w] for w in words if w in table), None)


def _plan(words: list[str], rng: random.Random) -> _Plan:
    sky_kind = _first(words, SKY_WORDS) or rng.choice(sorted(SKIES))
    ground_kind = _first(words, GROUND_WORDS) or rng.choice(sorted(GROUNDS))
    sky = SKIES[sky_kind]
    tints = [TINTS[w] for w in words if w in TINTS]
    if tints:
        sky = Palette(_mix(sky.top, tints[0], TINT_SHARE), _mix(sky.bottom, tints[0], TINT_SHARE))
    ground = GROUNDS[ground_kind]
    dim = {"night": 0.35, "storm": 0.7}.get(sky_kind, 1.0)
    ground = Palette(_scale(ground.top, dim), _scale(ground.bottom, dim))
    if sky_kind == "sunset":
        ground = Palette(_mix(ground.top, (255, 140, 60), 0.2), ground.bottom)
    close = any(w in ("close", "closeup") for w in words)
    wide = any(w in ("wide", "aerial", "panorama", "panoramic", "establishing") for w in words)
    horizon = 0.72 if close else 0.55 if wide else 0.6 + rng.uniform(-0.04, 0.04)
    return _Plan(
        sky_kind=sky_kind,
        ground_kind=ground_kind,
        sky=sky,
        ground=ground,
        horizon=horizon,
        body_scale=1.6 if close else 1.0,
        shapes=frozenset(SHAPE_WORDS[w] for w in words if w in SHAPE_WORDS),
    )


def _draw(plan: _Plan, rng: random.Random, width: int, height: int) -> Image.Image:
    horizon = round(height * plan.horizon)
    unit = min(width, height)
    canvas = Image.new("RGB", (width, height))
    canvas.paste(_gradient((width, horizon), plan.sky), (0, 0))
    draw = ImageDraw.Draw(canvas)
    _draw_sky(draw, plan, rng, width, horizon, unit)
    _draw_backdrop(draw, plan, rng, width, horizon, unit)
    canvas.paste(_gradient((width, height - horizon), plan.ground), (0, horizon))
    _draw_ground(draw, plan, rng, width, height, horizon, unit)
    return canvas


def _draw_sky(draw: ImageDraw.ImageDraw, plan: _Plan, rng: random.Random, width: int, horizon: int, unit: int) -> None:
    x = width * rng.uniform(0.2, 0.8)
    radius = unit * 0.07 * plan.body_scale
    if plan.sky_kind == "night":
        for _ in range(60 + rng.randrange(60)):
            sx, sy, r = rng.uniform(0, width), rng.uniform(0, horizon * 0.9), unit * rng.uniform(0.001, 0.003)
            draw.ellipse((sx - r, sy - r, sx + r, sy + r), fill=(235, 235, 255))
        y = horizon * 0.28
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(240, 236, 210))
        bite = radius * 0.55  # a crescent: the sky's colour covers part of the disc
        draw.ellipse(
            (x - radius + bite, y - radius - bite * 0.3, x + radius + bite, y + radius - bite * 0.3), fill=plan.sky.top
        )
    elif plan.sky_kind == "sunset":
        y, radius = horizon - radius * 0.4, radius * 1.5  # low and large, half behind the horizon
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(255, 200, 90))
    elif plan.sky_kind in ("day", "dawn"):
        y = horizon * (0.25 if plan.sky_kind == "day" else 0.7)
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(255, 240, 170))
    if plan.sky_kind == "storm" or "clouds" in plan.shapes:
        shade = (92, 96, 106) if plan.sky_kind in ("storm", "night") else (246, 246, 250)
        for _ in range(3 + rng.randrange(3)):
            cx, cy = rng.uniform(0, width), rng.uniform(horizon * 0.1, horizon * 0.5)
            for _ in range(4):
                w, h = unit * rng.uniform(0.08, 0.16), unit * rng.uniform(0.04, 0.07)
                ox, oy = rng.uniform(-w, w), rng.uniform(-h / 2, h / 2)
                draw.ellipse((cx + ox - w, cy + oy - h, cx + ox + w, cy + oy + h), fill=shade)
    if "birds" in plan.shapes:
        ink = (230, 230, 240) if plan.sky_kind == "night" else (30, 30, 40)
        for _ in range(5 + rng.randrange(5)):
            bx, by, s = rng.uniform(0.1, 0.9) * width, rng.uniform(0.15, 0.55) * horizon, unit * rng.uniform(0.01, 0.02)
            draw.line([(bx - s, by - s * 0.5), (bx, by), (bx + s, by - s * 0.5)], fill=ink, width=max(1, round(s / 4)))


def _draw_backdrop(
    draw: ImageDraw.ImageDraw, plan: _Plan, rng: random.Random, width: int, horizon: int, unit: int
) -> None:
    """What rises above the horizon: mountains, distant hills or a skyline."""
    far = _mix(plan.ground.top, plan.sky.bottom, 0.45)
    if plan.ground_kind == "mountain":
        x = -unit * 0.1
        while x < width:
            base, peak = unit * rng.uniform(0.25, 0.45), horizon - unit * rng.uniform(0.18, 0.38)
            draw.polygon([(x, horizon), (x + base / 2, peak), (x + base, horizon)], fill=far)
            cap = (horizon - peak) * 0.25  # the snow cap: the top quarter of the peak
            draw.polygon(
                [
                    (x + base / 2 - base / 2 * 0.25, peak + cap),
                    (x + base / 2, peak),
                    (x + base / 2 + base / 2 * 0.25, peak + cap),
                ],
                fill=_scale((245, 245, 250), 0.4 if plan.sky_kind == "night" else 1.0),
            )
            x += base * rng.uniform(0.5, 0.8)
    elif plan.ground_kind in ("forest", "meadow", "snow", "desert"):
        draw.polygon(_wave_outline(rng, width, horizon, unit * 0.06, horizon + 2), fill=far)
    elif plan.ground_kind == "city":
        lit = plan.sky_kind in ("night", "sunset", "storm")
        body = _scale(plan.ground.bottom, 0.8)
        window = (250, 215, 120) if lit else _mix(body, plan.sky.bottom, 0.5)
        x = 0.0
        while x < width:
            w, h = unit * rng.uniform(0.06, 0.14), unit * rng.uniform(0.12, 0.4)
            draw.rectangle((x, horizon - h, x + w, horizon + 1), fill=body)
            step = max(3.0, unit * 0.025)
            wy = horizon - h + step
            while wy < horizon - step:
                wx = x + step * 0.6
                while wx < x + w - step * 0.6:
                    if rng.random() < (0.55 if lit else 0.9):
                        draw.rectangle((wx, wy, wx + step * 0.4, wy + step * 0.5), fill=window)
                    wx += step
                wy += step
            x += w + unit * rng.uniform(0.0, 0.02)


def _draw_ground(
    draw: ImageDraw.ImageDraw, plan: _Plan, rng: random.Random, width: int, height: int, horizon: int, unit: int
) -> None:
    depth = height - horizon
    if plan.ground_kind == "sea":
        crest = _mix(plan.ground.top, plan.sky.bottom, 0.35)
        rows = 6
        for i in range(1, rows + 1):
            y = horizon + depth * (i / (rows + 1)) ** 1.4
            amplitude, wavelength = unit * 0.004 * i, unit * (0.04 + 0.02 * i)
            phase = rng.uniform(0, math.tau)
            points = [(x, y + amplitude * math.sin(x / wavelength * math.tau + phase)) for x in range(0, width + 8, 8)]
            draw.line(points, fill=crest, width=max(1, round(unit * 0.002 * i)))
        if "boat" in plan.shapes:
            bx, size = width * rng.uniform(0.25, 0.75), unit * 0.06
            by = horizon + depth * 0.3
            hull = (60, 40, 30) if plan.sky_kind != "night" else (20, 15, 15)
            draw.polygon(
                [
                    (bx - size, by),
                    (bx + size, by),
                    (bx + size * 0.7, by + size * 0.35),
                    (bx - size * 0.7, by + size * 0.35),
                ],
                fill=hull,
            )
            draw.polygon(
                [(bx, by - size * 1.4), (bx, by - size * 0.1), (bx + size * 0.8, by - size * 0.1)],
                fill=_scale((245, 240, 225), 0.5 if plan.sky_kind == "night" else 1.0),
            )
    elif plan.ground_kind in ("meadow", "snow", "desert"):
        for i, share in enumerate((0.25, 0.55)):
            top = horizon + depth * share
            shade = (
                _scale(plan.ground.top, 0.92 - 0.08 * i)
                if plan.ground_kind != "desert"
                else _mix(plan.ground.top, plan.ground.bottom, 0.5 + 0.25 * i)
            )
            draw.polygon(_wave_outline(rng, width, top, unit * 0.05, height), fill=shade)
        if plan.ground_kind == "snow":
            for _ in range(80):
                sx, sy, r = rng.uniform(0, width), rng.uniform(0, height), unit * rng.uniform(0.002, 0.005)
                draw.ellipse((sx - r, sy - r, sx + r, sy + r), fill=(250, 250, 255))
    elif plan.ground_kind == "forest":
        trunk, leaves = (70, 45, 30), _scale(plan.ground.bottom, 0.75)
        for _ in range(14 + rng.randrange(10)):
            near = rng.random()  # 0 at the horizon, 1 at the bottom
            tx, base = rng.uniform(0, width), horizon + depth * (0.1 + 0.85 * near)
            tall = unit * (0.08 + 0.2 * near)
            draw.rectangle(
                (tx - tall * 0.04, base - tall * 0.2, tx + tall * 0.04, base), fill=_scale(trunk, 0.4 + 0.6 * near)
            )
            draw.polygon(
                [(tx - tall * 0.25, base - tall * 0.15), (tx, base - tall), (tx + tall * 0.25, base - tall * 0.15)],
                fill=_scale(leaves, 0.6 + 0.4 * near),
            )
    if "house" in plan.shapes and plan.ground_kind != "sea":
        hx, size = width * rng.uniform(0.2, 0.8), unit * 0.07
        hy = horizon + depth * 0.35
        wall = _scale((200, 170, 140), 0.35 if plan.sky_kind == "night" else 1.0)
        draw.rectangle((hx - size, hy - size, hx + size, hy), fill=wall)
        draw.polygon(
            [(hx - size * 1.2, hy - size), (hx, hy - size * 1.8), (hx + size * 1.2, hy - size)], fill=(130, 50, 40)
        )
        glow = (250, 215, 120) if plan.sky_kind in ("night", "sunset") else (70, 90, 120)
        draw.rectangle((hx - size * 0.5, hy - size * 0.7, hx - size * 0.1, hy - size * 0.3), fill=glow)


def _wave_outline(
    rng: random.Random, width: int, top: float, amplitude: float, bottom: float
) -> list[tuple[float, float]]:
    """A closed outline whose upper edge rolls like hills (two sines) around `top`."""
    waves = [(rng.uniform(0.6, 1.6), rng.uniform(0, math.tau)), (rng.uniform(2.0, 4.0), rng.uniform(0, math.tau))]
    edge = [
        (x, top - amplitude * sum(math.sin(x / width * math.tau * f + p) / (k + 1) for k, (f, p) in enumerate(waves)))
        for x in range(0, width + 16, 16)
    ]
    return [*edge, (width, bottom), (0, bottom)]


def _gradient(size: tuple[int, int], palette: Palette) -> Image.Image:
    width, height = max(1, size[0]), max(1, size[1])
    mask = Image.linear_gradient("L").resize((width, height), Image.Resampling.BILINEAR)
    return Image.composite(
        Image.new("RGB", (width, height), palette.bottom), Image.new("RGB", (width, height), palette.top), mask
    )


def _mix(a: RGB, b: RGB, share: float) -> RGB:
    """`share` of `b` in `a`."""
    return (
        round(a[0] + (b[0] - a[0]) * share),
        round(a[1] + (b[1] - a[1]) * share),
        round(a[2] + (b[2] - a[2]) * share),
    )


def _scale(color: RGB, factor: float) -> RGB:
    return (min(255, round(color[0] * factor)), min(255, round(color[1] * factor)), min(255, round(color[2] * factor)))
