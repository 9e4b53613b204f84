"""scripts/dashboard_picture.py: a dashboard body becomes boxes at the widgets' grid positions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from scripts.dashboard_picture import COLUMN_PX, FILL, HEADER_FILL, MARGIN_PX, ROW_PX, dashboard_bodies, draw, title_of


def _template(widgets: list[dict]) -> dict:
    # As CDK writes it: the body is an Fn::Join whose references sit between string parts.
    text = json.dumps({"widgets": widgets})
    head, tail = text.split("QUEUE_REF")
    body = {"Fn::Join": ["", [head, {"Fn::GetAtt": ["QueueDefault1234", "QueueName"]}, tail]]}
    return {"Resources": {"Dash": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {"DashboardBody": body}}}}


WIDGETS = [
    {"type": "text", "x": 0, "y": 0, "width": 24, "height": 1, "properties": {"markdown": "# offload"}},
    {
        "type": "metric",
        "x": 12,
        "y": 1,
        "width": 12,
        "height": 5,
        "properties": {
            "title": "Depth",
            "metrics": [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "QUEUE_REF"]],
        },
    },
]


def _center(x: int, y: int, w: int, h: int) -> tuple[int, int]:
    return MARGIN_PX + x * COLUMN_PX + w * COLUMN_PX // 2, MARGIN_PX + y * ROW_PX + h * ROW_PX * 3 // 4


def test_each_widget_is_a_box_at_its_grid_position(tmp_path: Path) -> None:
    (body,) = dashboard_bodies(_template(WIDGETS)).values()
    assert body["widgets"][1]["properties"]["metrics"][0][3] == "QueueDefault1234"

    image = Image.open(draw(body, tmp_path / "layout.png")).convert("RGB")

    assert image.size == (24 * COLUMN_PX + 2 * MARGIN_PX, 6 * ROW_PX + 2 * MARGIN_PX)

    def hex_at(xy: tuple[int, int]) -> str:
        pixel = image.getpixel(xy)
        assert isinstance(pixel, tuple)
        return "#{:02x}{:02x}{:02x}".format(*pixel)

    assert hex_at(_center(12, 1, 12, 5)) == FILL["metric"]
    assert hex_at(_center(0, 1, 12, 5)) == "#ffffff"  # nothing there on the dashboard, nothing drawn
    assert hex_at((MARGIN_PX + 23 * COLUMN_PX, MARGIN_PX + ROW_PX - 3)) == HEADER_FILL[1]


def test_titles_come_from_markdown_headings_without_links_and_from_graph_titles() -> None:
    link = {"type": "text", "properties": {"markdown": "### SQS Queue **[queue default](https://x/y)**"}}
    assert title_of(link) == ("SQS Queue queue default", 3)
    assert title_of(WIDGETS[1]) == ("Depth", 0)


def test_an_intrinsic_it_cannot_draw_is_named() -> None:
    template = _template(WIDGETS)
    template["Resources"]["Dash"]["Properties"]["DashboardBody"]["Fn::Join"][1][1] = {"Fn::Sub": "x"}
    with pytest.raises(ValueError, match=r"\{'Fn::Sub': 'x'\}, which this script can't draw"):
        dashboard_bodies(template)
