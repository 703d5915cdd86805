"""Summaries of the router's event log for the overview page: pure functions over event dicts and a `now`.

Events are what worker.act logs per mail ("routed", "quarantined") and what staff actions add
("staff-reply", "corrected"); nothing here reads Redis or IMAP.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from worker.domain import INQUIRY

DAY = 24 * 3600
CONFIDENCE_BINS = 10


@dataclass(frozen=True)
class Overview:
    today: Counter[str] = field(default_factory=Counter)  # per category (or kind, for non-inquiries)
    week: Counter[str] = field(default_factory=Counter)
    inquiries_week: int = 0
    abstained_week: int = 0
    replies_sent_week: int = 0
    suppressed_week: Counter[str] = field(default_factory=Counter)  # per screening / limit rule
    quarantined_week: int = 0
    per_day: dict[str, Counter[str]] = field(default_factory=dict)  # "YYYY-MM-DD" -> category -> count
    confidence: tuple[int, ...] = (0,) * CONFIDENCE_BINS  # inquiries per confidence decile, last 7 days

    @property
    def abstain_rate(self) -> float | None:
        return self.abstained_week / self.inquiries_week if self.inquiries_week else None


def categories_of(event: dict[str, Any]) -> list[str]:
    """The categories an event counts towards: its labels, or its kind for non-inquiries, else "unlabelled"."""
    if event.get("kind") != INQUIRY:
        return [str(event.get("kind", "unknown"))]
    labels = [str(label) for label in event.get("labels", ())]
    return labels or ["unlabelled"]


def was_sent(reply: object) -> bool:
    return isinstance(reply, str) and reply in ("sent", "uncertain")


def summarise(events: list[dict[str, Any]], now: datetime, days: int = 7) -> Overview:
    start_today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since = start_today - timedelta(days=days - 1)
    today: Counter[str] = Counter()
    week: Counter[str] = Counter()
    suppressed: Counter[str] = Counter()
    per_day: dict[str, Counter[str]] = {
        (since + timedelta(days=n)).strftime("%Y-%m-%d"): Counter() for n in range(days)
    }
    bins = [0] * CONFIDENCE_BINS
    inquiries = abstained = sent = quarantined = 0
    for event in events:
        at = datetime.fromtimestamp(float(event.get("at", 0)), UTC)
        if at < since or at > now + timedelta(minutes=5):
            continue
        name = event.get("event")
        if name == "quarantined":
            quarantined += 1
            continue
        if name == "staff-reply":
            sent += was_sent(event.get("reply"))
            continue
        if name != "routed":
            continue
        for category in categories_of(event):
            week[category] += 1
            per_day[at.strftime("%Y-%m-%d")][category] += 1
            if at >= start_today:
                today[category] += 1
        if event.get("kind") == INQUIRY:
            inquiries += 1
            abstained += bool(event.get("needs_review"))
            confidence = event.get("confidence")
            if isinstance(confidence, int | float):
                bins[min(CONFIDENCE_BINS - 1, max(0, int(confidence * CONFIDENCE_BINS)))] += 1
        sent += was_sent(event.get("reply"))
        for rule in event.get("suppressed_by", ()):
            suppressed[str(rule)] += 1
    return Overview(today, week, inquiries, abstained, sent, suppressed, quarantined, per_day, tuple(bins))
