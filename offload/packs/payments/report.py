"""The monthly revenue report: gross, platform fees, tax, creator shares, payouts and refunds of one month.

Written to the payload bucket as `reports/revenue/<month>.json` (amounts as integer minor units and as
Decimal strings) with a plain-text summary next to it (`<month>.txt`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from offload.packs.payments.ledger import Ledger
from offload.packs.payments.money import to_major

FIELDS = ("gross", "price", "tax", "fees", "creator_share", "subscriptions", "refunds", "payouts")


def revenue_totals(ledger: Ledger, month: str) -> dict[str, int]:
    """The month's totals in minor units, from every ledger entry dated in it."""
    totals = dict.fromkeys(FIELDS, 0)
    counts = {"sales": 0, "renewals": 0, "refunds": 0, "payouts": 0}
    for entry in ledger.scan("entry#", month=month):
        kind = entry["kind"]
        if kind in ("sale", "renewal"):
            totals["gross"] += entry["gross_minor"]
            totals["price"] += entry["price_minor"]
            totals["tax"] += entry["tax_minor"]
            totals["fees"] += entry["fee_minor"]
            if kind == "sale":
                totals["creator_share"] += entry["amount_minor"]
                counts["sales"] += 1
            else:
                totals["subscriptions"] += entry["price_minor"]
                counts["renewals"] += 1
        elif kind == "refund":
            totals["refunds"] += entry["refunded_minor"]
            counts["refunds"] += 1
        elif kind == "payout":
            totals["payouts"] += -entry["amount_minor"]
            counts["payouts"] += 1
    return {**totals, **{f"{k}_count": v for k, v in counts.items()}}


def write_report(ledger: Ledger, s3: Any, bucket: str, month: str, currency: str) -> dict[str, Any]:
    """Build the month's report and put its JSON and text summary in `bucket`; what was written."""
    totals = revenue_totals(ledger, month)
    body = {
        "month": month,
        "currency": currency,
        "generated_at": datetime.now(UTC).isoformat(),
        "minor": totals,
        "amounts": {k: str(to_major(totals[k])) for k in FIELDS},
    }
    key = f"reports/revenue/{month}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body, indent=2).encode(), ContentType="application/json")
    text = summary_text(body)
    s3.put_object(Bucket=bucket, Key=f"reports/revenue/{month}.txt", Body=text.encode(), ContentType="text/plain")
    return {"key": key, "text_key": f"reports/revenue/{month}.txt", "totals": totals}


def summary_text(report: dict[str, Any]) -> str:
    """A person's reading of the report, one line per figure."""
    amounts = report["amounts"]
    minor = report["minor"]
    cur = report["currency"].upper()
    lines = [
        f"Revenue {report['month']} ({cur})",
        f"  gross        {amounts['gross']:>12}  ({minor['sales_count']} sales, {minor['renewals_count']} renewals)",
        f"  tax          {amounts['tax']:>12}",
        f"  fees         {amounts['fees']:>12}  (platform: sale fees + subscriptions)",
        f"  creators     {amounts['creator_share']:>12}",
        f"  refunds      {amounts['refunds']:>12}  ({minor['refunds_count']})",
        f"  payouts      {amounts['payouts']:>12}  ({minor['payouts_count']})",
    ]
    return "\n".join(lines) + "\n"
