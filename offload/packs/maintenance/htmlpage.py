"""Self-contained HTML reports: inline CSS and inline SVG charts, no script, no fonts or files to fetch."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2")
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#111827;margin:2rem auto;max-width:1100px;
padding:0 1rem}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.1rem;margin:2rem 0 .5rem}
.muted{color:#4b5563}.warn{background:#fef3c7;border-left:4px solid #d97706;padding:.5rem .75rem}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #e5e7eb;padding:.35rem .5rem;text-align:right}
th.t,td.t{text-align:left}thead th{background:#f3f4f6}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #e5e7eb;border-radius:6px;padding:.6rem 1rem}
.card b{display:block;font-size:1.3rem}.up{color:#b91c1c}.down{color:#15803d}
svg text{font:12px system-ui,sans-serif;fill:#111827}
"""


def fmt(value: object, unit: str = "") -> str:
    """A figure as the tables show it: '-' for none, thousands separated, rates as percentages."""
    if value is None:
        return "-"
    if unit == "%" and isinstance(value, int | float):
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return escape(str(value))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, text_columns: int = 1) -> str:
    """A table; cells are HTML already (use `fmt` or `escape`); the first `text_columns` are left-aligned."""

    def cls(i: int) -> str:
        return ' class="t"' if i < text_columns else ""

    head = "".join(f'<th scope="col"{cls(i)}>{escape(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows)
    if not rows:
        body = f'<tr><td colspan="{len(headers)}" class="muted">No jobs in this period.</td></tr>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def cards(items: Sequence[tuple[str, str]]) -> str:
    """Headline figures: (label, value html)."""
    return (
        '<div class="cards">' + "".join(f'<div class="card">{escape(k)}<b>{v}</b></div>' for k, v in items) + "</div>"
    )


def bar_chart(title: str, labels: Sequence[str], series: dict[str, Sequence[float]], *, unit: str = "") -> str:
    """Horizontal stacked bars, one row per label, one colour per series, with a legend."""
    if not labels:
        return ""
    label_w, bar_w, row_h, top = 230, 620, 22, 30
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    peak = max(totals) or 1
    height = top + row_h * len(labels) + 10
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="{label_w + bar_w + 90}" height="{height}" '
        f'viewBox="0 0 {label_w + bar_w + 90} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    x = label_w
    for n, name in enumerate(series):
        parts.append(
            f'<rect x="{x}" y="6" width="12" height="12" fill="{PALETTE[n % len(PALETTE)]}"/>'
            f'<text x="{x + 16}" y="16">{escape(name)}</text>'
        )
        x += 30 + 8 * len(name)
    for i, label in enumerate(labels):
        y = top + i * row_h
        parts.append(f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end">{escape(label[:34])}</text>')
        x0 = float(label_w)
        for n, values in enumerate(series.values()):
            w = bar_w * values[i] / peak
            if w > 0:
                parts.append(
                    f'<rect x="{x0:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                    f'fill="{PALETTE[n % len(PALETTE)]}"><title>{escape(label)}: {values[i]:g}{unit}</title></rect>'
                )
            x0 += w
        parts.append(f'<text x="{x0 + 6:.1f}" y="{y + 14}">{totals[i]:,.0f}{escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(title: str, x_labels: Sequence[str], series: dict[str, Sequence[float]]) -> str:
    """Lines over a shared x axis (e.g. hours of the day), y from zero to the peak."""
    if not x_labels:
        return ""
    left, width, height, top, bottom = 50, 860, 220, 30, 30
    peak = max((v for values in series.values() for v in values), default=0) or 1
    step = width / max(1, len(x_labels) - 1)

    def point(i: int, v: float) -> str:
        return f"{left + i * step:.1f},{top + height - height * v / peak:.1f}"

    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="{left + width + 20}" height="{top + height + bottom}" '
        f'viewBox="0 0 {left + width + 20} {top + height + bottom}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{top + height}" x2="{left + width}" y2="{top + height}" stroke="#9ca3af"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + height}" stroke="#9ca3af"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{peak:,.0f}</text>',
        f'<text x="{left - 6}" y="{top + height}" text-anchor="end">0</text>',
    ]
    every = max(1, len(x_labels) // 12)
    for i, label in enumerate(x_labels):
        if i % every == 0:
            parts.append(
                f'<text x="{left + i * step:.1f}" y="{top + height + 18}" text-anchor="middle">{escape(label)}</text>'
            )
    for n, (name, values) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        points = " ".join(point(i, v) for i, v in enumerate(values))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        parts.append(
            f'<rect x="{left + 10 + 110 * n}" y="6" width="12" height="12" fill="{colour}"/>'
            f'<text x="{left + 26 + 110 * n}" y="16">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def page(title: str, subtitle: str, body: Sequence[str]) -> str:
    """The whole document."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="muted">{escape(subtitle)}</p>' + "".join(body) + "</body></html>"
    )
