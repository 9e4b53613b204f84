"""Draw the synthesized CloudWatch dashboard's layout: one box per widget at its x/y/width/height, titled.

    python scripts/dashboard_picture.py                       # synthesizes the stack (cdk.json's catalog)
    python scripts/dashboard_picture.py --template cdk.out/Offload.template.json --out docs/img/dashboard-layout.png

The picture is made from the DashboardBody the stack deploys, so it shows what an operator will see
(sections, graphs, alarm rows), not a hand-drawn plan. References to resources are drawn as their names.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "img" / "dashboard-layout.png"
GRID_COLUMNS = 24  # CloudWatch dashboards are 24 units wide
COLUMN_PX, ROW_PX, MARGIN_PX = 40, 14, 16
FILL = {"text": "#e8e8e8", "metric": "#d6e6f5", "alarm": "#f9d9b8"}
OUTLINE = {"text": "#9a9a9a", "metric": "#3b75af", "alarm": "#c0651a"}
HEADER_FILL = {1: "#3d3d3d", 2: "#6b6b6b"}  # markdown # and ## sections
LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def flatten(value: Any) -> str:
    """A DashboardBody (an Fn::Join of strings and references) as one string; references become names."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return str(sep).join(flatten(p) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"]).replace("AWS::", "")
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    raise ValueError(f"the dashboard body has {value!r}, which this script can't draw: add it to flatten()")


def dashboard_bodies(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id -> parsed body of every AWS::CloudWatch::Dashboard in the template."""
    return {
        lid: json.loads(flatten(res["Properties"]["DashboardBody"]))
        for lid, res in template.get("Resources", {}).items()
        if res.get("Type") == "AWS::CloudWatch::Dashboard"
    }


def title_of(widget: dict[str, Any]) -> tuple[str, int]:
    """The text to write in a widget's box, and its markdown heading level (0: not a heading)."""
    props = widget.get("properties", {})
    if widget["type"] == "text":
        line = LINK.sub(r"\1", props.get("markdown", "")).splitlines()[0] if props.get("markdown") else ""
        level = len(line) - len(line.lstrip("#"))
        return line.lstrip("# ").replace("**", ""), level
    return props.get("title", widget["type"]), 0


def draw(body: dict[str, Any], out: Path) -> Path:
    """Write the layout of one dashboard body to `out` (PNG)."""
    widgets = body["widgets"]
    rows = max(w["y"] + w["height"] for w in widgets)
    size = (GRID_COLUMNS * COLUMN_PX + 2 * MARGIN_PX, rows * ROW_PX + 2 * MARGIN_PX)
    image = Image.new("RGB", size, "white")
    pen = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=11)
    for w in widgets:
        left, top = MARGIN_PX + w["x"] * COLUMN_PX, MARGIN_PX + w["y"] * ROW_PX
        box = (left + 1, top + 1, left + w["width"] * COLUMN_PX - 2, top + w["height"] * ROW_PX - 2)
        title, level = title_of(w)
        fill, ink = HEADER_FILL.get(level, FILL.get(w["type"], "#eeeeee")), "white" if level in HEADER_FILL else "black"
        pen.rectangle(box, fill=fill, outline=OUTLINE.get(w["type"], "#777777"))
        width_px = box[2] - box[0] - 6
        while title and pen.textlength(title, font=font) > width_px:
            title = title[:-2] + "…" if len(title) > 2 else ""
        pen.text((box[0] + 3, box[1] + 1), title, fill=ink, font=font)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, optimize=True)
    return out


def synthesized_template() -> dict[str, Any]:
    """The stack's template as `python app.py` builds it, synthesized into a temporary directory."""
    sys.path.insert(0, str(ROOT))
    from offload.cdk.app import build_app

    with tempfile.TemporaryDirectory() as outdir:
        app, stack = build_app(outdir=Path(outdir))
        app.synth()
        return json.loads((Path(outdir) / f"{stack.artifact_id}.template.json").read_text())


def main(argv: list[str] | None = None) -> int:
    """Draw the stack's dashboard to docs/img/dashboard-layout.png (or --out)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", type=Path, help="a synthesized template (default: synthesize the stack now)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    template = json.loads(args.template.read_text()) if args.template else synthesized_template()
    bodies = dashboard_bodies(template)
    if len(bodies) != 1:
        print(f"error: expected one dashboard in the template, found {sorted(bodies) or 'none'}", file=sys.stderr)
        return 1
    (body,) = bodies.values()
    path = draw(body, args.out)
    print(f"{path}: {len(body['widgets'])} widgets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
