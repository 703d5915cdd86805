"""The overview's numbers for the last N days, from a Tally (worker.dashboard.tally): pure, `now` passed in."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from worker.dashboard.tally import CONFIDENCE_BINS, Tally, tally_events


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
    confidence: tuple[int, ...] = (0,) * CONFIDENCE_BINS  # inquiries per confidence decile

    @property
    def abstain_rate(self) -> float | None:
        return self.abstained_week / self.inquiries_week if self.inquiries_week else None


def overview(tally: Tally, now: datetime, days: int = 7) -> Overview:
    """Totals of the last `days` calendar days in the tally's time zone (the desk's, so "today" is theirs)."""
    local = now.astimezone(tally.tz)
    names = [(local - timedelta(days=n)).strftime("%Y-%m-%d") for n in range(days - 1, -1, -1)]
    today: Counter[str] = Counter()
    week: Counter[str] = Counter()
    suppressed: Counter[str] = Counter()
    per_day: dict[str, Counter[str]] = {}
    bins = [0] * CONFIDENCE_BINS
    inquiries = abstained = sent = quarantined = 0
    for name in names:
        day = tally.days.get(name)
        per_day[name] = Counter()
        if day is None:
            continue
        for (category, _kind), count in day.categories.items():
            per_day[name][category] += count
        week.update(per_day[name])
        if name == names[-1]:
            today.update(per_day[name])
        inquiries += day.inquiries
        abstained += day.abstained
        sent += sum(day.replies.values())
        suppressed.update(day.suppressed)
        quarantined += day.quarantined
        bins = [a + b for a, b in zip(bins, day.confidence, strict=True)]
    return Overview(today, week, inquiries, abstained, sent, suppressed, quarantined, per_day, tuple(bins))


def summarise(events: list[dict[str, Any]], now: datetime, days: int = 7, tz: tzinfo = UTC) -> Overview:
    return overview(tally_events(events, tz), now, days)
