"""The pure parts of the maintenance reports: percentiles, run-time histograms, schedules in words, HTML."""

from __future__ import annotations

import random

import pytest

from offload.cron import describe
from offload.packs.maintenance import htmlpage
from offload.packs.maintenance.analytics import bucket_of, bucket_upper_ms, histogram_percentile
from offload.stats import percentile


def test_percentile_is_the_nearest_rank_value_of_the_sample():
    values = [float(v) for v in range(1, 101)]
    random.Random(3).shuffle(values)

    assert percentile(values, 0.5) == 51.0  # rank round(0.5 * 99) = 50 (0-based)
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0) == 1.0 and percentile(values, 1) == 100.0
    assert percentile([7.0], 0.95) == 7.0


def test_percentile_refuses_no_values_and_a_q_outside_0_to_1():
    with pytest.raises(ValueError, match="percentile of no values"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match=r"0.95 for p95"):
        percentile([1.0], 95)


@pytest.mark.parametrize("ms", [0.2, 1.0, 1.5, 37.0, 999.0, 1000.0, 123_456.0])
def test_a_run_time_falls_in_the_bucket_whose_bounds_hold_it(ms):
    k = bucket_of(ms)

    assert ms <= bucket_upper_ms(k)
    assert k == 0 or bucket_upper_ms(k - 1) < ms
    assert bucket_upper_ms(k) <= max(1.0, ms * 2**0.25) + 1e-9  # at most 19% above


def test_histogram_percentile_brackets_the_exact_percentile():
    rng = random.Random(7)
    sample = [rng.lognormvariate(5, 1) for _ in range(2000)]
    histogram: dict[str, int] = {}
    for ms in sample:
        histogram[str(bucket_of(ms))] = histogram.get(str(bucket_of(ms)), 0) + 1

    for q in (0.5, 0.95):
        exact = percentile(sample, q)
        estimate = histogram_percentile(histogram, q)
        assert estimate is not None and exact <= estimate <= exact * 2**0.25 + 0.1


def test_histogram_percentile_of_nothing_is_none():
    assert histogram_percentile({}, 0.95) is None


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("cron(0 2 * * ? *)", "every day at 02:00 UTC"),
        ("cron(0 10 ? * MON *)", "every Monday at 10:00 UTC"),
        ("cron(0 9 1 * ? *)", "on day 1 of every month at 09:00 UTC"),
        ("cron(30 4 ? * SUN *)", "every Sunday at 04:30 UTC"),
        ("rate(5 minutes)", "every 5 minutes"),
        ("cron(0/15 * * * ? *)", "cron(0/15 * * * ? *)"),  # no simple words: the cron itself
        ("cron(0 9 1 JAN ? *)", "cron(0 9 1 JAN ? *)"),
    ],
)
def test_a_schedule_is_described_in_words(expression, words):
    assert describe(expression) == words


def test_the_report_page_escapes_text_and_has_no_script_or_outside_resource():
    page = htmlpage.page(
        "Report <1>",
        "sub & title",
        [
            htmlpage.bar_chart("jobs", ["<script>alert(1)</script>"], {"ok": [3.0], "failed": [1.0]}),
            htmlpage.line_chart("hours", ["00", "01"], {"created": [1.0, 2.0]}),
            htmlpage.table(["Type"], [[htmlpage.fmt("<b>")]]),
        ],
    )

    assert "<script" not in page and "&lt;script&gt;" in page
    assert "Report &lt;1&gt;" in page and "&lt;b&gt;" in page
    assert page.count("<svg") == 2
    assert "src=" not in page and "<link" not in page


def test_bars_are_as_long_as_their_share_of_the_peak():
    svg = htmlpage.bar_chart("jobs", ["a", "b"], {"n": [10.0, 5.0]})

    widths = [float(part.split('"')[0]) for part in svg.split('width="')[2:] if 'height="16"' in part]
    assert widths == [620.0, 310.0]


def test_figures_are_formatted_for_people():
    assert htmlpage.fmt(None) == "-"
    assert htmlpage.fmt(0.1234, "%") == "12.3%"
    assert htmlpage.fmt(1234567) == "1,234,567"
    assert htmlpage.fmt(1000.0, " ms") == "1,000.0 ms"
