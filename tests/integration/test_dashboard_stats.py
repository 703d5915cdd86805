"""The overview's numbers and charts, from event values alone (no server, fixed `now`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from worker.dashboard.charts import histogram, stacked_bars
from worker.dashboard.stats import summarise

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def routed(at: datetime, **fields: Any) -> dict[str, Any]:
    event = {"event": "routed", "at": at.timestamp(), "kind": "inquiry", "labels": ["product"], "needs_review": False,
             "reply": "sent", "suppressed_by": [], "confidence": 0.9}
    event.update(fields)
    return event


def test_it_counts_today_and_the_week_per_category_and_ignores_older_mail() -> None:
    overview = summarise([
        routed(NOW - timedelta(hours=1)),
        routed(NOW - timedelta(days=3), labels=["troubleshooting", "threat_intel"]),
        routed(NOW - timedelta(days=10)),
        routed(NOW - timedelta(hours=2), kind="auto_reply", labels=[], reply="none", confidence=None),
    ], NOW)
    assert overview.today == {"product": 1, "auto_reply": 1}
    assert overview.week == {"product": 1, "troubleshooting": 1, "threat_intel": 1, "auto_reply": 1}
    assert overview.inquiries_week == 2


def test_it_computes_the_abstain_rate_replies_and_suppressions_by_rule() -> None:
    overview = summarise([
        routed(NOW, needs_review=True, reply="none", suppressed_by=["low_confidence"], confidence=0.42),
        routed(NOW, reply="none", suppressed_by=["sender_limit"]),
        routed(NOW),
        {"event": "staff-reply", "at": NOW.timestamp(), "reply": "sent"},
        {"event": "quarantined", "at": NOW.timestamp()},
    ], NOW)
    assert overview.abstain_rate == 1 / 3
    assert overview.replies_sent_week == 2
    assert overview.suppressed_week == {"low_confidence": 1, "sender_limit": 1}
    assert overview.quarantined_week == 1
    assert overview.confidence[4] == 1 and overview.confidence[9] == 2


def test_it_draws_one_bar_segment_per_category_and_day_and_escapes_names() -> None:
    overview = summarise([routed(NOW), routed(NOW - timedelta(days=1), labels=["<b>x</b>"])], NOW)
    svg = stacked_bars(overview.per_day, "volume")
    assert svg.count("<rect") == 2 + 2  # two bar segments and two legend swatches
    assert "<b>x</b>" not in svg and "&lt;b&gt;x&lt;/b&gt;" in svg
    assert histogram(overview.confidence, "confidence").count("<rect") == 10
